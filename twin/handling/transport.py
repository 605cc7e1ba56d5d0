"""Vehicles (AGVs, forklifts) carrying parts along the edges that name their fleet.

A part sent along such an edge becomes a request at the sender's point: a machine stays blocked
holding it, a source's part waits there (unbounded). A vehicle of the fleet takes the request
(the fleet's dispatching rule says which), drives to it empty, loads it (``load_time``; the
sender is free from then on), carries it to the next node at ``speed``, unloads it
(``unload_time``) and hands it over. Then it takes the next request, or waits where it is
(``park: stay``) or back home (``park: home``; a vehicle driving home finishes the trip before
it takes a request).

A request is taken only when its next node has a place no other vehicle is bringing a part to
(a buffer's free place, or a machine waiting for a part; a sink or an unbounded buffer always
has one), so a vehicle never stands loaded before a full node whose machine waits for a vehicle
itself: the deadlock of a fleet serving both sides of a buffer. A node that fills up meanwhile
(a source or another machine put parts there) still makes the vehicle wait, loaded.

With ``failures``, a vehicle's operating time (driving, loading, unloading) runs down a time to
failure; it then stands where it is for a repair and goes on. With a ``battery``, the distance
driven drains it; after a delivery that leaves it under ``low``, the vehicle drives to the
charger, charges to full and waits there.

Each vehicle's time is split into states (``STATES``); the fleet's statistics are the shares of
vehicle time in each, the requests carried, the wait for a vehicle (from the request to the
start of loading) and the requests waiting (time average).

Events: ``load`` (the vehicle starts loading the part, at the sender), ``travel`` (it leaves
the sender with the part), ``unload`` (it reaches the next node and starts unloading), then the
next node's ``arrive`` when the part is handed over.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import simpy

from twin.engine.flow import Level, LogsItself, Part
from twin.engine.stations import StateClock
from twin.language.transport import Fleet as FleetSpec
from twin.language.transport import transport_points
from twin.records import events as ev
from twin.registry import VEHICLE_DISPATCHING, Registry

if TYPE_CHECKING:
    from twin.engine.context import BuildContext

Process = Generator[simpy.Event, Any, None]

IDLE, EMPTY, LOADED, HANDLING, BLOCKED, CHARGING, DOWN = range(7)
STATES = ("idle", "empty", "loaded", "handling", "blocked", "charging", "down")
"""A vehicle's states: waiting for a request; driving empty (to a part, home or the charger);
driving with a part; loading or unloading; holding a part the next node has no room for;
charging; failed."""
BUSY = (EMPTY, LOADED, HANDLING, BLOCKED)
"""The states that count as a vehicle's utilization."""


class Request:
    """A part waiting at ``origin`` to be carried to ``target`` (put into ``dest``)."""

    __slots__ = ("part", "origin", "target", "dest", "loaded", "made")

    def __init__(self, part: Part, origin: str, target: str, dest: Any,
                 loaded: simpy.Event | None, made: float) -> None:
        self.part, self.origin, self.target, self.dest = part, origin, target, dest
        self.loaded = loaded
        """Fires when the part is on the vehicle (the sender waits on it; None: a source's)."""
        self.made = made


class Pickup(LogsItself):
    """Where a sender puts a part for the fleet to carry to ``target``: the part is taken only
    by a vehicle (``try_put`` fails; ``put`` fires once it is loaded; a source's ``offer``
    leaves it waiting there)."""

    __slots__ = ("fleet", "origin", "target", "dest", "name")

    def __init__(self, fleet: Fleet, origin: str, target: str, dest: Any) -> None:
        self.fleet, self.origin, self.target, self.dest = fleet, origin, target, dest
        self.name = target

    def try_put(self, part: Part) -> bool:
        """Never: a vehicle has to come for it."""
        return False

    def put(self, part: Part) -> simpy.Event:
        """Call a vehicle; the event fires when the part is loaded."""
        loaded = self.fleet.env.event()
        self.fleet.call(Request(part, self.origin, self.target, self.dest, loaded,
                                self.fleet.env.now))
        return loaded

    def offer(self, part: Part) -> None:
        """Call a vehicle for a source's part, which waits at the source meanwhile."""
        self.fleet.call(Request(part, self.origin, self.target, self.dest, None,
                                self.fleet.env.now))


# --------------------------------------------------------------------------- dispatching rules

