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

YEAR = {"min": 525_600.0, "minute": 525_600.0, "minutes": 525_600.0, "h": 8_760.0,
        "hour": 8_760.0, "hours": 8_760.0, "d": 365.0, "day": 365.0, "days": 365.0,
        "s": 31_536_000.0, "sec": 31_536_000.0, "second": 31_536_000.0,
        "seconds": 31_536_000.0}


def period_of(time_unit: str, horizon: float) -> tuple[float, str]:
    """The period costs are reported by: a year where the time unit says how long one is, else
    a tenth of the horizon."""
    year = YEAR.get(time_unit.strip().lower())
    if year is not None and year < horizon:
        return year, "year"
    return horizon / 10, "tenth of the horizon"


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


def cost_by_period(time_unit: str, horizon: float, times: Any, paid: Any) -> dict[str, Any]:
    """The cost ``paid`` at ``times`` per time unit in each period (a year, or a tenth of the
    horizon; the last may be shorter), with the period and its name."""
    period, label = period_of(time_unit, horizon)
    edges = np.arange(0.0, horizon + 1e-9, period)
    if edges[-1] < horizon - 1e-9:
        edges = np.append(edges, horizon)
    spent = np.histogram(times, bins=edges, weights=paid)[0] if len(times) \
        else np.zeros(len(edges) - 1)
    return {"period": period, "period_label": label,
            "cost_rate_by_period": (spent / np.diff(edges)).tolist()}


def period_costs(scenario: Any, ctx: Any) -> dict[str, Any]:
    """The maintenance cost rate per period of a policy that keeps no record of its own (a
    predictive policy does): every failure and preventive maintenance read off the state
    timelines of the machines that can fail or wear; empty where none can, where one keeps no
    timeline (only machines with sensors, or all with timelines asked for, keep one) or has
    failure modes of their own cost."""
    from twin.engine.stations import DOWN, MAINTENANCE

    costs = scenario.costs
    times: list[float] = []
    paid: list[float] = []
    watched = 0
    for name, machine in ctx.machines.items():
        spec = scenario.plant.nodes[name]
        if spec.failures is None and getattr(spec, "degradation", None) is None:
            continue
        watched += 1
        timeline = machine.clock.timeline
        if timeline is None or (machine.modes is not None and any(
                getattr(mode, "cost", None) is not None for mode in spec.failures)):
            return {}
        for time, state in timeline[1:]:
            if state in (DOWN, MAINTENANCE):
                times.append(time)
                paid.append(costs.corrective if state == DOWN else costs.preventive)
    if not watched:
        return {}
    return cost_by_period(scenario.time_unit, scenario.horizon, times, paid)


def learning_summary(learning: list[dict[str, Any]]) -> dict[str, Any]:
    """summary.json's ``learning`` section from the replications' ``learning`` records: the cost
    rate per period (mean and 95% interval over replications), when the model took over, and
    each update's prequential error (per replication, and its mean by update number)."""
    from twin.study.stats import statistic

    if not learning or not learning[0]:
        return {}
    first = learning[0]
    periods = len(first["cost_rate_by_period"])
    out: dict[str, Any] = {
        "period": first["period"], "period_label": first["period_label"],
        "cost_rate_by_period": [statistic([r["cost_rate_by_period"][k] for r in learning],
                                          bounds=(0.0, math.inf))
                                for k in range(periods)],
    }
    if "updates" in first:
        switched = [r["switched_at"] for r in learning]
        out["switched_at"] = statistic([math.nan if s is None else float(s) for s in switched])
        out["never_switched"] = sum(s is None for s in switched)
        out["updates"] = [r["updates"] for r in learning]
        out["ends"] = [r.get("ends", []) for r in learning]
        count = min(len(r["updates"]) for r in learning)
        out["error_by_update"] = [
            {"time": float(np.mean([r["updates"][k][0] for r in learning])),
             "lives_ended": float(np.mean([r["updates"][k][1] for r in learning])),
             "failures_seen": float(np.mean([r["updates"][k][2] for r in learning])),
             "error": float(np.mean(errors)) if (errors := [
                 r["updates"][k][4] for r in learning if r["updates"][k][4] is not None])
             else None}
            for k in range(count)]
    return out
