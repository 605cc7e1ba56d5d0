"""Node kinds: how each kind of node of the plant graph becomes SimPy objects and processes.

A node kind pairs a schema (``twin.language``) with the code that builds it. The replication is
built in phases, each a loop over the graph's nodes asking the node's kind:

1. ``place``: make what parts sent to the node are put into (``ctx.receivers[name]``);
2. ``connect``: a machine finds what it takes parts from (``outlet`` of the node feeding it);
3. ``prepare``: plant-wide wiring that needs every inbox (the supply chain);
4. ``build``: start the node's processes (routes go through ``ctx.destination``).

``measure`` returns the statistics of a plug-in kind's node for summary.json (``nodes``). A
third-party kind is an object with these methods and a ``schema`` whose ``kind`` is a
``Literal`` of its name, registered in the ``twin.node_kinds`` entry-point group::

    class Delay(NodeKind):
        schema = DelayNode
        def place(self, ctx, name, spec): ...
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, ClassVar

import simpy

from twin.engine.assembly import BatchInbox, Kit, Split
from twin.engine.context import BuildContext
from twin.engine.dispatching import dispatching_channel
from twin.engine.flow import Channel, InfiniteSupply, Part, Sink
from twin.engine.products import chooser
from twin.engine.sensors import has_readings
from twin.engine.state import machine_start, new_part
from twin.engine.stations import (
    Machine,
    Quality,
    Staff,
    Wear,
    infinite_source,
    timed_source,
)
from twin.language.nodes import (
    BufferNode,
    MachineNode,
    SinkNode,
    SourceNode,
)
from twin.registry import NODE_KINDS, Registry

if TYPE_CHECKING:
    from twin.engine.stations import Destination


class NodeKind:
    """Base of node kinds: every hook does nothing unless overridden."""

    schema: ClassVar[type[Any]]

    def place(self, ctx: BuildContext, name: str, spec: Any) -> None:
        """Phase 1: make what parts sent to node ``name`` are put into (``ctx.receivers[name]``)."""
        pass

    def connect(self, ctx: BuildContext, name: str, spec: Any) -> None:
        """Phase 2: find what the node takes its parts from (a machine's ``ctx.inboxes[name]``)."""
        pass

    def prepare(self, ctx: BuildContext, name: str, spec: Any) -> None:
        """Phase 3: plant-wide wiring that needs every node's inbox (the supply chain)."""
        pass

    def build(self, ctx: BuildContext, name: str, spec: Any) -> None:
        """Phase 4: start the node's processes in ``ctx.env``."""
        pass

    def outlet(self, ctx: BuildContext, name: str, spec: Any, consumer: str) -> Any:
        """What machine ``consumer``, fed by this node alone, takes its parts from (None: the
        machine gets a hand-over channel of its own that this node puts into)."""
        return None

    def receiver(self, ctx: BuildContext, name: str, sender: str) -> Destination:
        """Where ``sender`` puts a part for this node."""
        return ctx.receivers[name]

    def measure(self, ctx: BuildContext, name: str, span: float) -> dict[str, float] | None:
        """The node's statistics over ``span`` time units for summary.json (``nodes``), or None."""
        return None


class SourceKind(NodeKind):
    """Releases new parts into the line: timed arrivals, an infinite supply, or a product mix."""

    schema = SourceNode

    def place(self, ctx: BuildContext, name: str, spec: Any) -> None:
        """Label the source's parts with its product, if it names one."""
        if spec.product is not None:
            ctx.releaser.labels[name] = spec.product

    def outlet(self, ctx: BuildContext, name: str, spec: Any, consumer: str) -> Any:
        """An infinite supply for a lone machine fed by an untimed source (the source then runs no
        process), else None."""
        if spec.interarrival is None and ctx.graph.out_degree(name) == 1:
            releaser = ctx.releaser
            if ctx.book is None:
                ctx.fed_directly.add(name)
                return InfiniteSupply(ctx.env, consumer, lambda: releaser(name))
            if spec.mix is not None or spec.sequence is not None:
                ctx.fed_directly.add(name)
                choose = chooser(ctx, name, spec)
                return InfiniteSupply(ctx.env, consumer,
                                      lambda: ctx.stamp(releaser(name), choose()))  # type: ignore[misc]
        return None

    def build(self, ctx: BuildContext, name: str, spec: Any) -> None:
        """Start the release process: timed arrivals, an infinite source, or parts of the product
        mix."""
        if name in ctx.fed_directly:
            return
        if ctx.book is not None:  # products: parts of the mix, or orders (released elsewhere)
            if spec.mix is not None or spec.sequence is not None:
                ctx.env.process(self._mix(ctx, name, spec))
            return
        if spec.interarrival is None:
            ctx.env.process(infinite_source(ctx.env, name, ctx.releaser, ctx.route(name)))
        else:
            draw = spec.interarrival.stream(ctx.streams.rng(f"{name}/arrivals"))
            ctx.env.process(timed_source(ctx.env, name, draw, ctx.releaser, ctx.route(name)))

    @staticmethod
    def _mix(ctx: BuildContext, name: str, spec: Any) -> Generator[simpy.Event, Any, None]:
        """Parts of the source's mix (or sequence), each sent to its product's first machine."""
        env, releaser, entries = ctx.env, ctx.releaser, ctx.entries
        stamp = ctx.stamp
        assert stamp is not None
        choose = chooser(ctx, name, spec)
        if spec.interarrival is not None:
            draw = spec.interarrival.stream(ctx.streams.rng(f"{name}/arrivals"))
            while True:
                yield env.timeout(draw())
                product = choose()
                entries[product].offer(stamp(releaser(name), product))
        while True:  # an infinite supply: the next part is released when its machine takes it
            product = choose()
            part = stamp(Part(0, env.now), product, count=False)
            dest = entries[product]
            if not dest.try_put(part):
                yield dest.put(part)
            stamp.book.released(releaser.admit(part, name))


class BufferKind(NodeKind):
    """A buffer of ``capacity`` places (unbounded if None), served by its dispatching rule."""

    schema = BufferNode

    def place(self, ctx: BuildContext, name: str, spec: Any) -> None:
        """Make the buffer's channel (a rule channel when the dispatching rule ranks parts)."""
        capacity = math.inf if spec.capacity is None else spec.capacity
        ctx.receivers[name] = ctx.channels[name] = dispatching_channel(ctx, name, capacity,
                                                                       spec.dispatch)

    def outlet(self, ctx: BuildContext, name: str, spec: Any, consumer: str) -> Any:
        """The buffer's channel: machines it feeds take their parts from it."""
        return ctx.channels[name]

    def build(self, ctx: BuildContext, name: str, spec: Any) -> None:
        """On a warm start, put back the parts that were waiting in the buffer."""
        if ctx.initial is not None:  # a warm start: the parts waiting here
            channel = ctx.channels[name]
            for state in ctx.initial.parts(name):
                channel.offer(new_part(ctx, name, state))


class SinkKind(NodeKind):
    """Where finished (or scrapped) parts leave the plant and are counted."""

    schema = SinkNode

    def place(self, ctx: BuildContext, name: str, spec: Any) -> None:
        """Make the node's ``Sink``."""
        ctx.receivers[name] = ctx.sinks[name] = Sink(ctx.env, name, ctx.warmup, ctx.wip,
                                                      scrap=spec.scrap, log=ctx.events,
                                                      book=ctx.book, bucket=ctx.buckets)


class MachineKind(NodeKind):
    """A machine: processes one part (or load) at a time, fails, wears and is maintained."""

    schema = MachineNode

    def measure(self, ctx: BuildContext, name: str, span: float) -> dict[str, float] | None:
        """A camera inspection's confusion matrix (none for other machines)."""
        camera = ctx.cameras.get(name)
        return camera.measure() if camera is not None else None

    def connect(self, ctx: BuildContext, name: str, spec: Any) -> None:
        """Find the machine's inbox: a kit for an assembly, the outlet of its only feeder, or a
        hand-over channel of its own; wrapped in a batch inbox for a batch machine."""
        preds = list(ctx.graph.predecessors(name))
        inbox = None
        if spec.assembly is not None:
            ctx.inboxes[name] = self._kit(ctx, name, spec, preds)
            return
        if len(preds) == 1:
            feeder = preds[0]
            inbox = ctx.kinds[feeder].outlet(ctx, feeder, ctx.spec(feeder), name)
        if inbox is None:
            inbox = ctx.receivers[name] = ctx.channels[name] = Channel(ctx.env, name, 0,
                                                                        ctx.warmup)
        if spec.batch is not None:
            inbox = BatchInbox(ctx.env, name, inbox, spec.batch.min, spec.batch.max,
                               spec.batch.wait)
        ctx.inboxes[name] = inbox

    @staticmethod
    def _kit(ctx: BuildContext, name: str, spec: Any, preds: list[str]) -> Kit:
        """An assembly's inbox: each feeder's outlet (or a hand-over of its own), read by the
        products each can supply."""
        from twin.language.resources import products_reaching

        reaching = products_reaching(ctx.scenario)
        outlets: dict[str, Any] = {}
        for feeder in preds:
            outlet = ctx.kinds[feeder].outlet(ctx, feeder, ctx.spec(feeder), name)
            if outlet is None:
                outlet = ctx.feeds[(name, feeder)] = Channel(ctx.env, f"{name}<-{feeder}", 0,
                                                             ctx.warmup)
            outlets[feeder] = outlet
        needs = []
        for product, quantity in spec.assembly.items():
            sources = [(outlets[f], None if reaching[f] == {product} else product)
                       for f in preds if product in reaching[f]]
            needs.append((sources, quantity))
        return Kit(ctx.env, name, needs, spec.makes, ctx.wip)

    def receiver(self, ctx: BuildContext, name: str, sender: str) -> Destination:
        """What ``sender`` puts parts into: its own hand-over into an assembly, else the machine's
        channel."""
        feed = ctx.feeds.get((name, sender))
        return feed if feed is not None else ctx.receivers[name]

    def build(self, ctx: BuildContext, name: str, spec: Any) -> None:
        """Make the ``Machine`` with its failures, wear, operators, quality and sensors, and start
        it."""
        streams = ctx.streams
        failures = spec.failures
        wear = (Wear(spec.degradation, streams.rng(f"{name}/degradation"))
                if spec.degradation is not None else None)
        upkeep = ctx.maintenance if ctx.maintenance is not None and \
            ctx.maintenance.governs(name, spec) else None
        has_sensors = has_readings(spec)
        staffing = spec.operators
        staff = Staff(
            setup=ctx.pool(staffing.setup) if staffing.setup else None,
            load=ctx.pool(staffing.load) if staffing.load else None,
            load_time=(staffing.load_time.stream(streams.rng(f"{name}/load"))
                       if staffing.load_time is not None else None),
            process=ctx.pool(staffing.process) if staffing.process else None,
        ) if staffing is not None else None
        modes = failures if isinstance(failures, list) else [failures] if failures else []
        route: Any = ctx.route(name)
        if spec.disassembly is not None:
            split = Split(ctx.env, name, [(ctx.destination(name, t), n)
                                          for t, n in spec.disassembly.items()],
                          ctx.releaser.admit, ctx.events)
            route = lambda: split  # noqa: E731
        machine = Machine(
            ctx.env, name, ctx.inboxes[name],
            spec.process_time.stream(streams.rng(f"{name}/process")),
            ctx.warmup,
            ttf=(failures.ttf.stream(streams.rng(f"{name}/ttf"))
                 if failures and not isinstance(failures, list) and failures.ttf else None),
            ttr=(failures.ttr.stream(streams.rng(f"{name}/ttr"))
                 if failures and not isinstance(failures, list) else None),
            modes=([(m.name, m.ttf.stream(streams.rng(f"{name}/ttf/{m.name}")),
                     m.ttr.stream(streams.rng(f"{name}/ttr/{m.name}"))) for m in failures]
                   if isinstance(failures, list) else None),
            upkeep=upkeep,
            pm_duration=upkeep.duration(ctx, name) if upkeep is not None else None,
            crew=ctx.crew,
            priority=spec.priority,
            timeline=ctx.timeline or has_sensors,
            wear=wear,
            record_lives=has_sensors,
            route=route,
            setup=((spec.setup.batch, spec.setup.duration.stream(streams.rng(f"{name}/setup")))
                   if spec.setup is not None and spec.setup.matrix is None else None),
            quality=self._quality(ctx, name, spec),
            log=ctx.events,
            by_product={p: product.process_time[name].stream(
                            streams.rng(f"{name}/process/{p}"))
                        for p, product in ctx.scenario.products.items()
                        if name in product.process_time} or None,
            changeover=({a: {b: d.stream(streams.rng(f"{name}/setup/{a}->{b}"))
                             for b, d in row.items()}
                         for a, row in spec.setup.matrix.items()}
                        if spec.setup is not None and spec.setup.matrix is not None else None),
            planned=bool(ctx.scenario.products),
            initial=machine_start(ctx, name, spec),
            calendar=ctx.calendar(spec.calendar),
            elapsed=bool(modes) and modes[0].basis == "calendar",
            staff=staff,
            batch=spec.batch is not None,
        )
        ctx.machines[name] = machine
        machine.process = ctx.env.process(machine.run())
        if upkeep is not None:
            upkeep.attach(ctx, machine)

    @staticmethod
    def _quality(ctx: BuildContext, name: str, spec: Any) -> Quality | None:
        suspect = next((ctx.destination(name, t) for t in ctx.targets(name, "suspect")), None)
        products = {p: (product.defects[name].probability, product.defects[name].per_wear)
                    for p, product in ctx.scenario.products.items() if name in product.defects}
        if (spec.defects is None and spec.fixes is None and spec.inspection is None
                and suspect is None and not products):
            return None
        reject = next((ctx.destination(name, t) for t in ctx.targets(name, "rejected")), None)
        check = spec.inspection
        camera = None
        if check is not None and check.camera is not None:
            from twin.engine.camera import CameraCheck, classifier

            camera = CameraCheck(check.camera.images, check.camera.threshold,
                                 classifier(check.camera.model),
                                 ctx.streams.rng(f"{name}/camera"))
            ctx.warmup.register(camera)
            ctx.cameras[name] = camera
        return Quality(
            ctx.streams.rng(f"{name}/quality").random,
            probability=spec.defects.probability if spec.defects else 0.0,
            per_wear=spec.defects.per_wear if spec.defects else 0.0,
            fixes=spec.fixes,
            inspection=((check.sampling, check.detection, check.false_alarm)
                        if check is not None else None),
            reject=reject, suspect=suspect, products=products or None, camera=camera)


def _instance(kind: Any) -> NodeKind:
    """A registered node kind: an instance, or a class to make one of."""
    made: NodeKind = kind() if isinstance(kind, type) else kind
    return made


NODE_KIND_REGISTRY: Registry[NodeKind] = Registry(NODE_KINDS, "node kind", {
    "source": SourceKind(), "machine": MachineKind(), "buffer": BufferKind(),
    "sink": SinkKind()}, adapt=_instance)
"""The node kinds: the engine's own line kinds, then those plugged in (twin's supply chain
among them, ``twin.supply.kinds``)."""


def node_kinds() -> dict[str, NodeKind]:
    """Every node kind by name: the built-ins, then the plug-ins (``twin.node_kinds``)."""
    return NODE_KIND_REGISTRY.items()
