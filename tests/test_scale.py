"""Scale: readings and events written as the run goes are those written in one piece; a run
that fails leaves no file; sweeps give the same numbers whatever the batches and workers, and
an interrupted sweep runs only what it had not finished."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from twin import load_scenario
from twin.engine.events import ParquetEvents
from twin.engine.replication import build, simulate
from twin.engine.loop import Recorder
from twin.engine.sensors import CallbackSink, ParquetSink
from twin.study.executors import LocalExecutor, SerialExecutor
from twin.study.store import batch_size
from twin.study.variants import sweep

ROOT = Path(__file__).resolve().parents[1]
WEAR = ROOT / "scenarios" / "wear.yaml"
TWO = ROOT / "scenarios" / "two-station.yaml"
DEFAULT = ROOT / "scenarios" / "default.yaml"

HEAVY = ("torch", "sklearn", "pandas", "pyarrow", "scipy", "plotly", "dask", "networkx", "simpy",
         "numpy", "rich")
"""What validating a scenario does without: the simulation, learning, tables and plots."""


class WholeEvents:
    """An event sink that takes the whole log at the end (as before streaming)."""

    def __init__(self, sink: ParquetEvents) -> None:
        self.sink = sink

    def write(self, table: Any) -> None:
        self.sink.write(table)


def same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Same rows and columns, categories in the same order, floats bit for bit."""
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for column in a.columns:
        x, y = a[column], b[column]
        if x.dtype == "category":
            assert list(x.cat.categories) == list(y.cat.categories), column
            assert (x.cat.codes.to_numpy() == y.cat.codes.to_numpy()).all(), column
        elif x.dtype.kind == "f":
            assert (x.to_numpy().view(np.int64) == y.to_numpy().view(np.int64)).all(), column
        else:
            assert x.equals(y), column
    return True


def test_validate_loads_no_simulation_learning_or_plotting_library() -> None:
    code = ("import json, sys, twin.cli\n"
            f"rc = twin.cli.main(['validate', {str(DEFAULT)!r}])\n"
            "print(json.dumps([rc, sorted({m.split('.')[0] for m in sys.modules})]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT, timeout=120)
    rc, modules = json.loads(out.stdout.strip().splitlines()[-1])
    assert rc == 0 and "default.yaml: ok: scenario 'bracket-line'" in out.stdout
    assert sorted(set(modules) & set(HEAVY)) == []


def test_streamed_readings_and_events_are_those_written_in_one_piece(tmp_path: Path) -> None:
    scenario = load_scenario(WEAR, [("horizon", 6000), ("replications", 1)])
    whole_sink = ParquetSink(tmp_path / "whole", 3)
    whole = simulate(scenario, 3, sensor_sink=CallbackSink(whole_sink.write),
                     event_sink=WholeEvents(ParquetEvents(tmp_path / "whole-events", 3)))
    streamed = simulate(scenario, 3, sensor_sink=ParquetSink(tmp_path / "streamed", 3, rows=500),
                        event_sink=ParquetEvents(tmp_path / "streamed-events", 3, rows=2000))
    assert streamed.kpis == whole.kpis
    readings = tmp_path / "streamed" / "machine=press" / "replication-0003.parquet"
    events = tmp_path / "streamed-events" / "replication-0003.parquet"
    assert pq.ParquetFile(readings).num_row_groups > 10  # written as the run went
    assert pq.ParquetFile(events).num_row_groups > 10
    assert same(pd.read_parquet(tmp_path / "whole"), pd.read_parquet(tmp_path / "streamed"))
    assert same(pd.read_parquet(tmp_path / "whole-events"),
                pd.read_parquet(tmp_path / "streamed-events"))
    assert not list(tmp_path.rglob(".*"))  # no temporary file left


def test_a_run_that_fails_midway_leaves_no_file_and_a_rerun_clears_what_a_kill_left(
        tmp_path: Path) -> None:
    scenario = load_scenario(WEAR, [("horizon", 6000), ("replications", 1)])
    model = build(scenario, 0, events=True)
    begun: list[list[Path]] = []

    def fail() -> Any:
        yield model.env.timeout(3000)
        begun.append(sorted(tmp_path.rglob(".*.tmp")))
        yield model.env.timeout(1000)
        raise RuntimeError("stopped")

    model.env.process(fail())
    recorder = Recorder(model, 0, ParquetSink(tmp_path / "sensors", 0, rows=500),
                        ParquetEvents(tmp_path / "events", 0, rows=2000))
    with pytest.raises(RuntimeError, match="stopped"):
        recorder.run(scenario.horizon)
    assert len(begun[0]) == 3  # the readings (one file per sensor) and the events were begun
    assert not list(tmp_path.rglob("*.parquet")) and not list(tmp_path.rglob(".*"))

    # a killed run leaves its temporary files (hidden from readers); the next run removes them
    stale = tmp_path / "sensors" / "machine=press" / ".replication-0000.parquet.x1.tmp"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"half")
    simulate(scenario, 0, sensor_sink=ParquetSink(tmp_path / "sensors", 0, rows=500))
    assert not stale.exists()
    assert len(pd.read_parquet(tmp_path / "sensors")) > 0


