"""Recorded lives: run-to-failure (or censored) sensor histories read from data files.

A lives file holds one row per reading of a unit (a machine, an engine): the unit, the time (or
cycle) of the reading, one column per sensor, optionally the operating settings and whether the
life ended in a failure. Two formats:

- ``long``: Parquet or CSV with a ``unit`` column, ``time`` (or ``cycle``), optional ``failed``
  (1 where the life ended in failure; without it every life did), settings in columns named
  ``setting...`` or ``op_setting...``, and every other column a sensor;
- ``cmapss``: NASA's C-MAPSS text files as published (space-separated: unit, cycle, three
  operating settings, 21 sensors ``s1`` .. ``s21``), every life run to failure.

``Preprocess`` is what a model learns about its inputs besides its weights, and is saved with
it: the sensors it reads (in the file's order), those dropped for having no variation, the
operating regimes (where the settings cluster) and the normalization of each sensor in each
regime, fitted on training lives only. Scoring data with sensors missing or extra is an input
error naming them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twin.errors import InputError
from twin.inputfiles import MAX_DATA_BYTES, check_input_file, read_input_text, reader_error

FORMATS = ("long", "cmapss")
CMAPSS_COLUMNS = (["unit", "cycle", "setting1", "setting2", "setting3"]
                  + [f"s{i}" for i in range(1, 22)])
SETTING_PREFIXES = ("setting", "op_setting")


@dataclass
class Lives:
    """Readings of units, sorted by unit and time; ``failed[unit]`` says whether the life ended
    in a failure (else it is censored: the unit was still running when the record ends)."""

    frame: pd.DataFrame
    sensors: list[str]
    settings: list[str]
    failed: dict[Any, bool]
    source: str

    @property
    def units(self) -> list[Any]:
        return list(self.failed)

    def subset(self, units: Any) -> Lives:
        keep = set(units)
        frame = self.frame[self.frame["unit"].isin(keep)]
        return Lives(frame, self.sensors, self.settings,
                     {u: f for u, f in self.failed.items() if u in keep}, self.source)

    def groups(self) -> list[tuple[Any, pd.DataFrame]]:
        return list(self.frame.groupby("unit", sort=False))


def _problem(source: str, message: str, line: int | None = None) -> InputError:
    return InputError(source, [((), message, line)])


def read_lives(path: str | Path, format: str = "long") -> Lives:
    """Read a lives file; an InputError (exit 2) naming the file, and the row and column where
    known, when it cannot be used."""
    path = Path(path)
    source = str(path)
    if format not in FORMATS:
        raise _problem("--format", f"unknown format {format!r} (one of: {', '.join(FORMATS)})")
    check_input_file(path, "lives file", MAX_DATA_BYTES)
    if format == "cmapss":
        try:
            raw = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, keep_default_na=False)
        except (ValueError, OSError) as exc:
            raise _problem(source, f"cannot read it as a C-MAPSS text file: {reader_error(exc)}"
                           ) from None
        if raw.shape[1] != len(CMAPSS_COLUMNS):
            raise _problem(source, f"a C-MAPSS file has {len(CMAPSS_COLUMNS)} columns (unit, "
                                   f"cycle, 3 settings, 21 sensors); this one has {raw.shape[1]}")
        raw.columns = CMAPSS_COLUMNS
        first_line = 1
    else:
        try:
            if path.suffix.lower() in (".parquet", ".pq"):
                raw = pd.read_parquet(path)
                first_line = 0
            else:
                raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
                first_line = 2  # line 1 is the header
        except (ValueError, OSError) as exc:
            raise _problem(source, f"cannot read it as Parquet or CSV: {reader_error(exc)}"
                           ) from None
        raw.columns = [str(c).strip() for c in raw.columns]
        if format == "long" and _looks_like_cmapss(raw):
            raise _problem(source, "this looks like NASA's C-MAPSS text format (26 numbers a "
                                   "line, no header): give --format cmapss")
    return _lives(raw, source, first_line)


def _looks_like_cmapss(raw: pd.DataFrame) -> bool:
    """One column whose header and cells are 26 space-separated numbers: C-MAPSS read as CSV."""
    if raw.shape[1] != 1:
        return False
    header = str(raw.columns[0]).split()
    if len(header) != len(CMAPSS_COLUMNS):
        return False
    try:
        [float(v) for v in header]
    except ValueError:
        return False
    return True


def _columns_hint(columns: list[str], wanted: tuple[str, ...]) -> str:
    """Where a wanted column is missing: how many columns the file has, and a "did you mean"
    for a header close to one wanted (not the headers themselves: the file may be anything)."""
    import difflib

    for want in wanted:
        close = difflib.get_close_matches(want, [c.lower() for c in columns], n=1, cutoff=0.75)
        if close:
            i = [c.lower() for c in columns].index(close[0])
            return f" (its column {i + 1} is close: did you mean {want!r}?)"
    return f" (it has {len(columns)} column{'s' if len(columns) != 1 else ''})"


def _lives(raw: pd.DataFrame, source: str, first_line: int) -> Lives:
    columns = list(raw.columns)
    if "unit" not in columns:
        raise _problem(source, f"no 'unit' column{_columns_hint(columns, ('unit',))}; "
                               "each row needs the unit whose life it belongs to")
    time = "time" if "time" in columns else "cycle" if "cycle" in columns else None
    if time is None:
        raise _problem(source, f"no 'time' (or 'cycle') column"
                               f"{_columns_hint(columns, ('time', 'cycle'))}: the time of "
                               "each reading")
    settings = [c for c in columns if c.lower().startswith(SETTING_PREFIXES)]
    sensors = [c for c in columns if c not in ("unit", time, "failed", *settings)]
    if not sensors:
        raise _problem(source, "no sensor columns")
    if raw.empty:
        raise _problem(source, "no readings")
    numeric = {}
    for column in [time, "failed", *settings, *sensors]:
        if column not in columns:
            continue
        values = pd.to_numeric(raw[column], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            text = raw[column].iloc[row]
            where = f"row {row + 1}"
            what = "is missing" if pd.isna(text) else "not a number"
            raise InputError(source, [((column,), f"{where}: {what}",
                                       row + first_line if first_line else None)])
        numeric[column] = values.to_numpy(dtype=float)
    units = raw["unit"]
    as_number = pd.to_numeric(units, errors="coerce")
    if not as_number.isna().any():  # unit numbers sort as numbers, not as text
        whole = np.all(np.mod(as_number.to_numpy(dtype=float), 1) == 0)
        units = as_number.astype(np.int64) if whole else as_number
    frame = pd.DataFrame({"unit": units.to_numpy(), "time": numeric[time]})
    for column in [*settings, *sensors]:
        frame[column] = numeric[column]
    failed_rows = numeric.get("failed")
    frame["_failed"] = failed_rows if failed_rows is not None else 1.0
    frame = frame.sort_values(["unit", "time"], kind="stable").reset_index(drop=True)
    failed = {u: bool(g["_failed"].max() > 0)
              for u, g in frame.groupby("unit", sort=False)}
    return Lives(frame.drop(columns="_failed"), sensors, settings, failed, source)


def read_rul(path: str | Path) -> np.ndarray:
    """A benchmark's true remaining lives of its test units, one number a line (C-MAPSS's
    ``RUL_FD00x.txt``)."""
    path = Path(path)
    text = read_input_text(path, "remaining-life file", MAX_DATA_BYTES)
    values = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values.append(float(line.split()[0]))
        except ValueError:
            raise _problem(str(path), "not a number (one number a line)", line_no) from None
    return np.array(values)


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

    @classmethod
    def fit(cls, lives: Lives, max_regimes: int = 10) -> Preprocess:
        frame = lives.frame
        values = frame[lives.sensors].to_numpy(dtype=float)
        spread = values.std(axis=0)
        level = np.abs(values).mean(axis=0)
        flat = spread <= 1e-9 * np.maximum(level, 1.0)
        dropped = [s for s, f in zip(lives.sensors, flat, strict=True) if f]
        sensors = [s for s, f in zip(lives.sensors, flat, strict=True) if not f]
        if not sensors:
            raise _problem(lives.source, "every sensor is constant: nothing to learn from")
        settings, centers, s_mean, s_scale = _regimes(frame, lives.settings, max_regimes)
        prep = cls(sensors, dropped, settings, centers, s_mean, s_scale, [], [])
        regime = prep.regime(frame)
        data = frame[sensors].to_numpy(dtype=float)
        for k in range(max(1, len(centers))):
            mine = data[regime == k]
            prep.mean.append(mine.mean(axis=0).tolist())
            prep.scale.append(np.where(mine.std(axis=0) > 1e-12, mine.std(axis=0), 1.0).tolist())
        return prep

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
        return self._regime(frame[self.settings].to_numpy(dtype=float) if self.settings
                            else np.zeros((len(frame), 0)))

    def _regime(self, settings: np.ndarray) -> np.ndarray:
        if len(self.centers) <= 1:
            return np.zeros(len(settings), dtype=int)
        s = (settings - np.array(self.settings_mean)) / np.array(self.settings_scale)
        d = ((s[:, None, :] - np.array(self.centers)[None, :, :]) ** 2).sum(axis=2)
        return np.argmin(d, axis=1)

    def transform(self, frame: pd.DataFrame, source: str = "data") -> np.ndarray:
        """Normalized readings, one row per row of ``frame``, one column per model sensor."""
        names = [c for c in frame.columns if c not in ("unit", "time")]
        self.check(names, source)
        return self._normalize(frame[names].to_numpy(dtype=float), names)

    def _normalize(self, values: np.ndarray, names: list[str]) -> np.ndarray:
        where = {n: i for i, n in enumerate(names)}
        regime = self._regime(values[:, [where[c] for c in self.settings]])
        mean, scale = np.array(self.mean), np.array(self.scale)
        return (values[:, [where[c] for c in self.sensors]] - mean[regime]) / scale[regime]

    def transform_windows(self, X: np.ndarray, names: list[str]) -> np.ndarray:
        """Normalized windows from raw ones whose channels are ``names`` (checked first)."""
        key = tuple(names)
        if getattr(self, "_checked", None) != key:
            self.check(names, "data")
            self._checked = key
        windows, steps, _ = X.shape
        flat = self._normalize(X.reshape(windows * steps, -1), names)
        return flat.reshape(windows, steps, len(self.sensors))

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Preprocess:
        return cls(**data)


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
        raise _problem(lives.source, "no life gives a labelled window (only censored lives, "
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
