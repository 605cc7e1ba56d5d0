"""Predictive alarms on live sensor windows.

Where the scenario's maintenance policy is predictive with a saved model
(``{kind: predictive, model: ..., threshold: ..., every: ...}``), the live twin scores the
watched machines (those with a degradation model and sensors) the way the engine's decision
epochs do (``twin.ml.decisions.Scoring``): at every multiple of ``every`` of plant time, the
latest ``steps`` readings of each sensor in the machine's current life, aligned on the first
sensor's times, in one batch. A machine that is down, in repair or in maintenance then is not
scored. A remaining life at most the threshold (or a risk at least it) raises an alarm, once
per life.

The plant's messages say all the twin needs: its lives start at ``repair_end`` and ``pm_end``
events, it is off from ``fail`` and ``pm_start`` until then, and each topic's ``clock`` says up
to when it has published. An epoch is scored only once the events and the machine's readings
have both reached it, so the scores do not depend on how the messages of different topics
interleave, nor on how much plant time one message covers (the readings are kept until every
epoch they fall in is scored). Failures are kept too, to tell how many an alarm came before
(``warned``).

A policy that learns in the loop (``learn: {...}``, with or without a starting model) learns
from the plant's lives as the engine's does (``twin.ml.online``): a life ends at a ``fail``
(failed) or a ``pm_end`` (maintained) of a watched machine, and once the events and every
watched machine's readings have reached its end, its windows are cut from the readings of that
life, labelled with the remaining operating life (from the readings' ``age``; the age at the
end is the last reading's plus the time from it to the failure or the maintenance's start),
and the model is updated when due. Epochs and life ends are taken in time order, so each epoch
is scored by the model learned from the lives that had ended before it, whatever the messages'
interleaving. Until the first update (with no starting model) nothing is scored. A machine
whose readings lag the events and have not come for ``STALL_SECONDS`` of wall time (a sensor
gone quiet) stops holding the others back: its lives that end meanwhile are learned from the
readings that came, and its epochs wait for its readings.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from time import monotonic
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.records import events as ev
from twin.records.events import STOPS
from twin.records.windows import aligned

if TYPE_CHECKING:
    from pathlib import Path

    from twin.language.schema import Scenario
    from twin.ml.online import Learner

STALL_SECONDS = 60.0
"""A watched machine whose readings lag the events and from which no readings have come for
this long (wall time) no longer holds back the learning (and the scoring) of the others."""
RENEWALS = (ev.REPAIR_END, ev.PM_END)
"""The events that renew a machine."""


def window(readings: dict[str, tuple[np.ndarray, np.ndarray]], sensors: list[str],
           start: float, end: float, steps: int) -> np.ndarray | None:
    """The last ``steps`` readings of every sensor taken from ``start`` (the life's start) to
    ``end``, aligned on the first sensor's times (each other sensor's latest reading at or
    before them), as ``SensorStream.window`` builds them; None if there are too few."""
    if sensors[0] not in readings:
        return None
    times, values = readings[sensors[0]]
    lo, hi = np.searchsorted(times, start, "left"), np.searchsorted(times, end, "right")
    if hi - lo < steps:
        return None
    others = []
    for other in sensors[1:]:
        if other not in readings:
            return None
        t, v = readings[other]
        a, b = np.searchsorted(t, start, "left"), np.searchsorted(t, end, "right")
        if b <= a:
            return None
        others.append((t[a:b], v[a:b]))
    return aligned(times[hi - steps:hi], values[hi - steps:hi], others)


@dataclass
class Track:
    """What the plant's messages said about one watched machine."""

    sensors: list[str]
    next_epoch: float
    readings_clock: float = -math.inf
    heard: float = 0.0
    """When (wall time) its readings last came."""
    changes: list[tuple[float, int, bool]] = field(default_factory=list)
    """(time, order received, off after it) at each stop or renewal, in time order."""
    renewals: list[float] = field(default_factory=list)
    failures: list[float] = field(default_factory=list)
    alarmed: dict[float, float] = field(default_factory=dict)
    """Life start -> time of the alarm raised in that life."""
    latest: tuple[float, float] | None = None

    def state_at(self, time: float) -> tuple[bool, float]:
        """Whether the machine is off at ``time``, and when its life then began."""
        k = bisect.bisect_right(self.changes, (time, math.inf, True))
        off = self.changes[k - 1][2] if k else False
        r = bisect.bisect_right(self.renewals, time)
        return off, self.renewals[r - 1] if r else -math.inf


