"""A machine's failures and maintenance: its lives drawn at each renewal (wear paths, times to
failure, competing modes), the repair after a failure, the maintenance a policy calls."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import simpy

from twin.engine.crew import PREVENTIVE as PREVENTIVE_JOB
from twin.engine.crew import REPAIR as REPAIR_JOB
from twin.engine.crew import Crew, job_priority
from twin.engine.health import WearPath, sample_path
from twin.engine.states import BLOCKED, DOWN, MAINTENANCE, REPAIR, STARVED
from twin.records import events as ev

if TYPE_CHECKING:
    from twin.engine.calendar import Calendar
    from twin.engine.stations import Draw, Machine, Process, Start, StateClock
    from twin.language.nodes import Degradation

@dataclass
class Wear:
    """A machine's degradation model and the random stream its paths are drawn from."""

    spec: Degradation
    rng: np.random.Generator


@dataclass
class Life:
    """One life of a machine, from a renewal: when, at which total operating time, its path."""

    start: float
    operating: float
    path: WearPath | None


class Upkeep(Protocol):
    """What a maintenance policy does for the machines it governs (``twin.engine.policies``)."""

    def next_due(self, machine: Machine) -> float:
        """At a renewal: the operating time until the next maintenance (inf: none planned)."""

    def failed(self, machine: Machine) -> None:
        """The machine has just failed (before its repair)."""

    def maintained(self, machine: Machine) -> None:
        """The machine has just been maintained."""


class Upkeeping:
    """Failures and maintenance, for ``Machine``: renewals, repairs, maintenance."""

    env: simpy.Environment
    name: str
    clock: StateClock
    crew: Crew
    log: Any
    priority: int
    process: simpy.Process | None
    calendar: Calendar | None
    elapsed: bool
    wear: Wear | None
    path: WearPath | None
    ttf: Draw | None
    ttr: Draw | None
    modes: list[tuple[str, Draw, Draw]] | None
    mode: int
    mode_failures: list[int]
    upkeep: Upkeep | None
    pm_duration: Draw | None
    lives: list[Life] | None
    age: float
    operating: float
    life_left: float
    pm_left: float
    generation: int
    failing: bool
    interruptible: bool
    opportunity: bool
    failures: int
    shocks: int
    preventive: int

    def machine(self) -> Machine:
        """This machine, as the policies see it."""
        return cast("Machine", self)


    def _renew(self, restores: float, start: Start | None = None) -> None:
        life = math.inf
        if self.wear is not None:
            initial = 0.0
            if self.path is not None:
                initial = (1.0 - restores) * float(self.path.at(self.age))
            elif start is not None and start.wear is not None:
                initial = start.wear
            self.path = sample_path(self.wear.spec, self.wear.rng, initial)
            life = self.path.fail_age
        if self.ttf is not None:
            life = min(life, self.ttf() if start is None or start.residual is None
                       else start.residual(start.age))
        elif self.modes is not None:  # competing modes: the first to come ends the life
            lives = [ttf() for _, ttf, _ in self.modes]
            self.mode = min(range(len(lives)), key=lives.__getitem__)
            life = lives[self.mode]
        self.age = 0.0
        if self.elapsed:  # the life runs out in elapsed time: a timer stops the machine
            self.generation += 1
            self.failing = False
            if life < math.inf:
                self.env.process(self._timer(self.generation, life))
            life = math.inf
        self.life_left = life
        self.pm_left = self.upkeep.next_due(self.machine()) if self.upkeep is not None else math.inf
        if start is not None and self.wear is None:  # an age-based plan counts the age lived
            self.pm_left = max(0.0, self.pm_left - start.age)
        if self.lives is not None:
            self.lives.append(Life(self.env.now, self.operating, self.path))

    def _timer(self, generation: int, life: float) -> Process:
        """The failure ending a life on elapsed time: it stops the machine at once where it
        can (working, waiting or off), else as soon as what it does (a setup, say) ends."""
        yield self.env.timeout(life)
        if generation != self.generation:
            return
        self.failing = True
        if self.interruptible and self.process is not None:
            self.interruptible = False
            self.process.interrupt("fail")

    def _repair(self, counted: bool = True) -> Process:
        if counted:
            self.failures += 1
            if self.modes is not None:
                self.mode_failures[self.mode] += 1
        if counted and self.path is not None and self.path.cause == "shock" \
                and self.age >= self.path.fail_age - 1e-9:
            self.shocks += 1
        self.clock.set(DOWN)
        log = self.log
        if log is not None:
            log(self.env.now, self.name, ev.FAIL)
        if self.upkeep is not None and counted:
            self.upkeep.failed(self.machine())
        ttr = self.ttr if self.modes is None else self.modes[self.mode][2]
        assert ttr is not None
        yield from self.crew.job(job_priority(REPAIR_JOB, self.priority), ttr(),
                                 self._repair_started)
        if log is not None:
            log(self.env.now, self.name, ev.REPAIR_END)
        self._renew(self.wear.spec.repair_restores if self.wear is not None else 1.0)

    def _repair_started(self) -> None:
        self.clock.set(REPAIR)
        if self.log is not None:
            self.log(self.env.now, self.name, ev.REPAIR_START)

    def call_maintenance(self) -> None:
        """Ask for a maintenance now: at once if the machine waits (starved or blocked), else
        after the part in hand."""
        if self.opportunity:
            return
        self.opportunity = True
        if self.clock.state in (STARVED, BLOCKED) and self.process is not None:
            if self.calendar is not None or self.elapsed:
                if not self.interruptible:
                    return
                self.interruptible = False
            self.process.interrupt("maintenance")

    def _maintain(self) -> Process:
        self.opportunity = False
        self.preventive += 1
        self.clock.set(MAINTENANCE)
        log = self.log
        if log is not None:
            log(self.env.now, self.name, ev.PM_START)
        assert self.pm_duration is not None
        yield from self.crew.job(job_priority(PREVENTIVE_JOB, self.priority),
                                 self.pm_duration())
        if log is not None:
            log(self.env.now, self.name, ev.PM_END)
        self._renew(self.wear.spec.maintenance_restores if self.wear is not None else 1.0)
        if self.upkeep is not None:
            self.upkeep.maintained(self.machine())