def test_batches_and_workers_do_not_change_a_sweep() -> None:
    scenario = load_scenario(TWO, [("horizon", 1500), ("replications", 3)])
    factors = [("plant.nodes.B1.capacity", [1, 2, 3, 5])]
    docs = set()
    for executor, batch in ((SerialExecutor(), 1), (SerialExecutor(), 5), (LocalExecutor(2), 1),
                            (LocalExecutor(2), 5)):
        doc, rows = sweep(scenario, factors, executor=executor, batch=batch)
        docs.add(json.dumps(doc, sort_keys=True) + rows.to_json())
    assert len(docs) == 1
    assert [batch_size(n, w) for n, w in ((5000, 2), (5000, 1), (24, 2), (800, 4))] == \
        [64, 1, 1, 25]


def test_an_interrupted_sweep_runs_only_what_it_had_not_finished(tmp_path: Path) -> None:
    scenario = load_scenario(TWO, [("horizon", 1500), ("replications", 3)])
    factors = [("plant.nodes.B1.capacity", [1, 2, 3, 4, 5, 6])]
    total = 18

    def stop_midway(done: int, all_: int) -> None:
        if done >= 7:
            raise KeyboardInterrupt

    out = tmp_path / "sweep"
    with pytest.raises(KeyboardInterrupt):
        sweep(scenario, factors, executor=LocalExecutor(2), out=out, progress=stop_midway,
              batch=2)
    runs = out / "runs"
    first = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in runs.glob("*/replication-*.json")}
    assert 7 <= len(first) < total
    assert all(json.loads(p.read_text())["seconds"] > 0 for p in first)

    started: list[int] = []
    doc, _ = sweep(scenario, factors, executor=LocalExecutor(2), out=out, batch=2,
                   progress=lambda done, all_: started.append(done))
    assert started[0] == len(first)  # the second pass ran total - finished simulations
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in runs.glob("*/replication-*.json")}
    assert len(after) == total
    assert all(after[p] == stamp for p, stamp in first.items())  # kept, not run again
    assert len(set(after) - set(first)) == total - len(first)
    assert not list(runs.glob("*/.*.tmp"))
    whole, _ = sweep(scenario, factors, executor=SerialExecutor())
    assert doc["points"] == whole["points"]


def test_the_report_reads_the_readings_it_plots_and_only_those(tmp_path: Path) -> None:
    from twin.study.runner import report_readings

    scenario = load_scenario(WEAR, [("horizon", 3000), ("replications", 1)])
    simulate(scenario, 0, sensor_sink=ParquetSink(tmp_path, 0, rows=300))
    every = pd.read_parquet(tmp_path, filters=[("replication", "==", 0)])
    thinned = report_readings(tmp_path, points=100)
    assert thinned is not None and len(thinned) < len(every) / 5
    for (machine, sensor), group in every.groupby(["machine", "sensor"], observed=True):
        group = group.sort_values("time")
        plotted = group.iloc[::max(1, len(group) // 100)]  # as the report picks them
        mine = thinned[(thinned["machine"] == machine) & (thinned["sensor"] == sensor)]
        assert len(mine) // 100 == 1  # so the report then plots all it was given
        for column in ("time", "value", "wear"):
            assert np.array_equal(mine.sort_values("time")[column].to_numpy(),
                                  plotted[column].to_numpy())
