"""What a drawing of the plant shows: its nodes, each with the shape of its kind, and its edges.

A sketch is made from a checked scenario (``sketch_of``) or, for a scenario that does not
validate, from its raw data (``sketch_of_data``), so that ``twin show`` can still draw what it
can and mark where the problems are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twin.language.schema import Scenario

SHAPES = ("source", "machine", "assembly", "oven", "buffer", "sink", "supplier", "warehouse",
          "customer", "conveyor", "other")
"""The shapes drawn: a machine that assembles (or disassembles) is an ``assembly``, one that
processes loads together an ``oven``; a conveyor is a belt; another plug-in node kind is
``other``."""


@dataclass(frozen=True)
class NodeSketch:
    """One node: its scenario kind, the shape it is drawn with and a short detail line."""

    name: str
    kind: str
    shape: str
    detail: str = ""
    capacity: int | None = None
    """A buffer's capacity (null: unbounded)."""
    components: int = 0
    """Parts an assembly joins into one (0: not an assembly)."""


@dataclass(frozen=True)
class EdgeSketch:
    """One edge: ``when`` (rejected, suspect) and the routing probability ``p`` where given."""

    source: str
    target: str
    when: str | None = None
    p: float | None = None
    share: float | None = None
    """From a supplier or warehouse to a warehouse: its share of the orders."""
    by: str | None = None
    """The fleet of vehicles that carries the parts along it (none: they are handed over)."""

    @property
    def key(self) -> str:
        """The edge's name in the drawing (``data-edge``)."""
        return f"{self.source}->{self.target}"


@dataclass(frozen=True)
class FleetSketch:
    """A fleet of vehicles (``transport.fleets``): how many, how fast, how long they take to
    load and unload, where they start."""

    name: str
    size: int
    speed: float | None = None
    load_time: float = 0.0
    unload_time: float = 0.0
    home: str = ""

    @property
    def detail(self) -> str:
        """One line: the vehicles, their speed and handling times, their home."""
        out = f"{self.size} vehicle{'' if self.size == 1 else 's'}"
        if self.speed is not None:
            out += f", speed {self.speed:g}"
        if self.load_time or self.unload_time:
            out += f", load {self.load_time:g}, unload {self.unload_time:g}"
        return out + (f", home {self.home}" if self.home else "")


@dataclass(frozen=True)
class Sketch:
    """A plant to draw: nodes in the scenario's order, edges between them, and the fleets of
    vehicles that carry parts along some of them."""

    name: str
    nodes: dict[str, NodeSketch]
    edges: list[EdgeSketch] = field(default_factory=list)
    fleets: dict[str, FleetSketch] = field(default_factory=dict)


def _shape(kind: str, spec: Mapping[str, Any]) -> str:
    if kind == "machine":
        if spec.get("assembly") or spec.get("disassembly"):
            return "assembly"
        if spec.get("batch"):
            return "oven"
        return "machine"
    return kind if kind in SHAPES else "other"


def _detail(kind: str, shape: str, spec: Mapping[str, Any]) -> str:
    if shape == "buffer":
        capacity = spec.get("capacity")
        return "unbounded" if capacity is None else f"capacity {capacity}"
    if shape == "assembly":
        parts = spec.get("assembly") or spec.get("disassembly") or {}
        if isinstance(parts, Mapping):
            return " + ".join(f"{n} {p}" for p, n in parts.items())
    if shape == "oven":
        batch = spec.get("batch") or {}
        if isinstance(batch, Mapping) and batch.get("max") is not None:
            return f"loads up to {batch['max']}"
    if shape == "machine" and spec.get("inspection"):
        return "inspects"
    if shape == "sink" and spec.get("scrap"):
        return "scrap"
    if kind == "conveyor" and isinstance(spec.get("length"), int | float) \
            and isinstance(spec.get("speed"), int | float) and spec["speed"]:
        ride = f"{spec['length']:g} long, speed {spec['speed']:g}"
        return ride + (", stops when blocked" if spec.get("accumulating") is False else "")
    if shape == "warehouse":
        policy = spec.get("policy")
        if isinstance(policy, Mapping) and policy.get("kind"):
            return str(policy["kind"])
    return "" if shape in ("machine", "source", "sink") else (kind if shape == "other" else "")


