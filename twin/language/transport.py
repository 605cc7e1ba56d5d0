"""Transport inside the plant: fleets of vehicles (AGVs, forklifts) carrying parts along the
edges that name them (``{from: mill, to: wash, by: agv}``), over a layout of points.

A layout gives the distance between points (a node's point is its name) in one of three ways:

- ``points``: coordinates, with the ``euclidean`` or ``manhattan`` metric;
- ``distances``: a table of ``[a, b, distance]`` rows, the same both ways;
- ``aisles``: a graph of ``[a, b, length]`` rows (the length may be left out where both ends
  have coordinates in ``points``); a vehicle takes the shortest path (networkx finds it).

Every point a fleet may drive between (the ends of its edges, its home and its charger) needs a
distance to every other. The engine's side is ``twin.handling.transport``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from twin.errors import Loc
from twin.language.base import Frozen, NonNegative, PositiveNumber
from twin.language.distributions import Distribution
from twin.registry import VEHICLE_DISPATCHING, Registry, did_you_mean

VEHICLE_RULES = ("nearest", "fcfs")
"""The built-in vehicle dispatching rules (others are registered under
``twin.vehicle_dispatching``)."""


class VehicleFailures(Frozen):
    """A vehicle fails after ``ttf`` of operating time (driving, loading, unloading) and stands
    where it is for ``repair``; then it goes on with what it was doing."""

    ttf: Distribution
    """Operating time between failures."""
    repair: Distribution
    """Time to repair, where the vehicle stands."""


class Battery(Frozen):
    """A battery that drains with the distance driven. After a delivery, a vehicle whose charge
    is under ``low`` of ``capacity`` drives to ``charger`` and charges to full there (an empty
    battery in ``charge_time``, a part-empty one in its share of it); it then waits there."""

    capacity: PositiveNumber
    """Distance a full battery drives."""
    charge_time: PositiveNumber
    """Time to charge an empty battery full."""
    charger: Annotated[str, Field(min_length=1)]
    """The point of the layout where vehicles charge."""
    low: Annotated[float, Field(gt=0, lt=1)] = 0.2
    """Charge (a share of ``capacity``) under which a vehicle goes to charge after a delivery."""


class Fleet(Frozen):
    """A fleet of identical vehicles: ``size`` of them start at ``home``; a part sent along an
    edge the fleet serves waits for a vehicle, which drives to it empty, loads it
    (``load_time``), carries it at ``speed`` and unloads it (``unload_time``) into the next node
    (waiting, loaded, while that node is full)."""

    size: Annotated[int, Field(ge=1)]
    """Vehicles in the fleet."""
    speed: PositiveNumber
    """Distance per time unit (the layout's unit of distance)."""
    load_time: NonNegative = 0.0
    unload_time: NonNegative = 0.0
    home: Annotated[str, Field(min_length=1)]
    """The point where the vehicles start (and, with ``park: home``, wait when idle)."""
    park: Literal["stay", "home"] = "stay"
    """Where an idle vehicle waits: where it unloaded (``stay``) or back at ``home``."""
    dispatch: Annotated[str, Field(min_length=1)] = "nearest"
    """Which vehicle takes which request: ``nearest`` (the nearest idle vehicle takes a new
    request; a vehicle that becomes free takes the nearest waiting one), ``fcfs`` (the vehicle
    idle longest; the oldest request), or a rule registered under
    ``twin.vehicle_dispatching``."""
    failures: VehicleFailures | None = None
    battery: Battery | None = None
    cost: NonNegative = 0.0
    """Cost of one vehicle per time unit (lease, energy, upkeep), in the cost rate as
    ``vehicles``."""


Row = tuple[str, str, float]


class Layout(Frozen):
    """Where the points are and how far apart: ``points`` (coordinates), ``distances`` (a
    table) or ``aisles`` (a graph); see the module docstring."""

    points: dict[str, tuple[float, float]] = Field(default_factory=dict)
    """Coordinates ``[x, y]`` by point name."""
    metric: Literal["euclidean", "manhattan"] = "euclidean"
    """How coordinates give a distance (without ``aisles``)."""
    distances: list[Row] = Field(default_factory=list)
    """``[a, b, distance]`` rows, the same both ways."""
    aisles: list[tuple[str, str] | Row] = Field(default_factory=list)
    """``[a, b]`` or ``[a, b, length]`` rows: the aisles vehicles drive along, both ways."""

    @field_validator("distances", "aisles")
    @classmethod
    def _lengths(cls, rows: list[Any]) -> list[Any]:
        for row in rows:
            if len(row) == 3 and not (math.isfinite(row[2]) and row[2] >= 0):
                raise ValueError(f"the distance from {row[0]!r} to {row[1]!r} must be a number "
                                 f"of at least 0, not {row[2]!r}")
        return rows

    @model_validator(mode="after")
    def _one_way(self) -> Layout:
        if self.distances and (self.aisles or self.points):
            raise ValueError("give a layout's distances as a table or by points and aisles, "
                             "not both")
        if not (self.distances or self.aisles or self.points):
            raise ValueError("a layout needs points, distances or aisles")
        return self

    def names(self) -> set[str]:
        """Every point the layout names."""
        out = set(self.points)
        for row in (*self.distances, *self.aisles):
            out.update(row[:2])
        return out

    def distance_table(self, among: Iterable[str]) -> tuple[dict[tuple[str, str], float],
                                                           list[tuple[Loc, str]]]:
        """The distance between every two of ``among`` (both ways), and the problems that keep
        a pair from having one (a point the layout does not have, a missing row, no path)."""
        among = sorted(set(among))
        problems: list[tuple[Loc, str]] = []
        out: dict[tuple[str, str], float] = {(a, a): 0.0 for a in among}
        if self.distances:
            given = {}
            for a, b, d in self.distances:
                given[(a, b)] = given[(b, a)] = float(d)
            for i, a in enumerate(among):
                for b in among[i + 1:]:
                    if (a, b) not in given:
                        problems.append((("transport", "layout", "distances"),
                                         f"no distance between {a!r} and {b!r} (a row "
                                         f"[{a}, {b}, distance] is missing)"))
                    else:
                        out[(a, b)] = out[(b, a)] = given[(a, b)]
            return out, problems
        if not self.aisles:
            for a in among:
                if a not in self.points:
                    problems.append((("transport", "layout", "points"),
                                     f"point {a!r} has no coordinates"))
            for a in among:
                for b in among:
                    if a in self.points and b in self.points:
                        out[(a, b)] = _metric(self.points[a], self.points[b], self.metric)
            return out, problems
        return self._shortest(among)

    def _shortest(self, among: list[str]) -> tuple[dict[tuple[str, str], float],
                                                   list[tuple[Loc, str]]]:
        import networkx as nx

        problems: list[tuple[Loc, str]] = []
        graph = nx.Graph()
        for i, row in enumerate(self.aisles):
            a, b = row[0], row[1]
            if len(row) == 3:
                length = float(row[2])
            elif a in self.points and b in self.points:
                length = _metric(self.points[a], self.points[b], "euclidean")
            else:
                problems.append((("transport", "layout", "aisles", i),
                                 f"the aisle from {a!r} to {b!r} needs a length, or "
                                 "coordinates for both ends in points"))
                continue
            graph.add_edge(a, b, length=length)
        out: dict[tuple[str, str], float] = {}
        for a in among:
            if a not in graph:
                problems.append((("transport", "layout", "aisles"),
                                 f"point {a!r} is on no aisle"))
                continue
            lengths = nx.single_source_dijkstra_path_length(graph, a, weight="length")
            for b in among:
                if b in lengths:
                    out[(a, b)] = float(lengths[b])
                elif b in graph and a < b:
                    problems.append((("transport", "layout", "aisles"),
                                     f"no aisle leads from {a!r} to {b!r}"))
        return out, problems


def _metric(p: tuple[float, float], q: tuple[float, float], metric: str) -> float:
    if metric == "manhattan":
        return abs(p[0] - q[0]) + abs(p[1] - q[1])
    return math.hypot(p[0] - q[0], p[1] - q[1])


class Transport(Frozen):
    """The plant's vehicles: the layout they drive on and the fleets by name."""

    layout: Layout
    fleets: Annotated[dict[str, Fleet], Field(min_length=1)]
    """Fleets by name; an edge ``by`` a fleet's name is served by it."""


def transport_points(scenario: Any, fleet: str) -> set[str]:
    """The points fleet ``fleet`` drives between: the ends of its edges, its home, its
    charger."""
    spec = scenario.transport.fleets[fleet]
    points = {spec.home}
    if spec.battery is not None:
        points.add(spec.battery.charger)
    for edge in scenario.plant.edges:
        if edge.by == fleet:
            points.update((edge.source, edge.target))
    return points


def transport_problems(scenario: Any) -> list[tuple[Loc, str]]:
    """What keeps the scenario's transport from running: an edge by a fleet that does not
    exist, or that cannot be carried; a missing distance; a battery too small for its trips;
    an unknown dispatching rule."""
    transport: Transport | None = scenario.transport
    fleets = transport.fleets if transport is not None else {}
    nodes = scenario.plant.nodes
    problems: list[tuple[Loc, str]] = []
    for i, edge in enumerate(scenario.plant.edges):
        if edge.by is None:
            continue
        loc: Loc = ("plant", "edges", i, "by")
        if edge.by not in fleets:
            known = (f" (fleets: {', '.join(fleets)})" if fleets
                     else " (the scenario has no transport section)")
            problems.append((loc, f"no fleet {edge.by!r}{did_you_mean(edge.by, list(fleets))}"
                                  f"{known}"))
            continue
        kinds = (nodes[edge.source].kind, nodes[edge.target].kind) \
            if edge.source in nodes and edge.target in nodes else None
        if kinds is not None and (kinds[0] in ("buffer", "supplier", "warehouse", "customer")
                                  or kinds[1] in ("supplier", "warehouse", "customer")):
            problems.append((loc, f"a {kinds[0]}'s parts to {kinds[1]} {edge.target!r} cannot go "
                                  "by a fleet (machines pull their parts from buffers; the "
                                  "supply chain's edges have transit instead)"))
    if transport is None:
        return problems
    rules = None
    for name, fleet in fleets.items():
        loc = ("transport", "fleets", name)
        if fleet.dispatch not in VEHICLE_RULES:
            if rules is None:
                rules = Registry(VEHICLE_DISPATCHING, "vehicle dispatching rule",
                                 dict.fromkeys(VEHICLE_RULES, "")).names()
            if fleet.dispatch not in rules:
                problems.append((loc + ("dispatch",),
                                 f"unknown vehicle dispatching rule {fleet.dispatch!r}"
                                 f"{did_you_mean(fleet.dispatch, rules)} (one of: "
                                 f"{', '.join(rules)})"))
        table, missing = transport.layout.distance_table(transport_points(scenario, name))
        for problem in missing:
            if problem not in problems:
                problems.append(problem)
        battery = fleet.battery
        if battery is not None and not missing:
            longest = max(table.values(), default=0.0)
            if battery.low * battery.capacity < 3 * longest:
                problems.append((loc + ("battery", "low"),
                                 f"low x capacity ({battery.low * battery.capacity:g}) is under "
                                 f"three of the longest trips ({3 * longest:g}: to a part, with "
                                 "it, then to the charger): a vehicle could run flat"))
    return problems