class Nearest:
    """The nearest idle vehicle takes a new request (ties: the lowest number); a vehicle that
    becomes free takes the nearest waiting request (ties: the oldest)."""

    def vehicle(self, fleet: Fleet, request: Request, idle: list[Vehicle]) -> Vehicle:
        """Which of the ``idle`` vehicles takes ``request``."""
        return min(idle, key=lambda v: (fleet.distance[v.at, request.origin], v.number))

    def request(self, fleet: Fleet, vehicle: Vehicle, waiting: list[Request]) -> Request:
        """Which of the ``waiting`` requests (oldest first) ``vehicle`` takes."""
        return min(waiting, key=lambda r: fleet.distance[vehicle.at, r.origin])


class FirstComeFirstServed:
    """The vehicle idle longest takes a new request; a vehicle that becomes free takes the
    oldest waiting request."""

    def vehicle(self, fleet: Fleet, request: Request, idle: list[Vehicle]) -> Vehicle:
        """Which of the ``idle`` vehicles takes ``request``."""
        return min(idle, key=lambda v: (v.idle_since, v.number))

    def request(self, fleet: Fleet, vehicle: Vehicle, waiting: list[Request]) -> Request:
        """Which of the ``waiting`` requests (oldest first) ``vehicle`` takes."""
        return waiting[0]


VEHICLE_RULES: Registry[Callable[[], Any]] = Registry(VEHICLE_DISPATCHING,
                                                      "vehicle dispatching rule", {
    "nearest": Nearest,
    "fcfs": FirstComeFirstServed,
})
"""Vehicle dispatching rules by name: classes with ``vehicle(fleet, request, idle)`` and
``request(fleet, vehicle, waiting)``, as ``Nearest``."""


# --------------------------------------------------------------------------- vehicles

class Vehicle:
    """One vehicle of a fleet; see the module docstring."""

    def __init__(self, fleet: Fleet, number: int) -> None:
        self.fleet = fleet
        self.env = fleet.env
        self.number = number
        self.name = f"{fleet.name}.{number}"
        spec = fleet.spec
        self.at = spec.home
        """The point where it stands (or last stood)."""
        self.idle_since = 0.0
        self._assigned: simpy.Event | None = None
        """What it waits on for a request while idle (None: it is not waiting)."""
        self.charge = spec.battery.capacity if spec.battery is not None else 0.0
        self._ttf: Callable[[], float] | None = None
        self._repair: Callable[[], float] | None = None
        self._to_failure = 0.0
        if spec.failures is not None:
            streams = fleet.streams
            self._ttf = spec.failures.ttf.stream(streams.rng(f"{self.name}/ttf"))
            self._repair = spec.failures.repair.stream(streams.rng(f"{self.name}/repair"))
            self._to_failure = self._ttf()
        self.clock = StateClock(self.env, IDLE, False, len(STATES))
        """Time in each of ``STATES``."""
        self._set = self.clock.set
        self.failures = 0

    def reset(self) -> None:
        """Count from now (the end of the warmup)."""
        self.clock.reset()
        self.failures = 0

    @property
    def free(self) -> bool:
        """Whether it waits for a request (``assign`` gives it one)."""
        return self._assigned is not None

    def assign(self, request: Request) -> None:
        """Give the waiting vehicle ``request``."""
        event, self._assigned = self._assigned, None
        assert event is not None
        event.succeed(request)

    def run(self) -> Process:
        """Take requests, one after another, for ever."""
        fleet, spec = self.fleet, self.fleet.spec
        while True:
            request = fleet.next_for(self)
            if request is None:
                if spec.park == "home" and self.at != spec.home:
                    yield from self._drive(spec.home, EMPTY)
                    continue
                self._set(IDLE)
                self.idle_since = self.env.now
                self._assigned = self.env.event()
                request = yield self._assigned
            yield from self._serve(request)
            battery = spec.battery
            if battery is not None and self.charge < battery.low * battery.capacity:
                yield from self._drive(battery.charger, EMPTY)
                self._set(CHARGING)
                yield self.env.timeout((1 - self.charge / battery.capacity)
                                       * battery.charge_time)
                self.charge = battery.capacity

    def _serve(self, request: Request) -> Process:
        fleet, spec, env = self.fleet, self.fleet.spec, self.env
        log = fleet.log
        yield from self._drive(request.origin, EMPTY)
        fleet.picked(request)
        if log is not None:
            log(env.now, request.origin, ev.LOAD, request.part)
        self._set(HANDLING)
        yield from self._work(spec.load_time)
        if request.loaded is not None:
            request.loaded.succeed()
        if log is not None:
            log(env.now, request.origin, ev.TRAVEL, request.part)
        yield from self._drive(request.target, LOADED)
        if log is not None:
            log(env.now, request.target, ev.UNLOAD, request.part)
        self._set(HANDLING)
        yield from self._work(spec.unload_time)
        dest = request.dest
        if not dest.try_put(request.part):
            self._set(BLOCKED)
            yield dest.put(request.part)
        if log is not None and not isinstance(dest, LogsItself):
            log(env.now, request.target, ev.ARRIVE, request.part)
        fleet.delivered(request)

    def _drive(self, to: str, state: int) -> Process:
        """Drive from where it stands to ``to`` (nothing to do if it is there)."""
        if to == self.at:
            return
        fleet = self.fleet
        length = fleet.distance[self.at, to]
        self._set(state)
        yield from self._work(length / fleet.spec.speed)
        self.at = to
        if fleet.spec.battery is not None:
            self.charge -= length
        if state == LOADED:
            fleet.driven_loaded += length
        else:
            fleet.driven_empty += length

    def _work(self, duration: float) -> Process:
        """Spend ``duration`` of operating time in the current state, failing on the way where
        the time to failure runs out."""
        env = self.env
        while duration > 0:
            if self._ttf is None or self._to_failure > duration:
                self._to_failure -= duration
                yield env.timeout(duration)
                return
            yield env.timeout(self._to_failure)
            duration -= self._to_failure
            state = self.clock.state
            self._set(DOWN)
            self.failures += 1
            assert self._repair is not None
            yield env.timeout(self._repair())
            self._set(state)
            self._to_failure = self._ttf()


