"""Running a scenario: replications on an executor, then the summary.

This is the library API the CLI calls; a notebook calls it the same way::

    from twin import load_scenario, run
    result = run(load_scenario("scenarios/default.yaml"), workers=2)
    result.summary["kpis"]["throughput"]["mean"]
    result.save("results/default")      # the data `twin run` writes (its report: twin.report)

A run is a study of one variant: with ``out``, each finished replication is saved under
``out/runs/`` as it completes, and a run started again on the same folder goes on from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from twin.engine.options import RunOptions, has_sensors
from twin.engine.replication import ReplicationResult
from twin.language.schema import Scenario
from twin.study.executors import Executor, make_executor
from twin.study.results import Summary
from twin.study.store import Progress, Variant, fingerprint, run_variants
from twin.study.summary import (
    inventory_table,
    machine_table,
    orders_table,
    replication_table,
    summarize,
    timeline_table,
)

__all__ = ["Progress", "RunOptions", "RunResult", "has_sensors", "run", "run_replications"]


@dataclass
class RunResult:
    """The result of a run: the scenario, every replication's result and the summary, with where
    sensor readings and event logs were written."""

    scenario: Scenario
    replications: list[ReplicationResult]
    summary: dict[str, Any]
    sensor_dir: Path | None = None
    """Where the sensor readings were written, if they were."""
    event_dir: Path | None = None
    """Where each replication's event log was written, if it was."""

    def replication_table(self) -> pd.DataFrame:
        """One row of KPIs per replication."""
        return replication_table(self.replications)

    def machine_table(self) -> pd.DataFrame:
        """One row of statistics per machine and replication."""
        return machine_table(self.replications)

    def timeline_table(self) -> pd.DataFrame | None:
        """The machines' state changes, if timelines were kept (else None); built once (the
        data files and the report both read it)."""
        if "_timeline" not in self.__dict__:
            self.__dict__["_timeline"] = timeline_table(self.replications)
        table: pd.DataFrame | None = self.__dict__["_timeline"]
        return table

    def inventory_table(self) -> pd.DataFrame | None:
        """Each warehouse's stock on hand and backordered over time, if kept (else None)."""
        return inventory_table(self.replications)

    @property
    def typed(self) -> Summary:
        """The summary as a typed model (``twin.study.results.Summary``), read by field."""
        return Summary.model_validate(self.summary)

    def orders_table(self) -> pd.DataFrame | None:
        """Every production order with its completion, if the plant has orders (else None)."""
        return orders_table(self.replications)

    @property
    def end_state(self) -> str | None:
        """The end state of replication 0 (YAML), when it was kept."""
        return self.replications[0].end_state if self.replications else None

    def save(self, out: str | Path) -> Path:
        """Write the data ``twin run`` writes into ``out``, each file atomically: scenario.yaml,
        replications.parquet, machines.parquet, timeline.parquet (with a timeline),
        inventory.parquet (with warehouses), orders.parquet (with products), events.parquet
        (with an event log) and summary.json, whose path it returns. The report beside them
        is ``twin.report.save_run``'s."""
        from twin.language.loading import dump_yaml
        from twin.records.output import write_json, write_parquet, write_text

        out = Path(out)
        write_text(out / "scenario.yaml", dump_yaml(self.scenario))
        write_parquet(out / "replications.parquet", self.replication_table())
        write_parquet(out / "machines.parquet", self.machine_table())
        timeline = self.timeline_table()
        if timeline is not None:
            write_parquet(out / "timeline.parquet", timeline)
        inventory = self.inventory_table()
        if inventory is not None:
            write_parquet(out / "inventory.parquet", inventory)
        orders = self.orders_table()
        if orders is not None:
            write_parquet(out / "orders.parquet", orders)
        if self.event_dir is not None:
            from twin.engine.events import merge

            merge(self.event_dir, out / "events.parquet")
        write_json(out / "summary.json", self.summary)
        return out / "summary.json"

    def report_inputs(self) -> dict[str, Any]:
        """What the run report draws besides the summary: the scenario (its plant), replication
        0's readings (a sample), the inventory, the orders, the timelines, and replication 0's
        events where the plant has orders or there is a timeline (its replay)."""
        readings = None
        if self.sensor_dir is not None and self.sensor_dir.exists():
            readings = report_readings(self.sensor_dir)
        orders = self.orders_table()
        timeline = self.timeline_table()
        events = None
        if self.event_dir is not None and (orders is not None or timeline is not None):
            first = self.event_dir / "replication-0000.parquet"
            events = pd.read_parquet(first) if first.exists() else None
        return {"readings": readings, "inventory": self.inventory_table(), "orders": orders,
                "events": events, "scenario": self.scenario, "timeline": timeline}


REPORT_POINTS = 4000
"""Readings the report plots per sensor (``twin.report``'s sensor section shows every
``n // REPORT_POINTS``-th of a sensor's ``n``)."""


