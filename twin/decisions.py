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

from twin.errors import InputError
from twin.predictor import load_predictor

if TYPE_CHECKING:
    from twin.scenario import Predictive, PredictiveQuality
    from twin.sensors import SensorStream
    from twin.stations import Machine

_CACHE: dict[tuple[str, int], tuple[Any, dict[str, Any]]] = {}


def cached_predictor(path: str) -> tuple[Any, dict[str, Any]]:
    """A saved predictor, loaded once per process and version of its files (it is only read)."""
    file = Path(path)
    if not file.with_suffix(".json").exists():
        raise InputError(path, [(("maintenance", "policy", "model"),
                                 "no saved model here (make one with twin train)", None)])
    key = (str(file.resolve()), file.with_suffix(".npz").stat().st_mtime_ns)
    if key not in _CACHE:
        _CACHE[key] = load_predictor(file)
    return _CACHE[key]


class DecisionMaker:
    def __init__(self, env: simpy.Environment, policy: Predictive,
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
        self.rul = self.predictor.task == "rul"
        self.epochs = 0
        self.scored = 0
        self.alarms = {name: 0 for name in machines}

    def run(self) -> Generator[simpy.Event, Any, None]:
        from twin.stations import DOWN, MAINTENANCE, REPAIR

        env = self.env
        while True:
            yield env.timeout(self.policy.every)
            names, batch = [], []
            for name, stream in self.streams.items():
                machine = self.machines[name]
                if machine.clock.state in (DOWN, REPAIR, MAINTENANCE) or machine.opportunity:
                    continue
                stream.advance(env.now)
                window = stream.window(self.steps)
                if window is not None:
                    names.append(name)
                    batch.append(window)
            self.epochs += 1
            if not batch:
                continue
            predictions = self.predictor.predict(np.stack(batch))
            self.scored += len(batch)
            for name, value in zip(names, predictions, strict=True):
                due = value <= self.policy.threshold if self.rul else \
                    value >= self.policy.threshold
                if due:
                    self.alarms[name] += 1
                    self.machines[name].call_maintenance()


class QualityWatch:
    """Predictive quality: at each epoch, score the watched machines' windows with a defect
    model in one batch and mark those at or above the threshold as suspect (their parts then
    take the ``when: suspect`` edge, to inspection) until the next epoch."""

    def __init__(self, env: simpy.Environment, policy: PredictiveQuality,
                 machines: dict[str, Machine], streams: dict[str, SensorStream]) -> None:
        self.env = env
        self.policy = policy
        self.machines = machines
        self.streams = streams
        self.predictor, meta = cached_predictor(policy.model)
        self.steps = int(meta["metadata"].get("steps", 30))
        for stream in streams.values():
            stream.keep = max(stream.keep, self.steps * 50)

    def run(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        while True:
            yield env.timeout(self.policy.every)
            names, batch = [], []
            for name, stream in self.streams.items():
                stream.advance(env.now)
                window = stream.window(self.steps)
                if window is None:
                    self.machines[name].suspect = False
                else:
                    names.append(name)
                    batch.append(window)
            if batch:
                risk = self.predictor.predict(np.stack(batch))
                for name, value in zip(names, risk, strict=True):
                    self.machines[name].suspect = bool(value >= self.policy.threshold)
