"""Schedules with risk: today's orders planned from the plant's state, and each order's chance
of meeting its due date.

``schedule(scenario, orders, state=...)`` answers a production engineer's daily question in
two parts, as risk-based planning and scheduling does:

- the plan: one deterministic run from the state (every process, setup, repair and walking
  time at its mean, no failures unless asked) gives each order's operations on each machine,
  start and end (``ScheduleResult.plan``: one row per part and operation, a setup or a repair);
- the risk: replications from the same state with all the randomness give, per order, the
  probability of completing by its due date (with a Wilson 95% interval) and the completion
  time's 5%, 50% and 95% quantiles, and the makespan's distribution.

With ``rules``, every buffer dispatches by each rule in turn, on common random numbers, and
the rules are ranked by expected tardiness and by the number of orders at risk.

Times are on the plant's clock: the schedule starts at the state's ``time`` (0 without a
state), and the order list's release and due times are on that clock too (an order released
before the state's time is released at once). An order of the list whose parts the state holds
(parts naming it) is under way: twin releases an order's parts all at once, so it releases no
more, and it is done when the last of those parts leaves the line. Parts of the state naming
no order of the list are made too, before or among the new work as the dispatching rules say.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import simpy
from pydantic import BaseModel

from twin.engine.products import ProductionOrder, release_orders
from twin.engine.replication import build
from twin.errors import InputError
from twin.language.distributions import BaseDistribution, Constant
from twin.study.executors import Executor, make_executor
from twin.study.stats import statistic

if TYPE_CHECKING:
    from pathlib import Path

    from twin.engine.context import BuildContext
    from twin.engine.state import PlantState
    from twin.language.schema import Scenario

__all__ = ["ScheduleResult", "deterministic", "load_orders", "parse_rules", "schedule",
           "with_rule"]

QUANTILES = (0.05, 0.5, 0.95)
RISK = 0.8
"""An order is at risk when its probability of being on time is under this."""
PLAN_COLUMNS = ["order", "product", "operation", "machine", "start", "end", "kind", "part"]


# -- input ------------------------------------------------------------------------------------

def load_orders(path: str | Path, scenario: Scenario) -> pd.DataFrame:
    """The order list of ``path`` checked against the scenario (columns, numbers, known
    products, due dates not before releases): an ``InputError`` naming the file and the row
    otherwise, before anything runs."""
    from twin.language.products import read_orders

    if not scenario.products:
        raise InputError(str(path), [((), f"scenario {scenario.name!r} has no products: a "
                                          "schedule plans orders of its products", None)])
    return read_orders(path, scenario.products)


def parse_rules(text: str | Sequence[str]) -> list[str]:
    """Dispatching rules from ``fifo,edd,cr`` (or a list): each known (built in or a plug-in),
    else an ``InputError`` for ``--rules`` with a "did you mean"."""
    from twin.engine.dispatching import RULES
    from twin.registry import did_you_mean

    names = [r.strip() for r in (text.split(",") if isinstance(text, str) else text)]
    names = [r for r in names if r]
    known = RULES.names()
    problems = [((), f"unknown dispatching rule {r!r}{did_you_mean(r, known)} (one of: "
                     f"{', '.join(known)})", None) for r in names if r not in known]
    if not names:
        problems.append(((), "no rule given (fifo,edd,cr, say)", None))
    if len(set(names)) < len(names):
        problems.append(((), "a rule is named twice", None))
    if problems:
        raise InputError("--rules", problems)
    return names


def with_rule(scenario: Scenario, rule: str) -> Scenario:
    """The scenario with every buffer dispatching by ``rule``."""
    nodes = {name: spec.model_copy(update={"dispatch": rule}) if spec.kind == "buffer" else spec
             for name, spec in scenario.plant.nodes.items()}
    return _copy(scenario, plant=scenario.plant.model_copy(update={"nodes": nodes}))


def deterministic(scenario: Scenario, failures: bool = False) -> Scenario:
    """The scenario with every distribution at its mean (a constant) and, unless
    ``failures``, no machine or vehicle failing: the plan's plant."""
    plain = _means(scenario)
    if failures:
        return plain
    nodes = {name: _unfailing(spec) if spec.kind == "machine" else spec
             for name, spec in plain.plant.nodes.items()}
    update: dict[str, Any] = {"plant": plain.plant.model_copy(update={"nodes": nodes})}
    if plain.transport is not None:  # nor any vehicle
        fleets = {name: fleet.model_copy(update={"failures": None})
                  for name, fleet in plain.transport.fleets.items()}
        update["transport"] = plain.transport.model_copy(update={"fleets": fleets})
    return _copy(plain, **update)


