"""Optimisation: search scenario parameters with Optuna, then select the best statistically.

The search reads like Optuna's own examples: an objective that asks ``trial.suggest_int`` or
``trial.suggest_float`` for each parameter and returns the mean of a KPI over the scenario's
replications. Every trial runs on the same seed and replications (common random numbers), its
replications as tasks on the executor (local processes or Dask). TPE by default, CMA-ES on
request. Constraints (``fill_rate>=0.95``) are judged on their intervals: a point satisfies one
when the 95% interval of the KPI over its replications lies on the right side of the bound.

The study lives in Optuna's own storage (a journal file in the output folder), and each point's
replications are saved as they finish, so an optimisation started again on the same folder goes
on where it stopped: finished trials are not run again, and a trial cut short is run again from
the replications it had. Points the sampler proposes twice reuse the replications they have.

The search ends with a ranking-and-selection stage: the best few feasible points are run further
by Kim and Nelson's procedure (``twin.study.selection``) until one is named the best with the
stated probability (``pcs``), within the indifference zone ``delta``.

    from twin import load_scenario, optimize
    doc = optimize(load_scenario("scenarios/wear.yaml"),
                   [Param("maintenance.policy.threshold", 5.0, 8.0)], "cost_rate", budget=30)
    doc["selection"]["selected"]["params"]
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twin.errors import InputError
from twin.kpis import BY_NAME, KPIS
from twin.language.loading import scenario_from_data, to_data
from twin.language.schema import Scenario
from twin.records.output import write_json, write_text
from twin.registry import did_you_mean
from twin.study.executors import Executor, make_executor
from twin.study.selection import kim_nelson
from twin.study.stats import statistic
from twin.study.store import Progress, RunStore, fingerprint
from twin.study.variants import header

STUDY_NAME = "twin-optimize"
JOURNAL = "optuna.journal"


# --------------------------------------------------------------------------- the problem

BUDGET = 30
"""Trials an optimisation asks of the sampler by default."""


@dataclass(frozen=True)
class Param:
    """A scenario field to search, by dotted path, over ``[low, high]`` (whole numbers with
    ``integer``; on a log scale with ``log``)."""

    path: str
    low: float
    high: float
    integer: bool = False
    log: bool = False


@dataclass(frozen=True)
class Constraint:
    """``kpi op bound``, e.g. ``fill_rate >= 0.95``."""

    kpi: str
    op: str
    bound: float

    def __str__(self) -> str:
        return f"{self.kpi}{self.op}{self.bound:g}"

    def violation(self, low: float | None, high: float | None) -> float:
        """How far the interval is from satisfying the constraint (<= 0: it does)."""
        if self.op in (">=", ">"):
            return math.inf if low is None else self.bound - low
        return math.inf if high is None else high - self.bound

    def judge(self, low: float | None, high: float | None) -> str:
        """``yes``: the whole interval satisfies it; ``no``: none of it does; else ``unsure``."""
        if low is None or high is None:
            return "unsure"
        b = self.bound
        ok, bad = {">=": (low >= b, high < b), ">": (low > b, high <= b),
                   "<=": (high <= b, low > b), "<": (high < b, low >= b)}[self.op]
        return "yes" if ok else "no" if bad else "unsure"


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def parse_range(text: str, path: str = "--range") -> tuple[float, float, bool, bool]:
    """``'LOW:HIGH'``, ``'LOW:HIGH:int'`` or ``'LOW:HIGH:log'`` (``int,log`` both) ->
    ``(low, high, integer, log)``."""
    parts = text.split(":")
    where = f"--range {text}" + (f" (for {path})" if path != "--range" else "")
    if len(parts) not in (2, 3):
        raise InputError("--range", [((), f"{where}: expected LOW:HIGH or LOW:HIGH:int", None)])
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise InputError("--range", [((), f"{where}: LOW and HIGH must be numbers", None)]) \
            from None
    flags = {f.strip() for f in parts[2].split(",")} if len(parts) == 3 else set()
    unknown = flags - {"int", "log"}
    if unknown:
        raise InputError("--range", [((), f"{where}: unknown flag {sorted(unknown)[0]!r} (int "
                                          "for whole numbers, log for a log scale)", None)])
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InputError("--range", [((), f"{where}: LOW and HIGH must be finite", None)])
    if low > high:
        raise InputError("--range", [((), f"{where}: LOW {parts[0]} is above HIGH {parts[1]}",
                                      None)])
    integer = "int" in flags
    if integer and (low != int(low) or high != int(high)):
        raise InputError("--range", [((), f"{where}: an int range needs whole-number bounds",
                                      None)])
    if "log" in flags and low <= 0:
        raise InputError("--range", [((), f"{where}: a log range needs LOW > 0", None)])
    return low, high, integer, "log" in flags


def parse_constraint(text: str) -> Constraint:
    """``'fill_rate>=0.95'`` -> ``Constraint('fill_rate', '>=', 0.95)``."""
    match = re.fullmatch(rf"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<)\s*({_NUMBER})\s*", text)
    if match is None:
        raise InputError("--constraint", [((), (
            f"cannot read {text!r}: write KPI>=VALUE or KPI<=VALUE, e.g. 'fill_rate>=0.95'"),
            None)])
    kpi, op, bound = match.group(1), match.group(2), float(match.group(3))
    check_kpi(kpi, "--constraint")
    return Constraint(kpi, op, bound)


def check_kpi(kpi: str, option: str, scenario: Scenario | None = None) -> None:
    """Check that ``kpi`` can be optimized for ``scenario``.

    Raises InputError, naming ``option``, for an unknown KPI or a supply-chain KPI of a plant
    without a supply chain.
    """
    if kpi not in BY_NAME:
        raise InputError(option, [((), f"unknown KPI {kpi!r}{did_you_mean(kpi, KPIS)} (one of: "
                                        f"{', '.join(KPIS)})", None)])
    if scenario is not None and BY_NAME[kpi].scope == "supply" \
            and not scenario.has_supply_chain():
        raise InputError(option, [((), f"{kpi} is a supply-chain KPI and the plant has no "
                                        "supplier, warehouse or customer", None)])


def _value(param: Param, value: float) -> int | float:
    return int(round(value)) if param.integer else float(value)


def point_id(params: dict[str, Any]) -> str:
    """The folder-safe id of a point: ``p-`` and 12 hex digits of the SHA-256 of its parameters."""
    text = json.dumps(params, sort_keys=True)
    return "p-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def point_scenario(scenario: Scenario, base: dict[str, Any], params: dict[str, Any],
                   option: str = "--param") -> Scenario:
    """``scenario`` with the values of ``params`` (by dotted path) set on ``base``, its data.

    Raises InputError, naming ``option`` and the point, if the values make it invalid.
    """
    label = ", ".join(f"{p}={v}" for p, v in params.items())
    try:
        return scenario_from_data(base, f"point {label}", {}, list(params.items()),
                                  check_policies=False, folder=scenario._folder)
    except InputError as exc:
        raise InputError(f"{option} ({label})",
                         [(loc, msg, None) for loc, msg, _ in exc.problems]) from None


# --------------------------------------------------------------------------- replications


def _simulate(item: tuple[str, Scenario, int]) -> tuple[str, int, dict[str, float]]:
    from twin.engine.replication import simulate

    pid, scenario, replication = item
    result = simulate(scenario, replication, inventory=False)
    return pid, replication, result.kpis


class Points:
    """The KPIs of every replication of every point, kept in memory and, with a folder, saved
    as they finish (``points/<id>/replication-NNNN.json``) so that a study started again goes
    on from them."""

    def __init__(self, scenario: Scenario, executor: Executor, root: Path | None,
                 progress: Callable[[int], None] | None = None) -> None:
        self.scenario = scenario
        self.base = to_data(scenario)
        self.executor = executor
        self.root = root / "points" if root is not None else None
        self.params: dict[str, dict[str, Any]] = {}
        self.scenarios: dict[str, Scenario] = {}
        self.kpis: dict[str, dict[int, dict[str, float]]] = {}
        self.simulated = 0
        self.loaded = 0
        """Replications found saved by an earlier call."""
        self.progress = progress

    def add(self, params: dict[str, Any]) -> str:
        """Register the point ``params`` (with the replications saved for it earlier) and return its
        id."""
        pid = point_id(params)
        if pid not in self.params:
            self.params[pid] = params
            self.scenarios[pid] = point_scenario(self.scenario, self.base, params)
            self.kpis[pid] = {}
            if self.root is not None:
                folder = self.root / pid
                for stale in folder.glob(".*.tmp"):
                    stale.unlink(missing_ok=True)
                for path in sorted(folder.glob("replication-*.json")):
                    self.kpis[pid][int(path.stem.split("-")[1])] = json.loads(path.read_text())
                    self.loaded += 1
                if not (folder / "point.json").exists():
                    write_json(folder / "point.json", {"params": params})
        return pid

    def ensure(self, wanted: dict[str, int]) -> None:
        """Run what is missing of replications ``0 .. n - 1`` of each point ``pid: n``."""
        todo = []
        for pid, n in wanted.items():
            for r in range(n):
                if r in self.kpis[pid]:
                    continue
                todo.append((pid, self.scenarios[pid], r))
        if not todo:
            return
        finished = self.executor.map_unordered(_simulate, todo)
        try:
            for pid, r, kpis in finished:
                self.kpis[pid][r] = kpis
                if self.root is not None:
                    write_text(self.root / pid / f"replication-{r:04d}.json",
                               json.dumps(kpis, allow_nan=True))
                self.simulated += 1
                if self.progress is not None:
                    self.progress(1)
        finally:
            close = getattr(finished, "close", None)
            if close is not None:
                close()

    def values(self, pid: str, kpi: str, n: int | None = None) -> list[float]:
        """``kpi`` of the first ``n`` replications of point ``pid`` (all by default); NaN where a
        replication lacks it."""
        reps = self.kpis[pid]
        upto = n if n is not None else len(reps)
        return [float(reps[r].get(kpi, math.nan)) for r in range(upto)]


# --------------------------------------------------------------------------- the search


def _sampler(kind: str, seed: int, budget: int) -> Any:
    import optuna

    if kind == "tpe":  # it reads the trials' constraints (Trial.set_constraint)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(3, budget // 3)))
    if kind == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise InputError("--sampler", [((), f"unknown sampler {kind!r}{did_you_mean(kind, SAMPLERS)}"
                                        f" (one of: {', '.join(SAMPLERS)})", None)])


SAMPLERS = ("tpe", "cmaes", "random")


def _storage(out: Path | None) -> Any:
    if out is None:
        return None
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    out.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(out / JOURNAL)))


def _stat(values: Sequence[float], kpi: str) -> dict[str, Any]:
    return statistic(values, bounds=BY_NAME[kpi].range if kpi in BY_NAME else None)


def _judge(points: Points, pid: str, constraints: Sequence[Constraint],
           n: int | None = None) -> list[dict[str, Any]]:
    out = []
    for c in constraints:
        stat = _stat(points.values(pid, c.kpi, n), c.kpi)
        low, high = stat["ci95"]
        out.append({"constraint": str(c), "mean": stat["mean"], "ci95": stat["ci95"],
                    "satisfied": c.judge(low, high), "violation": c.violation(low, high)})
    return out


def check_optimize(scenario: Scenario, params: Sequence[Param], objective: str,
                   constraints: Sequence[Constraint] = (), budget: int = BUDGET,
                   sampler: str = "tpe", delta: float | None = None, pcs: float = 0.95) -> None:
    """Every check of ``optimize``'s arguments, run before anything is made (an ``InputError``,
    exit status 2, names the option)."""
    check_kpi(objective, "--objective", scenario)
    for c in constraints:
        check_kpi(c.kpi, "--constraint", scenario)
    _check_params(scenario, params)
    if scenario.replications < 2:
        raise InputError("--replications", [((), "optimize needs at least 2 replications per "
                                                  "trial (their spread judges the constraints "
                                                  "and starts the selection)", None)])
    if budget < 1:
        raise InputError("--budget", [((), "the budget must be at least 1 trial", None)])
    if not 0.5 < pcs < 1:
        raise InputError("--pcs", [((), f"the probability of correct selection must lie "
                                        f"between 0.5 and 1, got {pcs}", None)])
    if delta is not None and not (math.isfinite(delta) and delta > 0):
        raise InputError("--delta", [((), f"the indifference zone must be positive, got {delta}",
                                      None)])
    _sampler(sampler, 0, budget)  # an unknown name is refused before anything runs


def optimize(
    scenario: Scenario,
    params: Sequence[Param],
    objective: str,
    *,
    maximize: bool | None = None,
    constraints: Sequence[Constraint] = (),
    budget: int = BUDGET,
    sampler: str = "tpe",
    candidates: int = 5,
    delta: float | None = None,
    pcs: float = 0.95,
    max_replications: int = 200,
    batch: int = 1,
    executor: Executor | None = None,
    out: str | Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Search ``params`` for the best ``objective`` (a KPI; higher or lower is better as the KPI
    table says, unless ``maximize`` is given) subject to ``constraints``, in ``budget`` trials;
    then select the best of the ``candidates`` best feasible points by Kim and Nelson's
    procedure (indifference zone ``delta``, default 1% of the best mean; probability of correct
    selection ``pcs``). Returns the optimize.json document; with ``out``, the study is resumable
    from that folder and optimize.json and report.html are written there."""
    import optuna
    from optuna.trial import TrialState

    started = time.perf_counter()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    check_optimize(scenario, params, objective, constraints, budget, sampler, delta, pcs)
    if maximize is None:
        maximize = BY_NAME[objective].better == "higher"
    direction = "maximize" if maximize else "minimize"
    sign = 1.0 if maximize else -1.0
    n0 = scenario.replications
    folder = Path(out) if out is not None else None
    settings = {"params": [asdict(p) for p in params], "objective": objective,
                "direction": direction, "constraints": [str(c) for c in constraints],
                "sampler": sampler}
    if folder is not None:
        RunStore(folder).claim_study("optimize", scenario, fingerprint(scenario, settings), [])
    executor = executor or make_executor()
    done = [0]
    total = [budget * n0]

    def tick(k: int) -> None:
        done[0] += k
        if progress is not None:
            progress(done[0], max(total[0], done[0]))

    points = Points(scenario, executor, folder, tick)
    study = optuna.create_study(storage=_storage(folder), study_name=STUDY_NAME,
                                direction="maximize" if maximize else "minimize",
                                load_if_exists=True)
    reused_trials = 0
    for old in study.get_trials(deepcopy=False):
        if old.state == TrialState.RUNNING:  # cut short: run its point again
            study.tell(old.number, state=TrialState.FAIL)
            study.enqueue_trial(old.params)
        elif old.user_attrs.get("evaluated"):
            reused_trials += 1
            points.add(old.user_attrs["params"])

    def evaluated() -> int:
        return sum(1 for t in study.get_trials(deepcopy=False) if t.user_attrs.get("evaluated"))

    tick(reused_trials * n0)
    while (count := evaluated()) < budget:
        asked: list[tuple[Any, str, dict[str, int | float]]] = []
        for j in range(min(batch, budget - count)):
            study.sampler = _sampler(sampler, scenario.seed + count + j, budget)
            trial = study.ask()
            values: dict[str, int | float] = {}
            for p in params:
                if p.integer:
                    values[p.path] = trial.suggest_int(p.path, int(p.low), int(p.high), log=p.log)
                else:
                    values[p.path] = trial.suggest_float(p.path, p.low, p.high, log=p.log)
            values = {p.path: _value(p, values[p.path]) for p in params}
            asked.append((trial, points.add(values), values))
        points.ensure({pid: n0 for _, pid, _ in asked})
        for trial, pid, values in asked:
            objective_values = points.values(pid, objective, n0)
            mean = float(np.mean(objective_values))
            judged = _judge(points, pid, constraints, n0)
            violations = [float(min(j["violation"], 1e300)) for j in judged]
            trial.set_user_attr("params", values)
            trial.set_user_attr("point", pid)
            trial.set_user_attr("violations", violations)
            trial.set_user_attr("feasible", all(j["satisfied"] == "yes" for j in judged))
            trial.set_user_attr("evaluated", True)
            for c, v in zip(constraints, violations, strict=True):
                trial.set_constraint(str(c), v)
            if not math.isfinite(mean):
                study.tell(trial, state=TrialState.FAIL)
                continue
            value = mean
            if constraints and sampler != "tpe" and any(v > 0 for v in violations):
                # samplers without constraint handling: an infeasible point ranks last
                value = mean - sign * 1e6 * (1.0 + abs(mean)) * (1.0 + sum(
                    max(0.0, v) for v in violations))
            study.tell(trial, value)
    trials = study.get_trials(deepcopy=False)
    doc = {
        **header(scenario),
        "objective": objective,
        "direction": direction,
        "params": [asdict(p) for p in params],
        "constraints": [str(c) for c in constraints],
        "constraint_rule": ("a point satisfies a constraint when the 95% interval of the KPI "
                            "over its replications lies on the constraint's side of the bound"),
        "sampler": sampler,
        "budget": budget,
        "trials": _trial_rows(trials, points, objective, constraints, n0),
        "importance": _importance(study, params),
        "this_call": {"trials_reused": reused_trials},
        "notes": [],
    }
    if sampler == "cmaes" and len(params) < 2:
        doc["notes"].append("CMA-ES needs two or more parameters: with one, Optuna samples it "
                            "at random")
    rows = [t for t in doc["trials"] if t["state"] == "complete"]
    unconstrained = max(rows, key=lambda t: sign * t["objective"]["mean"], default=None)
    feasible = [t for t in rows if t["feasible"]]
    doc["best_trial_unconstrained"] = unconstrained
    ranked: list[dict[str, Any]] = []
    for row in sorted(feasible, key=lambda t: -sign * t["objective"]["mean"]):
        if row["point"] not in {r["point"] for r in ranked}:
            ranked.append(row)
    chosen = ranked[:max(1, candidates)]
    total[0] = done[0]
    searched = points.simulated
    doc["this_call"]["seconds_search"] = round(time.perf_counter() - started, 3)
    doc["selection"] = _select(points, chosen, objective, constraints, sign, n0, delta, pcs,
                               max_replications, tick)
    doc["this_call"].update({
        "replications_search": searched, "replications_selection": points.simulated - searched,
        "replications_loaded": points.loaded,
        "seconds": round(time.perf_counter() - started, 3)})
    if folder is not None:
        save_optimize(doc, folder)
    return doc


