"""Training data from the twin itself: run-to-failure histories turned into windows and labels.

``histories`` simulates the scenario under reactive maintenance, so every life of a machine
with a degradation model ends in a failure (except the last, cut off by the horizon, which is
dropped), and collects the sensor readings. ``windows`` cuts each life into windows of the last
``steps`` readings of every sensor, labelled with the remaining useful life (operating time to
the failure) and whether the failure comes within ``horizon``. Lives are kept whole, so a split
by life never puts one life in both training and test sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from twin.engine.replication import simulate
from twin.engine.sensors import MemorySink
from twin.language.schema import Reactive, Scenario


@dataclass
class Windows:
    X: np.ndarray
    """(windows, steps, sensors)"""
    rul: np.ndarray
    life: np.ndarray
    """A unique id per machine life, for splitting."""
    sensors: list[str]
    wear: np.ndarray
    """True wear at the end of each window."""
    machine: np.ndarray


def histories(scenario: Scenario, replications: int | None = None) -> pd.DataFrame:
    """Sensor readings of run-to-failure lives (reactive maintenance, machines with sensors)."""
    scenario = scenario.model_copy(update={"maintenance": scenario.maintenance.model_copy(
        update={"policy": Reactive(kind="reactive")})})
    sink = MemorySink()
    for r in range(replications or scenario.replications):
        simulate(scenario, r, sensor_sink=sink)
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
        columns = [base["value"].to_numpy()]
        for other in sensors[1:]:
            part = group[group["sensor"] == other].sort_values("time")
            aligned = pd.merge_asof(base[["time"]], part[["time", "value"]], on="time",
                                    direction="backward")["value"].bfill().to_numpy()
            columns.append(aligned)
        values = np.stack(columns, axis=1)
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
    return float(np.sqrt(np.mean((np.asarray(predicted) - np.asarray(actual)) ** 2)))


def phm_score(predicted: np.ndarray, actual: np.ndarray, early: float = 13.0,
              late: float = 10.0) -> float:
    """The PHM08 score: exponential penalty, late predictions (d > 0) punished harder."""
    d = np.asarray(predicted) - np.asarray(actual)
    return float(np.sum(np.where(d < 0, np.exp(-d / early) - 1, np.exp(d / late) - 1)))
