"""From replication results to the summary (summary.json) and tables (Parquet)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from twin.engine.replication import ReplicationResult
from twin.kpis import (
    COST_RANGE,
    KPIS,
    MACHINE_STATS,
    NODE_STAT_RANGES,
    SUPPLY_KPIS,
    headline_kpis,
    kpi_range,
    kpi_units,
    machine_stat_range,
)
from twin.language.schema import Scenario
from twin.study.stats import statistic

__all__ = ["KPIS", "MACHINE_STATS", "SUPPLY_KPIS", "headline_kpis", "inventory_table",
           "kpi_names", "kpi_units", "machine_table", "replication_table", "summarize",
           "timeline_table", "warnings"]


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
        "kpis": {k: statistic([r.kpis[k] for r in results], bounds=kpi_range(k))
                 for k in kpi_names(results)},
        "machines": {
            name: {s: statistic([r.machines[name][s] for r in results],
                                bounds=machine_stat_range(s)) for s in MACHINE_STATS}
            for name in first.machines
        },
        "buffers": {
            name: {s: statistic([r.buffers[name][s] for r in results]) for s in first.buffers[name]}
            for name in first.buffers
        },
        "costs": {k: statistic([r.costs[k] for r in results], bounds=COST_RANGE)
                  for k in first.costs},
        "warnings": warnings(results),
        "predictor": {k: statistic([r.online[k] for r in results]) for k in first.online},
        **_supply_sections(scenario, results),
        **_learning_section(results),
        **({"nodes": {name: {s: statistic([r.nodes[name][s] for r in results]) for s in stats}
                      for name, stats in first.nodes.items()}} if first.nodes else {}),
        **({section: {name: {s: statistic([getattr(r, section)[name][s] for r in results],
                                          bounds=(0.0, None)) for s in stats}
                         for name, stats in getattr(first, section).items()}
            for section in ("failure_modes", "energy", "operators", "fleets")
            if getattr(first, section)}),
        **({"products": {name: {s: statistic([r.products[name][s] for r in results],
                                             bounds=(0.0, None)) for s in stats}
                         for name, stats in first.products.items()}}
           if first.products else {}),
    }


def _learning_section(results: Sequence[ReplicationResult]) -> dict[str, Any]:
    """A predictive policy's cost rate per period and its online learning, where it has them."""
    section = learning_summary([getattr(r, "learning", {}) for r in results])
    return {"learning": section} if section else {}


def kpi_names(results: Sequence[ReplicationResult]) -> list[str]:
    """The KPIs the replications measured, in the order of ``KPIS``."""
    return [k for k in KPIS if k in results[0].kpis]


def _supply_sections(scenario: Scenario, results: Sequence[ReplicationResult]) -> dict[str, Any]:
    """Warehouses (with their mean inventory in each of equal periods, over replications),
    customers and suppliers, where the plant has them."""
    first = results[0]
    out: dict[str, Any] = {}
    for section in ("warehouses", "customers", "suppliers"):
        nodes = getattr(first, section)
        if nodes:
            out[section] = {
                name: {s: statistic([getattr(r, section)[name][s] for r in results],
                                    bounds=NODE_STAT_RANGES.get(s))
                       for s in stats}
                for name, stats in nodes.items()
            }
    if first.profiles:
        periods = len(next(iter(first.profiles.values()))[0])
        width = (scenario.horizon - scenario.warmup) / periods
        for name in first.profiles:
            on_hand = np.mean([r.profiles[name][0] for r in results], axis=0)
            back = np.mean([r.profiles[name][1] for r in results], axis=0)
            out["warehouses"][name]["over_time"] = {
                "period_end": [scenario.warmup + width * (k + 1) for k in range(periods)],
                "on_hand": on_hand.tolist(), "backordered": back.tolist()}
    return out


def warnings(results: Sequence[ReplicationResult]) -> list[str]:
    """Warnings about the replications: each deadlock, when it began and the machines in it."""
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


def inventory_table(results: Sequence[ReplicationResult]) -> pd.DataFrame | None:
    """Inventory of each warehouse over time: the level holds from ``time`` to the next row."""
    rows = [
        {"replication": r.replication, "warehouse": name, "time": t, "on_hand": on_hand,
         "backordered": back}
        for r in sorted(results, key=lambda r: r.replication)
        for name, changes in r.inventory.items()
        for t, on_hand, back in changes
    ]
    return pd.DataFrame(rows) if rows else None


def orders_table(results: Sequence[ReplicationResult]) -> pd.DataFrame | None:
    """One row per production order and replication: release, due, completion (empty while
    open), flow time, lateness and tardiness."""
    rows = [
        {"replication": r.replication, "order": order, "product": product, "quantity": quantity,
         "release": release, "due": due, "completion": done, "flow_time": done - release,
         "lateness": done - due, "tardiness": max(0.0, done - due) if done == done else done}
        for r in sorted(results, key=lambda r: r.replication)
        for order, product, quantity, release, due, done in r.orders
    ]
    return pd.DataFrame(rows) if rows else None


def learning_summary(learning: list[dict[str, Any]]) -> dict[str, Any]:
    """summary.json's ``learning`` section from the replications' ``learning`` records: the cost
    rate per period (mean and 95% interval over replications), when the model took over, and
    each update's prequential error (per replication, and its mean by update number)."""
    if not learning or not learning[0]:
        return {}
    first = learning[0]
    periods = len(first["cost_rate_by_period"])
    out: dict[str, Any] = {
        "period": first["period"], "period_label": first["period_label"],
        "cost_rate_by_period": [statistic([r["cost_rate_by_period"][k] for r in learning],
                                          bounds=(0.0, math.inf))
                                for k in range(periods)],
    }
    if "updates" in first:
        switched = [r["switched_at"] for r in learning]
        out["switched_at"] = statistic([math.nan if s is None else float(s) for s in switched])
        out["never_switched"] = sum(s is None for s in switched)
        out["updates"] = [r["updates"] for r in learning]
        out["ends"] = [r.get("ends", []) for r in learning]
        count = min(len(r["updates"]) for r in learning)
        out["error_by_update"] = [
            {"time": float(np.mean([r["updates"][k][0] for r in learning])),
             "lives_ended": float(np.mean([r["updates"][k][1] for r in learning])),
             "failures_seen": float(np.mean([r["updates"][k][2] for r in learning])),
             "error": float(np.mean(errors)) if (errors := [
                 r["updates"][k][4] for r in learning if r["updates"][k][4] is not None])
             else None}
            for k in range(count)]
    return out