def _check_params(scenario: Scenario, params: Sequence[Param]) -> None:
    if not params:
        raise InputError("--param", [((), "give at least one --param PATH with its --range "
                                          "LOW:HIGH", None)])
    paths = [p.path for p in params]
    if len(set(paths)) != len(paths):
        raise InputError("--param", [((), "a parameter is given twice", None)])
    base = to_data(scenario)
    for end in ("low", "high"):
        values = {p.path: _value(p, getattr(p, end)) for p in params}
        point_scenario(scenario, base, values, "--param/--range")


def _trial_rows(trials: Iterable[Any], points: Points, objective: str,
                constraints: Sequence[Constraint], n0: int) -> list[dict[str, Any]]:
    rows = []
    for t in trials:
        if not t.user_attrs.get("evaluated"):
            continue
        pid = t.user_attrs["point"]
        if pid not in points.params:
            points.add(t.user_attrs["params"])
        rows.append({
            "number": t.number,
            "state": t.state.name.lower(),
            "params": t.user_attrs["params"],
            "point": pid,
            "objective": _stat(points.values(pid, objective, n0), objective),
            "constraints": _judge(points, pid, constraints, n0),
            "feasible": bool(t.user_attrs.get("feasible")),
        })
    return rows


def _importance(study: Any, params: Sequence[Param]) -> dict[str, float]:
    import optuna

    complete = [t for t in study.get_trials(deepcopy=False)
                if t.state == optuna.trial.TrialState.COMPLETE]
    if len(params) == 1:
        return {params[0].path: 1.0} if complete else {}
    if len(complete) < 2:
        return {}
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        found = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError):
        return {}
    return {k: float(v) for k, v in found.items()}


