"""From replication results to the summary (summary.json) and tables (Parquet)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from twin.model import ReplicationResult
from twin.scenario import Scenario
from twin.stats import statistic

KPIS = ("throughput", "lead_time", "wip", "oee", "cost_rate", "quality", "scrap_rate",
        "escaped_rate", "profit_rate", "unplanned_downtime")
MACHINE_STATS = ("utilization", "availability", "blocked", "starved", "failures", "shocks",
                 "preventive", "defects", "rejected", "down", "repair", "maintenance", "setup",
                 "setups", "alarms", "diverted", "processed", "oee")


def headline_kpis(kpis: dict[str, Any]) -> list[str]:
    """The KPIs worth a terminal column: quality ones only where parts can be bad, profit only
    where there is revenue."""
    def mean(k: str) -> float:
        value = kpis[k]["mean"]
        return 0.0 if value is None else value

    shown = ["throughput", "lead_time", "wip", "oee", "cost_rate"]
    if mean("unplanned_downtime") > 0:
        shown.append("unplanned_downtime")
    if mean("quality") < 1 or mean("scrap_rate") > 0:
        shown += ["quality", "scrap_rate", "escaped_rate"]
    if abs(mean("profit_rate") + mean("cost_rate")) > 1e-12:
        shown.append("profit_rate")
    return [k for k in shown if k in kpis]


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
        "predictor": {k: statistic([r.online[k] for r in results]) for k in first.online},
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
