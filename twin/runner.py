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
from typing import Any

import pandas as pd

from twin.executors import Executor, make_executor
from twin.model import ReplicationResult, simulate
from twin.scenario import Scenario
from twin.summary import machine_table, replication_table, summarize, timeline_table

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


def _replicate(scenario: Scenario, timeline: bool, replication: int) -> ReplicationResult:
    return simulate(scenario, replication, timeline=timeline)


def run_replications(
    scenario: Scenario,
    *,
    executor: Executor | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    timeline: bool = False,
) -> list[ReplicationResult]:
    """All replications of ``scenario``, in replication order."""
    executor = executor or make_executor(workers)
    total = scenario.replications
    task = partial(_replicate, scenario, timeline)
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
) -> RunResult:
    """Simulate every replication of ``scenario`` and summarize them."""
    results = run_replications(scenario, executor=executor, workers=workers, progress=progress,
                               timeline=timeline)
    return RunResult(scenario, results, summarize(scenario, results))
