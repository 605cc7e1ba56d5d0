"""Moving material: suppliers that fill orders, transport along edges, customers that order.

Material is made of the line model's own ``Part`` objects: a supplier ships new parts, transport
carries parts (or a customer's order) along an edge, and a line's finished parts reach a warehouse
through a ``Shipper`` when the edge batches or takes time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from twin.engine.flow import Level, Part
from twin.engine.warmup import Warmup
from twin.language.distributions import Constant
from twin.language.nodes import CustomerNode, SupplierNode
from twin.supply.warehouse import Order

if TYPE_CHECKING:
    from twin.supply.warehouse import Warehouse

Draw = Callable[[], float]
Process = Generator[simpy.Event, Any, None]
Deliver = Callable[[list[Part]], None]


class Transport:
    """Shipments along one edge: ``transit`` time each, at most ``capacity`` on the way at once
    (null: no limit), ``cost`` per shipment."""

    def __init__(self, env: simpy.Environment, warmup: Warmup, transit: Draw | None,
                 capacity: int | None, cost: float) -> None:
        self.env = env
        self.transit = transit
        self.vehicles = simpy.Resource(env, capacity) if capacity is not None else None
        self.cost = cost
        self.shipments = 0
        warmup.register(self)

    def reset(self) -> None:
        """Count shipments from now (the end of the warmup)."""
        self.shipments = 0

    def ship(self, parts: Any, deliver: Callable[[Any], None]) -> None:
        """Send ``parts`` along the edge and call ``deliver(parts)`` on arrival: at once without a
        transit time, after ``transit``, or when a vehicle is free and has carried them."""
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

    def __init__(self, env: simpy.Environment, name: str, spec: SupplierNode, warmup: Warmup,
                 lead_time: Draw, delay: Draw | None, uniform: Draw) -> None:
        self.env = env
        self.name = name
        self.reset()
        warmup.register(self)
        self.spec = spec
        self.lead_time = lead_time
        self.delay = delay
        self.uniform = uniform
        self.slots = simpy.Resource(env, spec.capacity) if spec.capacity is not None else None

    def reset(self) -> None:
        """Count orders, units and late orders from now (the end of the warmup)."""
        self.orders = 0
        self.units = 0
        self.late = 0

    def order(self, quantity: int, ship: Deliver) -> None:
        """Take an order of ``quantity`` units: ship it with ``ship`` after the lead time (and any
        lateness), waiting for a free slot when capacity is limited."""
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


def seasonal_clock(period: float, factors: list[float]) -> Callable[[float], float]:
    """The calendar time at which a clock that runs ``factor`` times as fast as the calendar in
    each equal part of ``period`` shows ``clock`` (the inverse of the cumulative rate)."""
    part = period / len(factors)
    ticks = np.concatenate(([0.0], np.cumsum(factors) * part))  # clock at each part's start
    per_period = float(ticks[-1])

    def calendar(clock: float) -> float:
        cycles, rest = divmod(clock, per_period)
        k = int(np.searchsorted(ticks, rest, side="right")) - 1
        while factors[k] == 0:  # the clock stands still: skip to the next part that moves
            k += 1
        return cycles * period + k * part + (rest - ticks[k]) / factors[k]

    return calendar


class Customer:
    """Places orders with its warehouse; orders are shipped to it along its edge."""

    def __init__(self, env: simpy.Environment, name: str, spec: CustomerNode, warmup: Warmup,
                 interarrival: Draw, quantity: Draw, due: Draw | None) -> None:
        self.env = env
        self.name = name
        self.spec = spec
        self.unmet = spec.unmet
        self.warmup = warmup
        self.interarrival = interarrival
        self.quantity = quantity
        self.due = due
        self.warehouse: Warehouse | None = None
        self.transport: Transport | None = None
        self.backordered = Level(env, warmup)
        self.reset()
        warmup.register(self)

    def reset(self) -> None:
        """Counters of the orders placed from now on (deliveries of older orders are not
        counted)."""
        self.orders = 0
        self.demanded = 0
        self.from_stock = 0
        self.lost = 0
        self.delivered_orders = 0
        self.delivered_units = 0
        self.on_time = 0
        self.lead_sum = 0.0

    def run(self) -> Process:
        """The customer's process: at every interarrival (on the season's clock) place an order of
        the demanded quantity, with its due date, on the warehouse."""
        env = self.env
        timeout = env.timeout
        interarrival = self.interarrival
        draw_due = self.due
        size = self.spec.demand.quantity
        fixed = max(1, math.ceil(size.value - 1e-9)) if isinstance(size, Constant) else None
        demand = self.warehouse.demand  # type: ignore[union-attr]
        season = self.spec.demand.season
        calendar = seasonal_clock(season.period, season.factors) if season else None
        clock = 0.0  # operational time of the season's clock
        while True:
            if calendar is None:
                yield timeout(interarrival())
            else:
                clock += interarrival()
                yield timeout(max(calendar(clock) - env.now, 0.0))
            quantity = fixed or max(1, math.ceil(self.quantity() - 1e-9))
            now = env.now
            demand(Order(self, quantity, now, now + draw_due() if draw_due else math.inf))

    def dispatch(self, order: Order) -> None:
        """Ship ``order`` to the customer along its edge."""
        assert self.transport is not None
        self.transport.ship(order, self.receive)

    def receive(self, order: Order) -> None:
        """``order`` has arrived: count the delivery, its lead time and whether it was on time
        (orders placed in the warmup are not counted)."""
        if order.placed < self.warmup.end:  # placed before statistics started
            return
        now = self.env.now
        self.delivered_orders += 1
        self.delivered_units += order.shipped
        self.lead_sum += now - order.placed
        if now <= order.due + 1e-9:
            self.on_time += 1


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
        """Load ``part``; ship the load once ``batch`` parts are in. Always True."""
        self.loading.append(part)
        if len(self.loading) >= self.batch:
            load, self.loading = self.loading, []
            self.transport.ship(load, self._unload)
        return True

    def put(self, part: Part) -> simpy.Event:  # pragma: no cover - try_put always succeeds
        """Never called: ``try_put`` always succeeds.

        Raises RuntimeError.
        """
        raise RuntimeError("a shipment never blocks")

    def offer(self, part: Part) -> None:  # pragma: no cover - sources never feed warehouses
        """Load ``part``, as ``try_put``."""
        self.try_put(part)

    def _unload(self, parts: list[Part]) -> None:
        for part in parts:
            self.warehouse.try_put(part)
