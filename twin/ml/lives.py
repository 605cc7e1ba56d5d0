"""What a model learns of its inputs, and the windows it reads from recorded lives.

``Preprocess`` is what a model learns about its inputs besides its weights, and is saved with
it: the sensors it reads (in the file's order), those dropped for having no variation, the
operating regimes (where the settings cluster) and the normalization of each sensor in each
regime, fitted on training lives only. Scoring data with sensors missing or extra is an input
error naming them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from twin.errors import InputError
from twin.records.lives import SETTING_PREFIXES, Lives, lives_problem

# --------------------------------------------------------------------------- preprocessing


@dataclass
class Preprocess:
    """The inputs a model reads and how they are normalized (saved with the model as JSON)."""

    sensors: list[str]
    """The sensors the model reads, in this order."""
    dropped: list[str]
    """Sensors of the training data left out for having no variation."""
    settings: list[str]
    """Operating settings the regimes are found from (empty: one regime)."""
    centers: list[list[float]]
    """Regime centers in standardized settings (one per regime)."""
    settings_mean: list[float]
    settings_scale: list[float]
    mean: list[list[float]]
    """Per regime, per sensor."""
    scale: list[list[float]]
    age: list[float] = field(default_factory=list)
    """With the operating age as a last channel (``--age``): its mean and scale over the
    training readings; empty without it. The age of a reading is the time since its life's first
    reading."""

    @classmethod
    def fit(cls, lives: Lives, max_regimes: int = 10, age: bool = False) -> Preprocess:
        """Learn the preprocessing from ``lives``: drop constant sensors, find up to ``max_regimes``
        operating regimes from the settings, and the mean and scale of each sensor per regime
        (with ``age``, of the operating age too: a channel after the sensors).

        Raises InputError if every sensor is constant.
        """
        frame = lives.frame
        values = frame[lives.sensors].to_numpy(dtype=float)
        spread = values.std(axis=0)
        level = np.abs(values).mean(axis=0)
        flat = spread <= 1e-9 * np.maximum(level, 1.0)
        dropped = [s for s, f in zip(lives.sensors, flat, strict=True) if f]
        sensors = [s for s, f in zip(lives.sensors, flat, strict=True) if not f]
        if not sensors:
            raise lives_problem(lives.source, "every sensor is constant: nothing to learn from")
        settings, centers, s_mean, s_scale = _regimes(frame, lives.settings, max_regimes)
        prep = cls(sensors, dropped, settings, centers, s_mean, s_scale, [], [])
        regime = prep.regime(frame)
        data = frame[sensors].to_numpy(dtype=float)
        for k in range(max(1, len(centers))):
            mine = data[regime == k]
            prep.mean.append(mine.mean(axis=0).tolist())
            prep.scale.append(np.where(mine.std(axis=0) > 1e-12, mine.std(axis=0), 1.0).tolist())
        if age:
            ages = _ages(frame)
            prep.age = [float(ages.mean()), float(ages.std()) if ages.std() > 1e-12 else 1.0]
        return prep

    @property
    def channels(self) -> list[str]:
        """The channels of the windows a model reads: the sensors, then ``age`` if it reads the
        operating age."""
        return [*self.sensors, *(["age"] if self.age else [])]

    @property
    def columns(self) -> list[str]:
        """The columns scoring data must have."""
        return [*self.settings, *self.sensors]

    def check(self, names: list[str], source: str) -> None:
        """An InputError naming the sensors missing from ``names`` or not known to the model."""
        missing = [c for c in self.columns if c not in names]
        known = set(self.columns) | set(self.dropped)
        extra = [c for c in names if c not in known
                 and not c.lower().startswith(SETTING_PREFIXES)]
        problems = []
        if missing:
            problems.append(((), f"sensor(s) missing: {', '.join(missing)} (the model reads "
                                 f"{', '.join(self.columns)})", None))
        if extra:
            problems.append(((), f"sensor(s) the model does not know: {', '.join(extra)} "
                                 f"(it was trained on {', '.join(self.sensors)}"
                                 + (f"; dropped: {', '.join(self.dropped)}" if self.dropped
                                    else "") + ")", None))
        if problems:
            raise InputError(source, problems)

    def regime(self, frame: pd.DataFrame) -> np.ndarray:
        """The operating regime of each row of ``frame`` (all 0 with one regime)."""
        return self._regime(frame[self.settings].to_numpy(dtype=float) if self.settings
                            else np.zeros((len(frame), 0)))

    def _regime(self, settings: np.ndarray) -> np.ndarray:
        if len(self.centers) <= 1:
            return np.zeros(len(settings), dtype=int)
        s = (settings - np.array(self.settings_mean)) / np.array(self.settings_scale)
        d = ((s[:, None, :] - np.array(self.centers)[None, :, :]) ** 2).sum(axis=2)
        return np.argmin(d, axis=1)

    def transform(self, frame: pd.DataFrame, source: str = "data") -> np.ndarray:
        """Normalized readings, one row per row of ``frame``, one column per model sensor (then the
        operating age, for a model that reads it: ``channels``)."""
        names = [c for c in frame.columns if c not in ("unit", "time")]
        self.check(names, source)
        values = self._normalize(frame[names].to_numpy(dtype=float), names)
        if self.age:
            mean, scale = self.age
            values = np.column_stack([values, (_ages(frame) - mean) / scale])
        return values

    def _normalize(self, values: np.ndarray, names: list[str]) -> np.ndarray:
        where = {n: i for i, n in enumerate(names)}
        regime = self._regime(values[:, [where[c] for c in self.settings]])
        mean, scale = np.array(self.mean), np.array(self.scale)
        return (values[:, [where[c] for c in self.sensors]] - mean[regime]) / scale[regime]

    def transform_windows(self, X: np.ndarray, names: list[str]) -> np.ndarray:
        """Normalized windows from raw ones whose channels are ``names`` (checked first).

        Raises ValueError for a model that reads the operating age: raw windows do not carry it.
        """
        if self.age:
            raise ValueError("the model reads the operating age (trained with --age); sensor "
                             "windows do not carry it")
        key = tuple(names)
        if getattr(self, "_checked", None) != key:
            self.check(names, "data")
            self._checked = key
        windows, steps, _ = X.shape
        flat = self._normalize(X.reshape(windows * steps, -1), names)
        return flat.reshape(windows, steps, len(self.sensors))

    def to_json(self) -> dict[str, Any]:
        """The preprocessing as JSON-ready data."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Preprocess:
        """The preprocessing saved by ``to_json``."""
        return cls(**data)


