"""Predictive maintenance in the loop: decision epochs that score sensor windows in one batch.

Every ``every`` of calendar time the sensor streams of the watched machines are advanced to now,
each machine's latest window is taken (machines without a full window in their current life are
skipped), the predictor scores them all in one call, and a maintenance is called for each machine
whose prediction crosses the threshold. The counts feed the online metrics in summary.json.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from twin.engine.stations import DOWN, MAINTENANCE, REPAIR
from twin.errors import InputError
from twin.ml.predictor import load_predictor

if TYPE_CHECKING:
    from twin.engine.sensors import SensorStream
    from twin.engine.stations import Machine
    from twin.language.schema import Predictive, PredictiveQuality

_CACHE: dict[tuple[str, int], tuple[Any, dict[str, Any]]] = {}


def cached_predictor(path: str) -> tuple[Any, dict[str, Any]]:
    """A saved predictor, loaded once per process and version of its files (it is only read).
    The scenario's validation has already checked that the files exist."""
    file = Path(path)
    key = (str(file.resolve()), file.with_suffix(".npz").stat().st_mtime_ns)
    if key not in _CACHE:
        _CACHE[key] = load_predictor(file)
    return _CACHE[key]


class EpochScorer:
    """Scores the watched machines' latest sensor windows with one saved model, in one batch
    per decision epoch; subclasses act on the scores."""

    def __init__(self, env: simpy.Environment, policy: Predictive | PredictiveQuality,
                 machines: dict[str, Machine], streams: dict[str, SensorStream]) -> None:
        self.env = env
        self.policy = policy
        self.machines = machines
        self.streams = streams
        self.predictor, meta = cached_predictor(policy.model)
        self.steps = int(meta["metadata"].get("steps", 30))
        sensors = meta["metadata"].get("sensors")
        for name, stream in streams.items():
            if sensors is not None and list(stream.sensors) != list(sensors):
                raise InputError(policy.model, [((), f"the model reads sensors {sensors}, "
                                                     f"machine {name!r} has "
                                                     f"{list(stream.sensors)}", None)])
            stream.keep = max(stream.keep, self.steps * 50)
        self.epochs = 0
        self.scored = 0

    def skip(self, machine: Machine) -> bool:
        return False

    def act(self, name: str, score: float | None) -> None:
        raise NotImplementedError

    def run(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        while True:
            yield env.timeout(self.policy.every)
            names, batch = [], []
            for name, stream in self.streams.items():
                if self.skip(self.machines[name]):
                    continue
                stream.advance(env.now)
                window = stream.window(self.steps)
                if window is None:
                    self.act(name, None)
                else:
                    names.append(name)
                    batch.append(window)
            self.epochs += 1
            if batch:
                scores = self.predictor.predict(np.stack(batch))
                self.scored += len(batch)
                for name, value in zip(names, scores, strict=True):
                    self.act(name, float(value))


class DecisionMaker(EpochScorer):
    """Predictive maintenance: call a maintenance where the predicted RUL is at most the
    threshold (or the predicted failure risk at least the threshold)."""

    def __init__(self, env: simpy.Environment, policy: Predictive,
                 machines: dict[str, Machine], streams: dict[str, SensorStream]) -> None:
        super().__init__(env, policy, machines, streams)
        self.rul = self.predictor.task == "rul"
        self.alarms = {name: 0 for name in machines}

    def skip(self, machine: Machine) -> bool:
        return machine.clock.state in (DOWN, REPAIR, MAINTENANCE) or machine.opportunity

    def act(self, name: str, score: float | None) -> None:
        if score is None:
            return
        threshold = self.policy.threshold
        if (score <= threshold) if self.rul else (score >= threshold):
            self.alarms[name] += 1
            self.machines[name].call_maintenance()


class QualityWatch(EpochScorer):
    """Predictive quality: mark the machines whose predicted defect risk is at least the
    threshold as suspect (their parts then take the ``when: suspect`` edge, to inspection)
    until the next epoch."""

    def act(self, name: str, score: float | None) -> None:
        self.machines[name].suspect = score is not None and score >= self.policy.threshold
