"""Supply-chain flows: suppliers, warehouses, transport and customer demand.

Material is made of the line model's own ``Part`` objects: a supplier ships parts, a warehouse
holds them, a machine fed by a warehouse takes them into its line (where they are released and
counted in the WIP) and a line that feeds a warehouse delivers its finished parts there. Customer
orders are filled from a warehouse's parts.

A warehouse's inventory position is on hand + on order - backordered. Its policy turns the
position into replenishment orders: with suppliers or upstream warehouses, purchase orders or
transfers (one source per order, chosen by the edges' shares; an upstream warehouse fills a
transfer like a customer order); fed by a line, production orders, which release that many parts
into the line at its entry machines (a ``Gate`` per entry machine). Parts of a production order
that the line scraps are re-ordered.

Every counter starts at the warmup, like the line's.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from twin.distributions import Constant
from twin.flow import Level, Part
from twin.scenario import BaseStock, CustomerNode, MinMax, ReorderPoint, SupplierNode, WarehouseNode

Draw = Callable[[], float]
Process = Generator[simpy.Event, Any, None]
Deliver = Callable[[list[Part]], None]


def order_quantity(policy: BaseStock | MinMax | ReorderPoint, position: int) -> int:
    """Units to order at inventory ``position`` (0: none)."""
    if isinstance(policy, BaseStock):
        return max(policy.level - position, 0)
    if isinstance(policy, MinMax):
        return policy.S - position if position <= policy.s else 0
    if position > policy.r:
        return 0
    return policy.Q * ((policy.r - position) // policy.Q + 1)


class Transport:
    """Shipments along one edge: ``transit`` time each, at most ``capacity`` on the way at once
    (null: no limit), ``cost`` per shipment."""

    def __init__(self, env: simpy.Environment, start: float, transit: Draw | None,
                 capacity: int | None, cost: float) -> None:
        self.env = env
        self.start = start
        self.transit = transit
        self.vehicles = simpy.Resource(env, capacity) if capacity is not None else None
        self.cost = cost
        self.shipments = 0

    def ship(self, parts: Any, deliver: Callable[[Any], None]) -> None:
        if self.env.now >= self.start:
            self.shipments += 1
        if self.vehicles is None:
            if self.transit is None:
                deliver(parts)
            else:
                self.env.timeout(self.transit()).callbacks.append(lambda _: deliver(parts))
        else:
            self.env.process(self._carry(parts, deliver))

    def _carry(self, parts: Any, deliver: Callable[[Any], None]) -> Process:
        assert self.vehicles is not None
        with self.vehicles.request() as vehicle:
            yield vehicle
            if self.transit is not None:
                yield self.env.timeout(self.transit())
        deliver(parts)


class Supplier:
    """Prepares each order for a lead time, ``capacity`` orders at once, then ships it; late by
    ``delay`` with probability 1 - reliability."""

    def __init__(self, env: simpy.Environment, name: str, spec: SupplierNode, start: float,
                 lead_time: Draw, delay: Draw | None, uniform: Draw) -> None:
        self.env = env
        self.name = name
        self.start = start
        self.orders = 0
        self.units = 0
        self.late = 0
        self.spec = spec
        self.lead_time = lead_time
        self.delay = delay
        self.uniform = uniform
        self.slots = simpy.Resource(env, spec.capacity) if spec.capacity is not None else None

    def order(self, quantity: int, ship: Deliver) -> None:
        if self.env.now >= self.start:
            self.orders += 1
            self.units += quantity
        if self.slots is None:
            wait = self.lead_time() + self._lateness()
            self.env.timeout(wait).callbacks.append(lambda _: self._ship(quantity, ship))
        else:
            self.env.process(self._fill(quantity, ship))

    def _lateness(self) -> float:
        if self.spec.reliability < 1 and self.uniform() >= self.spec.reliability:
            assert self.delay is not None
            if self.env.now >= self.start:
                self.late += 1
            return self.delay()
        return 0.0

    def _fill(self, quantity: int, ship: Deliver) -> Process:
        assert self.slots is not None
        with self.slots.request() as slot:
            yield slot
            yield self.env.timeout(self.lead_time())
        late = self._lateness()
        if late:
            yield self.env.timeout(late)
        self._ship(quantity, ship)

    def _ship(self, quantity: int, ship: Deliver) -> None:
        now = self.env.now
        ship([Part(0, now) for _ in range(quantity)])


class Order:
    """An order on a warehouse: ``quantity`` units, of which ``remaining`` are still to be
    allocated; ``parts`` are those allocated. Placed by a customer or by another warehouse (a
    ``Transfer``)."""

    __slots__ = ("customer", "quantity", "remaining", "shipped", "placed", "due", "parts")

    def __init__(self, customer: Customer | Transfer, quantity: int, placed: float,
                 due: float) -> None:
        self.customer = customer
        self.quantity = quantity
        self.remaining = quantity
        self.shipped = 0
        self.placed = placed
        self.due = due
        self.parts: list[Part] = []


class Customer:
    """Places orders with its warehouse; orders are shipped to it along its edge."""

    def __init__(self, env: simpy.Environment, name: str, spec: CustomerNode, start: float,
                 interarrival: Draw, quantity: Draw, due: Draw | None) -> None:
        self.env = env
        self.name = name
        self.spec = spec
        self.unmet = spec.unmet
        self.start = start
        self.interarrival = interarrival
        self.quantity = quantity
        self.due = due
        self.warehouse: Warehouse | None = None
        self.transport: Transport | None = None
        self.backordered = Level(env, start)
        # counters (orders placed from the warmup on)
        self.orders = 0
        self.demanded = 0
        self.from_stock = 0
        self.lost = 0
        self.delivered_orders = 0
        self.delivered_units = 0
        self.on_time = 0
        self.lead_sum = 0.0

    def run(self) -> Process:
        env = self.env
        timeout = env.timeout
        interarrival = self.interarrival
        draw_due = self.due
        size = self.spec.demand.quantity
        fixed = max(1, math.ceil(size.value - 1e-9)) if isinstance(size, Constant) else None
        demand = self.warehouse.demand  # type: ignore[union-attr]
        while True:
            yield timeout(interarrival())
            quantity = fixed or max(1, math.ceil(self.quantity() - 1e-9))
            now = env.now
            demand(Order(self, quantity, now, now + draw_due() if draw_due else math.inf))

    def dispatch(self, order: Order) -> None:
        assert self.transport is not None
        self.transport.ship(order, self.receive)

    def receive(self, order: Order) -> None:
        if order.placed < self.start:
            return
        now = self.env.now
        self.delivered_orders += 1
        self.delivered_units += order.shipped
        self.lead_sum += now - order.placed
        if now <= order.due + 1e-9:
            self.on_time += 1


class Transfer:
    """A warehouse replenished from another warehouse: its orders are filled (or backordered)
    like a customer's and the parts travel along the edge between them."""

    unmet = "backorder"

    def __init__(self, env: simpy.Environment, start: float, target: Warehouse,
                 transport: Transport) -> None:
        self.target = target
        self.transport = transport
        self.backordered = Level(env, start)
        self.orders = 0
        self.demanded = 0
        self.from_stock = 0
        self.lost = 0

    def dispatch(self, order: Order) -> None:
        placed = order.placed
        self.transport.ship(order.parts, lambda parts: self.target.receive(parts, placed))


