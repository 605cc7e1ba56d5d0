"""Opening the files a user names, safely: regular files only, and no larger than a limit.

A scenario, an order list, a lives file, an event log, a state file or a saved model is read only
when it is a regular file: ``/dev/zero`` would be read until memory runs out, and a named pipe
(FIFO) would block the command for ever. Each is opened without blocking, checked with
``fstat`` on the open descriptor (no window between the check and the read), and refused with
an ``InputError`` (exit status 2) when it is something else or larger than the limit of its
kind. Messages name the file and what it is, never what it holds.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from twin.errors import InputError

MIB = 1 << 20
MAX_SCENARIO_BYTES = int(os.environ.get("TWIN_MAX_SCENARIO_BYTES", str(16 * MIB)))
"""The largest scenario (or state) file read: far above any plant written by hand."""
MAX_DATA_BYTES = int(os.environ.get("TWIN_MAX_DATA_BYTES", str(4096 * MIB)))
"""The largest data file read (order lists, lives, event logs, saved models)."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _size(n: int) -> str:
    return f"{n / MIB:,.1f} MiB" if n >= MIB else f"{n:,} bytes"


def _refuse(source: str, message: str) -> InputError:
    return InputError(source, [((), message, None)])


def _open(path: str | Path, what: str, limit: int, source: str | None = None,
          folder_ok: bool = False) -> tuple[int | None, int]:
    """An open descriptor on the regular file ``path`` and its size; (None, 0) for a folder
    where ``folder_ok``."""
    source = source if source is not None else str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise _refuse(source, f"no such file (the {what})") from None
    except IsADirectoryError:
        if folder_ok:
            return None, 0
        raise _refuse(source, f"is a folder, not a file (the {what})") from None
    except PermissionError:
        raise _refuse(source, f"cannot read it: permission denied (the {what})") from None
    except OSError as exc:
        raise _refuse(source, f"cannot open it: {exc.strerror} (the {what})") from None
    try:
        info = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise _refuse(source, f"cannot read it: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode) and folder_ok:
        os.close(fd)
        return None, 0
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise _refuse(source, f"is {_kind(info.st_mode)}, not a regular file: the {what} must "
                              "be a file")
    if info.st_size > limit:
        os.close(fd)
        raise _refuse(source, f"the {what} is {_size(info.st_size)}, over the limit of "
                              f"{_size(limit)} for a {what}")
    return fd, info.st_size


def check_input_file(path: str | Path, what: str = "file", limit: int = MAX_DATA_BYTES,
                     source: str | None = None, folder_ok: bool = False) -> int:
    """Check that ``path`` is a regular file of at most ``limit`` bytes (a folder too, with
    ``folder_ok``) and return its size; an ``InputError`` naming it (as ``source``) otherwise.
    ``what`` says what the file is for ("order list", "lives file")."""
    fd, size = _open(path, what, limit, source, folder_ok)
    if fd is not None:
        os.close(fd)
    return size


def read_input_bytes(path: str | Path, what: str = "file", limit: int = MAX_DATA_BYTES,
                     source: str | None = None) -> bytes:
    """The bytes of the regular file ``path``, read from the descriptor checked, never more
    than ``limit``."""
    fd, size = _open(path, what, limit, source)
    assert fd is not None
    try:
        os.set_blocking(fd, True)
        chunks = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise _refuse(source if source is not None else str(path),
                      f"cannot read it: {exc.strerror}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:  # it grew while read
        raise _refuse(source if source is not None else str(path),
                      f"the {what} is over the limit of {_size(limit)} for a {what}")
    return data


def read_input_text(path: str | Path, what: str = "file", limit: int = MAX_DATA_BYTES,
                    source: str | None = None) -> str:
    """The UTF-8 text of the regular file ``path`` (see ``read_input_bytes``); a file that is
    not UTF-8 is refused with the byte offset, not its content."""
    data = read_input_bytes(path, what, limit, source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(source if source is not None else str(path),
                      f"not UTF-8 text (byte {exc.start}: {exc.reason}); the {what} must be "
                      "UTF-8 text") from None


def reader_error(exc: BaseException) -> str:
    """A file reader's error (pandas, pyarrow, numpy) without the file's content: its first
    line, with any quoted text left out, cut short."""
    import re

    text = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = re.sub(r"'[^']*'|\"[^\"]*\"|b'[^']*'", "'...'", text)
    return text[:160]


def read_npz(path: str | Path, what: str = "saved model arrays",
             limit: int = MAX_DATA_BYTES) -> dict[str, Any]:
    """The arrays of the ``.npz`` file ``path``, read without pickle: a file holding object
    arrays (pickled Python objects, which could run code when read) or that is not an ``.npz``
    is refused with an ``InputError`` naming it."""
    import zipfile

    import numpy as np

    check_input_file(path, what, limit)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except ValueError as exc:
        if "Object arrays" in str(exc):
            message = ("holds object arrays (pickled Python objects), which twin never loads: "
                       f"the {what} must hold numeric arrays only")
        elif "pickled data" in str(exc):  # numpy's last guess: a pickle
            message = "cannot read it as .npz arrays: not an .npz (zip) file"
        else:
            message = f"cannot read it as .npz arrays: {reader_error(exc)}"
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        message = f"cannot read it as .npz arrays: {reader_error(exc)}"
    raise _refuse(str(path), message)