def _select(points: Points, chosen: list[dict[str, Any]], objective: str,
            constraints: Sequence[Constraint], sign: float, n0: int, delta: float | None,
            pcs: float, max_replications: int,
            tick: Callable[[int], None]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "procedure": "Kim-Nelson (fully sequential, common random numbers)",
        "pcs": pcs, "first_stage": n0, "max_replications": max_replications,
    }
    if not chosen:
        out.update({"selected": None, "candidates": [], "delta": delta, "guaranteed": False,
                    "notes": ["no trial satisfies the constraints: nothing to select"]})
        return out
    ids = [row["point"] for row in chosen]
    if delta is None:
        best_mean = abs(chosen[0]["objective"]["mean"])
        delta = 0.01 * best_mean if best_mean > 0 else 1e-6
        out["delta_rule"] = "1% of the best trial's mean"
    out["delta"] = delta

    # every candidate's observations so far (the search's n0, and any saved before)
    first = {pid: [sign * v for v in points.values(pid, objective, n0)] for pid in ids}
    seen = {pid: n0 for pid in ids}

    def step(survivors: int) -> int:
        return max(1, math.ceil(max(n0 / 2, 8 / survivors)))

    def fetch(survivors: list[str], upto: int) -> dict[str, list[float]]:
        points.ensure({s: upto for s in survivors})
        got = {}
        for s in survivors:
            got[s] = [sign * v for v in points.values(s, objective, upto)[seen[s]:]]
            seen[s] = upto
        return got

    result = kim_nelson(ids, first, fetch, delta=delta, pcs=pcs,
                        max_replications=max(max_replications, n0), batch=step)
    rows = []
    for row in chosen:
        pid = row["point"]
        n = result.replications[pid]
        rows.append({
            "point": pid, "params": row["params"], "trial": row["number"], "replications": n,
            "objective": _stat(points.values(pid, objective, n), objective),
            "eliminated_at": result.eliminated[pid], "eliminated_by": result.eliminated_by[pid],
            "constraints": _judge(points, pid, constraints, n),
            "selected": pid == result.best,
        })
    selected = next(r for r in rows if r["selected"])
    out.update({"eta": result.eta, "h2": result.h2, "rounds": result.rounds,
                "max_needed": result.max_needed, "guaranteed": result.guaranteed,
                "candidates": rows, "selected": selected, "notes": result.notes})
    if any(c["satisfied"] != "yes" for c in selected["constraints"]):
        out["notes"].append("with all its replications, the selected point's constraint "
                            "interval no longer lies wholly on the right side of the bound")
    return out


def save_optimize(doc: dict[str, Any], out: Path) -> Path:
    """``out/optimize.json`` (its numbers finite or null); its path."""
    path = out / "optimize.json"
    write_json(path, _finite(doc))
    return path


def _finite(data: Any) -> Any:
    """JSON data with non-finite numbers as null."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


__all__ = ["Constraint", "Param", "optimize", "parse_constraint", "parse_range",
           "save_optimize"]
