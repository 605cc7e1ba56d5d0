"""How long a study will take, from a short pilot: said before a long run starts.

A horizon of 1e12 runs for years without a word; ``run_time_note`` simulates replication 0 for a
fraction of a second (``PILOT_SECONDS``), measures the plant time simulated per second of wall
time, and scales it to every replication of the study on the workers it has. When the estimate
exceeds ``NOTE_ABOVE`` seconds it returns a line saying so (and how to shorten it).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

from twin.language.schema import Scenario

PILOT_SECONDS = float(os.environ.get("TWIN_PILOT_SECONDS", "0.2"))
"""Wall-clock time the pilot simulates for (at most)."""
NOTE_ABOVE = 60.0
"""Estimates of more seconds than this are said."""


@dataclass(frozen=True)
class Estimate:
    """The pilot's measure and what it implies for the study."""

    plant_time: float
    """Plant time the pilot simulated."""
    wall: float
    """Its wall-clock seconds."""
    seconds: float
    """Expected wall-clock seconds of the whole study."""


def estimate_run_time(scenario: Scenario, runs: int, workers: int,
                      budget: float = PILOT_SECONDS) -> Estimate:
    """Simulate replication 0 for about ``budget`` seconds (or to its horizon) and scale the
    rate to ``runs`` replications of the horizon on ``workers`` processes."""
    from twin.engine.replication import build

    ctx = build(scenario, 0)
    env = ctx.env
    horizon = scenario.horizon
    started = time.perf_counter()
    wall = 0.0
    done = False
    while not done and wall < budget:  # event by event, the clock read every 200 events
        for _ in range(200):
            if env.peek() > horizon:
                done = True
                break
            env.step()
        wall = time.perf_counter() - started
    plant = horizon if done else float(env.now)
    if plant <= 0:
        return Estimate(plant, wall, math.inf)
    per_replication = wall * horizon / plant
    parallel = max(1, min(workers, runs))
    return Estimate(plant, wall, per_replication * math.ceil(runs / parallel))


def duration_text(seconds: float) -> str:
    """``0:05:00``, ``3.2 days``, ``1.1e+04 years``."""
    if not math.isfinite(seconds):
        return "for ever"
    if seconds < 86400:
        s = int(round(seconds))
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    days = seconds / 86400
    if days < 365:
        return f"{days:,.1f} days"
    years = days / 365.25
    return f"{years:,.1f} years" if years < 1e6 else f"{years:.1e} years"


def run_time_note(scenario: Scenario, runs: int, workers: int | None,
                  budget: float = PILOT_SECONDS) -> str | None:
    """A line saying how long the study is expected to take, when that exceeds
    ``NOTE_ABOVE`` seconds; None otherwise. ``workers``: the processes replications run on
    (None: one per CPU core)."""
    workers = workers or os.cpu_count() or 1
    try:
        est = estimate_run_time(scenario, runs, workers, budget)
    except Exception:  # noqa: BLE001 - advice only: the study itself reports its errors
        return None
    if est.seconds <= NOTE_ABOVE:
        return None
    rate = est.plant_time / est.wall if est.wall > 0 else math.inf
    return (f"note: expected run time about {duration_text(est.seconds)} ({runs} "
            f"replication{'s' if runs != 1 else ''} of horizon {scenario.horizon:g} "
            f"{scenario.time_unit} on {min(workers, runs)} "
            f"worker{'s' if min(workers, runs) != 1 else ''}; a pilot simulated "
            f"{rate:,.4g} {scenario.time_unit} a second); a shorter --horizon or fewer "
            "--replications take less (Ctrl-C stops, keeping the replications done)")