NEVER = Constant(value=1e30)
"""A life no horizon reaches."""


def _unfailing(spec: Any) -> Any:
    """A machine that never fails: its lives never end, and it wears no more (a machine down in
    the state is still repaired, in its mean repair time)."""
    failures = getattr(spec, "failures", None)
    if failures is None:
        return spec
    if isinstance(failures, list):
        lives: Any = [mode.model_copy(update={"ttf": NEVER}) for mode in failures]
    else:
        lives = failures.model_copy(update={"ttf": NEVER})
    update: dict[str, Any] = {"failures": lives}
    if getattr(spec, "degradation", None) is not None:
        update["degradation"] = None
    return spec.model_copy(update=update)


def _means(value: Any) -> Any:
    """``value`` with every distribution in it replaced by the constant of its mean."""
    if isinstance(value, BaseDistribution):
        if isinstance(value, Constant):
            return value
        mean = value.mean()
        return Constant(value=mean) if math.isfinite(mean) and mean >= 0 else value
    if isinstance(value, BaseModel):
        update = {}
        for name in type(value).model_fields:
            old = getattr(value, name)
            new = _means(old)
            if new is not old:
                update[name] = new
        return value.model_copy(update=update) if update else value
    if isinstance(value, dict):
        items = {k: _means(v) for k, v in value.items()}
        return items if any(items[k] is not value[k] for k in value) else value
    if isinstance(value, list | tuple):
        seq = [_means(v) for v in value]
        return type(value)(seq) if any(a is not b for a, b in zip(seq, value, strict=True)) \
            else value
    return value


def _copy(scenario: Scenario, **update: Any) -> Scenario:
    out = scenario.model_copy(update=update)
    out._folder = scenario._folder
    return out


# -- one replication --------------------------------------------------------------------------

@dataclass(frozen=True)
class Workload:
    """What every replication of a schedule starts from (picklable: replications run on any
    executor)."""

    scenario: Scenario
    """The plant, without its own order list, statistics from 0."""
    orders: tuple[tuple[str, str, int, float, float, float], ...]
    """order, product, quantity, release, due, priority: the order list on the plant's clock."""
    state: PlantState | None
    start: float
    """The plant's clock when the schedule starts (the state's time)."""
    horizon: float
    """Simulated time from the start."""


def workload(scenario: Scenario, orders: pd.DataFrame, state: PlantState | None,
             horizon: float | None) -> Workload:
    start = float(state.time) if state is not None else 0.0
    span = float(horizon if horizon is not None else scenario.horizon)
    plant = _copy(scenario, orders=None, warmup=0.0, horizon=span)
    rows = tuple((str(r.order), str(r.product), int(r.quantity), float(r.release), float(r.due),
                  float(r.priority)) for r in orders.itertuples(index=False))
    return Workload(plant, rows, state, start, span)


@dataclass
class Replicated:
    """One replication of a schedule: each order's completion on the plant's clock (NaN: open
    at the horizon), in the order list's order; the plan's event log, when kept."""

    replication: int
    completions: np.ndarray
    events: pd.DataFrame | None = None


def _wip(ctx: BuildContext) -> Iterable[Any]:
    """The parts of the initial state: waiting in buffers, in machines' hands."""
    for channel in ctx.channels.values():
        yield from channel.items
        yield from (p for _, p in channel.putters)
    for machine in ctx.machines.values():
        start = machine.initial
        if start is not None and start.part is not None:
            yield start.part