class PredictiveAlarms:
    """The live scoring of the scenario's predictive model; ``None`` from ``of`` where the
    scenario's policy has no saved model to score with."""

    def __init__(self, scenario: Scenario) -> None:
        from twin.engine.sensors import has_readings
        from twin.ml.decisions import Scoring

        policy: Any = scenario.maintenance.policy
        watched = {name: sorted(spec.sensors)  # type: ignore[union-attr]
                   for name, spec in scenario.plant.nodes.items()
                   if getattr(spec, "degradation", None) is not None and has_readings(spec)}
        self.scoring = Scoring(policy, watched)
        self.predictor: Any = self.scoring.predictor
        self.learner: Learner | None = None
        if getattr(policy, "learn", None) is not None:
            from twin.ml.online import start_learner

            self.learner = start_learner(policy, self.predictor, {})
            self.predictor = self.learner.model  # type: ignore[union-attr]
        task = (self.predictor if self.predictor is not None
                else self.learner.fresh).task  # type: ignore[union-attr]
        self.kind = str(task)
        self.rul = self.kind == "rul"
        self.every = float(policy.every)
        self.threshold = self.scoring.threshold
        self.model = None if policy.model is None else str(policy.model)
        self.steps = self.scoring.steps
        self.clock: Callable[[], float] = monotonic
        """Wall time, to tell a machine whose sensors went quiet."""
        started = self.clock()
        self.tracks = {name: Track(sensors, self.every, heard=started)
                       for name, sensors in watched.items()}
        self.keep = self.steps * 50
        self.readings: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self.ages: dict[tuple[str, str], np.ndarray] = {}
        """The operating age at each reading (NaN where the plant did not say it)."""
        self.ends: list[tuple[float, int, str, bool]] = []
        """Life ends not yet learned from: (time, order received, machine, failed)."""
        self.learned_until = {name: -math.inf for name in watched}
        self.events_clock = -math.inf
        self.received = 0
        self.saved = 0
        """The learner's updates when its model was last saved."""
        self.scored = 0
        self.alarms: list[dict[str, Any]] = []

    @classmethod
    def of(cls, scenario: Scenario) -> PredictiveAlarms | None:
        """The predictive alarms of ``scenario``, if its maintenance policy is predictive with a
        saved model or a learner (else None)."""
        policy = scenario.maintenance.policy
        if getattr(policy, "kind", None) != "predictive" or (
                getattr(policy, "model", None) is None
                and getattr(policy, "learn", None) is None):
            return None
        return cls(scenario)

    # -- what the plant said
    def take_events(self, rows: list[tuple[Any, ...]], clock: float) -> None:
        """Take the watched machines' renewals, stops, failures and life ends from a message's event
        rows; ``clock``: the plant time the events are published up to."""
        for time, node, event, *_ in rows:
            track = self.tracks.get(node)
            if track is None or (event not in RENEWALS and event not in STOPS):
                continue
            self.received += 1
            bisect.insort(track.changes, (time, self.received, event in STOPS))
            if event in RENEWALS:
                bisect.insort(track.renewals, time)
            elif event == "fail":
                bisect.insort(track.failures, time)
            if self.learner is not None and event in ("fail", "pm_end"):
                bisect.insort(self.ends, (time, self.received, node, event == "fail"))
        self.events_clock = max(self.events_clock, clock)

    def take_readings(self, machine: str, clock: float,
                      readings: dict[str, tuple[np.ndarray, np.ndarray]],
                      ages: dict[str, np.ndarray] | None = None) -> None:
        """Keep a message's readings of ``machine`` (and their operating ages, for the learner);
        ``clock``: the plant time its readings are published up to."""
        track = self.tracks.get(machine)
        if track is None:
            return
        track.readings_clock = max(track.readings_clock, clock)
        track.heard = self.clock()
        for sensor, (times, values) in readings.items():
            old = self.readings.get((machine, sensor))
            if old is not None:
                times, values = np.concatenate([old[0], times]), np.concatenate([old[1], values])
            self.readings[(machine, sensor)] = (times, values)
            if self.learner is not None:
                age = (ages or {}).get(sensor)
                if age is None:
                    age = np.full(len(readings[sensor][0]), np.nan)
                before = self.ages.get((machine, sensor))
                self.ages[(machine, sensor)] = age if before is None \
                    else np.concatenate([before, age])

    # -- learning
    def _learn(self, name: str, end: float, failed: bool) -> None:
        """Learn from the life of ``name`` that ended at ``end`` (its readings have all come)."""
        from twin.ml.online import LifeRecord

        assert self.learner is not None
        track = self.tracks[name]
        r = bisect.bisect_left(track.renewals, end)  # a pm_end ending it renews it too
        start = track.renewals[r - 1] if r else -math.inf
        record = LifeRecord()
        for sensor in track.sensors:
            if (name, sensor) not in self.readings:
                continue
            times, values = self.readings[(name, sensor)]
            lo = np.searchsorted(times, start, "left")
            hi = np.searchsorted(times, end, "right")
            if hi <= lo:
                continue
            record.times[sensor] = [times[lo:hi]]
            record.values[sensor] = [values[lo:hi]]
            if sensor == track.sensors[0]:
                ages = self.ages[(name, sensor)][lo:hi].copy()
                since = start if math.isfinite(start) else float(times[lo])
                unknown = np.isnan(ages)
                ages[unknown] = times[lo:hi][unknown] - since
                record.ages = [ages]
        # the operating age when it stopped (failed, or went into maintenance): the last
        # reading's, plus the time from it to the stop
        first = record.times.get(track.sensors[0])
        last = float(first[0][-1]) if first else (start if math.isfinite(start) else end)
        k = bisect.bisect_left(track.changes, (last, -1, False))
        stop = next((t for t, _, off in track.changes[k:] if off and t <= end), end)
        age = (float(record.ages[0][-1]) if first else 0.0) + (stop - last)
        self.learned_until[name] = end
        if self.learner.learn(end, track.sensors, record, age, failed):
            self.predictor = self.learner.model

    # -- scoring
    def due(self) -> tuple[list[list[Any]], list[dict[str, Any]]]:
        """Score every epoch both the events and the machine's readings have reached:
        the predictions ``[time, machine, value]`` and the alarms raised (a learning policy:
        and learn from the lives ended before each)."""
        if self.learner is None:
            return self._score(math.inf)
        stalled = self.stalled()
        ready = min([self.events_clock, *(t.readings_clock for n, t in self.tracks.items()
                                          if n not in stalled)])
        predictions: list[list[Any]] = []
        raised: list[dict[str, Any]] = []
        while self.ends and self.ends[0][0] <= ready:
            end, _, name, failed = self.ends.pop(0)
            more, alarms = self._score(end)
            predictions += more
            raised += alarms
            self._learn(name, end, failed)
        more, alarms = self._score(ready)
        return predictions + more, raised + alarms

    def save_learned(self, folder: Path) -> Path | None:
        """After each update of a learning policy's model: ``folder/model.json`` (with
        ``model.npz``), as ``twin train`` saves one, for a predictive policy to load (the window
        and the sensors in its metadata, and what it learned from); its path, or None when
        there is nothing new to save."""
        learner = self.learner
        if learner is None or learner.model is None or len(learner.updates) == self.saved:
            return None
        from twin.ml.predictor import save_predictor

        self.saved = len(learner.updates)
        time, lives, failures, windows, _ = learner.updates[-1]
        sensors = next(iter(self.tracks.values())).sensors
        save_predictor(learner.model, learner.spec.predictor, folder / "model", {
            "steps": self.steps, "stride": learner.spec.stride, "sensors": sensors,
            "learned_live": {"time": time, "lives": lives, "failures": failures,
                             "windows": windows, "updates": len(learner.updates)}})
        return folder / "model.json"

    def stalled(self) -> list[str]:
        """The watched machines whose readings lag the events and have not come for
        ``STALL_SECONDS``."""
        now = self.clock()
        return sorted(n for n, t in self.tracks.items()
                      if t.readings_clock < self.events_clock
                      and now - t.heard > STALL_SECONDS)

    def _score(self, until: float) -> tuple[list[list[Any]], list[dict[str, Any]]]:
        """Score the epochs up to ``until`` the events and readings have reached."""
        batch: list[np.ndarray] = []
        keys: list[tuple[float, str, float]] = []
        readings = self.readings
        limit = min(self.events_clock, until)
        for name, track in self.tracks.items():
            mine = {s: readings[(name, s)] for s in track.sensors if (name, s) in readings}
            while track.next_epoch <= limit:
                epoch = track.next_epoch
                off, start = track.state_at(epoch)
                if not off:
                    if epoch > track.readings_clock:
                        break  # its readings up to then are still on their way
                    found = None if self.predictor is None else \
                        window(mine, track.sensors, start, epoch, self.steps)
                    if found is not None:
                        batch.append(found)
                        keys.append((epoch, name, start))
                track.next_epoch = epoch + self.every
        for (name, sensor), (times, values) in readings.items():
            # keep what the epochs not yet scored may need: everything from their start, and
            # the `keep` readings before (learning: and the lives not yet learned from)
            first = max(0, int(np.searchsorted(times, self.tracks[name].next_epoch)) - self.keep)
            if self.learner is not None:
                first = min(first, int(np.searchsorted(times, self.learned_until[name],
                                                       "right")))
            if first:
                readings[(name, sensor)] = (times[first:], values[first:])
                if (name, sensor) in self.ages:
                    self.ages[(name, sensor)] = self.ages[(name, sensor)][first:]
        if not batch:
            return [], []
        sensors = self.tracks[keys[0][1]].sensors
        scores = self.scoring.score(batch, sensors, self.predictor)
        self.scored += len(batch)
        predictions: list[list[Any]] = []
        raised: list[dict[str, Any]] = []
        for (epoch, name, start), score in sorted(zip(keys, scores.tolist(), strict=True)):
            track = self.tracks[name]
            track.latest = (epoch, score)
            predictions.append([epoch, name, score])
            if self.scoring.alarms(score, self.rul) and start not in track.alarmed:
                track.alarmed[start] = epoch
                alarm = {"time": epoch, "machine": name, "kind": self.kind, "value": score,
                         "threshold": self.threshold}
                raised.append(alarm)
        self.alarms += raised
        return predictions, raised

    def warned(self) -> dict[str, Any]:
        """The failures seen so far, and those an alarm came before (in the same life): their
        count, share and the median time from the alarm to the failure."""
        failures = warned = 0
        leads: list[float] = []
        for track in self.tracks.values():
            for time in track.failures:
                failures += 1
                _, start = track.state_at(time - 1e-9)
                alarm = track.alarmed.get(start)
                if alarm is not None and alarm < time:
                    warned += 1
                    leads.append(time - alarm)
        return {"failures": failures, "warned": warned,
                "share": warned / failures if failures else None,
                "median_lead": float(np.median(leads)) if leads else None}

    def status(self) -> dict[str, Any]:
        """The alarms' part of the status document: the model, scores, alarms, latest score per
        machine, failures warned of and, with a learner, its progress."""
        out = {"kind": self.kind, "threshold": self.threshold, "model": self.model,
               "every": self.every, "scored": self.scored, "alarms": len(self.alarms),
               "latest": {name: {"time": t.latest[0], "value": t.latest[1]}
                          for name, t in self.tracks.items() if t.latest is not None},
               **self.warned()}
        if self.learner is not None:
            learner = self.learner
            out["stalled"] = self.stalled()
            out["learning"] = {"lives_ended": learner.ended, "failures_seen": learner.failures,
                               "switched_at": learner.switched_at,
                               "updates": len(learner.updates),
                               "last_update": learner.report()["updates"][-1]
                               if learner.updates else None}
        return out
