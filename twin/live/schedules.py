"""Schedules from the live twin (``twin live --schedule ORDERS --schedule-every S``): every so
often the orders still open are planned again from the mirrored state, with their risk
(``twin.study.schedule``), in a worker process; the risk table is published on
``twin/v1/{plant}/twin/schedule``.

The order list is the plant's (on its clock). Which orders are open is read off the events
received: an order none of whose parts has been released is still to come (released at its
time, or at once if that is past); an order whose released parts have all left the line is
done and dropped; the others are under way, their parts in the mirrored state. Parts released
at a source and not yet seen anywhere else wait in the buffer their product's route starts
from (a source does not announce their arrival there).
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.engine.state import PlantState, part_record
from twin.study.executors import _worker_init
from twin.study.schedule import load_orders

if TYPE_CHECKING:
    import pandas as pd

    from twin.language.schema import Scenario
    from twin.live.mirror import Mirror

KEYS = ("order", "product", "quantity", "release", "due", "planned_end", "on_time_probability",
        "on_time_ci95", "completion_quantiles", "expected_tardiness", "at_risk")
"""What the published risk table gives of each order."""


def risk(scenario: Scenario, orders: pd.DataFrame, state: PlantState, replications: int,
         horizon: float | None) -> dict[str, Any]:
    """One re-plan: the payload of ``twin/v1/{plant}/twin/schedule``."""
    from twin.study.executors import SerialExecutor
    from twin.study.schedule import schedule

    started = time.perf_counter()
    doc = schedule(scenario, orders, state=state, replications=replications, horizon=horizon,
                   executor=SerialExecutor()).doc
    span = {k: v for k, v in doc["makespan"].items() if k != "values"}
    return {"time": doc["start"], "replications": replications, "horizon": doc["horizon"],
            "risk_threshold": doc["risk_threshold"], "plan": doc["plan"], "makespan": span,
            "at_risk": doc["at_risk"],
            "orders": [{k: o[k] for k in KEYS} for o in doc["orders"]],
            "elapsed_s": time.perf_counter() - started}


def _warm() -> None:
    import twin.study.schedule  # noqa: F401


class LiveScheduler:
    """Re-plans ``orders`` (a file, checked against the scenario at once: bad input stops the
    twin before it starts) from the mirror's state in one worker process, one at a time."""

    def __init__(self, scenario: Scenario, orders: str | Path, replications: int,
                 horizon: float | None = None) -> None:
        self.scenario = scenario
        self.orders = load_orders(orders, scenario)
        self.replications = replications
        self.horizon = horizon
        self.released: dict[str, set[int]] = {}
        """Per order of the list: the parts released so far."""
        self.ended: dict[str, set[int]] = {}
        """Per order: the parts that have left the line (shipped or scrapped)."""
        self.listed = set(self.orders["order"])
        self.pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("forkserver"),
            initializer=_worker_init)
        self.future: Future[dict[str, Any]] | None = None
        self.submitted = 0.0
        self.pool.submit(_warm)

    def take_events(self, rows: list[Any]) -> None:
        """The plant's events (rows of the event log): releases and ends of the orders' parts."""
        for _, _, event, part, _, order in rows:
            if order is None or order not in self.listed or part is None:
                continue
            if event == "release":
                self.released.setdefault(order, set()).add(part)
            elif event in ("ship", "scrap"):
                self.ended.setdefault(order, set()).add(part)

    def open_orders(self) -> pd.DataFrame:
        """The orders not done: not released yet, or with parts still in the plant."""
        done = {o for o, parts in self.released.items()
                if parts and parts <= self.ended.get(o, set())}
        return self.orders[~self.orders["order"].isin(done)].reset_index(drop=True)

    def busy(self) -> bool:
        return self.future is not None

    def submit(self, mirror: Mirror) -> None:
        self.submitted = time.monotonic()
        self.future = self.pool.submit(risk, self.scenario, self.open_orders(),
                                       placed_state(mirror, self.scenario), self.replications,
                                       self.horizon)

    def poll(self) -> dict[str, Any] | None:
        """The re-plan just finished, if one did (its error raised)."""
        future = self.future
        if future is None or not future.done():
            return None
        self.future = None
        result = future.result()
        result["latency_s"] = time.monotonic() - self.submitted
        return result

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def placed_state(mirror: Mirror, scenario: Scenario) -> PlantState:
    """The mirror's state, with the parts last seen at a source put in the buffer their
    product's route starts from; every buffer's parts in the order they came into it."""
    from twin.language.products import hop

    state = mirror.state()
    nodes = scenario.plant.nodes
    succ: dict[str, set[str]] = {}
    for edge in scenario.plant.edges:
        if edge.when is None:
            succ.setdefault(edge.source, set()).add(edge.target)
    inside: dict[str, list[tuple[float, int, Any]]] = {}
    moved = False
    for number, part in mirror.current().parts.items():
        where = part.where
        if where in nodes and nodes[where].kind == "source" and part.product in scenario.products:
            entry = hop(succ, nodes, where, scenario.products[part.product].route[0])
            if entry is None or nodes[entry].kind != "buffer":
                continue
            where, moved = entry, True
        if where in nodes and nodes[where].kind == "buffer":
            inside.setdefault(where, []).append((part.since, number, part))
    if not moved:
        return state
    buffers = {name: [part_record(p, state.time) for _, _, p in sorted(parts)]
               for name, parts in inside.items()}
    return PlantState.model_validate({**state.model_dump(mode="json", exclude_none=True),
                                      "buffers": buffers})