class Gate:
    """The entry of a line that makes to stock for a warehouse: the entry machine takes a part in
    only against a production order of that warehouse; the part carries the order (``lot``)."""

    def __init__(self, env: simpy.Environment, inbox: Any, orders: Orders) -> None:
        self.env = env
        self.name = getattr(inbox, "name", "gate")
        self.inbox = inbox
        self.orders = orders

    def try_get(self) -> Part | None:
        if self.orders.open <= 0:
            return None
        part: Part | None = self.inbox.try_get()
        if part is not None:
            self.orders.open -= 1
            part.lot = self.orders.warehouse
        return part

    def get(self) -> simpy.Event:
        done = self.env.event()
        self.env.process(self._get(done))
        return done

    def _get(self, done: simpy.Event) -> Process:
        orders = self.orders
        while orders.open <= 0:
            wake = self.env.event()
            orders.waiting.append(wake)
            yield wake
        orders.open -= 1
        part = self.inbox.try_get()
        if part is None:
            part = yield self.inbox.get()
        part.lot = orders.warehouse
        done.succeed(part)


class Orders:
    """Production orders of a warehouse not yet taken into its line."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self.open = 0
        self.waiting: deque[simpy.Event] = deque()

    def release(self, quantity: int) -> None:
        self.open += quantity
        waiting, self.waiting = self.waiting, deque()
        for wake in waiting:  # each takes an order if one is still open, else waits again
            wake.succeed()


class Warehouse:
    """Stock of parts with a replenishment policy; see the module docstring."""

    def __init__(self, env: simpy.Environment, name: str, spec: WarehouseNode, start: float,
                 wip: Level, releaser: Any) -> None:
        self.env = env
        self.name = name
        self.spec = spec
        self.start = start
        self.wip = wip
        self.releaser = releaser
        self.items: deque[Part] = deque(Part(0, 0.0) for _ in range(spec.start_stock()))
        self.backlog: deque[Order] = deque()
        self.backordered = 0
        """Units of the orders in the backlog not yet allocated."""
        self.getters: deque[simpy.Event] = deque()
        self.on_order = 0
        self.replenish: Callable[[int], None] | None = None
        self.timeline: list[tuple[float, int, int]] = [(env.now, len(self.items), 0)]
        # counters from the warmup on
        self.orders_placed = 0
        self.units_ordered = 0
        self.received = 0
        self.replenishment_sum = 0.0
        self.replenishments = 0
        self.demanded = 0
        self.from_stock = 0
        self.stockouts = 0
        self.made = 0
        self.escaped = 0
        self.lead_sum = 0.0
        self.arrivals = 0
        # whole-run flows of units (for balances)
        self.shipped = 0
        self.released = 0

    # -- levels
    def _changed(self) -> None:
        """Record the levels now (the statistics of on hand and backordered come from these)."""
        now = self.env.now
        timeline = self.timeline
        point = (now, len(self.items), self.backordered)
        if timeline[-1][0] == now:
            timeline[-1] = point
        else:
            timeline.append(point)

    def position(self) -> int:
        return len(self.items) + self.on_order - self.backordered

    def review(self) -> None:
        """Order what the policy asks for at the current inventory position."""
        policy = self.spec.policy
        if policy is None or self.replenish is None:
            return
        quantity = order_quantity(policy, len(self.items) + self.on_order - self.backordered)
        if quantity > 0:
            self.on_order += quantity
            if self.env.now >= self.start:
                self.orders_placed += 1
                self.units_ordered += quantity
            self.replenish(quantity)

    def periodic_review(self, every: float) -> Process:
        while True:
            yield self.env.timeout(every)
            self.review()

    def _continuous(self) -> None:
        if self.spec.review is None:
            self.review()

    # -- customer orders
    def demand(self, order: Order) -> None:
        customer = order.customer
        items = self.items
        quantity = order.quantity
        take = quantity if quantity <= len(items) else len(items)
        if take:
            parts = order.parts
            for _ in range(take):
                parts.append(items.popleft())
            self.shipped += take
            order.shipped = take
        short = quantity - take
        if order.placed >= self.start:
            customer.orders += 1
            customer.demanded += quantity
            customer.from_stock += take
            self.demanded += quantity
            self.from_stock += take
            if short:
                self.stockouts += 1
                if customer.unmet == "lost":
                    customer.lost += short
        if short and customer.unmet != "lost":
            order.remaining = short
            self.backlog.append(order)
            self.backordered += short
            customer.backordered.add(short)
        else:
            order.remaining = 0
            if take:
                customer.dispatch(order)
        if take or short and customer.unmet != "lost":
            self._changed()
        if self.spec.review is None:
            self.review()

    # -- the line taking material in (a machine's inbox)
    def try_get(self) -> Part | None:
        if not self.items:
            return None
        part = self.items.popleft()
        self.released += 1
        self._changed()
        self._continuous()
        result: Part = self.releaser.admit(part)
        return result

    def get(self) -> simpy.Event:
        event = self.env.event()
        self.getters.append(event)
        return event

    # -- material coming in
    def receive(self, parts: list[Part], placed: float) -> None:
        """A replenishment order placed at ``placed`` arrives."""
        now = self.env.now
        self.on_order -= len(parts)
        if now >= self.start:
            self.received += len(parts)
            self.replenishments += 1
            self.replenishment_sum += now - placed
        if self.backlog or self.getters:
            for part in parts:
                self._stock(part)
        else:
            self.items.extend(parts)
            self._changed()

    def try_put(self, part: Part) -> bool:
        """A finished part from the line."""
        now = self.env.now
        self.wip.add(-1)
        if now >= self.start:
            if part.defective:
                self.escaped += 1
            else:
                self.made += 1
            self.arrivals += 1
            self.lead_sum += now - part.release
        lot = part.lot
        if lot is not None:
            part.lot = None
            if lot is self:
                self.on_order -= 1
            else:
                lot.order_lost()
        self._stock(part)
        return True

    def put(self, part: Part) -> simpy.Event:  # pragma: no cover - try_put always succeeds
        raise RuntimeError("a warehouse never blocks")

    def order_lost(self) -> None:
        """A part of a production order was scrapped or left the line elsewhere."""
        self.on_order -= 1
        self._continuous()

    def _stock(self, part: Part) -> None:
        """Put one arriving part to use: the oldest backorder, a waiting machine, or the shelf."""
        if self.backlog:
            order = self.backlog[0]
            order.remaining -= 1
            order.shipped += 1
            order.parts.append(part)
            self.shipped += 1
            self.backordered -= 1
            order.customer.backordered.add(-1)
            if not order.remaining:
                self.backlog.popleft()
                order.customer.dispatch(order)
            self._changed()
        elif self.getters:
            self.released += 1
            self.getters.popleft().succeed(self.releaser.admit(part))
            self._continuous()
        else:
            self.items.append(part)
            self._changed()


class Shipper:
    """The end of an edge from a machine to a warehouse with transport: collects ``batch`` parts
    (1 without a batch) and ships them together."""

    def __init__(self, transport: Transport, warehouse: Warehouse, batch: int) -> None:
        self.transport = transport
        self.warehouse = warehouse
        self.batch = batch
        self.name = warehouse.name
        self.loading: list[Part] = []

    def try_put(self, part: Part) -> bool:
        self.loading.append(part)
        if len(self.loading) >= self.batch:
            load, self.loading = self.loading, []
            self.transport.ship(load, self._unload)
        return True

    def put(self, part: Part) -> simpy.Event:  # pragma: no cover - try_put always succeeds
        raise RuntimeError("a shipment never blocks")

    def offer(self, part: Part) -> None:  # pragma: no cover - sources never feed warehouses
        self.try_put(part)

    def _unload(self, parts: list[Part]) -> None:
        for part in parts:
            self.warehouse.try_put(part)


class SupplyChain:
    """The supply-chain objects of one replication, wired to the line."""

    def __init__(self, env: simpy.Environment, start: float) -> None:
        self.env = env
        self.start_time = start
        self.suppliers: dict[str, Supplier] = {}
        self.warehouses: dict[str, Warehouse] = {}
        self.customers: dict[str, Customer] = {}
        self.transports: dict[tuple[str, str], Transport] = {}
        self.shippers: dict[tuple[str, str], Shipper] = {}

    def __bool__(self) -> bool:
        return bool(self.suppliers or self.warehouses or self.customers)

    def into_warehouse(self, node: str, warehouse: str) -> Warehouse | Shipper:
        """Where a machine puts a part bound for ``warehouse``."""
        return self.shippers.get((node, warehouse), self.warehouses[warehouse])

    def start(self) -> None:
        for warehouse in self.warehouses.values():
            if warehouse.spec.review is not None:
                self.env.process(warehouse.periodic_review(warehouse.spec.review))
            warehouse.review()
        for customer in self.customers.values():
            self.env.process(customer.run())


def build_supply(env: simpy.Environment, graph: Any, streams: Any, start: float,
                 warehouses: dict[str, Warehouse], inboxes: dict[str, Any]) -> SupplyChain:
    """Suppliers, customers and transport of the plant graph; production orders of the
    warehouses fed by a line gate that line's entry machines (in ``inboxes``)."""
    from twin.plant import line_entries

    chain = SupplyChain(env, start)
    chain.warehouses = warehouses
    nodes = {name: data["spec"] for name, data in graph.nodes(data=True)}

    def stream(dist: Any, name: str) -> Draw | None:
        return dist.stream(streams.rng(name)) if dist is not None else None

    for (a, b), edge in ((e[:2], e[2]["spec"]) for e in graph.edges(data=True)):
        if nodes[b].kind in ("warehouse", "customer"):
            transit = stream(edge.transit, f"{a}->{b}/transit")
            chain.transports[(a, b)] = Transport(env, start, transit, edge.capacity, edge.cost)
            if nodes[a].kind == "machine" and (edge.transit is not None or edge.batch
                                               or edge.capacity is not None or edge.cost):
                chain.shippers[(a, b)] = Shipper(chain.transports[(a, b)], warehouses[b],
                                                 edge.batch or 1)
    for name, spec in nodes.items():
        if spec.kind == "supplier":
            chain.suppliers[name] = Supplier(
                env, name, spec, start, stream(spec.lead_time, f"{name}/lead_time"),  # type: ignore[arg-type]
                stream(spec.delay, f"{name}/delay"), _uniform(streams.rng(f"{name}/reliability")))
        elif spec.kind == "customer":
            customer = Customer(env, name, spec, start,
                                stream(spec.demand.interarrival, f"{name}/demand"),  # type: ignore[arg-type]
                                stream(spec.demand.quantity, f"{name}/quantity"),  # type: ignore[arg-type]
                                stream(spec.demand.due, f"{name}/due"))
            (source,) = graph.predecessors(name)
            customer.warehouse = warehouses[source]
            customer.transport = chain.transports[(source, name)]
            chain.customers[name] = customer
    for name, warehouse in warehouses.items():
        sources = [(s, graph.edges[s, name]["spec"].share or 1.0)
                   for s in graph.predecessors(name) if nodes[s].kind in ("supplier", "warehouse")]
        if sources:
            warehouse.replenish = _purchasing(env, chain, warehouse, sources,
                                              _uniform(streams.rng(f"{name}/sourcing")))
        elif warehouse.spec.policy is not None and any(
                nodes[s].kind == "machine" for s in graph.predecessors(name)):
            orders = Orders(warehouse)
            warehouse.replenish = orders.release
            for entry in line_entries(graph, name, nodes):
                inboxes[entry] = Gate(env, inboxes[entry], orders)
    return chain


