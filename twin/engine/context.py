"""What the node kinds of one replication build into: the SimPy environment, the random streams,
the shared resources, and every node's objects, found by node name.

``twin.engine.replication.build`` makes one ``BuildContext`` and asks each node's kind to
``place``, ``connect`` and ``build`` itself in it (see ``twin.engine.kinds``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import networkx as nx
import simpy

from twin.engine.crew import Crew
from twin.engine.flow import Channel, Level, Sink
from twin.engine.rng import Streams
from twin.engine.stations import Destination, Machine, Releaser, router
from twin.engine.warmup import Warmup
from twin.registry import TRANSPORT, Registry

if TYPE_CHECKING:
    from twin.engine.calendar import Calendar
    from twin.engine.events import EventLog
    from twin.engine.kinds import NodeKind
    from twin.engine.operators import OperatorPool
    from twin.engine.policies import MaintenancePolicy, QualityPolicy
    from twin.engine.products import Plan, ProductBook, Stamper
    from twin.engine.sensors import SensorStream
    from twin.engine.state import PlantState
    from twin.language.schema import Scenario


class Extension(Protocol):
    """Plant-wide objects a plug-in builds once per replication beside the line (the supply
    chain, say): started with the policies, measured with the line.

    ``measure`` returns ``None`` or a dict with ``kpis`` and ``costs`` (per time unit) to add to
    the line's, ``revenue`` (per time unit), and any of the result's sections by name
    (``warehouses``, ``customers``, ``suppliers``, ``inventory``, ``profiles``)."""

    def start(self) -> None:
        """Start the extension's processes (once every node is built)."""

    def measure(self, span: float, end: float) -> dict[str, Any] | None:
        """Its statistics over the window of length ``span`` ending at ``end``."""


class Transport(Extension, Protocol):
    """A transport system (``twin.transport``): made with the build context, it gives the
    destination a sender puts a part into for a fleet to carry to ``dest``."""

    def pickup(self, fleet: str, sender: str, target: str, dest: Destination) -> Destination:
        """Where ``sender`` puts a part for fleet ``fleet`` to carry to ``target`` (``dest``)."""


TRANSPORT_SYSTEMS: Registry[Callable[[BuildContext], Transport]] = Registry(
    TRANSPORT, "transport system")
"""Transport systems by name; twin's own vehicles are ``vehicles`` (``twin.handling``)."""


@dataclass
class BuildContext:
    """Everything the node kinds share while a replication is built: the environment, the scenario,
    its graph and random streams, and what each node has made so far."""

    env: simpy.Environment
    scenario: Scenario
    graph: nx.DiGraph
    streams: Streams
    warmup: Warmup
    """Statistics register with it to be reset when the warmup ends."""
    wip: Level
    releaser: Releaser
    crew: Crew
    kinds: dict[str, NodeKind]
    """Each node's kind, by node name."""
    timeline: bool = False
    events: EventLog | None = None
    """The event log, when one is kept."""
    receivers: dict[str, Any] = field(default_factory=dict)
    """What parts sent to a node are put into (a channel, a sink, a warehouse, ...)."""
    inboxes: dict[str, Any] = field(default_factory=dict)
    """What each machine takes its parts from."""
    channels: dict[str, Channel] = field(default_factory=dict)
    sinks: dict[str, Sink] = field(default_factory=dict)
    warehouses: dict[str, Any] = field(default_factory=dict)
    """Where finished parts are stocked, by node name (placed by a plug-in kind): their parts
    count as made, and a warm start restocks them."""
    machines: dict[str, Machine] = field(default_factory=dict)
    sensors: dict[str, SensorStream] = field(default_factory=dict)
    nodes: dict[str, Any] = field(default_factory=dict)
    """Objects of plug-in node kinds, by node name, for their ``measure``."""
    cameras: dict[str, Any] = field(default_factory=dict)
    """Camera inspections (``twin.engine.camera.CameraCheck``) by machine."""
    fed_directly: set[str] = field(default_factory=set)
    """Sources whose parts a machine takes itself (an infinite supply): they run no process."""
    maintenance: MaintenancePolicy | None = None
    quality: QualityPolicy | None = None
    extensions: dict[str, Extension] = field(default_factory=dict)
    """Plant-wide objects of plug-ins, by name (``extension``)."""
    initial: PlantState | None = None
    """The state a warm start begins from."""
    buckets: float = 0.0
    """Width of the time buckets KPIs are also given by (0: none)."""
    book: ProductBook | None = None
    """Statistics per product and order, where the plant has products."""
    plans: dict[str, Plan] = field(default_factory=dict)
    stamp: Stamper | None = None
    entries: dict[str, Any] = field(default_factory=dict)
    """Where each product's parts enter the line."""
    feeds: dict[tuple[str, str], Channel] = field(default_factory=dict)
    """The hand-over from each node feeding an assembly directly, by (assembly, feeder)."""
    pools: dict[str, OperatorPool] = field(default_factory=dict)
    """Operator pools, made when a machine first calls one."""

    def calendar(self, spec: Any) -> Calendar | None:
        """The working calendar of a spec (inline, or named in the scenario's calendars)."""
        from twin.engine.calendar import Calendar

        if spec is None:
            return None
        return Calendar(self.scenario.calendars[spec] if isinstance(spec, str) else spec)

    def pool(self, name: str) -> OperatorPool:
        """The operator pool ``name``, made on first call from the scenario's ``operators``."""
        if name not in self.pools:
            from twin.engine.operators import OperatorPool

            spec = self.scenario.operators[name]
            walk = (spec.walk.stream(self.streams.rng(f"operators/{name}/walk"))
                    if spec.walk is not None else None)
            self.pools[name] = OperatorPool(self.env, name, spec.size, self.warmup, walk,
                                            self.calendar(spec.calendar))
        return self.pools[name]

    def spec(self, name: str) -> Any:
        """The validated schema of node ``name``."""
        return self.graph.nodes[name]["spec"]

    def destination(self, sender: str, target: str) -> Destination:
        """Where ``sender`` puts a part bound for ``target``: the target's receiver, or, along
        an edge a fleet serves (``by``), a pick-up point of that fleet's vehicles."""
        dest = self.kinds[target].receiver(self, target, sender)
        by = self.graph.adj[sender].get(target, {}).get("by")
        if by is not None:
            dest = self.transport().pickup(by, sender, target, dest)
        return dest

    def transport(self) -> Transport:
        """The plant's vehicles (``scenario.transport``), made on first call by the transport
        system registered as ``vehicles`` under ``twin.transport``."""
        return self.extension("transport",
                              lambda: TRANSPORT_SYSTEMS.load("vehicles")(self))

    def targets(self, name: str, when: str | None = None) -> list[str]:
        """The successors of ``name`` along its ordinary edges (or those marked ``when``)."""
        return [t for t in self.graph.successors(name)
                if self.graph.edges[name, t].get("when") == when]

    def route(self, name: str) -> Callable[[], Destination]:
        """The routing of the parts leaving ``name``: by the edges' probabilities, drawn from
        the node's own stream."""
        targets = [(self.graph.edges[name, t]["p"], self.destination(name, t))
                   for t in self.targets(name)]
        uniform = self.streams.rng(f"{name}/route").random if len(targets) > 1 else None
        draw = (lambda: float(uniform())) if uniform is not None else None  # noqa: E731
        return router(targets, draw)

    def extension(self, name: str, make: Callable[[], Extension]) -> Any:
        """The plant-wide extension ``name``, made by ``make`` the first time it is asked for."""
        if name not in self.extensions:
            self.extensions[name] = make()
        return self.extensions[name]
