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

import numpy as np
import simpy

from twin.engine.crew import PREVENTIVE as PREVENTIVE_JOB
from twin.engine.crew import REPAIR as REPAIR_JOB
from twin.engine.crew import Crew, job_priority
from twin.engine.health import WearPath, sample_path

if TYPE_CHECKING:
    from twin.language.schema import Degradation, Sensor

from twin.engine.flow import Channel, InfiniteSupply, Level, Part, Sink

WORKING, STARVED, BLOCKED, DOWN, REPAIR, MAINTENANCE, SETUP = range(7)
STATES = ("working", "starved", "blocked", "down", "repair", "maintenance", "setup")
"""Machine states. ``down``: failed, waiting for a technician; ``maintenance`` includes waiting;
``setup``: changing over between batches."""


Destination = Channel | Sink
Draw = Callable[[], float]
Process = Generator[simpy.Event, Any, None]


class StateClock:
    """Time spent in each state from ``start`` on, and optionally the timeline of changes."""

    __slots__ = ("env", "start", "state", "since", "totals", "timeline")

    def __init__(self, env: simpy.Environment, start: float, state: int, timeline: bool) -> None:
        self.env = env
        self.start = start
        self.state = state
        self.since = env.now
        self.totals = [0.0] * len(STATES)
        self.timeline: list[tuple[float, int]] | None = [(env.now, state)] if timeline else None

    def set(self, state: int) -> None:
        if state == self.state:
            return
        now = self.env.now
        if now > self.start:
            since = self.since
            self.totals[self.state] += now - (since if since > self.start else self.start)
        self.state = state
        self.since = now
        if self.timeline is not None:
            self.timeline.append((now, state))

    def close(self) -> list[float]:
        now = self.env.now
        if now > self.start:
            since = self.since
            self.totals[self.state] += now - (since if since > self.start else self.start)
        self.since = now
        return self.totals


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

    def __init__(self, env: simpy.Environment, wip: Level) -> None:
        self.env = env
        self.wip = wip
        self.count = 0

    def __call__(self) -> Part:
        return self.admit(Part(0, 0.0))

    def admit(self, part: Part) -> Part:
        self.count += 1
        self.wip.add(1)
        part.id = self.count
        part.release = self.env.now
        return part


def timed_source(env: simpy.Environment, interarrival: Draw, release: Releaser,
                 route: Callable[[], Destination]) -> Process:
    """Releases a part every ``interarrival``; parts wait, unbounded, in front of the next node."""
    timeout = env.timeout
    while True:
        yield timeout(interarrival())
        route().offer(release())


def infinite_source(env: simpy.Environment, release: Releaser,
                    route: Callable[[], Destination]) -> Process:
    """Keeps what it feeds supplied; a part is released when the next node accepts it."""
    while True:
        dest = route()
        part = Part(0, env.now)
        if not dest.try_put(part):
            yield dest.put(part)
        release.admit(part)


@dataclass
class Wear:
    """A machine's degradation model and the random stream its paths are drawn from."""

    spec: Degradation
    rng: np.random.Generator


