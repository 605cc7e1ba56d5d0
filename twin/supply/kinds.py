"""The supply chain's node kinds, plugged into the engine through its node-kind registry
(``twin.node_kinds`` entry points) as a third-party kind is: suppliers, warehouses and
customers, wired together once every machine's inbox is known (``twin.supply.wiring``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twin.engine.kinds import NodeKind
from twin.language.nodes import CustomerNode, SupplierNode, WarehouseNode
from twin.supply.warehouse import Warehouse
from twin.supply.wiring import SupplyChain, build_supply

if TYPE_CHECKING:
    from twin.engine.context import BuildContext
    from twin.engine.stations import Destination


def supply_chain(ctx: BuildContext) -> SupplyChain:
    """The plant's suppliers, customers and transport, built once per replication (after every
    machine's inbox is known) and kept as the context's ``supply`` extension."""
    chain: SupplyChain = ctx.extension("supply", lambda: build_supply(
        ctx.env, ctx.graph, ctx.streams, ctx.warmup, ctx.warehouses, ctx.inboxes))
    return chain


class WarehouseKind(NodeKind):
    """A warehouse of the supply chain: holds stock and sends it on to the line or customers."""

    schema = WarehouseNode

    def place(self, ctx: BuildContext, name: str, spec: Any) -> None:
        """Make the node's ``Warehouse`` (with the stock on hand on a warm start)."""
        ctx.receivers[name] = ctx.warehouses[name] = Warehouse(ctx.env, name, spec, ctx.warmup,
                                                               ctx.wip, ctx.releaser)
        state = ctx.initial.warehouses.get(name) if ctx.initial is not None else None
        if state is not None:  # a warm start: the stock on hand
            ctx.warehouses[name].restock(state.on_hand)

    def outlet(self, ctx: BuildContext, name: str, spec: Any, consumer: str) -> Any:
        """The warehouse itself: a machine it feeds takes stock from it."""
        return ctx.warehouses[name]

    def prepare(self, ctx: BuildContext, name: str, spec: Any) -> None:
        """Wire the plant's supply chain (once for all its nodes)."""
        supply_chain(ctx)

    def receiver(self, ctx: BuildContext, name: str, sender: str) -> Destination:
        """What ``sender`` puts into the warehouse: the supply chain's delivery into it."""
        return supply_chain(ctx).into_warehouse(sender, name)  # type: ignore[return-value]


class SupplierKind(NodeKind):
    """A supplier of the supply chain: ships orders to warehouses after its lead time."""

    schema = SupplierNode

    def prepare(self, ctx: BuildContext, name: str, spec: Any) -> None:
        """Wire the plant's supply chain (once for all its nodes)."""
        supply_chain(ctx)


class CustomerKind(NodeKind):
    """A customer of the supply chain: its demand draws stock from a warehouse."""

    schema = CustomerNode

    def prepare(self, ctx: BuildContext, name: str, spec: Any) -> None:
        """Wire the plant's supply chain (once for all its nodes)."""
        supply_chain(ctx)
