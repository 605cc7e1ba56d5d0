"""SimPy processes of the plant's stations: sources and machines.

Machines follow the contract: one part at a time; a finished part stays in the machine (blocked)
until the next node accepts it; failures are operation-dependent, so a machine tracks its
remaining life in processing time and fails exactly when that runs out, mid-part, then waits for a
technician, is repaired and resumes the part it holds (preempt-resume). Preventive maintenance
happens when the operating age since the last renewal reaches the policy's interval. Both a
repair and a preventive maintenance renew the machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import simpy

from twin.engine.crew import Crew
from twin.engine.health import WearPath
from twin.engine.products import transfer_batch
from twin.engine.warmup import Warmup
from twin.records import events as ev

if TYPE_CHECKING:
    from twin.engine.calendar import Calendar
    from twin.engine.operators import OperatorPool

from twin.engine.assembly import Load
from twin.engine.calendar import watch
from twin.engine.flow import Channel, InfiniteSupply, Level, LogsItself, Part, Sink
from twin.engine.inspection import Inspecting, Quality
from twin.engine.states import (
    BLOCKED,
    DOWN,
    REPAIR,
    SETUP,
    STARVED,
    STATES,
    WAITING_OPERATOR,
    WORKING,
)
from twin.engine.timed import Timed
from twin.engine.upkeep import Life, Upkeep, Wear

Destination = Channel | Sink
Draw = Callable[[], float]
Process = Generator[simpy.Event, Any, None]


class StateClock:
    """Time spent in each state (from the end of the warmup), and optionally the timeline of
    changes (from the start)."""

    __slots__ = ("env", "state", "since", "totals", "timeline", "down_by_bucket", "origin",
                 "width")

    def __init__(self, env: simpy.Environment, state: int, timeline: bool,
                 states: int = len(STATES)) -> None:
        self.env = env
        self.state = state
        self.since = env.now
        self.totals = [0.0] * states
        """Time in each of ``states`` states (a machine's ``STATES`` unless told)."""
        self.timeline: list[tuple[float, int]] | None = [(env.now, state)] if timeline else None
        self.down_by_bucket: list[float] | None = None
        """With ``count_down``: the time down or in repair in each bucket of ``width``."""
        self.origin = 0.0
        self.width = 0.0

    def count_down(self, origin: float, width: float, buckets: int) -> None:
        """Also count the unplanned downtime (down or in repair) per bucket of ``width`` time
        from ``origin`` (the clock becomes a ``BucketClock``: the others pay nothing for it)."""
        self.origin, self.width = origin, width
        self.down_by_bucket = [0.0] * buckets
        self.__class__ = BucketClock

    def set(self, state: int) -> None:
        """Switch to ``state`` now, adding the time spent in the previous one."""
        if state == self.state:
            return
        now = self.env.now
        self.totals[self.state] += now - self.since
        self.state = state
        self.since = now
        if self.timeline is not None:
            self.timeline.append((now, state))

    def reset(self) -> None:
        """Forget the time spent so far; count from now (the end of the warmup)."""
        self.totals = [0.0] * len(self.totals)
        self.since = self.env.now

    def close(self) -> list[float]:
        """The time spent in each state up to now (a machine's: indexed as ``STATES``)."""
        now = self.env.now
        self.totals[self.state] += now - self.since
        self.since = now
        return self.totals


class BucketClock(StateClock):
    """A state clock that also counts the downtime per bucket (``StateClock.count_down``)."""

    __slots__ = ()

    def set(self, state: int) -> None:
        """Switch to ``state`` now, spreading a downtime that ends over the buckets it spans."""
        if state != self.state and self.state in (DOWN, REPAIR):
            self._spread(self.since, self.env.now)
        super().set(state)

    def close(self) -> list[float]:
        """The time spent in each state up to now, spreading a downtime under way over its
        buckets."""
        if self.state in (DOWN, REPAIR):
            self._spread(self.since, self.env.now)
        return super().close()

    def _spread(self, start: float, end: float) -> None:
        """Add the downtime from ``start`` to ``end`` to the buckets it overlaps."""
        assert self.down_by_bucket is not None
        buckets = self.down_by_bucket
        start = max(start, self.origin)
        k = int((start - self.origin) // self.width)
        while start < end and k < len(buckets):
            edge = min(end, self.origin + (k + 1) * self.width)
            buckets[k] += max(0.0, edge - start)
            start, k = edge, k + 1


Choice = TypeVar("Choice")


def router(destinations: list[tuple[float, Choice]], uniform: Draw | None) -> Callable[
        [], Choice]:
    """Choose a destination by the edges' probabilities (or shares)."""
    if len(destinations) == 1:
        only = destinations[0][1]
        return lambda: only
    assert uniform is not None
    cumulative = []
    total = 0.0
    for p, dest in destinations:
        total += p
        cumulative.append((total, dest))
    last = cumulative[-1][1]

    def choose() -> Choice:
        u = uniform()
        for bound, dest in cumulative:
            if u < bound:
                return dest
        return last

    return choose


class Releaser:
    """Creates parts: numbers them, stamps the release time and counts them into the WIP."""

    def __init__(self, env: simpy.Environment, wip: Level, log: Any = None) -> None:
        self.env = env
        self.wip = wip
        self.count = 0
        self.log = log
        self.labels: dict[str, str] = {}
        """The product of the parts each labelling source releases."""

    def __call__(self, source: str = "") -> Part:
        return self.admit(Part(0, 0.0), source)

    def admit(self, part: Part, source: str = "") -> Part:
        """Count ``part`` into the plant now: give it the next id, the release time, the product of
        a labelling ``source``, and log its release."""
        self.count += 1
        self.wip.add(1)
        part.id = self.count
        part.release = self.env.now
        if self.labels and source in self.labels:
            part.product = self.labels[source]
        if self.log is not None:
            self.log(part.release, source, ev.RELEASE, part)
        return part


def timed_source(env: simpy.Environment, name: str, interarrival: Draw, release: Releaser,
                 route: Callable[[], Destination]) -> Process:
    """Releases a part every ``interarrival``; parts wait, unbounded, in front of the next node."""
    timeout = env.timeout
    log = release.log
    while True:
        yield timeout(interarrival())
        dest = route()
        part = release(name)
        dest.offer(part)
        if log is not None and not isinstance(dest, LogsItself):
            log(env.now, getattr(dest, "name", ""), ev.ARRIVE, part)


def infinite_source(env: simpy.Environment, name: str, release: Releaser,
                    route: Callable[[], Destination]) -> Process:
    """Keeps what it feeds supplied; a part is released when the next node accepts it."""
    log = release.log
    while True:
        dest = route()
        part = Part(0, env.now)
        if not dest.try_put(part):
            yield dest.put(part)
        release.admit(part, name)
        if log is not None and not isinstance(dest, LogsItself):
            log(env.now, getattr(dest, "name", ""), ev.ARRIVE, part)




@dataclass
class Start:
    """A machine's warm start: the part in hand (being processed with ``remaining`` left, or
    finished and ``blocked``), its operating ``age`` (the first life is drawn by ``residual``
    conditional on it), its ``wear``, and whether it is ``down`` waiting for a technician."""

    part: Part | None = None
    remaining: float | None = None
    blocked: bool = False
    age: float = 0.0
    wear: float | None = None
    down: bool = False
    residual: Callable[[float], float] | None = None






@dataclass(frozen=True)
class Staff:
    """The operator pools a machine calls: for its setups, to load each part (taking
    ``load_time``), or for the whole process."""

    setup: OperatorPool | None = None
    load: OperatorPool | None = None
    load_time: Draw | None = None
    process: OperatorPool | None = None




def _nowhere() -> Destination:
    raise RuntimeError("the machine has no route")


class Machine(Timed, Inspecting):
    """One machine: its process, its state clock and its counters (from warmup on). Its
    concerns are units of their own: failures and maintenance (``Upkeeping``), calendars and
    failures on elapsed time (``Timed``, built on it), the quality of what it makes
    (``Inspecting``)."""

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        inbox: Channel | InfiniteSupply,
        process_time: Draw,
        warmup: Warmup,
        *,
        ttf: Draw | None = None,
        ttr: Draw | None = None,
        upkeep: Upkeep | None = None,
        pm_duration: Draw | None = None,
        crew: Crew | None = None,
        priority: int = 0,
        timeline: bool = False,
        wear: Wear | None = None,
        record_lives: bool = False,
        route: Callable[[], Destination] | None = None,
        setup: tuple[int, Draw] | None = None,
        quality: Quality | None = None,
        log: Any = None,
        by_product: dict[str, Draw] | None = None,
        changeover: dict[str, dict[str, Draw]] | None = None,
        planned: bool = False,
        initial: Start | None = None,
        modes: list[tuple[str, Draw, Draw]] | None = None,
        calendar: Calendar | None = None,
        elapsed: bool = False,
        staff: Staff | None = None,
        batch: bool = False,
    ) -> None:
        self.env = env
        self.name = name
        self.inbox = inbox
        self.process_time = process_time
        self.ttf = ttf
        self.ttr = ttr
        self.upkeep = upkeep
        """The maintenance policy governing this machine, if any."""
        self.pm_duration = pm_duration
        self.crew = crew if crew is not None else Crew(env, None)
        self.priority = priority
        self.process: simpy.Process | None = None
        self.opportunity = False
        """A maintenance is called: at once if waiting, else after the part in hand."""
        self.setup = setup
        """Changeover (duration drawn) before every batch of the given number of parts."""
        self.setups = 0
        self.route: Callable[[], Destination] = route or _nowhere
        self.waiting_on: Destination | None = None
        self.quality = quality
        """Quality steps (defects, rework, inspection) that also choose the destination."""
        self.log = log
        """The event log, when one is kept."""
        self.by_product = by_product
        """Process time draws of the products with their own at this machine."""
        self.changeover = changeover
        """Sequence-dependent setups: ``changeover[from][to]`` when the product changes."""
        self.last_product: str | None = None
        self.planned = planned
        """Parts go where their product's plan says (plants with products)."""
        self.initial = initial
        """Where a warm start puts the machine (taken when its process starts)."""
        self.modes = modes
        """Failure modes (name, time to failure, time to repair), when it has several."""
        self.mode = 0
        """The mode whose failure ends the current life."""
        self.mode_failures = [0] * len(modes or ())
        self.calendar = calendar
        """When the machine works (none: always)."""
        self.elapsed = elapsed
        """Times to failure count elapsed time, not processing time."""
        self.staff = staff
        self.batch = batch
        """Its parts come in loads processed together (a batch machine)."""
        self.generation = 0
        """Lives drawn so far: a failure timer of an earlier life is void."""
        self.failing = False
        """A failure on elapsed time has come and waits for a point where it can stop."""
        self.interruptible = False
        self.waiting: int | None = None
        """The waiting state (starved or blocked) while the machine waits, else None."""
        if calendar is not None or elapsed:
            self._wait = self._wait_timed  # type: ignore[method-assign]
        if calendar is not None:
            env.process(watch(env, calendar, self._switched))
        self.holding: Part | None = None
        """The part in hand, from when it is taken in until it is passed on."""
        self.defects_made = 0
        self.rejected = 0
        self.suspect = False
        """Set by a predictive quality policy while the predicted defect risk is high."""
        self.diverted = 0
        self.clock = StateClock(env, STARVED, timeline)
        self.wear = wear
        self.processed = 0
        self.failures = 0
        self.shocks = 0
        self.preventive = 0
        self.life_left = math.inf
        self.pm_left = math.inf
        self.age = 0.0
        """Operating time since the last renewal."""
        self.operating = 0.0
        """Operating time since the start."""
        self.path: WearPath | None = None
        self.lives: list[Life] | None = [] if record_lives else None
        self._renew(1.0, initial)
        warmup.register(self)

    def reset(self) -> None:
        """Counters and the state clock start again (at the end of the warmup)."""
        self.processed = self.failures = self.shocks = self.preventive = self.setups = 0
        self.defects_made = self.rejected = self.diverted = 0
        self.mode_failures = [0] * len(self.modes or ())
        self.clock.reset()


    def run(self) -> Process:
        """The machine's process: take a part, set up, process (interrupted by failures and
        maintenance), hand the part on; count the time in each state."""
        env = self.env
        timeout = env.timeout
        clock = self.clock
        inbox = self.inbox
        draw = self.process_time
        log = self.log
        name = self.name
        by_product = self.by_product
        changeover = self.changeover
        planned = self.planned
        setup = self.setup
        calendar = self.calendar
        staff = self.staff
        timed = calendar is not None or self.elapsed
        batch_left = 0
        first, self.initial = self.initial, None
        pending: Part | None = None
        given: float | None = None
        if first is not None:  # a warm start: down, holding a blocked part, or in the middle of one
            if first.down:
                yield from self._repair(counted=False)
            if first.part is not None and first.blocked:
                yield from self._hand_over(first.part)
            elif first.part is not None:
                pending, given = first.part, first.remaining
        while True:
            if pending is not None:
                part, pending = pending, None
            else:
                taken = inbox.try_get()
                if taken is None:
                    clock.set(STARVED)
                    taken = yield from self._wait(inbox.get(), STARVED)
                part = taken
            self.holding = part
            if self.opportunity:
                yield from self._maintain()
            if timed:
                yield from self._ready()
            if changeover is not None:
                product = part.product
                last = self.last_product
                row = changeover.get(last) if last is not None and last != product else None
                change = row.get(product) if row is not None and product is not None else None
                if change is not None:
                    crew = None
                    if staff is not None and staff.setup is not None:
                        clock.set(WAITING_OPERATOR)
                        crew = yield from staff.setup.attend(name)
                    clock.set(SETUP)
                    self.setups += 1
                    if log is not None:
                        log(env.now, name, ev.SETUP_START, part)
                    yield timeout(change())
                    if crew is not None:
                        staff.setup.release(crew)  # type: ignore[union-attr]
                    if log is not None:
                        log(env.now, name, ev.SETUP_END, part)
                self.last_product = product
            elif setup is not None:
                if batch_left == 0:
                    crew = None
                    if staff is not None and staff.setup is not None:
                        clock.set(WAITING_OPERATOR)
                        crew = yield from staff.setup.attend(name)
                    clock.set(SETUP)
                    self.setups += 1
                    if log is not None:
                        log(env.now, name, ev.SETUP_START)
                    yield timeout(setup[1]())
                    if crew is not None:
                        staff.setup.release(crew)  # type: ignore[union-attr]
                    if log is not None:
                        log(env.now, name, ev.SETUP_END)
                    batch_left = setup[0]
                batch_left -= 1
            operator = None
            if staff is not None:
                if staff.load is not None:
                    clock.set(WAITING_OPERATOR)
                    loader = yield from staff.load.attend(name)
                    clock.set(WORKING)
                    assert staff.load_time is not None
                    yield timeout(staff.load_time())
                    staff.load.release(loader)
                elif staff.process is not None:
                    clock.set(WAITING_OPERATOR)
                    operator = yield from staff.process.attend(name)
            clock.set(WORKING)
            if log is not None:
                log(env.now, name, ev.START, part)
            if given is None:
                work = draw() if by_product is None else by_product.get(part.product or "", draw)()
            else:
                work, given = given, None
            if timed:
                yield from self._work(work)
                work = 0.0
            while work >= self.life_left or work >= self.pm_left:
                step = min(self.life_left, self.pm_left)
                yield timeout(step)
                work -= step
                self.life_left -= step
                self.pm_left -= step
                self.age += step
                self.operating += step
                if self.life_left <= self.pm_left:
                    yield from self._repair()
                else:
                    yield from self._maintain()
                clock.set(WORKING)
            yield timeout(work)
            self.life_left -= work
            self.pm_left -= work
            self.age += work
            self.operating += work
            self.processed += 1
            if operator is not None:
                staff.process.release(operator)  # type: ignore[union-attr]
            if log is not None:
                log(env.now, name, ev.FINISH, part)
            if self.batch:
                self.holding = None
                yield from self._unload(part)
                continue
            if self.quality is not None:
                dest = self._finish(part)
            elif planned and part.plan is not None:
                step = part.step
                part.step = step + 1
                dest = part.plan.hops[step]
                if part.plan.lot > 1:  # transfer batches: the part waits beside the machine
                    batch = transfer_batch(part, step)
                    self.holding = None
                    if batch is not None:
                        env.process(self._carry(batch, dest))
                    continue
            else:
                dest = self.route()
            if not dest.try_put(part):
                clock.set(BLOCKED)
                self.waiting_on = dest
                if log is not None:
                    log(env.now, name, ev.BLOCKED, part)
                yield from self._wait(dest.put(part), BLOCKED)
                if log is not None:
                    log(env.now, name, ev.UNBLOCKED, part)
            if log is not None and not isinstance(dest, LogsItself):
                log(env.now, getattr(dest, "name", ""), ev.ARRIVE, part)
            self.holding = None

    def _unload(self, load: Part) -> Process:
        """Send on, one by one, the parts of a load processed together."""
        assert isinstance(load, Load)
        self.processed += len(load.members) - 1
        for part in load.members:
            self.holding = part
            dest = self._finish(part) if self.quality is not None else (
                self._next(part) if self.planned else self.route())
            if not dest.try_put(part):
                self.clock.set(BLOCKED)
                self.waiting_on = dest
                yield from self._wait(dest.put(part), BLOCKED)
            if self.log is not None and not isinstance(dest, LogsItself):
                self.log(self.env.now, getattr(dest, "name", ""), ev.ARRIVE, part)
        self.holding = None

    # -- calendars and failures on elapsed time








    def _carry(self, batch: list[Part], dest: Destination) -> Process:
        """Move a transfer batch on, part by part, waiting for room (beside the machine, which
        goes on working)."""
        for part in batch:
            if not dest.try_put(part):
                yield dest.put(part)
            if self.log is not None and not isinstance(dest, LogsItself):
                self.log(self.env.now, getattr(dest, "name", ""), ev.ARRIVE, part)

    def _hand_over(self, part: Part) -> Process:
        """Pass on a part finished before a warm start (the machine starts blocked)."""
        self.holding = part
        dest = self._finish(part) if self.quality is not None else (
            self._next(part) if self.planned else self.route())
        if not dest.try_put(part):
            self.clock.set(BLOCKED)
            self.waiting_on = dest
            yield from self._wait(dest.put(part), BLOCKED)
        self.holding = None

    def _working(self) -> tuple[float, float]:
        """(time worked, time left) of the processing step under way: read off the event the
        machine's process waits for (only a state capture asks, so the loop keeps no record)."""
        target = self.process.target if self.process is not None else None
        if self.clock.state != WORKING or not isinstance(target, simpy.Timeout):
            return 0.0, 0.0
        end = next((at for at, _, _, event in self.env._queue if event is target),
                   self.env.now)
        left = max(0.0, end - self.env.now)
        return max(0.0, target._delay - left), left

    def current_age(self) -> float:
        """Operating time since the last renewal, now (mid-part included)."""
        return self.age + self._working()[0]

    def work_left(self) -> float:
        """Process time left on the part in hand, to the end of the step under way (a failure
        or maintenance due before the part ends cuts that step short)."""
        return self._working()[1]

    def _wait(self, event: simpy.Event, state: int) -> Generator[simpy.Event, Any, Any]:
        """Wait (starved or blocked) for ``event``; an opportunity interrupts the wait for a
        maintenance, after which the wait goes on (the event may have come meanwhile)."""
        if self.opportunity:  # flagged while it worked: maintain now that it must wait
            yield from self._maintain()
            if not event.processed:
                self.clock.set(state)
        while True:
            try:
                return (yield event)
            except simpy.Interrupt:
                yield from self._maintain()
                if not event.processed:
                    self.clock.set(state)






    def _next(self, part: Part) -> Destination:
        """Where the part goes by its product's plan (by the edges once off its route)."""
        plan = part.plan
        if plan is None:
            return self.route()
        step = part.step
        part.step = step + 1
        return plan.hops[step]