@dataclass
class Inspection:
    """Condition-based maintenance: inspect every ``every`` of operating age; maintain when the
    indicator (wear, or ``sensor`` read with its noise) reaches ``threshold``."""

    every: float
    threshold: float
    sensor: Sensor | None
    rng: np.random.Generator

    def maintenance_age(self, path: WearPath) -> float:
        ages = np.arange(1, int(path.fail_age // self.every) + 1) * self.every
        ages = ages[ages < path.fail_age]
        if ages.size == 0:
            return math.inf
        values = path.at(ages)
        if self.sensor is not None:
            s = self.sensor
            values = s.base + s.gain * values**s.power + s.noise * self.rng.standard_normal(
                ages.size)
        hit = np.flatnonzero(values >= self.threshold)
        return float(ages[hit[0]]) if hit.size else math.inf


@dataclass
class Life:
    """One life of a machine, from a renewal: when, at which total operating time, its path."""

    start: float
    operating: float
    path: WearPath | None


def quality_step(
    machine: Machine,
    route: Callable[[], Destination],
    uniform: Draw,
    *,
    defect_probability: float = 0.0,
    per_wear: float = 0.0,
    fixes: float | None = None,
    inspection: tuple[float, float, float] | None = None,
    reject: Destination | None = None,
    suspect: Destination | None = None,
) -> Callable[[Part], Destination]:
    """The finishing step of a machine with quality features: it may make the part defective
    (more likely as it wears), fix a defective part (rework), and inspect it, sending rejected
    parts to ``reject``. Draws come from the machine's own quality stream."""

    def finish(part: Part) -> Destination:
        counting = machine.env.now >= machine.start
        if fixes is not None and part.defective and uniform() < fixes:
            part.defective = False
        if defect_probability > 0 or per_wear > 0:
            p = defect_probability
            if per_wear > 0 and machine.path is not None:
                p += per_wear * float(machine.path.at(machine.age))
            if uniform() < p:
                if not part.defective and counting:
                    machine.defects_made += 1
                part.defective = True
        if suspect is not None and machine.suspect:
            if counting:
                machine.diverted += 1
            return suspect
        if inspection is not None:
            sampling, detection, false_alarm = inspection
            if uniform() < sampling and uniform() < (
                    detection if part.defective else false_alarm):
                if counting:
                    machine.rejected += 1
                assert reject is not None
                return reject
        return route()

    return finish


class Machine:
    """One machine: its process, its state clock and its counters (from warmup on)."""

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        inbox: Channel | InfiniteSupply,
        process_time: Draw,
        start: float,
        *,
        ttf: Draw | None = None,
        ttr: Draw | None = None,
        pm_every: float | None = None,
        pm_duration: Draw | None = None,
        crew: Crew | None = None,
        priority: int = 0,
        timeline: bool = False,
        wear: Wear | None = None,
        inspection: Inspection | None = None,
        record_lives: bool = False,
    ) -> None:
        self.env = env
        self.name = name
        self.inbox = inbox
        self.process_time = process_time
        self.start = start
        self.ttf = ttf
        self.ttr = ttr
        self.pm_every = pm_every
        self.pm_duration = pm_duration
        self.crew = crew if crew is not None else Crew(env, None)
        self.priority = priority
        self.neighbours: list[Machine] = []
        """Machines this one calls for maintenance when it fails (opportunistic policy)."""
        self.process: simpy.Process | None = None
        self.window = -math.inf
        """Opportunistic window: maintained early if a neighbour fails within it of its age."""
        self.opportunity = False
        self.setup: tuple[int, Draw] | None = None
        """Changeover (duration drawn) before every batch of the given number of parts."""
        self.setups = 0
        self.route: Callable[[], Destination] = lambda: None  # type: ignore[assignment,return-value]
        self.waiting_on: Destination | None = None
        self.finish: Callable[[Part], Destination] | None = None
        """Quality steps (defects, rework, inspection) that also choose the destination."""
        self.defects_made = 0
        self.rejected = 0
        self.suspect = False
        """Set by a predictive quality policy while the predicted defect risk is high."""
        self.diverted = 0
        self.clock = StateClock(env, start, STARVED, timeline)
        self.wear = wear
        self.inspection = inspection
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
        self._renew(1.0)

    def _renew(self, restores: float) -> None:
        life = math.inf
        if self.wear is not None:
            initial = 0.0
            if self.path is not None:
                initial = (1.0 - restores) * float(self.path.at(self.age))
            self.path = sample_path(self.wear.spec, self.wear.rng, initial)
            life = self.path.fail_age
        if self.ttf is not None:
            life = min(life, self.ttf())
        self.age = 0.0
        self.life_left = life
        if self.pm_every is not None:
            self.pm_left = self.pm_every
        elif self.inspection is not None and self.path is not None:
            self.pm_left = self.inspection.maintenance_age(self.path)
        else:
            self.pm_left = math.inf
        if self.lives is not None:
            self.lives.append(Life(self.env.now, self.operating, self.path))

    def run(self) -> Process:
        env = self.env
        timeout = env.timeout
        clock = self.clock
        inbox = self.inbox
        draw = self.process_time
        start = self.start
        batch_left = 0
        while True:
            part = inbox.try_get()
            if part is None:
                clock.set(STARVED)
                part = yield from self._wait(inbox.get(), STARVED)
            if self.opportunity:
                yield from self._maintain()
            if self.setup is not None:
                if batch_left == 0:
                    clock.set(SETUP)
                    if env.now >= start:
                        self.setups += 1
                    yield timeout(self.setup[1]())
                    batch_left = self.setup[0]
                batch_left -= 1
            clock.set(WORKING)
            work = draw()
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
            if env.now >= start:
                self.processed += 1
            dest = self.route() if self.finish is None else self.finish(part)
            if not dest.try_put(part):
                clock.set(BLOCKED)
                self.waiting_on = dest
                yield from self._wait(dest.put(part), BLOCKED)

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

    def _repair(self) -> Process:
        env = self.env
        if env.now >= self.start:
            self.failures += 1
            if self.path is not None and self.path.cause == "shock" \
                    and self.age >= self.path.fail_age - 1e-9:
                self.shocks += 1
        self.clock.set(DOWN)
        for other in self.neighbours:  # opportunistic: maintain them while the line stands
            if other.pm_left <= other.window and not other.opportunity \
                    and other.clock.state not in (DOWN, REPAIR, MAINTENANCE):
                other.call_maintenance()
        assert self.ttr is not None
        yield from self.crew.job(job_priority(REPAIR_JOB, self.priority), self.ttr(),
                                 lambda: self.clock.set(REPAIR))
        self._renew(self.wear.spec.repair_restores if self.wear is not None else 1.0)

    def call_maintenance(self) -> None:
        """Ask for a maintenance now: at once if the machine waits (starved or blocked), else
        after the part in hand."""
        if self.opportunity:
            return
        self.opportunity = True
        if self.clock.state in (STARVED, BLOCKED) and self.process is not None:
            self.process.interrupt("maintenance")

    def calendar_maintenance(self, every: float) -> Process:
        """Call a maintenance every ``every`` of calendar time."""
        while True:
            yield self.env.timeout(every)
            if self.clock.state not in (DOWN, REPAIR, MAINTENANCE):
                self.call_maintenance()

    def _maintain(self) -> Process:
        env = self.env
        self.opportunity = False
        if env.now >= self.start:
            self.preventive += 1
        self.clock.set(MAINTENANCE)
        assert self.pm_duration is not None
        yield from self.crew.job(job_priority(PREVENTIVE_JOB, self.priority),
                                 self.pm_duration())
        self._renew(self.wear.spec.maintenance_restores if self.wear is not None else 1.0)