class Fleet:
    """A fleet's vehicles, its waiting requests and its statistics."""

    def __init__(self, ctx: BuildContext, name: str, spec: FleetSpec,
                 distance: dict[tuple[str, str], float]) -> None:
        self.env = ctx.env
        self.name = name
        self.spec = spec
        self.distance = distance
        self.streams = ctx.streams
        self.log = ctx.events
        self.rule = VEHICLE_RULES.load(spec.dispatch)()
        self.waiting: list[Request] = []
        """Requests no vehicle has taken yet, oldest first."""
        self.heading: dict[int, int] = {}
        """Parts taken by a vehicle and not yet handed over, by destination (its ``id``)."""
        self._watched: set[int] = set()
        self.calls = Level(ctx.env, ctx.warmup)
        """Requests whose part is not loaded yet."""
        self.vehicles = [Vehicle(self, i + 1) for i in range(spec.size)]
        self.reset()
        ctx.warmup.register(self)
        for vehicle in self.vehicles:
            ctx.warmup.register(vehicle)

    def reset(self) -> None:
        """Count from now (the end of the warmup)."""
        self.origin = self.env.now
        self.carried = 0
        self.loads = 0
        self.wait_sum = 0.0
        self.wait_max = 0.0
        self.driven_loaded = 0.0
        self.driven_empty = 0.0
        self.calls.max = self.calls.value

    def start(self) -> None:
        """Start the vehicles."""
        for vehicle in self.vehicles:
            self.env.process(vehicle.run())

    def call(self, request: Request) -> None:
        """A part asks for a vehicle: an idle one (the rule's choice) takes it where its
        destination has room for it, else it waits."""
        self.calls.add(1)
        self.waiting.append(request)
        self.dispatch()

    def dispatch(self) -> None:
        """Give the idle vehicles the waiting requests whose destination has room, oldest
        first (the rule chooses the vehicle)."""
        if not self.waiting:
            return
        idle = [v for v in self.vehicles if v.free]
        if not idle:
            return
        room: dict[int, bool] = {}
        for request in list(self.waiting):
            key = id(request.dest)
            if key not in room:
                room[key] = self._room(request)
            if room[key]:
                vehicle = self.rule.vehicle(self, request, idle)
                self._take(request)
                vehicle.assign(request)
                idle.remove(vehicle)
                if not idle:
                    return
                room[key] = self._room(request)  # one place fewer on the way there

    def next_for(self, vehicle: Vehicle) -> Request | None:
        """The waiting request ``vehicle`` takes now (the rule's choice among those whose
        destination has room), if any."""
        if not self.waiting:
            return None
        room: dict[int, bool] = {}
        ready = []
        for request in self.waiting:  # each destination asked once
            key = id(request.dest)
            if key not in room:
                room[key] = self._room(request)
            if room[key]:
                ready.append(request)
        if not ready:
            return None
        chosen: Request = self.rule.request(self, vehicle, ready)
        self._take(chosen)
        return chosen

    def _room(self, request: Request) -> bool:
        """Whether the request's destination has a place no vehicle is bringing a part to (a
        destination without a limit always has)."""
        room = getattr(request.dest, "room", None)
        if room is None:
            return True
        return bool(room() - self.heading.get(id(request.dest), 0) > 0)

    def _take(self, request: Request) -> None:
        self.waiting.remove(request)
        key = id(request.dest)
        self.heading[key] = self.heading.get(key, 0) + 1

    def delivered(self, request: Request) -> None:
        """The part is handed over: its place is no longer on the way."""
        self.heading[id(request.dest)] -= 1
        self.carried += 1

    def watch(self, dest: Any) -> None:
        """Look for work again whenever a place frees up at ``dest`` (a channel)."""
        if id(dest) not in self._watched and hasattr(dest, "leavers") \
                and dest.capacity != float("inf"):
            self._watched.add(id(dest))
            dest.leavers.append(self.dispatch)

    def picked(self, request: Request) -> None:
        """A vehicle is at the part and starts loading it."""
        self.calls.add(-1)
        wait = self.env.now - request.made
        self.loads += 1
        self.wait_sum += wait
        self.wait_max = max(self.wait_max, wait)

    def measure(self, end: float) -> dict[str, float]:
        """Statistics from the end of the warmup to ``end`` (the end of the run: the vehicles'
        clocks close now, as the machines' do): the share of vehicle time in each
        state and busy (``utilization``), parts carried and their rate, the mean and longest
        wait for a vehicle, the requests waiting (mean and peak), distance driven loaded and
        empty per time unit, failures."""
        span = end - self.origin
        totals = [sum(col) for col in zip(*(v.clock.close() for v in self.vehicles),
                                          strict=True)]
        time = span * len(self.vehicles)
        shares = {state: totals[i] / time if time > 0 else 0.0
                  for i, state in enumerate(STATES)}
        return {
            "vehicles": float(len(self.vehicles)),
            "carried": float(self.carried),
            "throughput": self.carried / span if span > 0 else 0.0,
            "utilization": sum(totals[i] for i in BUSY) / time if time > 0 else 0.0,
            **shares,
            "wait": self.wait_sum / self.loads if self.loads else 0.0,
            "max_wait": self.wait_max,
            "waiting": self.calls.mean(end),
            "max_waiting": float(self.calls.max),
            "distance_loaded": self.driven_loaded / span if span > 0 else 0.0,
            "distance_empty": self.driven_empty / span if span > 0 else 0.0,
            "failures": float(sum(v.failures for v in self.vehicles)),
        }


