"""Warehouses: stock of parts, the orders placed on them and the orders they place.

A warehouse's inventory position is on hand + on order - backordered. Its policy turns the
position into replenishment orders (``order_quantity``): purchase orders on suppliers, transfers
from upstream warehouses (filled like a customer's order, a ``Transfer``), or production orders
into the line that feeds it, which release that many parts at the line's entry machines (a
``Gate`` per entry machine). Parts of a production order that the line scraps are re-ordered.

Customer orders are filled first come, first served; what cannot be filled at once is backordered
or lost. The levels are recorded at every change; their statistics come from that record.
Counters are reset when the warmup ends, like the line's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import simpy

from twin.engine.flow import Level, Part
from twin.engine.warmup import Warmup
from twin.language.nodes import BaseStock, MinMax, ReorderPoint, WarehouseNode

if TYPE_CHECKING:
    from twin.supply.logistics import Customer, Transport

Process = Generator[simpy.Event, Any, None]


def order_quantity(policy: BaseStock | MinMax | ReorderPoint, position: int) -> int:
    """Units to order at inventory ``position`` (0: none)."""
    if isinstance(policy, BaseStock):
        return max(policy.level - position, 0)
    if isinstance(policy, MinMax):
        return policy.S - position if position <= policy.s else 0
    if position > policy.r:
        return 0
    return policy.Q * ((policy.r - position) // policy.Q + 1)


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


class Transfer:
    """A warehouse replenished from another warehouse: its orders are filled (or backordered)
    like a customer's and the parts travel along the edge between them."""

    unmet = "backorder"

    def __init__(self, env: simpy.Environment, warmup: Warmup, target: Warehouse,
                 transport: Transport) -> None:
        self.target = target
        self.transport = transport
        self.backordered = Level(env, warmup)
        self.reset()
        warmup.register(self)

    def reset(self) -> None:
        """Count orders, demand, units from stock and lost units from now (the end of the
        warmup)."""
        self.orders = 0
        self.demanded = 0
        self.from_stock = 0
        self.lost = 0

    def dispatch(self, order: Order) -> None:
        """Ship the parts of ``order`` along the edge into the target warehouse."""
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
        """A part for the line now if a production order is open (the part carries it), else
        None."""
        if self.orders.open <= 0:
            return None
        part: Part | None = self.inbox.try_get()
        if part is not None:
            self.orders.open -= 1
            part.lot = self.orders.warehouse
        return part

    def get(self) -> simpy.Event:
        """An event whose value is the next part taken against a production order."""
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
        """Open ``quantity`` more production orders and wake the machines waiting for one."""
        self.open += quantity
        waiting, self.waiting = self.waiting, deque()
        for wake in waiting:  # each takes an order if one is still open, else waits again
            wake.succeed()


class Warehouse:
    """Stock of parts with a replenishment policy; see the module docstring."""

    def __init__(self, env: simpy.Environment, name: str, spec: WarehouseNode, warmup: Warmup,
                 wip: Level, releaser: Any) -> None:
        self.env = env
        self.name = name
        self.spec = spec
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
        self.reset()
        warmup.register(self)
        # whole-run flows of units (for balances)
        self.shipped = 0
        self.released = 0

    def reset(self) -> None:
        """Counters start again (at the end of the warmup)."""
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

    def restock(self, on_hand: int) -> None:
        """Start with ``on_hand`` units instead (a warm start)."""
        self.items = deque(Part(0, self.env.now) for _ in range(on_hand))
        self.timeline = [(self.env.now, on_hand, 0)]

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
        """The inventory position: on hand plus on order less backordered (units)."""
        return len(self.items) + self.on_order - self.backordered

    def review(self) -> None:
        """Order what the policy asks for at the current inventory position."""
        policy = self.spec.policy
        if policy is None or self.replenish is None:
            return
        quantity = order_quantity(policy, len(self.items) + self.on_order - self.backordered)
        if quantity > 0:
            self.on_order += quantity
            self.orders_placed += 1
            self.units_ordered += quantity
            self.replenish(quantity)

    def periodic_review(self, every: float) -> Process:
        """A process that reviews the stock every ``every`` time units."""
        while True:
            yield self.env.timeout(every)
            self.review()

    def _continuous(self) -> None:
        if self.spec.review is None:
            self.review()

    # -- customer orders
    def demand(self, order: Order) -> None:
        """Fill ``order`` from stock: ship what is on hand; backorder or lose the shortfall as the
        customer's ``unmet`` says, counting a stockout."""
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
        """A part from the shelf for the line now (admitted into the plant), or None if none is on
        hand."""
        if not self.items:
            return None
        part = self.items.popleft()
        self.released += 1
        self._changed()
        self._continuous()
        result: Part = self.releaser.admit(part, self.name)
        return result

    def get(self) -> simpy.Event:
        """An event whose value is the next arriving part not taken by a backorder (call after
        ``try_get`` found none)."""
        event = self.env.event()
        self.getters.append(event)
        return event

    # -- material coming in
    def receive(self, parts: list[Part], placed: float) -> None:
        """A replenishment order placed at ``placed`` arrives."""
        now = self.env.now
        self.on_order -= len(parts)
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
        """Never called: ``try_put`` always succeeds.

        Raises RuntimeError.
        """
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
            self.getters.popleft().succeed(self.releaser.admit(part, self.name))
            self._continuous()
        else:
            self.items.append(part)
            self._changed()
