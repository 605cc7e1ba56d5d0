"""Writing results: atomically (a reader never sees half a file), into the run's folder."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.errors import InputError

if TYPE_CHECKING:  # pandas is imported by what writes frames: not by the command's start
    import pandas as pd


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
    if not safe or safe.startswith("."):  # never "." or "..": the folder stays under root
        safe = "_" + safe
    out = root / safe / stamp
    n = 1
    while out.exists():
        n += 1
        out = root / safe / f"{stamp}-{n}"
    return out


def check_out(path: Path | None, option: str = "--out", *, folder: bool = True,
              save_state: Path | None = None) -> None:
    """With ``folder``, the output folder (``path``, else the default ``results`` folder) can
    take the output (``check_output_folder``), and ``save_state``, where given, can be written
    (``check_output_file``): checked before anything is made; an input error otherwise."""
    if folder:
        check_output_folder(Path("results") if path is None else path,
                            "results" if path is None else option)
    if save_state is not None:
        check_output_file(save_state, "--save-state")


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


# --------------------------------------------------------------------------- checking output paths

SYSTEM_FILE_SYSTEMS = frozenset({
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "securityfs",
    "tracefs", "configfs", "mqueue", "bpf", "pstore", "fusectl", "binfmt_misc", "autofs",
    "efivarfs", "hugetlbfs", "rpc_pipefs", "nsfs"})
"""File systems of the kernel's own objects: nowhere to write results."""


def _mounts() -> list[tuple[str, str]]:
    """(mount point, file system type) of every mount, longest mount point first."""
    try:
        with open("/proc/self/mounts", encoding="utf-8") as f:
            rows = [line.split()[1:3] for line in f if len(line.split()) >= 3]
    except OSError:
        return [("/proc", "proc"), ("/sys", "sysfs")]
    out = [(point.replace("\\040", " "), kind) for point, kind in rows]
    return sorted(out, key=lambda m: len(m[0]), reverse=True)


def _file_system(path: Path) -> str | None:
    """The type of the file system ``path`` (an existing path, resolved) lies on."""
    text = str(path)
    for point, kind in _mounts():
        if text == point or text.startswith(point.rstrip("/") + "/"):
            return kind
    return None


def _refuse(option: str, path: Path, message: str) -> InputError:
    return InputError(f"{option} {path}", [((), message, None)])


def _check_writable_folder(option: str, path: Path, existing: Path) -> None:
    """``existing`` (``path`` or its nearest existing ancestor) takes new files and folders."""
    real = existing.resolve()
    kind = _file_system(real)
    if kind in SYSTEM_FILE_SYSTEMS:
        raise _refuse(option, path, f"{real} is on the system's {kind} file system, not a "
                                    "place for results: give a folder of your own")
    try:
        read_only = bool(os.statvfs(real).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        raise _refuse(option, path, f"{real} is on a read-only file system")
    if not os.access(real, os.W_OK | os.X_OK):
        raise _refuse(option, path, f"cannot write in {real}: permission denied")


def _nearest_existing(path: Path) -> Path:
    here = path.absolute()
    while not here.exists() and not here.is_symlink() and here != here.parent:
        here = here.parent
    return here


def check_output_folder(path: Path, option: str = "--out") -> None:
    """Check, creating nothing, that ``path`` can be an output folder: an existing folder that
    takes files, or a new one whose nearest existing ancestor is such a folder (not a file, not
    on a system file system such as /proc, not read-only). An ``InputError`` (exit status 2)
    names the option and the path otherwise."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise _refuse(option, path, "this is a file, not a folder; give a folder (it is "
                                        "created if it does not exist)")
        _check_writable_folder(option, path, path)
        return
    _check_new(option, path, path)


def _check_new(option: str, shown: Path, path: Path) -> None:
    above = _nearest_existing(path)
    if not above.is_dir():
        raise _refuse(option, shown, f"{above} is a file, so nothing can be created under it; "
                                     "give a folder")
    _check_writable_folder(option, shown, above)


def check_output_file(path: Path, option: str) -> None:
    """Check, creating nothing, that a file can be written at ``path``: not an existing folder,
    and in a folder that exists or can be created (see ``check_output_folder``)."""
    path = Path(path)
    if path.is_dir():
        raise _refuse(option, path, "this is a folder; give the name of a file to write")
    if path.exists() and not path.is_file():
        raise _refuse(option, path, "this is not a regular file; give the name of a file to "
                                    "write")
    parent = path.absolute().parent
    if parent.is_dir():
        _check_writable_folder(option, path, parent)
    else:
        _check_new(option, path, parent)


@dataclass
class NewFolder:
    """A default output folder just made: the folders made for it (deepest first) and where
    ``latest`` pointed before, to undo it all if the command fails before writing in it."""

    out: Path
    made: list[Path]
    previous: str | None


def new_default_folder(scenario_name: str, root: Path = Path("results")) -> NewFolder:
    """Make ``default_out(scenario_name, root)`` and point ``latest`` at it."""
    out = default_out(scenario_name, root)
    try:
        previous: str | None = os.readlink(out.parent / "latest")
    except OSError:
        previous = None
    made = [p for p in (out, out.parent, root) if not p.exists()]
    out.mkdir(parents=True, exist_ok=True)
    point_latest(out)
    return NewFolder(out, made, previous)


class NewFolders:
    """The default output folders a command makes (``make``), undone if it fails before
    writing in them (``undone_on_failure``)."""

    def __init__(self) -> None:
        self.made: list[NewFolder] = []

    def make(self, scenario_name: str) -> Path:
        """A new ``results/<name>/<UTC time>/`` with ``latest`` pointing at it."""
        self.made.append(new_default_folder(scenario_name))
        return self.made[-1].out

    def clear(self) -> None:
        self.made.clear()

    @contextlib.contextmanager
    def undone_on_failure(self, keep: tuple[type[BaseException], ...] = (KeyboardInterrupt,)
                          ) -> Iterator[None]:
        """Remove the folders made (still empty) if the block fails, unless by one of ``keep``
        (an interruption: the resume hint names the folder)."""
        try:
            yield
        except keep:
            raise
        except BaseException:
            for made in self.made:
                discard_new_folder(made)
            raise


def discard_new_folder(folder: NewFolder) -> bool:
    """Undo ``new_default_folder`` if nothing was written in the folder (a command that failed
    first): remove the folders it made and point ``latest`` back; True if it was undone."""
    out = folder.out
    try:
        out.rmdir()
    except OSError:  # not empty, or gone: leave it
        return False
    link = out.parent / "latest"
    with contextlib.suppress(OSError):
        if os.readlink(link) == out.name:
            if folder.previous is None:
                link.unlink()
            else:
                tmp = out.parent / f".latest.{os.getpid()}.tmp"
                tmp.unlink(missing_ok=True)
                os.symlink(folder.previous, tmp, target_is_directory=True)
                os.replace(tmp, link)
    for made in folder.made[1:]:
        with contextlib.suppress(OSError):
            made.rmdir()
    return True
