"""Products in the line: each part's route, its production order, and the statistics per product
and per order.

A product's ``Plan`` holds, for each step of its route, where a part goes when the step's
machine is done with it (the next machine, the buffer before it, or the line's end) and the
mean process time of the step (for the dispatching rules). Parts carry their plan and step; a
machine sends a part on by its plan, so routing by product costs one index per part.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from twin.engine.flow import Level, Part
from twin.engine.warmup import Warmup

if TYPE_CHECKING:
    from twin.engine.context import BuildContext


@dataclass
class Plan:
    """The route of one product: where a part goes after each step, the mean time of each step, its
    dispatching priority and transfer batch size."""

    product: str
    hops: list[Any]
    """Where the part goes after each step of the route."""
    means: list[float]
    """Mean process time of each step."""
    priority: int
    lot: int = 1
    """Transfer batch size between machines."""

    def remaining(self, step: int) -> float:
        """Mean process time of the route from ``step`` on."""
        return sum(self.means[step:])


class ProductionOrder:
    """An order of ``quantity`` parts of ``product``, released at ``release`` and due at ``due``;
    ``done``: when its last part came out (NaN until then)."""

    __slots__ = ("id", "product", "quantity", "release", "due", "left", "done", "staged",
                 "passed")

    def __init__(self, order_id: str, product: str, quantity: int, release: float,
                 due: float) -> None:
        self.id = order_id
        self.product = product
        self.quantity = quantity
        self.release = release
        self.due = due
        self.left = quantity
        self.done = math.nan
        self.staged: dict[int, list[Part]] = {}
        """Parts done at a step of the route waiting for their transfer batch, by step."""
        self.passed: dict[int, int] = {}


class ProductBook:
    """Parts and orders per product: releases, WIP, parts out of the line, lead times, and
    every order with its completion."""

    def __init__(self, env: simpy.Environment, warmup: Warmup, products: list[str]) -> None:
        self.env = env
        self.wip = {p: Level(env, warmup) for p in products}
        self.orders: list[ProductionOrder] = []
        self.finite = True
        """Whether every order comes from the order list (so a makespan exists)."""
        self.on_done: Callable[[ProductionOrder], None] | None = None
        """Called with each order as its last part leaves the line (a schedule stops then)."""
        self.reset()
        warmup.register(self)

    def reset(self) -> None:
        """Forget counts and lead times so far; measure from now (the end of the warmup)."""
        self.since = self.env.now
        self.good = dict.fromkeys(self.wip, 0)
        self.out = dict.fromkeys(self.wip, 0)
        self.lead_sum = dict.fromkeys(self.wip, 0.0)

    def released(self, part: Part) -> None:
        """Count a part of its product into the line's WIP."""
        self.wip[part.product].add(1)  # type: ignore[index]

    def left_line(self, part: Part, good: bool) -> None:
        """The part reached a sink or a warehouse (scrapped or not)."""
        product = part.product
        now = self.env.now
        self.wip[product].add(-1)  # type: ignore[index]
        self.out[product] += 1  # type: ignore[index]
        self.lead_sum[product] += now - part.release  # type: ignore[index]
        if good:
            self.good[product] += 1  # type: ignore[index]
        job = part.job
        if job is not None:
            job.left -= 1
            if job.left == 0:
                job.done = now
                if self.on_done is not None:
                    self.on_done(job)

    def measure(self, span: float, end: float) -> dict[str, dict[str, float]]:
        """Throughput (parts per time unit over ``span``), mean lead time and time-weighted WIP, per
        product."""
        return {p: {"throughput": self.good[p] / span,
                    "lead_time": self.lead_sum[p] / self.out[p] if self.out[p] else math.nan,
                    "wip": self.wip[p].mean(end)}
                for p in self.wip}

    def kpis(self) -> dict[str, float]:
        """Order KPIs: mean tardiness and share of late orders, over the orders with a due date
        released after the warmup and done; and the makespan (NaN unless every order of a finite
        order list is done)."""
        counted = [o for o in self.orders if o.release >= self.since and not math.isnan(o.done)
                   and not math.isinf(o.due)]
        tardy = [max(0.0, o.done - o.due) for o in counted]
        done = all(not math.isnan(o.done) for o in self.orders)
        return {
            "tardiness": sum(tardy) / len(tardy) if tardy else math.nan,
            "late_share": sum(t > 0 for t in tardy) / len(tardy) if tardy else math.nan,
            "makespan": (max(o.done for o in self.orders)
                         if self.finite and self.orders and done else math.nan),
        }

    def rows(self) -> list[tuple[str, str, int, float, float, float]]:
        """Every order as (id, product, quantity, release, due, done)."""
        return [(o.id, o.product, o.quantity, o.release, o.due, o.done) for o in self.orders]


class Stamper:
    """Gives new parts their product: plan, step 0, priority, and order."""

    def __init__(self, plans: dict[str, Plan], book: ProductBook) -> None:
        self.plans = plans
        self.book = book

    def __call__(self, part: Part, product: str, job: ProductionOrder | None = None,
                 priority: float | None = None, count: bool = True) -> Part:
        plan = self.plans[product]
        part.product = product
        part.plan = plan
        part.step = 0
        part.priority = plan.priority if priority is None or math.isnan(priority) else priority
        if job is not None:
            part.job = job
            part.order = job.id
            part.due = job.due
        if count:
            self.book.released(part)
        return part


