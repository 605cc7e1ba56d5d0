"""Studies: several variants of a scenario, each run over the same replications.

``compare`` runs the scenario's named policies, ``sweep`` a grid of parameter values. Both run
every (variant, replication) pair as one task on an executor. Replication ``r`` of every variant
draws from the same random streams (common random numbers), so differences between variants are
paired, replication by replication, and their intervals are much narrower than those of the
variants themselves.

With an output folder, each finished replication is saved at once (atomically) under
``runs/<variant>/``; a study started again on the same folder loads those and runs only what is
missing, so an interrupted study loses nothing.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twin.errors import InputError
from twin.kpis import BY_NAME, KPIS
from twin.language.loading import policy_scenario, scenario_from_data, to_data
from twin.language.schema import Scenario
from twin.records.output import write_csv, write_json, write_parquet
from twin.study.executors import Executor
from twin.study.stats import statistic, t_interval
from twin.study.store import (
    Progress,
    RunStore,
    Variant,
    fingerprint,
    result_from_json,
    result_to_json,
    run_variants,
)
from twin.study.summary import kpi_names, summarize

RANK_BY = "cost_rate"
"""The KPI compare and sweep rank by unless told."""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "variant"


# --------------------------------------------------------------------------- comparing


def header(scenario: Scenario) -> dict[str, Any]:
    """What every study document starts with."""
    return {"scenario": scenario.name, "seed": scenario.seed,
            "replications": scenario.replications, "horizon": scenario.horizon,
            "warmup": scenario.warmup, "time_unit": scenario.time_unit}


def paired_difference(values: Sequence[float], baseline: Sequence[float]) -> dict[str, Any]:
    """Replication-by-replication differences (common random numbers) and their interval."""
    return statistic([a - b for a, b in zip(values, baseline, strict=True)])


def better(kpi: str) -> str:
    """Which way ``kpi`` is better: ``higher`` or ``lower``.

    Raises InputError for an unknown KPI.
    """
    if kpi in BY_NAME:
        return BY_NAME[kpi].better
    raise InputError("--rank-by", [((), f"unknown KPI {kpi!r} (one of: {', '.join(KPIS)})", None)])


def _check_rank_by(scenario: Scenario, kpi: str) -> None:
    better(kpi)
    if BY_NAME[kpi].scope == "supply" and not scenario.has_supply_chain():
        raise InputError("--rank-by", [((), f"{kpi} is a supply-chain KPI and the plant has no "
                                            "supplier, warehouse or customer", None)])


def _distinguishable(diff: dict[str, Any]) -> bool:
    low, high = diff["ci95"]
    if low is None or high is None:
        return False
    return bool(low > 0 or high < 0)


RANK_RULE = (
    "sorted by mean, best first; an entry's rank is 1 plus the number of entries significantly "
    "better than it (paired 95% interval of the difference excluding 0), raised where needed "
    "to the rank of the entry above it, so a better mean never ranks below a worse one; "
    "entries that cannot be told apart from their neighbours share a rank")
"""The ranking rule, stated in compare.json, sweep.json, the tables and the reports."""


def rank(
    names: Sequence[str], values: dict[str, list[float]], kpi: str
) -> list[dict[str, Any]]:
    """Rank by ``kpi``, best first, by ``RANK_RULE``: entries are listed by mean; an entry's
    ``rank`` is 1 plus the number of entries significantly better than it (paired 95% interval
    of the difference excluding 0), then made monotone in that order (``rank[i] =
    max(rank[i], rank[i-1])``), so a ranking never puts a worse mean above a better one it
    cannot be told from. ``not_distinguishable_from`` names the entries it cannot be told
    from."""
    sign = 1.0 if better(kpi) == "lower" else -1.0

    def key(name: str) -> float:
        mean = t_interval(values[name])[0]
        return sign * mean if math.isfinite(mean) else math.inf

    order = sorted(names, key=key)
    differs = _differs([values[name] for name in order])
    ranks: dict[str, int] = {}
    previous = 1
    for i, name in enumerate(order):
        own = 1 + int(differs[i, :i].sum())
        ranks[name] = previous = max(own, previous)
    out: list[dict[str, Any]] = []
    for i, name in enumerate(order):
        entry: dict[str, Any] = {"name": name, "mean": statistic(values[name])["mean"],
                                 "rank": ranks[name]}
        if i > 0:
            entry["difference_to_previous"] = paired_difference(values[name],
                                                                values[order[i - 1]])
        entry["not_distinguishable_from"] = [o for o, d in zip(order, differs[i], strict=True)
                                             if o != name and not d]
        entry["distinguishable_from_next"] = (
            bool(differs[i, i + 1]) if i + 1 < len(order) else None)
        out.append(entry)
    return out


def _differs(values: Sequence[Sequence[float]], rows: int = 128) -> np.ndarray:
    """``[i, j]``: whether entries i and j are distinguishable (``_distinguishable`` of their
    paired difference), for all pairs at once. Pairs whose differences are all finite are
    computed as arrays, with the very operations of ``t_interval`` (the mean and the standard
    deviation of each pair's differences, reduced the same way); pairs with missing values,
    and those within a hair of the boundary, go through ``paired_difference`` itself, so the
    answers are exactly its answers."""
    n = len(values)
    out = np.zeros((n, n), dtype=bool)
    lengths = {len(v) for v in values}
    if n < 2:
        return out
    if len(lengths) != 1 or lengths == {0}:
        for i in range(n):
            for j in range(i + 1, n):
                out[i, j] = out[j, i] = _distinguishable(paired_difference(values[i],
                                                                           values[j]))
        return out
    (size,) = lengths
    x = np.array([[math.nan if v is None else float(v) for v in row] for row in values])
    q = _t_quantile(size - 1) if size > 1 else math.nan
    for start in range(0, n, rows):
        d = x[start:start + rows, None, :] - x[None, :, :]
        finite = np.isfinite(d).all(axis=2)
        with np.errstate(invalid="ignore"):
            mean = d.mean(axis=2)
            half = q * d.std(axis=2, ddof=1) / math.sqrt(size)
        low, high = mean - half, mean + half
        block = (low > 0) | (high < 0)
        scale = np.abs(mean) + half  # 0: the differences are all 0, not distinguishable
        near = (np.abs(np.abs(mean) - half) <= 1e-9 * scale) & (scale > 0)
        for i, j in zip(*np.nonzero(~finite | near), strict=True):
            block[i, j] = _distinguishable(paired_difference(values[start + i], values[j]))
        out[start:start + rows] = block
    np.fill_diagonal(out, False)
    return out


def _t_quantile(df: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + 0.95 / 2, df))  # as t_interval reads its level


def check_compare(scenario: Scenario, baseline: str | None = None,
                  rank_by: str = RANK_BY) -> None:
    """Every check of ``compare``'s arguments, run before anything is made."""
    if not scenario.policies:
        raise InputError("scenario", [(("policies",), "the scenario has no policies to compare",
                                       None)])
    _check_rank_by(scenario, rank_by)
    names = list(scenario.policies)
    if baseline is not None and baseline not in names:
        raise InputError("--baseline", [((), f"no policy {baseline!r} (one of: "
                                              f"{', '.join(names)})", None)])


def compare(
    scenario: Scenario,
    *,
    baseline: str | None = None,
    rank_by: str = RANK_BY,
    executor: Executor | None = None,
    out: Path | None = None,
    progress: Progress | None = None,
    batch: int | None = None,
) -> dict[str, Any]:
    """Run every policy of ``scenario`` on common random numbers; the compare.json document.
    With ``out``, finished replications are saved under ``out/runs/`` as they complete (a
    compare started again on the same folder goes on from there), and compare.json and
    report.html are written there at the end."""
    check_compare(scenario, baseline, rank_by)
    names = list(scenario.policies)
    baseline = baseline or names[0]
    variants = []
    used: set[str] = set()
    for name in names:
        vid = _slug(name)
        while vid in used:
            vid += "_"
        used.add(vid)
        variants.append(Variant(vid, name, {"policy": name}, policy_scenario(scenario, name)))
    results = run_variants(variants, executor=executor, out=out, progress=progress,
                           study=("compare", scenario, fingerprint(scenario)), batch=batch)
    by_name = {v.label: results[v.id] for v in variants}
    base = by_name[baseline]
    policies = {}
    for variant in variants:
        runs = by_name[variant.label]
        summary = summarize(variant.scenario, runs)
        summary["differences"] = {
            kpi: paired_difference([r.kpis[kpi] for r in runs], [r.kpis[kpi] for r in base])
            for kpi in kpi_names(runs)
        }
        summary["overrides"] = scenario.policies[variant.label]
        policies[variant.label] = summary
    values = {name: [r.kpis[rank_by] for r in runs] for name, runs in by_name.items()}
    doc = {
        **header(scenario),
        "baseline": baseline,
        "rank_by": rank_by,
        "better": better(rank_by),
        "rank_rule": RANK_RULE,
        "policies": policies,
        "ranking": rank(names, values, rank_by),
    }
    if out is not None:
        write_json(out / "compare.json", doc)
    return doc


# --------------------------------------------------------------------------- sweeping


def parse_values(text: str, param: str) -> list[Any]:
    """``'20,40,60'`` -> ``[20, 40, 60]``; each value is parsed as YAML."""
    from twin.language.yamlio import parse_yaml

    values = []
    for raw in text.split(","):
        if not raw.strip():
            raise InputError("--values", [((), f"empty value in {text!r} for {param}", None)])
        try:
            values.append(parse_yaml(raw, "--values")[0])
        except InputError as exc:
            raise InputError("--values", [((), f"{param}: {exc.problems[0][1]}", None)]) from None
    return values


_GRID: list[Any] = []
"""The latest grid: (scenario, factors, variants); the command line asks for a sweep's grid
before running it, and validating a thousand points twice is not free."""


def grid(scenario: Scenario, factors: Sequence[tuple[str, Sequence[Any]]]) -> list[Variant]:
    """One variant per combination of the factors' values, each validated."""
    key = [(p, list(v)) for p, v in factors]
    if _GRID and _GRID[0] is scenario and _GRID[1] == key:
        return list(_GRID[2])
    variants = _grid(scenario, factors)
    _GRID[:] = [scenario, key, variants]
    return list(variants)


def _grid(scenario: Scenario, factors: Sequence[tuple[str, Sequence[Any]]]) -> list[Variant]:
    if not factors:
        raise InputError("--param", [((), "a sweep needs at least one --param with --values",
                                      None)])
    paths = [p for p, _ in factors]
    if len(set(paths)) != len(paths):
        raise InputError("--param", [((), "a parameter is given twice", None)])
    base = to_data(scenario)
    variants = []
    for i, combo in enumerate(itertools.product(*(values for _, values in factors))):
        params = dict(zip(paths, combo, strict=True))
        label = ", ".join(f"{p}={v}" for p, v in params.items())
        try:
            point = scenario_from_data(base, f"sweep point {label}", {},
                                       list(params.items()), check_policies=False)
        except InputError as exc:
            raise InputError(f"--param/--values ({label})",
                             [(loc, msg, None) for loc, msg, _ in exc.problems]) from None
        variants.append(Variant(f"point-{i:03d}", label, params, point))
    return variants


def sweep(
    scenario: Scenario,
    factors: Sequence[tuple[str, Sequence[Any]]],
    *,
    rank_by: str = RANK_BY,
    executor: Executor | None = None,
    out: Path | None = None,
    progress: Progress | None = None,
    batch: int | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Run every point of the grid; the sweep.json document and the flat table of rows
    (one per point and replication). With ``out``, resumable like ``compare``, and sweep.json,
    sweep.csv, sweep.parquet and report.html are written there at the end. ``batch``: the
    replications sent to a worker at a time (see ``run_variants``)."""
    _check_rank_by(scenario, rank_by)
    variants = grid(scenario, factors)
    key = fingerprint(scenario, [[p, list(v)] for p, v in factors])
    results = run_variants(variants, executor=executor, out=out, progress=progress,
                           study=("sweep", scenario, key), batch=batch)
    rows = []
    points = []
    for variant in variants:
        runs = results[variant.id]
        for r in runs:
            rows.append({"run": variant.id, "replication": r.replication, **variant.params,
                         **r.kpis, **{f"cost_{k}": v for k, v in r.costs.items()}})
        summary = summarize(variant.scenario, runs)
        point: dict[str, Any] = {"run": variant.id, "params": variant.params,
                                 "kpis": summary["kpis"], "machines": summary["machines"],
                                 "costs": summary["costs"], "warnings": summary["warnings"]}
        point.update({k: summary[k] for k in ("warehouses", "customers") if k in summary})
        points.append(point)
    values = {v.id: [r.kpis[rank_by] for r in results[v.id]] for v in variants}
    ranking = rank([v.id for v in variants], values, rank_by)
    ranks = {e["name"]: e["rank"] for e in ranking}
    for point in points:
        point["rank"] = ranks[point["run"]]
    best_id = ranking[0]["name"]
    best = next(p for p in points if p["run"] == best_id)
    tied = [
        p["run"] for p in points if p["run"] != best_id
        and not _distinguishable(paired_difference(values[p["run"]], values[best_id]))
    ]
    doc = {
        **header(scenario),
        "factors": [{"param": p, "values": list(v)} for p, v in factors],
        "rank_by": rank_by,
        "better": better(rank_by),
        "rank_rule": RANK_RULE,
        "points": points,
        "best": {"run": best_id, "params": best["params"], rank_by: best["kpis"][rank_by],
                 "not_distinguishable_from": tied},
    }
    table = pd.DataFrame(rows)
    if out is not None:
        write_json(out / "sweep.json", doc)
        write_csv(out / "sweep.csv", table)
        write_parquet(out / "sweep.parquet", table)
    return doc, table


__all__ = ["RANK_RULE", "RunStore", "Variant", "better", "compare", "fingerprint", "grid",
           "parse_values", "rank", "result_from_json", "result_to_json", "run_variants",
           "sweep"]
