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

from twin.engine.states import DOWN, MAINTENANCE, REPAIR
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


class Scoring:
    """A predictive policy's saved model, ready to score windows of machines with ``sensors``
    (per machine, in the order their windows hold them): the readings per window (``steps``),
    the normalization of a model trained on recorded lives, and the decision rule. The engine's
    decision epochs and the live twin's alarms score with it alike."""

    def __init__(self, policy: Predictive | PredictiveQuality,
                 sensors: dict[str, list[str]]) -> None:
        meta: dict[str, Any] = {"metadata": {}}
        self.predictor: Any = None
        if policy.model is not None:
            self.predictor, meta = cached_predictor(policy.model)
        learn = getattr(policy, "learn", None)
        self.steps = int(meta["metadata"].get("steps", learn.steps if learn else 30))
        self.threshold = float(policy.threshold)
        self.calibration = None
        self.coverage = getattr(policy, "coverage", None)
        if getattr(policy, "on", "point") == "lower":  # score the interval's lower bound
            from twin.ml.conformal import calibration_of

            self.calibration = calibration_of(meta["metadata"])
        expected = meta["metadata"].get("sensors")
        self.prep = None
        if "preprocess" in meta["metadata"]:  # trained on recorded lives: normalize as then
            from twin.ml.lives import Preprocess

            self.prep = Preprocess.from_json(meta["metadata"]["preprocess"])
            if self.prep.age:
                raise InputError(str(policy.model), [((), (
                    "the model reads the operating age as a channel (trained with --age): the "
                    "twin's sensor windows do not carry it; train it without --age"), None)])
            for names in sensors.values():
                self.prep.check(names, str(policy.model))
            expected = None
        for name, names in sensors.items():
            if expected is not None and names != list(expected):
                raise InputError(str(policy.model), [((), f"the model reads sensors {expected}, "
                                                     f"machine {name!r} has {names}", None)])

    def score(self, batch: list[np.ndarray], sensors: list[str], predictor: Any = None
              ) -> np.ndarray:
        """Predictions for windows (each ``(steps, sensors)``) in one call, by the saved model
        (or ``predictor``: a learning policy's latest); for a policy ``on: lower``, the lower
        bounds of the remaining life's conformal intervals."""
        X = np.stack(batch)
        if self.prep is not None:
            X = self.prep.transform_windows(X, sensors)
        model = predictor if predictor is not None else self.predictor
        if self.calibration is not None:
            from twin.ml.conformal import predict_interval

            return predict_interval(model, X, self.calibration, self.coverage)[0]
        return np.asarray(model.predict(X), dtype=float)

    def alarms(self, score: float, rul: bool) -> bool:
        """Whether ``score`` calls for a maintenance: a remaining life at most the threshold,
        or a risk at least the threshold."""
        return score <= self.threshold if rul else score >= self.threshold


class EpochScorer:
    """Scores the watched machines' latest sensor windows with one saved model, in one batch
    per decision epoch; subclasses act on the scores."""

    def __init__(self, env: simpy.Environment, policy: Predictive | PredictiveQuality,
                 machines: dict[str, Machine], streams: dict[str, SensorStream]) -> None:
        self.env = env
        self.policy = policy
        self.machines = machines
        self.streams = streams
        self.scoring = Scoring(policy, {n: list(s.sensors) for n, s in streams.items()})
        self.predictor: Any = self.scoring.predictor
        self.steps = self.scoring.steps
        for stream in streams.values():
            stream.keep = max(stream.keep, self.steps * 50)
        self.epochs = 0
        self.scored = 0

    def skip(self, machine: Machine) -> bool:
        """Whether not to score ``machine`` this epoch (none skipped here)."""
        return False

    def scored_now(self, names: list[str]) -> None:
        """The streams of ``names`` have been advanced to now."""

    def act(self, name: str, score: float | None) -> None:
        """Act on ``score`` for machine ``name`` (None: not enough readings for a window)."""
        raise NotImplementedError

    def run(self) -> Generator[simpy.Event, Any, None]:
        """The decision loop: every ``every`` time units advance the streams, score every machine's
        latest window in one batch, and act on each score."""
        env = self.env
        while True:
            yield env.timeout(self.policy.every)
            names, batch, advanced = [], [], []
            for name, stream in self.streams.items():
                if self.skip(self.machines[name]):
                    continue
                stream.advance(env.now)
                advanced.append(name)
                window = stream.window(self.steps)
                if window is None:
                    self.act(name, None)
                else:
                    names.append(name)
                    batch.append(window)
            self.epochs += 1
            self.scored_now(advanced)
            if batch and self.predictor is not None:
                scores = self.scoring.score(batch, list(self.streams[names[0]].sensors),
                                            self.predictor)
                self.scored += len(batch)
                for name, value in zip(names, scores, strict=True):
                    self.act(name, float(value))


class DecisionMaker(EpochScorer):
    """Predictive maintenance: call a maintenance where the predicted RUL is at most the
    threshold (or the predicted failure risk at least the threshold)."""

    def __init__(self, env: simpy.Environment, policy: Predictive,
                 machines: dict[str, Machine], streams: dict[str, SensorStream]) -> None:
        super().__init__(env, policy, machines, streams)
        self.learner = None
        if policy.learn is not None:
            from twin.ml.online import start_learner

            self.learner = start_learner(policy, self.predictor, streams)
            self.predictor = self.learner.model  # type: ignore[union-attr]
        model = self.predictor if self.predictor is not None else self.learner.fresh  # type: ignore[union-attr]
        self.rul = model.task == "rul"
        self.alarms = {name: 0 for name in machines}

    def scored_now(self, names: list[str]) -> None:
        """Let the online learner collect the windows of ``names`` for its next update."""
        if self.learner is not None:
            for name in names:
                self.learner.collect(name)

    def life_ended(self, machine: Machine, age: float, failed: bool) -> None:
        """A watched machine's life ended (failure or maintenance) at operating ``age``."""
        if self.learner is not None and machine.name in self.streams \
                and self.learner.ended_life(machine, self.env.now, age, failed):
            self.predictor = self.learner.model

    def skip(self, machine: Machine) -> bool:
        """Machines down, in repair, in maintenance or with a maintenance called are not scored."""
        return machine.clock.state in (DOWN, REPAIR, MAINTENANCE) or machine.opportunity

    def act(self, name: str, score: float | None) -> None:
        """Call the maintenance of machine ``name`` when its score raises an alarm."""
        if score is None:
            return
        if self.scoring.alarms(score, self.rul):
            self.alarms[name] += 1
            self.machines[name].call_maintenance()


class QualityWatch(EpochScorer):
    """Predictive quality: mark the machines whose predicted defect risk is at least the
    threshold as suspect (their parts then take the ``when: suspect`` edge, to inspection)
    until the next epoch."""

    def act(self, name: str, score: float | None) -> None:
        """Mark machine ``name`` suspect while its defect risk is at least the threshold."""
        self.machines[name].suspect = score is not None and score >= self.policy.threshold