def chooser(ctx: BuildContext, source: str, spec: Any) -> Callable[[], str]:
    """The product of each part a source releases: by its mix (drawn) or its sequence."""
    if spec.sequence is not None:
        cycle = itertools.cycle(spec.sequence)
        return lambda: next(cycle)
    from twin.engine.stations import router

    options = list(spec.mix.items())
    uniform = ctx.streams.rng(f"{source}/mix").random
    pick = router([(share, name) for name, share in options],
                  (lambda: float(uniform())) if len(options) > 1 else None)
    return pick


def release_orders(env: simpy.Environment, orders: list[tuple[float, ProductionOrder, float]],
                   entry: Callable[[str], Any], release: Callable[[Part, str], Part],
                   stamp: Stamper, book: ProductBook) -> Generator[simpy.Event, Any, None]:
    """Releases each order of a list (release time, order, priority) at its time: all its parts
    at once, waiting in front of the first machine of its route. ``release(part, product)``
    admits a part stamped with its product and order (so its release event names them)."""
    for at, job, priority in orders:
        if at > env.now:
            yield env.timeout(at - env.now)
        job.release = env.now
        book.orders.append(job)
        dest = entry(job.product)
        for _ in range(job.quantity):
            dest.offer(release(stamp(Part(0, 0.0), job.product, job, priority), job.product))


def generate_orders(env: simpy.Environment, product: str, interarrival: Callable[[], float],
                    quantity: Callable[[], float], due: Callable[[], float] | None,
                    entry: Any, release: Callable[[Part, str], Part], stamp: Stamper,
                    book: ProductBook) -> Generator[simpy.Event, Any, None]:
    """A product's own orders: every ``interarrival``, ``quantity`` parts due ``due`` later."""
    for n in itertools.count(1):
        yield env.timeout(interarrival())
        size = max(1, math.ceil(quantity() - 1e-9))
        job = ProductionOrder(f"{product}-{n}", product, size, env.now,
                              env.now + due() if due is not None else math.inf)
        book.orders.append(job)
        for _ in range(size):
            entry.offer(release(stamp(Part(0, 0.0), product, job), product))


def start_products(ctx: BuildContext) -> None:
    """Plans of the products (after every receiver exists), then their own orders and the
    order list, released at the source that feeds each route's first machine."""
    from twin.language.products import entry_sources, exit_of, hop, read_orders

    scenario = ctx.scenario
    graph = ctx.graph
    nodes = scenario.plant.nodes
    succ = {n: {t for t in graph.successors(n) if graph.edges[n, t].get("when") is None}
            for n in graph}
    plans: dict[str, Plan] = {}
    entries: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, product in scenario.products.items():
        route = product.route
        hops, means = [], []
        for k, machine in enumerate(route):
            process = product.process_time.get(machine, ctx.spec(machine).process_time)
            means.append(process.mean())
            target = hop(succ, nodes, machine, route[k + 1]) if k + 1 < len(route) \
                else exit_of(succ, nodes, machine)
            assert target is not None  # checked with the scenario
            hops.append(ctx.destination(machine, target))
        plans[name] = Plan(name, hops, means, product.priority, product.lot)
        source = entry_sources(scenario, route[0])[0]
        sources[name] = source
        if source not in ctx.fed_directly:  # else the machine takes its parts itself
            via = hop(succ, nodes, source, route[0])
            assert via is not None
            entries[name] = ctx.destination(source, via)
    assert ctx.book is not None
    book = ctx.book
    stamp = Stamper(plans, book)
    ctx.plans, ctx.stamp, ctx.entries = plans, stamp, entries
    releaser = ctx.releaser

    def release(part: Part, product: str) -> Part:
        return releaser.admit(part, sources[product])

    env = ctx.env
    for name, product in scenario.products.items():
        if product.interarrival is None:
            continue
        book.finite = False
        streams = ctx.streams
        env.process(generate_orders(
            env, name, product.interarrival.stream(streams.rng(f"{name}/orders")),
            product.quantity.stream(streams.rng(f"{name}/quantity")),
            product.due.stream(streams.rng(f"{name}/due")) if product.due is not None else None,
            entries[name], release, stamp, book))
    if scenario.orders is not None:
        frame = read_orders(scenario.orders.file)
        orders = [(float(r.release), ProductionOrder(r.order, r.product, int(r.quantity),
                                                      float(r.release), float(r.due)),
                   float(r.priority))
                  for r in frame.itertuples(index=False)]
        env.process(release_orders(env, orders, entries.__getitem__, release, stamp, book))
    elif any(getattr(s, "mix", None) or getattr(s, "sequence", None) for s in nodes.values()):
        book.finite = False


def transfer_batch(part: Part, step: int) -> list[Part] | None:
    """The parts that move on together once ``part`` is done at ``step`` of its route: None
    while its transfer batch is still gathering."""
    job = part.job
    lot = part.plan.lot
    if lot <= 1 or job is None:
        return [part]
    staged = job.staged.setdefault(step, [])
    staged.append(part)
    job.passed[step] = passed = job.passed.get(step, 0) + 1
    if len(staged) < lot and passed < job.quantity:
        return None
    del job.staged[step]
    return staged
