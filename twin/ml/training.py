"""Training data from the twin itself: run-to-failure histories turned into windows and labels.

``histories`` simulates the scenario under reactive maintenance, so every life of a machine
with a degradation model ends in a failure (except the last, cut off by the horizon, which is
dropped), and collects the sensor readings. ``windows`` cuts each life into windows of the last
``steps`` readings of every sensor, labelled with the remaining useful life (operating time to
the failure) and whether the failure comes within ``horizon``. Lives are kept whole, so a split
by life never puts one life in both training and test sets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twin.engine.replication import simulate
from twin.engine.sensors import MemorySink
from twin.errors import InputError
from twin.language.policies import Reactive
from twin.language.schema import Scenario
from twin.records.windows import aligned

CYCLE_UNITS = ("cycle", "cycles")
"""Time units in which the PHM08 score means what it was made for: RUL counted in cycles."""


@dataclass
class Windows:
    """Windows of sensor readings with their labels: remaining life, wear, life id and machine."""

    X: np.ndarray
    """(windows, steps, sensors)"""
    rul: np.ndarray
    life: np.ndarray
    """A unique id per machine life, for splitting."""
    sensors: list[str]
    wear: np.ndarray
    """True wear at the end of each window."""
    machine: np.ndarray


def histories(scenario: Scenario, replications: int | None = None,
              progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Sensor readings of run-to-failure lives (reactive maintenance, machines with sensors);
    ``progress(done, total)`` after each replication."""
    scenario = scenario.model_copy(update={"maintenance": scenario.maintenance.model_copy(
        update={"policy": Reactive(kind="reactive")})})
    sink = MemorySink()
    total = replications or scenario.replications
    for r in range(total):
        simulate(scenario, r, sensor_sink=sink)
        if progress is not None:
            progress(r + 1, total)
    return sink.frame()


def windows(readings: pd.DataFrame, steps: int, stride: int = 1) -> Windows:
    """Windows of ``steps`` readings of every sensor, aligned on the first sensor's times."""
    sensors = sorted(readings["sensor"].astype(str).unique())
    xs: list[np.ndarray] = []
    wears: list[np.ndarray] = []
    machines: list[np.ndarray] = []
    ruls: list[np.ndarray] = []
    lives: list[np.ndarray] = []
    for (rep, machine, life), group in readings.groupby(
            ["replication", "machine", "life"], observed=True, sort=True):
        last_life = readings[(readings["replication"] == rep)
                             & (readings["machine"] == machine)]["life"].max()
        if life == last_life:
            continue  # censored by the horizon: its failure is not seen
        base = group[group["sensor"] == sensors[0]].sort_values("time")
        if len(base) < steps:
            continue
        others = [(part["time"].to_numpy(), part["value"].to_numpy())
                  for part in (group[group["sensor"] == other].sort_values("time")
                               for other in sensors[1:])]
        values = aligned(base["time"].to_numpy(), base["value"].to_numpy(), others)
        age = base["age"].to_numpy()
        fail_age = age.max()
        ends = np.arange(steps - 1, len(base), stride)
        index = ends[:, None] - np.arange(steps - 1, -1, -1)[None, :]
        xs.append(values[index])
        ruls.append(fail_age - age[ends])
        lives.append(np.full(len(ends), len(lives)))
        wears.append(base["wear"].to_numpy()[ends])
        machines.append(np.full(len(ends), str(machine), dtype=object))
    if not xs:
        raise ValueError("no complete life with enough readings: lengthen the horizon")
    return Windows(np.concatenate(xs), np.concatenate(ruls), np.concatenate(lives), sensors,
                   np.concatenate(wears), np.concatenate(machines))


def defect_labels(data: Windows, scenario: Scenario, seed: int = 0) -> np.ndarray:
    """Whether a part finished at the end of each window is defective: drawn from the machine's
    defect model at the window's true wear (``probability + per_wear * wear``)."""
    rng = np.random.default_rng(seed)
    p = np.zeros(len(data.wear))
    for name in np.unique(data.machine):
        spec = scenario.plant.nodes[str(name)]
        defects = getattr(spec, "defects", None)
        if defects is None:
            raise ValueError(f"machine {name!r} has no defect model to label")
        mine = data.machine == name
        p[mine] = defects.probability + defects.per_wear * data.wear[mine]
    return (rng.random(len(p)) < np.clip(p, 0, 1)).astype(int)


