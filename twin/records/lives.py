"""Recorded lives: run-to-failure (or censored) sensor histories read from data files.

A lives file holds one row per reading of a unit (a machine, an engine): the unit, the time (or
cycle) of the reading, one column per sensor, optionally the operating settings and whether the
life ended in a failure. Two formats:

- ``long``: Parquet or CSV with a ``unit`` column, ``time`` (or ``cycle``), optional ``failed``
  (1 where the life ended in failure; without it every life did), settings in columns named
  ``setting...`` or ``op_setting...``, and every other column a sensor;
- ``cmapss``: NASA's C-MAPSS text files as published (space-separated: unit, cycle, three
  operating settings, 21 sensors ``s1`` .. ``s21``), every life run to failure.

``replay`` picks the lives a replaying machine draws from (``degradation: {model: replay}``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from twin.errors import InputError

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
        """The units, in the order of the data."""
        return list(self.failed)

    def subset(self, units: Any) -> Lives:
        """The lives of ``units`` only."""
        keep = set(units)
        frame = self.frame[self.frame["unit"].isin(keep)]
        return Lives(frame, self.sensors, self.settings,
                     {u: f for u, f in self.failed.items() if u in keep}, self.source)

    def groups(self) -> list[tuple[Any, pd.DataFrame]]:
        """Each unit's readings as (unit, frame), in the order of the data."""
        return list(self.frame.groupby("unit", sort=False))


def lives_problem(source: str, message: str, line: int | None = None) -> InputError:
    return InputError(source, [((), message, line)])


def read_lives(path: str | Path, format: str = "long") -> Lives:
    """Read a lives file; an InputError (exit 2) naming the file, and the row and column where
    known, when it cannot be used."""
    path = Path(path)
    source = str(path)
    if format not in FORMATS:
        raise lives_problem("--format", f"unknown format {format!r} (one of: {', '.join(FORMATS)})")
    if not path.is_file():
        raise lives_problem(source, "no such file")
    if format == "cmapss":
        raw = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, keep_default_na=False)
        if raw.shape[1] != len(CMAPSS_COLUMNS):
            raise lives_problem(source, f"a C-MAPSS file has {len(CMAPSS_COLUMNS)} columns (unit, "
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
            raise lives_problem(source, f"cannot read it as Parquet or CSV: {exc}") from None
        raw.columns = [str(c).strip() for c in raw.columns]
    return _lives(raw, source, first_line)


def _lives(raw: pd.DataFrame, source: str, first_line: int) -> Lives:
    columns = list(raw.columns)
    if "unit" not in columns:
        raise lives_problem(source, f"no 'unit' column (the columns are: {', '.join(columns)}); "
                               "each row needs the unit whose life it belongs to")
    time = "time" if "time" in columns else "cycle" if "cycle" in columns else None
    if time is None:
        raise lives_problem(source, "no 'time' (or 'cycle') column: the time of each reading")
    settings = [c for c in columns if c.lower().startswith(SETTING_PREFIXES)]
    sensors = [c for c in columns if c not in ("unit", time, "failed", *settings)]
    if not sensors:
        raise lives_problem(source, "no sensor columns")
    if raw.empty:
        raise lives_problem(source, "no readings")
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
            what = "is missing" if pd.isna(text) else f"{text!r} is not a number"
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
    if not path.is_file():
        raise lives_problem(str(path), "no such file")
    values = []
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values.append(float(line.split()[0]))
        except ValueError:
            raise lives_problem(str(path), f"{line.strip()!r} is not a number", line_no) from None
    return np.array(values)


def file_digest(path: str | Path) -> str:
    """The first 16 hex digits of the SHA-256 of a file's bytes: what a saved model records of
    the lives file it was trained on."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


# --------------------------------------------------------------------------- replay


class ReplaySource(Protocol):
    """Where a replaying machine's lives come from (the scenario's ``degradation: {model:
    replay}``): the file, its format, the time of a cycle, the units to draw from, and the
    saved model whose held-out lives alone are drawn."""

    @property
    def lives(self) -> Any:
        """The lives file."""

    @property
    def format(self) -> str:
        """Its format: ``long`` or ``cmapss``."""

    @property
    def time_per_cycle(self) -> float:
        """The operating time of one recorded cycle."""

    @property
    def units(self) -> list[int | str] | None:
        """The units to draw from (None: every life that ended in a failure)."""

    @property
    def holdout_of(self) -> Any:
        """A saved model: draw only the lives it held out (None: any)."""


@dataclass
class Record:
    """One recorded life: the unit, the operating age of each reading and the readings (one
    row per reading, one column per recorded channel)."""

    unit: object
    ages: np.ndarray
    values: np.ndarray


@dataclass
class Replay:
    """The lives a replaying machine draws from."""

    channels: list[str]
    records: list[Record]


_REPLAYS: dict[tuple[str, int, str, float, str], Replay] = {}


def replay_units(spec: ReplaySource) -> list[object]:
    """The units a replay draws from; a ValueError naming the problem otherwise."""
    return [r.unit for r in replay(spec).records]


def replay(spec: ReplaySource) -> Replay:
    """The recorded lives of ``spec``, read once per process and version of the file."""
    path = Path(spec.lives)
    if not path.is_file():
        raise ValueError(f"no lives file at {spec.lives!r}")
    key = (str(path.resolve()), path.stat().st_mtime_ns, spec.format, spec.time_per_cycle,
           json.dumps([spec.units, spec.holdout_of], default=str))
    if key in _REPLAYS:
        return _REPLAYS[key]
    try:
        lives = read_lives(path, spec.format)
    except InputError as exc:
        raise ValueError(exc.render()) from None
    wanted = [u for u in lives.units if lives.failed[u]]
    if spec.holdout_of is not None:
        model = Path(spec.holdout_of).with_suffix(".json")
        if not model.is_file():
            raise ValueError(f"holdout_of: no saved model at {spec.holdout_of!r}")
        meta = json.loads(model.read_text()).get("metadata", {})
        if "test_units" not in meta:
            raise ValueError(f"holdout_of: {spec.holdout_of!r} was not trained on a lives file")
        if meta.get("data_sha256") != file_digest(path):
            raise ValueError(f"holdout_of: {spec.holdout_of!r} was trained on another file "
                             f"({meta.get('data')})")
        wanted = [u for u in wanted if u in set(meta["test_units"])]
    if spec.units is not None:
        known = {str(u): u for u in lives.units}
        missing = [str(u) for u in spec.units if str(u) not in known]
        if missing:
            raise ValueError(f"units not in {spec.lives}: {', '.join(missing)}")
        chosen = {str(u) for u in spec.units}
        wanted = [u for u in wanted if str(u) in chosen]
    if not wanted:
        raise ValueError(f"no life run to failure to replay in {spec.lives}")
    channels = [*lives.settings, *lives.sensors]
    records = []
    for unit, group in lives.groups():
        if unit in set(wanted):
            n = len(group)
            records.append(Record(unit, np.arange(1, n + 1) * spec.time_per_cycle,
                                  group[channels].to_numpy(dtype=float)))
    _REPLAYS[key] = Replay(channels, records)
    return _REPLAYS[key]
