"""Reading and checking an event log (Parquet or CSV).

The schema is the one ``twin run --events`` writes, close to what an MES exports: one row per
event with ``replication`` (optional, default 0), ``time``, ``node``, ``event``, ``part``
(null for machine-only events), ``product`` and ``order`` (optional, nullable). Problems are
reported as ``InputError`` naming the file, the row (1-based, counting data rows; for a CSV
file the line too) and the column, never as a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from twin.errors import InputError
from twin.records.inputfiles import MAX_DATA_BYTES, check_input_file, reader_error
from twin.registry import did_you_mean

REQUIRED = ("time", "node", "event", "part")
OPTIONAL = ("replication", "product", "order")
PART_EVENTS = ("release", "arrive", "start", "finish", "ship", "scrap", "load", "travel",
               "unload")
"""Events that concern one part: they need its number (a vehicle's ``load``, ``travel`` and
``unload`` of the part it carries too)."""
MACHINE_EVENTS = ("blocked", "unblocked", "fail", "repair_start", "repair_end", "pm_start",
                  "pm_end", "setup_start", "setup_end")
EVENTS = (*PART_EVENTS, *MACHINE_EVENTS)
MAX_PROBLEMS = 10


@dataclass
class EventLog:
    """A checked event log: ``frame`` has the columns ``replication`` (int), ``time`` (float),
    ``node`` and ``event`` (categorical), ``part`` (float, NaN for none), ``product`` and
    ``order`` (object, possibly all null), in file order; ``row`` is each row's 1-based
    number in the file."""

    source: str
    frame: pd.DataFrame
    csv: bool


def _problem(log_source: str, csv: bool, row: int | None, column: str | None,
             message: str) -> tuple[tuple[str | int, ...], str, int | None]:
    parts = []
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column {column!r}")
    where = ", ".join(parts)
    line = row + 1 if (csv and row is not None) else None
    return ((), f"{where}: {message}" if where else message, line)


def read_log(path: str | Path) -> EventLog:
    """Read and check the event log at ``path`` (a Parquet or CSV file, or a folder of Parquet
    files holding its parts, read in name order); raise ``InputError`` on any problem."""
    path = Path(path)
    source = str(path)
    csv = path.suffix.lower() in (".csv", ".txt") or path.name.lower().endswith(".csv.gz")
    check_input_file(path, "event log", MAX_DATA_BYTES, folder_ok=True)
    parts = sorted(path.glob("[!.]*.parquet")) if path.is_dir() else []
    for part in parts:
        check_input_file(part, "event log part", MAX_DATA_BYTES)
    if path.is_dir() and not parts:
        raise InputError(source, [((), "a folder without Parquet files, not an event log "
                                       "(Parquet, CSV, or a folder of Parquet parts)", None)])
    try:
        if parts:  # the parts of one log (a live twin's record, a run's replications)
            frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
        elif csv:
            frame = pd.read_csv(path, dtype={"node": "string", "event": "string",
                                             "product": "string", "order": "string"},
                                low_memory=False)
        else:
            frame = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is bad input
        kind = "CSV" if csv else "Parquet (name a .csv file to read CSV)"
        raise InputError(source, [((), f"cannot read it as {kind}: {reader_error(exc)}", None)]
                         ) from None
    return check_frame(frame, source, csv)


def check_frame(frame: pd.DataFrame, source: str = "<log>", csv: bool = False) -> EventLog:
    """Check a raw event table and normalize its columns."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        n = len(frame.columns)
        raise InputError(source, [((), f"column {c!r}: missing required column (the log has "
                                       f"{n} column{'s' if n != 1 else ''}; required: "
                                       f"{', '.join(REQUIRED)})", None) for c in missing])
    if len(frame) == 0:
        raise InputError(source, [((), "the log has no events", None)])
    problems: list[tuple[tuple[str | int, ...], str, int | None]] = []
    rows = np.arange(1, len(frame) + 1)

    def bad(mask: np.ndarray, column: str, message: str) -> None:
        for r in rows[mask][:3]:
            if len(problems) < MAX_PROBLEMS:
                problems.append(_problem(source, csv, int(r), column, message))

    time = pd.to_numeric(frame["time"], errors="coerce").to_numpy(dtype=float)
    bad(~np.isfinite(time), "time", "expected a finite number")
    if "replication" in frame.columns:
        rep_raw = pd.to_numeric(frame["replication"], errors="coerce").to_numpy(dtype=float)
        bad(~np.isfinite(rep_raw) | (rep_raw != np.round(rep_raw)) | (rep_raw < 0),
            "replication", "expected a whole number, 0 or more")
        replication = np.nan_to_num(rep_raw).astype(np.int64)
    else:
        replication = np.zeros(len(frame), dtype=np.int64)
    node = frame["node"].astype("string")
    bad(node.isna().to_numpy() | (node.str.strip() == "").fillna(True).to_numpy(), "node",
        "expected a node name")
    event = frame["event"].astype("string").str.strip()
    known = event.isin(EVENTS).fillna(False).to_numpy(dtype=bool)
    for r in rows[~known][:3]:
        if len(problems) < MAX_PROBLEMS:
            name = event.iloc[r - 1]
            hint = did_you_mean(str(name), EVENTS) if not pd.isna(name) else ""
            problems.append(_problem(source, csv, int(r), "event",
                                     f"unknown event {name!r}{hint} (one of: "
                                     f"{', '.join(EVENTS)})"))
    part_raw = frame["part"]
    part = pd.to_numeric(part_raw, errors="coerce").to_numpy(dtype=float)
    bad(part_raw.notna().to_numpy() & ~np.isfinite(part), "part",
        "expected a whole number or nothing")
    bad(event.isin(PART_EVENTS).fillna(False).to_numpy(dtype=bool) & np.isnan(part), "part",
        "this event concerns a part: its number is missing")
    if problems:
        raise InputError(source, problems)

    out = pd.DataFrame({
        "replication": replication,
        "time": time,
        "node": node.astype("category"),
        "event": pd.Categorical(event, categories=EVENTS),
        "part": part,
        "product": frame["product"].astype(object) if "product" in frame.columns else None,
        "order": frame["order"].astype(object) if "order" in frame.columns else None,
        "row": rows,
    })
    _check_order(out, source, csv)
    return EventLog(source, out, csv)


def _check_order(frame: pd.DataFrame, source: str, csv: bool) -> None:
    """Within one node of one replication, the rows must come in time order."""
    keys = np.lexsort((frame["row"].to_numpy(), frame["node"].cat.codes.to_numpy(),
                       frame["replication"].to_numpy()))
    time = frame["time"].to_numpy()[keys]
    rep = frame["replication"].to_numpy()[keys]
    code = frame["node"].cat.codes.to_numpy()[keys]
    same = (rep[1:] == rep[:-1]) & (code[1:] == code[:-1])
    back = same & (time[1:] < time[:-1])
    if not back.any():
        return
    problems = []
    for i in np.flatnonzero(back)[:MAX_PROBLEMS]:
        row = int(frame["row"].to_numpy()[keys[i + 1]])
        prev = int(frame["row"].to_numpy()[keys[i]])
        node = frame["node"].cat.categories[code[i + 1]]
        problems.append(_problem(
            source, csv, row, "time",
            f"events out of time order at node {node!r} (replication {int(rep[i + 1])}): "
            f"{time[i + 1]:g} comes after {time[i]:g} at row {prev}"))
    raise InputError(source, problems)