def split_by_life(data: Windows, test_share: float = 0.25, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, test) that keep each life on one side."""
    lives = np.unique(data.life)
    rng = np.random.default_rng(seed)
    test_lives = rng.choice(lives, size=max(1, int(round(test_share * len(lives)))),
                            replace=False)
    test = np.isin(data.life, test_lives)
    return ~test, test


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Root mean squared error of ``predicted`` against ``actual``."""
    return float(np.sqrt(np.mean((np.asarray(predicted) - np.asarray(actual)) ** 2)))


def phm_score(predicted: np.ndarray, actual: np.ndarray, early: float = 13.0,
              late: float = 10.0) -> float:
    """The PHM08 score: exponential penalty, late predictions (d > 0) punished harder. Its
    constants (13 and 10) are in cycles: on RUL counted in other units (minutes of a press's
    life run to thousands) the penalty overflows to meaningless numbers, so ``train`` gives it
    only where the scenario's time unit is a cycle."""
    d = np.asarray(predicted) - np.asarray(actual)
    return float(np.sum(np.where(d < 0, np.exp(-d / early) - 1, np.exp(d / late) - 1)))


# --------------------------------------------------------------------------- training


def watched_machines(scenario: Scenario) -> list[str]:
    """Machines with both a degradation model and sensors: those there is data to learn from."""
    from twin.engine.sensors import has_readings

    return [n for n, s in scenario.plant.nodes.items()
            if has_readings(s) and getattr(s, "degradation", None)]


def check_training(scenario: Scenario, predictor_task: str, task: str,
                   source: str = "scenario") -> list[str]:
    """The machines to learn from; an InputError (before anything runs) where the scenario
    cannot give the labels the task needs."""
    watched = watched_machines(scenario)
    if not watched:
        raise InputError(source, [(("plant", "nodes"), "no machine has both a degradation model "
                                   "and sensors to learn from", None)])
    if task not in ("failure", "defect"):
        raise InputError("--task", [((), f"unknown task {task!r} (failure or defect)", None)])
    if task == "defect":
        if predictor_task == "rul":
            raise InputError("--task", [((), "--task defect needs a risk predictor (such as "
                                              "logistic); this one predicts remaining life",
                                         None)])
        missing = [n for n in watched if getattr(scenario.plant.nodes[n], "defects", None) is None]
        if missing:
            raise InputError(source, [(("plant", "nodes", name), (
                f"machine {name!r} has no defects model to label defect risk from: give it "
                "`defects: {probability: ..., per_wear: ...}` or train with --task failure"),
                None) for name in missing])
    return watched


@dataclass
class TrainResult:
    """A fitted predictor with its held-out metrics."""

    predictor: Any
    name: str
    metrics: dict[str, Any]
    metadata: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    """What the metrics leave out, and why."""

    def save(self, out: str | Path) -> Path:
        """``out/model.json`` (with ``model.npz``) and ``out/metrics.json``; the model's path."""
        from twin.ml.predictor import save_predictor
        from twin.records.output import write_json

        out = Path(out)
        save_predictor(self.predictor, self.name, out / "model", self.metadata)
        write_json(out / "metrics.json", self.metrics)
        return out / "model.json"


