"""From replication results to the summary (summary.json) and tables (Parquet)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from twin.model import ReplicationResult
from twin.scenario import Scenario
from twin.stats import statistic

KPIS = ("throughput", "lead_time", "wip", "oee", "cost_rate")
MACHINE_STATS = ("utilization", "availability", "blocked", "starved", "failures", "shocks",
                 "preventive",
                 "down", "repair", "maintenance", "processed", "oee")


def summarize(scenario: Scenario, results: Sequence[ReplicationResult]) -> dict[str, Any]:
    """The summary.json document of a run."""
    results = sorted(results, key=lambda r: r.replication)
    first = results[0]
    return {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "replications": len(results),
        "horizon": scenario.horizon,
        "warmup": scenario.warmup,
        "time_unit": scenario.time_unit,
        "kpis": {k: statistic([r.kpis[k] for r in results]) for k in KPIS},
        "machines": {
            name: {s: statistic([r.machines[name][s] for r in results]) for s in MACHINE_STATS}
            for name in first.machines
        },
        "buffers": {
            name: {s: statistic([r.buffers[name][s] for r in results]) for s in first.buffers[name]}
            for name in first.buffers
        },
        "costs": {k: statistic([r.costs[k] for r in results]) for k in first.costs},
        "warnings": warnings(results),
    }


def warnings(results: Sequence[ReplicationResult]) -> list[str]:
    out = []
    for r in results:
        if r.deadlock is not None:
            since, names = r.deadlock
            out.append(f"replication {r.replication}: deadlock from t={since:g}: "
                       f"{', '.join(names)} are blocked, each waiting for room that only the "
                       "others could make; give the loop more buffer space")
    return out


def replication_table(results: Sequence[ReplicationResult]) -> pd.DataFrame:
    """One row per replication with the line KPIs and cost rates by cause."""
    rows = []
    for r in sorted(results, key=lambda r: r.replication):
        row: dict[str, Any] = {"replication": r.replication, **r.kpis}
        row.update({f"cost_{k}": v for k, v in r.costs.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def machine_table(results: Sequence[ReplicationResult]) -> pd.DataFrame:
    """One row per replication and machine."""
    rows = [
        {"replication": r.replication, "machine": name, **values}
        for r in sorted(results, key=lambda r: r.replication)
        for name, values in r.machines.items()
    ]
    return pd.DataFrame(rows)


def timeline_table(results: Sequence[ReplicationResult]) -> pd.DataFrame | None:
    """State changes per replication and machine: the state holds from ``time`` to the next."""
    rows = [
        {"replication": r.replication, "machine": name, "time": t, "state": state}
        for r in results if r.timelines
        for name, changes in r.timelines.items()
        for t, state in changes
    ]
    return pd.DataFrame(rows) if rows else None
