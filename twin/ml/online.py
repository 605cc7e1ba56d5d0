"""Learning in the loop: a predictive policy's model fitted from the lives the twin has seen.

``Learner`` collects each watched machine's sensor readings as the decision epochs bring them
in, and when a life ends (a failure, or a maintenance) cuts it into windows labelled with what
is known at that moment: the remaining life to the failure, or, for a maintained life, only the
windows whose remaining life is known to reach the ``horizon`` (labelled with it, the RUL cap;
for a risk model, 0). Nothing is ever labelled with what happens after the moment of the update
(no look-ahead). After ``warm_up`` lives it fits the predictor; every ``every`` lives more it
first scores the new windows with the current model (the prequential, test-then-train error)
and then updates it (``partial_fit`` where the predictor has it, else a refit on everything
seen). Everything is per replication and seeded, so the numbers do not depend on the workers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.ml.predictor import Predictor

if TYPE_CHECKING:
    from twin.engine.sensors import SensorStream
    from twin.engine.stations import Machine
    from twin.language.policies import Learn

@dataclass
class LifeRecord:
    """The readings of one machine's current life so far: per sensor, times, values, ages."""

    times: dict[str, list[np.ndarray]] = field(default_factory=dict)
    values: dict[str, list[np.ndarray]] = field(default_factory=dict)
    ages: list[np.ndarray] = field(default_factory=list)