def report_readings(folder: Path, points: int = REPORT_POINTS) -> pd.DataFrame | None:
    """The readings of replication 0 the report plots (time, value, wear by machine and
    sensor), read one row group at a time: of a sensor's ``n`` readings, every
    ``n // points``-th in time order, where there are at least twice ``points``, the very
    rows the report would pick from all of them (and it then shows them all); all of them
    otherwise. A long replication's readings are never all in memory at once."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    def codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
        """A sensor column's names, as numbers into a list of the names."""
        array = column.combine_chunks()
        if not pa.types.is_dictionary(array.type):
            array = array.dictionary_encode()
        return (array.indices.to_numpy(zero_copy_only=False),
                [str(name) for name in array.dictionary.to_pylist()])

    tables = []
    for path in sorted(folder.glob("machine=*/replication-0000.parquet")):
        machine = path.parent.name.split("=", 1)[1]
        with pq.ParquetFile(path) as source:
            counts: dict[str, int] = {}
            for group in range(source.num_row_groups):
                index, names = codes(source.read_row_group(group, columns=["sensor"],
                                                           use_threads=False).column(0))
                for code, n in enumerate(np.bincount(index, minlength=len(names))):
                    counts[names[code]] = counts.get(names[code], 0) + int(n)
            steps = {name: max(1, n // points) for name, n in counts.items()}
            seen = dict.fromkeys(counts, 0)
            for group in range(source.num_row_groups):
                table = source.read_row_group(group, columns=["sensor", "time", "value", "wear"],
                                              use_threads=False)
                index, names = codes(table.column("sensor"))
                keep = np.zeros(table.num_rows, dtype=bool)
                for code, name in enumerate(names):
                    rows = np.flatnonzero(index == code)
                    keep[rows[(seen[name] + np.arange(rows.size)) % steps[name] == 0]] = True
                    seen[name] += rows.size
                table = table.filter(pa.array(keep))
                tables.append(table.append_column("machine", pa.array(
                    [machine] * table.num_rows, pa.string()).dictionary_encode()))
    if not tables:
        return None
    frame = pa.concat_tables(tables).unify_dictionaries().to_pandas()
    return frame if len(frame) else None


def run_replications(
    scenario: Scenario,
    *,
    executor: Executor | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    out: Path | None = None,
    options: RunOptions | None = None,
    **settings: Any,
) -> list[ReplicationResult]:
    """All replications of ``scenario``, in replication order, each recording what ``options``
    asks for (``twin.engine.options.RunOptions``; its fields may also be given by name). With
    a ``sensor_dir``, sensor readings are written there as Parquet (see
    ``twin.engine.sensors``); with ``out``, finished replications are saved under
    ``out/runs/`` and those already there are not run again."""
    executor = executor or make_executor(workers)
    options = RunOptions.of(options, **settings).for_scenario(scenario)
    variant = Variant("run", scenario.name, {}, scenario)
    key = fingerprint(scenario, options.key())
    results = run_variants([variant], executor=executor, out=out, progress=progress,
                           study=("run", scenario, key), options=options)
    return results[variant.id]


def run(
    scenario: Scenario,
    *,
    executor: Executor | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    out: str | Path | None = None,
    options: RunOptions | None = None,
    **settings: Any,
) -> RunResult:
    """Simulate every replication of ``scenario`` and summarize them. With ``out``, the run
    can be resumed (see the module's docstring); ``RunResult.save`` writes its files. What each
    replication records is ``options`` (``twin.engine.options.RunOptions``), whose fields may
    also be given by name (``run(scenario, timeline=True)``): every replication starts from
    ``state`` (``twin.engine.state``) if given; with ``save_state``, replication 0 keeps its end
    state (``RunResult.end_state``)."""
    out = Path(out) if out is not None else None
    options = RunOptions.of(options, **settings).for_scenario(scenario)
    results = run_replications(scenario, executor=executor, workers=workers, progress=progress,
                               out=out, options=options)
    summary = summarize(scenario, results)
    if options.buckets:
        summary["buckets"] = bucket_summary(scenario, results, options.buckets)
    return RunResult(scenario, results, summary, options.sensor_dir, options.event_dir)


def bucket_summary(scenario: Scenario, results: list[ReplicationResult],
                   width: float) -> dict[str, Any]:
    """KPIs per time bucket, each with its interval over replications (a look-ahead from a
    warm start is transient: the next hours differ from the steady state)."""
    from twin.kpis import BUCKET_KPIS, kpi_range
    from twin.study.stats import statistic

    n = len(results[0].buckets.get("throughput", []))
    out: dict[str, Any] = {"width": width,
                           "end": [scenario.warmup + width * (k + 1) for k in range(n)]}
    for name in BUCKET_KPIS:
        if all(name in r.buckets for r in results):
            bounds = kpi_range(name) if name in ("throughput", "unplanned_downtime") \
                else (0.0, math.inf)
            out[name] = [statistic([r.buckets[name][k] for r in results], bounds=bounds)
                         for k in range(n)]
    return out