def train(
    scenario: Scenario,
    predictor: str,
    *,
    steps: int = 30,
    stride: int = 5,
    label_horizon: float = 200.0,
    task: str = "failure",
    allow_imports: bool = False,
    progress: Callable[[int, int], None] | None = None,
    stage: Callable[[str], None] | None = None,
    source: str = "scenario",
    coverage: float | None = None,
    calibration_share: float = 0.25,
    conformal: str | None = None,
) -> TrainResult:
    """Simulate run-to-failure histories of ``scenario``, cut them into windows, split by life,
    fit the predictor called ``predictor`` and measure it on the held-out lives.
    ``progress(done, total)`` follows the simulated replications, ``stage(text)`` the steps;
    ``source`` names the scenario in messages (its file). With ``coverage`` (an RUL model) a
    share ``calibration_share`` of the training lives is kept out of the fit to calibrate
    conformal prediction intervals (``twin.ml.conformal``; ``conformal``: the score, by
    default ``relative``, or ``cqr`` for a quantile model), measured on the held-out lives."""
    from twin.ml.registry import create

    model = create(predictor, allow_imports=allow_imports)
    check_training(scenario, model.task, task, source)
    if coverage is not None and model.task != "rul":
        raise InputError("--coverage", [((), f"{predictor} predicts a risk: prediction "
                                              "intervals are for remaining-life models", None)])
    say = stage or (lambda _text: None)
    say(f"simulating {scenario.replications} run-to-failure histories of "
        f"{', '.join(watched_machines(scenario))}")
    data = windows(histories(scenario, progress=progress), steps=steps, stride=stride)
    train_mask, test = split_by_life(data, seed=scenario.seed)
    calibrated: dict[str, Any] | None = None
    metrics: dict[str, Any] = {"windows": int(len(data.rul)),
                               "train_lives": int(len(set(data.life[train_mask]))),
                               "test_lives": int(len(set(data.life[test])))}
    notes: list[str] = []
    say(f"fitting {predictor} on {int(train_mask.sum()):,} windows "
        f"({metrics['train_lives']} lives)")
    if model.task == "rul":
        calibration_mask = np.zeros_like(train_mask)
        if coverage is not None:
            from twin.ml.conformal import prepare

            model, train_mask, calibration_mask = prepare(model, coverage, data.life,
                                                          train_mask, calibration_share,
                                                          scenario.seed)
            metrics["train_lives"] = int(len(set(data.life[train_mask])))
        model.fit(data.X[train_mask], data.rul[train_mask])
        predicted = model.predict(data.X[test])
        metrics.update(rul_rmse=rmse(predicted, data.rul[test]),
                       constant_rmse=rmse(np.full(test.sum(), data.rul[train_mask].mean()),
                                          data.rul[test]))
        if scenario.time_unit.strip().lower() in CYCLE_UNITS:
            metrics["phm_score"] = phm_score(predicted, data.rul[test])
        else:
            notes.append(f"PHM08 score left out: its penalty, exp(error/10) for late "
                         f"predictions, is made for RUL in cycles, and this scenario counts "
                         f"{scenario.time_unit} (give time_unit: cycle to have it)")
        if coverage is not None:
            from twin.ml.conformal import calibrate, interval_metrics, relative_scale

            calibration = calibrate(model, data.X[calibration_mask], data.rul[calibration_mask],
                                    data.life[calibration_mask], coverage, conformal,
                                    relative_scale(data.rul[train_mask]))
            metrics.update(interval_metrics(model, calibration, data.X[test], data.rul[test],
                                            data.life[test]))
            calibrated = calibration.to_json()
    else:
        if task == "defect":
            y = defect_labels(data, scenario, seed=scenario.seed)
        else:
            y = (data.rul <= label_horizon).astype(int)
        model.fit(data.X[train_mask], y[train_mask])
        alarm = model.predict(data.X[test]) >= 0.5
        truth = y[test] == 1
        tp = int((alarm & truth).sum())
        metrics.update(precision=tp / max(int(alarm.sum()), 1),
                       recall=tp / max(int(truth.sum()), 1),
                       mean_alarm_lead=float(data.rul[test][alarm & truth].mean())
                       if tp and task == "failure" else None)
    metadata = {"scenario": scenario.name, "sensors": data.sensors, "steps": steps,
                "stride": stride, "label_horizon": label_horizon,
                "task": model.task if model.task == "rul" else task,
                "time_unit": scenario.time_unit, "metrics": metrics}
    if calibrated is not None:
        metadata["conformal"] = calibrated
    return TrainResult(model, predictor, metrics, metadata, notes)