class Learner:
    """The model of a learning predictive policy and what it has learned from."""

    def __init__(self, spec: Learn, streams: dict[str, SensorStream],
                 start: Predictor | None) -> None:
        from twin.ml.registry import create

        self.spec = spec
        self.streams = streams
        self.fresh = create(spec.predictor, **spec.params)
        self.model = start
        self.task = (start or self.fresh).task
        self.partial = hasattr(self.fresh, "partial_fit")
        self.block = {name: 0 for name in streams}
        self.life = {name: 0 for name in streams}
        self.current = {name: LifeRecord() for name in streams}
        self.X: list[np.ndarray] = []
        self.y: list[np.ndarray] = []
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []
        self.ended = 0
        self.failures = 0
        self.updates: list[list[float]] = []
        """[time, lives ended, failures seen, windows learned from, prequential error]"""
        self.switched_at: float | None = None if start is None else 0.0
        self.ends: list[list[float]] = []
        """Per life ended: [its end, 1 if it failed else 0]."""

    # ------------------------------------------------------------------ readings

    def collect(self, name: str) -> None:
        """Take the readings the stream has emitted since the last call."""
        stream = self.streams[name]
        first = self.block[name] - stream.dropped  # a writer may have taken some off the front
        if first < 0:
            raise RuntimeError(f"readings of {name} were written before they were learned from")
        blocks = stream.blocks[first:]
        self.block[name] = stream.dropped + len(stream.blocks)
        for table in blocks:
            sensor = str(table.column("sensor")[0]) if table.num_rows else None
            if sensor is None:
                continue
            life = table.column("life").to_numpy()
            times = table.column("time").to_numpy()
            values = table.column("value").to_numpy()
            ages = table.column("age").to_numpy()
            for number in np.unique(life):
                mine = life == number
                if number > self.life[name]:  # readings of a life not yet closed: a new one
                    self.life[name] = int(number)
                    self.current[name] = LifeRecord()
                record = self.current[name]
                record.times.setdefault(sensor, []).append(times[mine])
                record.values.setdefault(sensor, []).append(values[mine])
                if sensor == next(iter(stream.sensors)):
                    record.ages.append(ages[mine])

    # ------------------------------------------------------------------ outcomes

    def ended_life(self, machine: Machine, now: float, age: float, failed: bool) -> bool:
        """Machine ``machine``'s current life ended at operating ``age`` (by a failure or a
        maintenance) at time ``now``: learn its windows; True when the model was updated."""
        name = machine.name
        stream = self.streams[name]
        stream.advance(now)
        self.collect(name)
        record = self.current[name]
        self.current[name] = LifeRecord()
        self.life[name] += 1
        return self.learn(now, list(stream.sensors), record, age, failed)

    def learn(self, now: float, sensors: list[str], record: LifeRecord, age: float,
              failed: bool) -> bool:
        """A life whose readings are ``record`` (of ``sensors``, the first one's ages in
        ``record.ages``) ended at time ``now`` at operating ``age``: learn its windows when an
        update is due; True when the model was updated."""
        self.ended += 1
        self.failures += int(failed)
        self.ends.append([now, float(failed)])
        windows = self._windows(sensors, record, age, failed)
        if windows is not None:
            self.pending.append(windows)
        spec = self.spec
        due = self.ended >= spec.warm_up and (self.ended - spec.warm_up) % spec.every == 0
        if not due or not self.pending:
            return False
        X = np.concatenate([w[0] for w in self.pending])
        y = np.concatenate([w[1] for w in self.pending])
        self.pending = []
        error = math.nan
        if self.model is not None and len(y):
            predicted = self.model.predict(X)
            error = float(np.sqrt(np.mean((predicted - y) ** 2)))
        self.X.append(X)
        self.y.append(y)
        all_y = np.concatenate(self.y)
        if self.task != "rul" and len(np.unique(all_y)) < 2:
            self.updates.append([now, self.ended, self.failures, len(all_y), error])
            return False  # one class only so far: nothing to tell apart yet
        if self.model is not None and self.partial:
            self.model.partial_fit(X, y)
        else:
            from sklearn.base import clone

            self.model = clone(self.fresh).fit(np.concatenate(self.X), all_y)
        if self.switched_at is None:
            self.switched_at = now
        self.updates.append([now, self.ended, self.failures, len(all_y), error])
        return True

    def _windows(self, sensors: list[str], record: LifeRecord, end_age: float, failed: bool
                 ) -> tuple[np.ndarray, np.ndarray] | None:
        spec = self.spec
        steps, stride, horizon = spec.steps, spec.stride, spec.horizon
        base = sensors[0]
        if base not in record.times:
            return None
        times = np.concatenate(record.times[base])
        if len(times) < steps:
            return None
        ages = np.concatenate(record.ages)
        columns = [np.concatenate(record.values[base])]
        for other in sensors[1:]:
            if other not in record.times:
                return None
            t = np.concatenate(record.times[other])
            v = np.concatenate(record.values[other])
            idx = np.clip(np.searchsorted(t, times, side="right") - 1, 0, len(t) - 1)
            columns.append(v[idx])
        values = np.stack(columns, axis=1)
        ends = np.arange(steps - 1, len(times), stride)
        left = end_age - ages[ends]
        if self.task == "rul":
            if failed:
                keep = np.ones(len(ends), dtype=bool)
                label = left if horizon is None else np.minimum(left, horizon)
            else:
                keep = left >= horizon if horizon is not None else np.zeros(len(ends), bool)
                label = np.full(len(ends), float(horizon or 0.0))
        else:
            assert horizon is not None
            keep = np.ones(len(ends), dtype=bool) if failed else left >= horizon
            label = ((left <= horizon) & failed).astype(float)
        ends, label = ends[keep], label[keep]
        if not len(ends):
            return None
        index = ends[:, None] - np.arange(steps - 1, -1, -1)[None, :]
        return values[index], label

    def report(self) -> dict[str, Any]:
        """JSON data: when the model took over, each update (no error: null), and each life's
        end (time, whether it failed)."""
        return {"switched_at": self.switched_at,
                "updates": [[None if isinstance(v, float) and math.isnan(v) else v for v in u]
                            for u in self.updates],
                "ends": self.ends}


def start_learner(policy: Any, model: Predictor | None, streams: dict[str, SensorStream]
                  ) -> Learner | None:
    """The learner of a policy that learns in the loop (``learn``), None for one that does not;
    it starts from a copy of ``model`` where one is given (a saved model is cached, shared in
    the process)."""
    if getattr(policy, "learn", None) is None:
        return None
    start = None
    if model is not None:
        from sklearn.base import clone

        start = clone(model).set_state(model.get_state())
    return Learner(policy.learn, streams, start)