def _ages(frame: pd.DataFrame) -> np.ndarray:
    """The operating age of each reading of ``frame``: the time since its life's first reading."""
    times = frame["time"].to_numpy(dtype=float)
    return times - frame.groupby("unit", sort=False)["time"].transform("min").to_numpy(float)


def _regimes(frame: pd.DataFrame, settings: list[str], max_regimes: int
             ) -> tuple[list[str], list[list[float]], list[float], list[float]]:
    """Operating regimes where the settings cluster: the fewest k-means clusters that leave under
    a thousandth of the settings' variance within clusters; one regime when none does (settings
    that only jitter)."""
    varying = [c for c in settings if frame[c].std() > 1e-12]
    if not varying:
        return [], [], [], []
    from sklearn.cluster import KMeans

    s = frame[varying].to_numpy(dtype=float)
    mean, scale = s.mean(axis=0), s.std(axis=0)
    z = (s - mean) / scale
    total = float(((z - z.mean(axis=0)) ** 2).sum())
    sample = z if len(z) <= 20_000 else z[np.random.default_rng(0).choice(len(z), 20_000,
                                                                           replace=False)]
    for k in range(2, max_regimes + 1):
        km = KMeans(n_clusters=k, n_init=3, random_state=0).fit(sample)
        within = float(((z - km.cluster_centers_[km.predict(z)]) ** 2).sum())
        if within < 1e-3 * total:
            order = np.lexsort(km.cluster_centers_.T[::-1])
            return (varying, km.cluster_centers_[order].tolist(), mean.tolist(),
                    scale.tolist())
    return [], [], [], []


# --------------------------------------------------------------------------- windows


@dataclass
class LifeWindows:
    """Windows cut from recorded lives (``X`` normalized), with their labels."""

    X: np.ndarray
    rul: np.ndarray
    """Remaining life (capped at ``rul_cap`` where one is given)."""
    life: np.ndarray
    """The index of each window's unit in ``units``."""
    units: list[Any]
    age: np.ndarray
    """Time since the life's start at the end of each window."""


def window_index(ends: np.ndarray, steps: int) -> np.ndarray:
    """Row indices of the windows of ``steps`` readings ending at ``ends``; a window reaching
    back before the life's first reading repeats that reading (padding)."""
    return np.maximum(ends[:, None] - np.arange(steps - 1, -1, -1)[None, :], 0)


