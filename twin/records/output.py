"""Writing results: atomically (a reader never sees half a file), into the run's folder."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from twin.errors import InputError


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_name, 0o666 & ~umask)  # as an ordinary file, not mkstemp's private 0600
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write(path, lambda tmp: _write(tmp, text))


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically (NaN refused)."""
    write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    """Write ``frame`` as Parquet to ``path`` atomically, without its index."""
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write ``frame`` as CSV to ``path`` atomically, without its index."""
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def default_out(scenario_name: str, root: Path = Path("results")) -> Path:
    """``results/<scenario name>/<UTC timestamp>/``, made unique if that folder exists."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in scenario_name)
    out = root / safe / stamp
    n = 1
    while out.exists():
        n += 1
        out = root / safe / f"{stamp}-{n}"
    return out


def check_out(path: Path | None, option: str = "--out") -> None:
    """An output folder must be a folder, or not exist yet (an input error otherwise)."""
    if path is not None and path.exists() and not path.is_dir():
        raise InputError(f"{option} {path}", [((), "this is a file, not a folder; give a folder "
                                                   "(it is created if it does not exist)", None)])


def results_folder(out: Path | None, name: str) -> Path:
    """``out``, or a new ``results/<name>/<UTC time>/`` with ``results/<name>/latest`` pointing
    at it."""
    if out is not None:
        return out
    folder = default_out(name)
    folder.mkdir(parents=True, exist_ok=True)
    point_latest(folder)
    return folder


def resume_hint(out: Path) -> str:
    """How to go on with an interrupted study saved in ``out``."""
    return (f"finished replications are saved in {out}; run the same command with "
            f"--out {out} to go on")


def point_latest(out: Path) -> None:
    """``<parent>/latest``: a symbolic link to ``out`` beside it, replaced atomically (a reader
    sees the old link or the new one, never none)."""
    link = out.parent / "latest"
    tmp = out.parent / f".latest.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    try:
        os.symlink(out.name, tmp, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:  # a file system without symbolic links: no link, nothing else lost
        tmp.unlink(missing_ok=True)