def _uniform(rng: Any) -> Draw:
    return lambda: float(rng.random())


def _purchasing(env: simpy.Environment, chain: SupplyChain, warehouse: Warehouse,
                sources: list[tuple[str, float]], uniform: Draw) -> Callable[[int], None]:
    """Place each order with one of ``sources`` (name, share: suppliers or warehouses), chosen by
    share."""
    bounds = []
    total = 0.0
    for name, share in sources:
        total += share
        bounds.append((total, name))
    transfers = {name: Transfer(env, chain.start_time, warehouse,
                                chain.transports[(name, warehouse.name)])
                 for name, _ in sources if name in chain.warehouses}

    def place(quantity: int) -> None:
        name = sources[0][0]
        if len(sources) > 1:
            u = uniform()
            name = next((n for bound, n in bounds if u < bound), bounds[-1][1])
        placed = env.now
        if name in transfers:
            chain.warehouses[name].demand(Order(transfers[name], quantity, placed, math.inf))
            return
        transport = chain.transports[(name, warehouse.name)]
        chain.suppliers[name].order(quantity, lambda parts: transport.ship(
            parts, lambda arrived: warehouse.receive(arrived, placed)))

    return place


PROFILE_POINTS = 50
"""Periods of the inventory profile in summary.json."""


def period_means(changes: list[tuple[float, int, int]], start: float, end: float,
                 periods: int = PROFILE_POINTS) -> tuple[list[float], list[float]]:
    """Time-average on hand and backordered in each of ``periods`` equal periods from ``start``
    to ``end``, from the step function of ``changes`` (time, on hand, backordered)."""
    data = np.asarray(changes, dtype=float)
    times = data[:, 0]
    bounds = np.linspace(start, end, periods + 1)
    out = []
    for column in (1, 2):
        values = data[:, column]
        area = np.concatenate(([0.0], np.cumsum(values[:-1] * np.diff(times))))
        at = np.clip(np.searchsorted(times, bounds, side="right") - 1, 0, None)
        cumulative = area[at] + values[at] * (bounds - times[at])
        out.append((np.diff(cumulative) / np.diff(bounds)).tolist())
    return out[0], out[1]