def replicate(work: Workload, replication: int, events: bool = False) -> Replicated:
    """Replication ``replication`` of the schedule: the plant built from the state, the orders
    under way linked to their parts, the others released at their times; it runs until every
    order is done or the horizon."""
    from twin.language.products import entry_sources

    scenario = work.scenario
    ctx = build(scenario, replication, events=events, initial=work.state)
    env, book, stamp = ctx.env, ctx.book, ctx.stamp
    assert book is not None and stamp is not None
    t0 = work.start
    jobs: dict[str, ProductionOrder] = {}
    priorities: dict[str, float] = {}
    for order, product, quantity, release, due, priority in work.orders:
        jobs[order] = ProductionOrder(order, product, quantity, max(0.0, release - t0), due - t0)
        priorities[order] = priority
    held: dict[str, int] = {}
    for part in _wip(ctx):
        job = jobs.get(part.order) if part.order is not None else None
        if job is not None:
            part.job, part.due = job, job.due
            if not math.isnan(priorities[job.id]):
                part.priority = priorities[job.id]
            held[job.id] = held.get(job.id, 0) + 1
    for order, count in held.items():  # under way: its parts are all in the plant already
        jobs[order].left = count
        jobs[order].release = 0.0
        book.orders.append(jobs[order])
    fresh = sorted(((job.release, job, priorities[job.id]) for job in jobs.values()
                    if job.id not in held), key=lambda item: item[0])
    sources = {name: entry_sources(scenario, product.route[0])[0]
               for name, product in scenario.products.items()}
    releaser = ctx.releaser
    env.process(release_orders(env, fresh, ctx.entries.__getitem__,
                               lambda part, product: releaser.admit(part, sources[product]),
                               stamp, book))
    done = env.event()
    open_ = len(jobs)

    def finished(job: ProductionOrder) -> None:
        nonlocal open_
        if job.id in jobs and jobs[job.id] is job:
            open_ -= 1
            if open_ == 0 and not done.triggered:
                done.succeed()

    book.on_done = finished
    if open_:
        env.run(until=simpy.AnyOf(env, [done, env.timeout(work.horizon)]))
    completions = np.array([jobs[o[0]].done + t0 for o in work.orders], dtype=float)
    frame = None
    if events and ctx.events is not None:
        frame = ctx.events.table(replication).to_pandas()
        frame["time"] += t0
    return Replicated(replication, completions, frame)


def _batch(task: tuple[Workload, list[int]]) -> list[Replicated]:
    work, replications = task
    return [replicate(work, r) for r in replications]


