"""Running a scenario: replications on an executor, then the summary.

This is the library API the CLI calls; a notebook calls it the same way::

    from twin import load_scenario, run
    result = run(load_scenario("scenarios/default.yaml"), workers=2)
    result.summary["kpis"]["throughput"]["mean"]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from twin.engine.replication import ReplicationResult, simulate
from twin.engine.sensors import ParquetSink
from twin.language.schema import Scenario
from twin.study.executors import Executor, make_executor
from twin.study.summary import (
    inventory_table,
    machine_table,
    replication_table,
    summarize,
    timeline_table,
)

Progress = Callable[[int, int], None]
"""Called with (replications done, replications in all)."""


@dataclass
class RunResult:
    scenario: Scenario
    replications: list[ReplicationResult]
    summary: dict[str, Any]

    def replication_table(self) -> pd.DataFrame:
        return replication_table(self.replications)

    def machine_table(self) -> pd.DataFrame:
        return machine_table(self.replications)

    def timeline_table(self) -> pd.DataFrame | None:
        return timeline_table(self.replications)

    def inventory_table(self) -> pd.DataFrame | None:
        return inventory_table(self.replications)


def _replicate(scenario: Scenario, timeline: bool, sensor_dir: Path | None,
               replication: int) -> ReplicationResult:
    sink = ParquetSink(sensor_dir, replication) if sensor_dir is not None else None
    return simulate(scenario, replication, timeline=timeline, sensor_sink=sink)


def has_sensors(scenario: Scenario) -> bool:
    return any(getattr(node, "sensors", None) for node in scenario.plant.nodes.values())


def run_replications(
    scenario: Scenario,
    *,
    executor: Executor | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    timeline: bool = False,
    sensor_dir: Path | None = None,
) -> list[ReplicationResult]:
    """All replications of ``scenario``, in replication order. With ``sensor_dir``, sensor
    readings are written there as Parquet (see ``twin.engine.sensors``)."""
    executor = executor or make_executor(workers)
    total = scenario.replications
    if not has_sensors(scenario):
        sensor_dir = None
    task = partial(_replicate, scenario, timeline, sensor_dir)
    results = []
    for result in executor.map_unordered(task, range(total)):
        results.append(result)
        if progress is not None:
            progress(len(results), total)
    return sorted(results, key=lambda r: r.replication)


def run(
    scenario: Scenario,
    *,
    executor: Executor | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    timeline: bool = False,
    sensor_dir: Path | None = None,
) -> RunResult:
    """Simulate every replication of ``scenario`` and summarize them."""
    results = run_replications(scenario, executor=executor, workers=workers, progress=progress,
                               timeline=timeline, sensor_dir=sensor_dir)
    return RunResult(scenario, results, summarize(scenario, results))