def _too_short(lives: Lives, unit: Any, n: int, history: int) -> InputError:
    return InputError(lives.source, [(("unit",), (
        f"the life of unit {unit} has {n} readings, fewer than the {history} a window needs "
        "(give a shorter --steps, or leave the unit out)"), None)])


def life_windows(lives: Lives, prep: Preprocess, steps: int, stride: int = 1,
                 rul_cap: float | None = None, history: int | None = None) -> LifeWindows:
    """Windows of ``steps`` readings of every life, labelled with the remaining life to the
    failure (capped at ``rul_cap``: the piecewise-linear target). The first window ends at
    reading ``history`` (default ``steps``); earlier readings than the life's first are padded
    with it. A censored life gives the windows whose remaining life is known to reach the cap
    (label: the cap); without a cap it gives none. A life shorter than ``history`` is an input
    error."""
    history = steps if history is None else history
    xs, ys, lf, ages = [], [], [], []
    units: list[Any] = []
    values = prep.transform(lives.frame, lives.source)
    start = 0
    for unit, group in lives.groups():
        n = len(group)
        block = values[start:start + n]
        times = group["time"].to_numpy()
        start += n
        if n < history:
            raise _too_short(lives, unit, n, history)
        ends = np.arange(history - 1, n, stride)
        if ends[-1] != n - 1:
            ends = np.append(ends, n - 1)
        left = times[-1] - times[ends]
        if lives.failed[unit]:
            keep = np.ones(len(ends), dtype=bool)
            label = left if rul_cap is None else np.minimum(left, rul_cap)
        else:
            keep = left >= rul_cap if rul_cap is not None else np.zeros(len(ends), dtype=bool)
            label = np.full(len(ends), float(rul_cap or 0.0))
        ends, label = ends[keep], label[keep]
        if not len(ends):
            continue
        xs.append(block[window_index(ends, steps)])
        ys.append(label.astype(float))
        lf.append(np.full(len(ends), len(units)))
        ages.append(times[ends] - times[0])
        units.append(unit)
    if not xs:
        raise lives_problem(lives.source, "no life gives a labelled window (only censored lives, "
                                     "and no --rul-cap to label them)")
    return LifeWindows(np.concatenate(xs), np.concatenate(ys), np.concatenate(lf), units,
                       np.concatenate(ages))


def truncated(lives: Lives, prep: Preprocess, steps: int, seed: int, per_unit: int = 1,
              rul_cap: float | None = None, history: int | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The benchmark's test: each life (run to failure) cut at ``per_unit`` random readings,
    uniformly from reading ``history`` (default ``steps``) to the last, the window ending at the
    cut scored (padded where the life so far is shorter than the window). The cuts depend on
    ``history`` and ``seed`` only, so models with different windows are scored at the same
    ones. Returns windows, true remaining lives (capped at ``rul_cap`` where given) and the
    uncapped ones."""
    history = steps if history is None else history
    rng = np.random.default_rng(seed)
    values = prep.transform(lives.frame, lives.source)
    xs, ys = [], []
    start = 0
    for unit, group in lives.groups():
        n = len(group)
        block = values[start:start + n]
        times = group["time"].to_numpy()
        start += n
        if not lives.failed[unit]:
            continue
        if n < history:
            raise _too_short(lives, unit, n, history)
        ends = rng.integers(history - 1, n, size=per_unit)
        xs.append(block[window_index(ends, steps)])
        ys.append(times[-1] - times[ends])
    y = np.concatenate(ys)
    capped = y if rul_cap is None else np.minimum(y, rul_cap)
    return np.concatenate(xs), capped, y


def last_windows(lives: Lives, prep: Preprocess, steps: int, history: int | None = None
                 ) -> tuple[np.ndarray, list[Any]]:
    """The window ending at the last reading of every life (a published test set's truncated
    lives), padded where the life is shorter than the window; a life shorter than ``history``
    (default ``steps``) is an input error."""
    history = steps if history is None else history
    values = prep.transform(lives.frame, lives.source)
    xs, units = [], []
    start = 0
    for unit, group in lives.groups():
        n = len(group)
        block = values[start:start + n]
        start += n
        if n < history:
            raise _too_short(lives, unit, n, history)
        xs.append(block[window_index(np.array([n - 1]), steps)][0])
        units.append(unit)
    return np.stack(xs), units