class VehicleTransport:
    """The plant's fleets (``scenario.transport``), made once per replication: an extension of
    the engine (``twin.engine.context.Transport``) registered as ``vehicles`` under
    ``twin.transport``."""

    def __init__(self, ctx: BuildContext) -> None:
        scenario = ctx.scenario
        transport = scenario.transport
        assert transport is not None
        self.fleets: dict[str, Fleet] = {}
        for name, spec in transport.fleets.items():
            distance, problems = transport.layout.distance_table(transport_points(scenario, name))
            assert not problems, problems  # the scenario was checked
            self.fleets[name] = Fleet(ctx, name, spec, distance)

    def pickup(self, fleet: str, sender: str, target: str, dest: Any) -> Pickup:
        """Where ``sender`` puts a part for ``fleet`` to carry to ``target`` (``dest``)."""
        self.fleets[fleet].watch(dest)
        return Pickup(self.fleets[fleet], sender, target, dest)

    def start(self) -> None:
        """Start every fleet's vehicles."""
        for fleet in self.fleets.values():
            fleet.start()

    def measure(self, span: float, end: float) -> dict[str, Any]:
        """The fleets' statistics (``fleets``), the plant's ``vehicle_utilization`` and
        ``vehicle_wait`` (over every fleet's vehicles and requests), and the vehicles' cost
        rate (``vehicles``, where they cost anything)."""
        fleets = {name: fleet.measure(end) for name, fleet in self.fleets.items()}
        vehicles = sum(s["vehicles"] for s in fleets.values())
        loads = sum(f.loads for f in self.fleets.values())
        kpis = {
            "vehicle_utilization": sum(s["utilization"] * s["vehicles"]
                                       for s in fleets.values()) / vehicles,
            "vehicle_wait": (sum(f.wait_sum for f in self.fleets.values()) / loads
                             if loads else 0.0),
        }
        costs = {"vehicles": sum(f.spec.size * f.spec.cost for f in self.fleets.values())}
        return {"kpis": kpis, "costs": costs if costs["vehicles"] else {}, "revenue": 0.0,
                "fleets": fleets}