def level_stats(changes: list[tuple[float, int, int]], start: float,
                end: float) -> dict[str, float]:
    """Time-average on hand and backordered, the share of time with nothing on hand and the most
    on hand, from ``start`` to ``end``, of the step function of ``changes``."""
    data = np.asarray(changes, dtype=float)
    times = np.clip(data[:, 0], start, end)
    spans = np.diff(np.append(times, end))
    span = end - start
    on_hand, back = data[:, 1], data[:, 2]
    seen = spans > 0
    seen[np.searchsorted(data[:, 0], start, side="right") - 1] = True  # the level at start
    return {
        "inventory": float(on_hand @ spans / span),
        "backorders": float(back @ spans / span),
        "stockout_time": float(spans[on_hand == 0].sum() / span),
        "max_inventory": float(on_hand[seen].max()),
    }


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def measure_supply(chain: SupplyChain, span: float, end: float) -> dict[str, Any]:
    """KPIs, per-node statistics and costs of the supply chain over the window of ``span``
    ending at ``end``: ``{"kpis", "warehouses", "customers", "suppliers", "costs",
    "inventory"}``."""
    warehouses: dict[str, dict[str, float]] = {}
    holding = ordering = 0.0
    for name, w in chain.warehouses.items():
        levels = level_stats(w.timeline, end - span, end)
        on_hand = levels["inventory"]
        warehouses[name] = {
            "inventory": on_hand,
            "backorders": levels["backorders"],
            "stockout_time": levels["stockout_time"],
            "fill_rate": _ratio(w.from_stock, w.demanded),
            "stockouts": float(w.stockouts),
            "orders": float(w.orders_placed),
            "units_ordered": float(w.units_ordered),
            "replenishment_lead_time": _ratio(w.replenishment_sum, w.replenishments),
            "max_inventory": levels["max_inventory"],
            "receipts": w.received / span,
            "production": w.made / span,
        }
        holding += w.spec.holding_cost * on_hand
        ordering += w.spec.order_cost * w.orders_placed / span
    customers: dict[str, dict[str, float]] = {}
    backorder_cost = lost_cost = revenue = 0.0
    for name, c in chain.customers.items():
        backordered = c.backordered.mean(end)
        customers[name] = {
            "demand": c.demanded / span,
            "fill_rate": _ratio(c.from_stock, c.demanded),
            "backorders": backordered,
            "lost": c.lost / span,
            "delivered": c.delivered_units / span,
            "order_lead_time": _ratio(c.lead_sum, c.delivered_orders),
            "on_time": _ratio(c.on_time, c.delivered_orders) if c.due is not None else math.nan,
        }
        backorder_cost += c.spec.backorder_cost * backordered
        lost_cost += c.spec.lost_sale_cost * c.lost / span
        revenue += c.spec.price * c.delivered_units / span
    suppliers = {name: {"orders": float(s.orders), "units": float(s.units),
                        "late": float(s.late)} for name, s in chain.suppliers.items()}
    costs = {
        "holding": holding,
        "ordering": ordering,
        "purchase": sum(s.spec.price * s.units for s in chain.suppliers.values()) / span,
        "transport": sum(t.cost * t.shipments for t in chain.transports.values()) / span,
        "backorder": backorder_cost,
        "lost_sales": lost_cost,
    }
    demanded = sum(c.demanded for c in chain.customers.values())
    delivered = sum(c.delivered_orders for c in chain.customers.values())
    due = [c for c in chain.customers.values() if c.due is not None]
    kpis = {
        "fill_rate": _ratio(sum(c.from_stock for c in chain.customers.values()), demanded),
        "backorders": sum(w["backorders"] for w in warehouses.values()),
        "inventory": sum(w["inventory"] for w in warehouses.values()),
        "stockouts": float(sum(w.stockouts for w in chain.warehouses.values())),
        "order_lead_time": _ratio(sum(c.lead_sum for c in chain.customers.values()), delivered),
        "on_time": _ratio(sum(c.on_time for c in due), sum(c.delivered_orders for c in due)),
        "lost_sales": sum(c.lost for c in chain.customers.values()) / span,
        "supply_chain_cost_rate": sum(costs.values()),
    }
    inventory = {name: list(w.timeline) for name, w in chain.warehouses.items()}
    start = end - span
    profiles = {name: period_means(changes, start, end) for name, changes in inventory.items()}
    return {"kpis": kpis, "warehouses": warehouses, "customers": customers,
            "suppliers": suppliers, "costs": costs, "revenue": revenue, "inventory": inventory,
            "profiles": profiles}