def _components(spec: Mapping[str, Any]) -> int:
    parts = spec.get("assembly")
    if isinstance(parts, Mapping):
        return sum(n for n in parts.values() if isinstance(n, int))
    return 0


def _spec_data(spec: Any) -> dict[str, Any]:
    if isinstance(spec, Mapping):
        return dict(spec)
    dumped: dict[str, Any] = spec.model_dump(mode="json", by_alias=True)
    return dumped


def sketch_of(scenario: Scenario) -> Sketch:
    """The sketch of a checked scenario's plant."""
    nodes: dict[str, NodeSketch] = {}
    for name, spec in scenario.plant.nodes.items():
        data = _spec_data(spec)
        shape = _shape(spec.kind, data)
        nodes[name] = NodeSketch(name, spec.kind, shape, _detail(spec.kind, shape, data),
                                 data.get("capacity") if shape == "buffer" else None,
                                 _components(data))
    edges = [EdgeSketch(e.source, e.target, e.when, e.p, e.share, e.by)
             for e in scenario.plant.edges]
    fleets = {name: FleetSketch(name, f.size, f.speed, f.load_time, f.unload_time, f.home)
              for name, f in (scenario.transport.fleets if scenario.transport else {}).items()}
    return Sketch(scenario.name, nodes, edges, fleets)


def _fleets_of_data(data: Mapping[str, Any]) -> dict[str, FleetSketch]:
    """The fleets of a scenario's raw data, as far as they read (a size that is a whole
    number)."""
    transport = data.get("transport")
    fleets = transport.get("fleets") if isinstance(transport, Mapping) else None
    out: dict[str, FleetSketch] = {}
    for name, spec in fleets.items() if isinstance(fleets, Mapping) else ():
        if not isinstance(spec, Mapping) or not isinstance(spec.get("size"), int):
            continue
        load, unload, speed = (spec.get(k) for k in ("load_time", "unload_time", "speed"))
        out[str(name)] = FleetSketch(
            str(name), spec["size"], speed if isinstance(speed, int | float) else None,
            float(load) if isinstance(load, int | float) else 0.0,
            float(unload) if isinstance(unload, int | float) else 0.0,
            str(spec.get("home") or ""))
    return out


def sketch_of_data(data: Any) -> Sketch | None:
    """The sketch of a scenario's raw data (as read from YAML), however wrong the rest of it:
    nodes that are mappings with a ``kind``, edges ``[from, to]`` or ``{from, to}`` between
    known nodes (the others are left out). None where there is no ``plant.nodes`` to draw."""
    if not isinstance(data, Mapping):
        return None
    plant = data.get("plant")
    raw_nodes = plant.get("nodes") if isinstance(plant, Mapping) else None
    if not isinstance(raw_nodes, Mapping) or not raw_nodes:
        return None
    nodes: dict[str, NodeSketch] = {}
    for name, spec in raw_nodes.items():
        spec = spec if isinstance(spec, Mapping) else {}
        kind = str(spec.get("kind", "?"))
        shape = _shape(kind, spec)
        capacity = spec.get("capacity") if shape == "buffer" else None
        nodes[str(name)] = NodeSketch(str(name), kind, shape, _detail(kind, shape, spec),
                                      capacity if isinstance(capacity, int) else None)
    edges: list[EdgeSketch] = []
    seen: set[tuple[str, str]] = set()
    raw_edges = plant.get("edges") if isinstance(plant, Mapping) else None
    for edge in raw_edges if isinstance(raw_edges, list) else []:
        when: Any = None
        p: Any = None
        by: Any = None
        if isinstance(edge, list | tuple) and len(edge) >= 2:
            source, target = edge[0], edge[1]
            p = edge[2] if len(edge) == 3 else None
        elif isinstance(edge, Mapping):
            source, target, when, p = edge.get("from"), edge.get("to"), edge.get("when"), \
                edge.get("p")
            by = edge.get("by")
        else:
            continue
        source, target = str(source), str(target)
        if source in nodes and target in nodes and source != target \
                and (source, target) not in seen:
            seen.add((source, target))
            edges.append(EdgeSketch(source, target, when if isinstance(when, str) else None,
                                    p if isinstance(p, int | float) else None,
                                    by=str(by) if isinstance(by, str) and by else None))
    name = data.get("name")
    return Sketch(str(name) if name is not None else "plant", nodes, edges,
                  _fleets_of_data(data))
