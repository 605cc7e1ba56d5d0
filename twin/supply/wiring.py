"""The supply chain of one replication: suppliers, warehouses, transport and customers wired to
the line, and what they measure.

``build_supply`` makes the objects of ``twin.supply.logistics`` and ``twin.supply.warehouse``
for the plant graph; ``measure_supply`` turns them into KPIs, per-node statistics and costs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import simpy

from twin.engine.stations import router
from twin.engine.warmup import Warmup
from twin.supply.logistics import Customer, Draw, Shipper, Supplier, Transport
from twin.supply.warehouse import Gate, Order, Orders, Transfer, Warehouse


class SupplyChain:
    """The supply-chain objects of one replication, wired to the line."""

    def __init__(self, env: simpy.Environment, warmup: Warmup) -> None:
        self.env = env
        self.warmup = warmup
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
        """Start every warehouse's periodic review (and review it once now) and every customer's
        ordering."""
        for warehouse in self.warehouses.values():
            if warehouse.spec.review is not None:
                self.env.process(warehouse.periodic_review(warehouse.spec.review))
            warehouse.review()
        for customer in self.customers.values():
            self.env.process(customer.run())

    def measure(self, span: float, end: float) -> dict[str, Any] | None:
        """The supply chain's KPIs, statistics and costs over the window (``measure_supply``);
        None for a plant without one."""
        return measure_supply(self, span, end) if self else None


def build_supply(env: simpy.Environment, graph: Any, streams: Any, warmup: Warmup,
                 warehouses: dict[str, Warehouse], inboxes: dict[str, Any]) -> SupplyChain:
    """Suppliers, customers and transport of the plant graph; production orders of the
    warehouses fed by a line gate that line's entry machines (in ``inboxes``)."""
    from twin.language.plant import line_entries

    chain = SupplyChain(env, warmup)
    chain.warehouses = warehouses
    nodes = {name: data["spec"] for name, data in graph.nodes(data=True)}

    def stream(dist: Any, name: str) -> Draw | None:
        return dist.stream(streams.rng(name)) if dist is not None else None

    for (a, b), edge in ((e[:2], e[2]["spec"]) for e in graph.edges(data=True)):
        if nodes[b].kind in ("warehouse", "customer"):
            transit = stream(edge.transit, f"{a}->{b}/transit")
            chain.transports[(a, b)] = Transport(env, warmup, transit, edge.capacity, edge.cost)
            if nodes[a].kind == "machine" and (edge.transit is not None or edge.batch
                                               or edge.capacity is not None or edge.cost):
                chain.shippers[(a, b)] = Shipper(chain.transports[(a, b)], warehouses[b],
                                                 edge.batch or 1)
    for name, spec in nodes.items():
        if spec.kind == "supplier":
            chain.suppliers[name] = Supplier(
                env, name, spec, warmup, stream(spec.lead_time, f"{name}/lead_time"),  # type: ignore[arg-type]
                stream(spec.delay, f"{name}/delay"), _uniform(streams.rng(f"{name}/reliability")))
        elif spec.kind == "customer":
            customer = Customer(env, name, spec, warmup,
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
    choose = router([(share, name) for name, share in sources], uniform)
    transfers = {name: Transfer(env, chain.warmup, warehouse,
                                chain.transports[(name, warehouse.name)])
                 for name, _ in sources if name in chain.warehouses}

    def place(quantity: int) -> None:
        name = choose()
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


def level_stats(changes: list[tuple[float, int, int]], start: float, end: float,
                periods: int = PROFILE_POINTS) -> dict[str, Any]:
    """Statistics from ``start`` to ``end`` of the step function of ``changes`` (time, on hand,
    backordered): the mean on hand and backordered in each of ``periods`` equal periods
    (``profile``), their time averages, the share of time with nothing on hand and the most on
    hand."""
    data = np.asarray(changes, dtype=float)
    times, on_hand = data[:, 0], data[:, 1]
    bounds = np.linspace(start, end, periods + 1)
    at = np.clip(np.searchsorted(times, bounds, side="right") - 1, 0, None)
    profile = []
    for values in (on_hand, data[:, 2]):
        area = np.concatenate(([0.0], np.cumsum(values[:-1] * np.diff(times))))
        cumulative = area[at] + values[at] * (bounds - times[at])
        profile.append(np.diff(cumulative) / np.diff(bounds))
    spans = np.diff(np.append(np.clip(times, start, end), end))
    held = spans > 0
    held[at[0]] = True  # the level at the start holds even if it changes at once
    return {
        "inventory": float(profile[0].mean()),  # equal periods: the mean of their means
        "backorders": float(profile[1].mean()),
        "stockout_time": float(spans[on_hand == 0].sum() / (end - start)),
        "max_inventory": float(on_hand[held].max()),
        "profile": (profile[0].tolist(), profile[1].tolist()),
    }


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def measure_supply(chain: SupplyChain, span: float, end: float) -> dict[str, Any]:
    """KPIs, per-node statistics and costs of the supply chain over the window of ``span``
    ending at ``end``: ``{"kpis", "warehouses", "customers", "suppliers", "costs", "revenue",
    "inventory", "profiles"}``."""
    warehouses: dict[str, dict[str, float]] = {}
    profiles: dict[str, tuple[list[float], list[float]]] = {}
    holding = ordering = 0.0
    for name, w in chain.warehouses.items():
        levels = level_stats(w.timeline, end - span, end)
        profiles[name] = levels["profile"]
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
    return {"kpis": kpis, "warehouses": warehouses, "customers": customers,
            "suppliers": suppliers, "costs": costs, "revenue": revenue, "inventory": inventory,
            "profiles": profiles}