def replicate_all(work: Workload, replications: int, executor: Executor,
                  progress: Callable[[int], None] | None = None,
                  workers: int | None = None) -> np.ndarray:
    """Completion times of every order (columns) in every replication (rows)."""
    size = max(1, min(32, replications // (8 * max(1, workers or 2))))
    tasks = [(work, list(range(k, min(k + size, replications))))
             for k in range(0, replications, size)]
    out = np.full((replications, len(work.orders)), np.nan)
    for results in executor.map_unordered(_batch, tasks):
        for r in results:
            out[r.replication] = r.completions
        if progress is not None:
            progress(len(results))
    return out


# -- the plan ---------------------------------------------------------------------------------

def plan_table(events: pd.DataFrame, scenario: Scenario, machines: Iterable[str]) -> pd.DataFrame:
    """The plan's operations from its event log: each part's processing on each machine, each
    setup and each repair or maintenance, with start and end on the plant's clock. A part's
    ``operation`` is its step in its product's route (1 the first)."""
    machines = set(machines)
    routes = {name: p.route for name, p in scenario.products.items()}
    begins = {"start": "process", "setup_start": "setup", "fail": "repair",
              "pm_start": "maintenance"}
    ends = {"finish": "process", "setup_end": "setup", "repair_end": "repair",
            "pm_end": "maintenance"}
    open_at: dict[tuple[str, str, int | None], tuple[float, Any, Any]] = {}
    steps: dict[int | None, int] = {}
    rows: list[tuple[Any, ...]] = []
    for time, node, event, part, product, order in zip(
            events["time"], events["node"], events["event"], events["part"], events["product"],
            events["order"], strict=True):
        if node not in machines or (event not in begins and event not in ends):
            continue
        kind = begins.get(event) or ends[event]
        number = None if kind in ("repair", "maintenance") or pd.isna(part) else int(part)
        key = (str(node), kind, number)
        if event in begins:
            open_at[key] = (float(time), None if pd.isna(product) else str(product),
                            None if pd.isna(order) else str(order))
            continue
        if key not in open_at:
            continue
        start, product, order = open_at.pop(key)
        operation = None
        route = routes.get(product) if product is not None else None
        if route is not None and node in route:
            if kind == "process":
                last = steps.get(number, -1)
                step = next((k for k in range(last + 1, len(route)) if route[k] == node),
                            route.index(node))
                steps[number] = step
            else:
                step = route.index(node)
            operation = step + 1
        rows.append((order, product, operation, str(node), start, float(time), kind, number))
    frame = pd.DataFrame(rows, columns=PLAN_COLUMNS)
    frame["operation"] = frame["operation"].astype("Int64")
    frame["part"] = frame["part"].astype("Int64")
    return frame.sort_values(["start", "machine"], kind="stable").reset_index(drop=True)


# -- the risk ---------------------------------------------------------------------------------

def wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's score interval of a probability (95% by default): never outside [0, 1], and
    not empty at 0 or n successes."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _quantiles(values: np.ndarray) -> dict[str, float | None]:
    """Empirical quantiles (no interpolation; an order open at the horizon counts as never
    done: a quantile beyond the horizon is null)."""
    x = np.where(np.isnan(values), np.inf, values)
    return {f"{q:.0%}": _number(float(np.quantile(x, q, method="inverted_cdf")))
            for q in QUANTILES}


def risk_table(orders: pd.DataFrame, completions: np.ndarray, plan_end: np.ndarray,
               threshold: float, end: float) -> list[dict[str, Any]]:
    """Per order: the plan's end, the probability of being done by the due date with its
    interval, the completion quantiles, the expected tardiness (an order open at the horizon
    counts as done then: a lower bound) and whether it is at risk."""
    n = completions.shape[0]
    rows = []
    for j, r in enumerate(orders.itertuples(index=False)):
        done = completions[:, j]
        due = float(r.due)
        entry: dict[str, Any] = {
            "order": str(r.order), "product": str(r.product), "quantity": int(r.quantity),
            "release": float(r.release), "due": _number(due),
            "planned_end": _number(float(plan_end[j])),
            "planned_on_time": bool(plan_end[j] <= due) if math.isfinite(due) else None,
        }
        if math.isfinite(due):
            hits = int(np.sum(done <= due))  # NaN (open) is never on time
            low, high = wilson(hits, n)
            p = hits / n
            tardy = np.maximum(0.0, np.where(np.isnan(done), end, done) - due)
            entry.update(on_time_probability=p, on_time_ci95=[low, high],
                         expected_tardiness=float(tardy.mean()), at_risk=bool(p < threshold))
        else:
            entry.update(on_time_probability=None, on_time_ci95=[None, None],
                         expected_tardiness=None, at_risk=False)
        entry["completion_quantiles"] = _quantiles(done)
        entry["open_share"] = float(np.mean(np.isnan(done)))
        rows.append(entry)
    return rows


def makespan_stats(completions: np.ndarray, start: float, plan: float | None) -> dict[str, Any]:
    """The makespan (from the schedule's start to the last order's completion) of the plan
    and its distribution over replications (a replication with an order open: none)."""
    if completions.shape[1] == 0:
        spans = np.zeros(completions.shape[0])
    else:
        spans = np.where(np.isnan(completions).any(axis=1), np.nan,
                         np.nanmax(np.where(np.isnan(completions), -np.inf, completions),
                                    axis=1) - start)
    out: dict[str, Any] = {"plan": plan, **statistic(list(spans), bounds=(0.0, None))}
    out["quantiles"] = _quantiles(spans)
    if plan is not None:
        hits = int(np.sum(spans <= plan + 1e-9))
        out["probability_within_plan"] = hits / len(spans)
        out["probability_within_plan_ci95"] = list(wilson(hits, len(spans)))
    out["open_share"] = float(np.mean(np.isnan(spans)))
    return out


def tardiness_by_replication(orders: pd.DataFrame, completions: np.ndarray,
                             end: float) -> np.ndarray:
    """Each replication's mean tardiness over the orders with a due date (an order open at the
    horizon counts as done then)."""
    due = orders["due"].to_numpy(dtype=float)
    dated = np.isfinite(due)
    if not dated.any():
        return np.full(completions.shape[0], np.nan)
    done = np.where(np.isnan(completions), end, completions)[:, dated]
    return np.maximum(0.0, done - due[dated]).mean(axis=1)


# -- the schedule ------------------------------------------------------------------------------

@dataclass
class ScheduleResult:
    """A schedule: the plan's operations (``plan``, the rows of schedule.parquet) and the
    document of schedule.json (``doc``: the risk table and the makespan, the rules compared)."""

    plan: pd.DataFrame
    doc: dict[str, Any]
    completions: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))
    """Each order's completion (columns, the order list's order) in each replication (rows)."""

    def save(self, out: str | Path) -> None:
        """Write schedule.parquet and schedule.json into ``out`` (atomically)."""
        from pathlib import Path

        from twin.records.output import write_json, write_parquet

        out = Path(out)
        write_parquet(out / "schedule.parquet", self.plan)
        write_json(out / "schedule.json", self.doc)


def schedule(scenario: Scenario, orders: pd.DataFrame, *, state: PlantState | None = None,
             horizon: float | None = None, replications: int | None = None,
             rules: Sequence[str] | None = None, risk: float = RISK,
             plan_failures: bool = False, executor: Executor | None = None,
             workers: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> ScheduleResult:
    """Plan ``orders`` (``load_orders``) on ``scenario``'s plant from ``state`` and measure
    the plan's risk over ``replications`` (the scenario's by default); with ``rules``, compare
    dispatching rules on common random numbers. See the module's docstring."""
    if not 0 < risk <= 1:
        raise InputError("--risk", [((), f"must be a probability in (0, 1], got {risk}", None)])
    if not scenario.products:
        raise InputError(scenario.name, [((), "the scenario has no products to schedule",
                                          None)])
    replications = replications or scenario.replications
    rules = list(rules or [])
    executor = executor or make_executor(workers)
    work = workload(scenario, orders, state, horizon)
    end = work.start + work.horizon
    total = replications * (1 + len(rules)) + 1
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    plain = Workload(deterministic(work.scenario, plan_failures), work.orders, state, work.start,
                     work.horizon)
    planned = replicate(plain, 0, events=True)
    tick(1)
    assert planned.events is not None
    table = plan_table(planned.events, plain.scenario, scenario.plant.nodes)
    plan_end = planned.completions
    plan_span = (float(np.max(plan_end)) - work.start
                 if len(plan_end) and not np.isnan(plan_end).any() else
                 (0.0 if not len(plan_end) else None))
    completions = replicate_all(work, replications, executor, tick, workers)
    table_rows = risk_table(orders, completions, plan_end, risk, end)
    dated = [o for o in table_rows if o["due"] is not None]
    doc: dict[str, Any] = {
        "scenario": scenario.name, "seed": scenario.seed, "replications": replications,
        "start": work.start, "horizon": work.horizon, "time_unit": scenario.time_unit,
        "risk_threshold": risk, "plan_failures": plan_failures,
        "dispatch": {n: s.dispatch for n, s in scenario.plant.nodes.items()
                     if s.kind == "buffer"},
        "plan": {"makespan": plan_span,
                 "late": sum(1 for o in dated if o["planned_on_time"] is False),
                 "open": int(np.isnan(plan_end).sum())},
        "makespan": makespan_stats(completions, work.start, plan_span),
        "tardiness": statistic(list(tardiness_by_replication(orders, completions, end)),
                               bounds=(0.0, None)),
        "orders": table_rows,
        "at_risk": [o["order"] for o in table_rows if o["at_risk"]],
    }
    if rules:
        doc["rules"] = compare_rules(work, orders, rules, replications, executor, risk, tick,
                                     workers)
    return ScheduleResult(table, doc, completions)


def compare_rules(work: Workload, orders: pd.DataFrame, rules: Sequence[str],
                  replications: int, executor: Executor, risk: float,
                  tick: Callable[[int], None] | None = None,
                  workers: int | None = None) -> list[dict[str, Any]]:
    """Every buffer dispatching by each rule, on the same replications (common random
    numbers): expected tardiness, orders at risk, late orders and makespan per rule, ranked by
    expected tardiness (``rank``) and by orders at risk (``rank_at_risk``); ``difference``:
    each rule's tardiness minus the best's, paired by replication."""
    end = work.start + work.horizon
    rows = []
    tardiness: dict[str, np.ndarray] = {}
    for rule in rules:
        variant = Workload(with_rule(work.scenario, rule), work.orders, work.state, work.start,
                           work.horizon)
        completions = replicate_all(variant, replications, executor, tick, workers)
        table = risk_table(orders, completions, np.full(len(work.orders), np.nan), risk, end)
        tardiness[rule] = tardiness_by_replication(orders, completions, end)
        due = orders["due"].to_numpy(dtype=float)
        late = (~(completions <= due)) & np.isfinite(due)
        rows.append({
            "rule": rule,
            "tardiness": statistic(list(tardiness[rule]), bounds=(0.0, None)),
            "orders_at_risk": sum(o["at_risk"] for o in table),
            "late_orders": statistic(list(late.sum(axis=1).astype(float)), bounds=(0.0, None)),
            "makespan": makespan_stats(completions, work.start, None),
            "on_time_probability": {o["order"]: o["on_time_probability"] for o in table},
        })
    by_tardiness = sorted(rows, key=lambda r: (_key(r["tardiness"]["mean"]),
                                               r["orders_at_risk"]))
    by_risk = sorted(rows, key=lambda r: (r["orders_at_risk"], _key(r["tardiness"]["mean"])))
    best = by_tardiness[0]["rule"]
    for r in rows:
        r["rank"] = by_tardiness.index(r) + 1
        r["rank_at_risk"] = by_risk.index(r) + 1
        diff = tardiness[r["rule"]] - tardiness[best]
        r["difference"] = statistic(list(diff))
    return by_tardiness


def _key(value: float | None) -> float:
    return math.inf if value is None else value
