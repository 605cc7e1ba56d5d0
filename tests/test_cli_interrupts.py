"""Interrupting run, compare and sweep: the command ends within seconds with exit 1 and the hint
to go on, no traceback, no worker process left, and finished replications intact for a rerun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
WEAR = str(ROOT / "scenarios" / "wear.yaml")
SMALL = ["--horizon", "20000", "--replications", "2", "--workers", "2"]


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def start(args: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "TWIN_PROGRESS_EVERY": "0.5"}
    return subprocess.Popen([sys.executable, "-m", "twin.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def wait_for_first_replication(proc: subprocess.Popen[str], out: Path) -> list[psutil.Process]:
    deadline = time.monotonic() + 120
    while not list((out / "runs").glob("*/replication-*.json")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no replication finished in time"
        time.sleep(0.05)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children, "the replications should run on worker processes"
    return children


@pytest.mark.parametrize(("command", "sig"), [
    (["compare", WEAR], signal.SIGINT),
    (["sweep", WEAR, "--param", "maintenance.policy.threshold", "--values", "5,7"],
     signal.SIGINT),
    (["run", WEAR, "--replications", "4"], signal.SIGTERM),
], ids=["compare-sigint", "sweep-sigint", "run-sigterm"])
def test_interrupt_ends_quickly_and_resumes(tmp_path: Path, command: list[str],
                                            sig: signal.Signals) -> None:
    out = tmp_path / "out"
    args = [*command, "--out", str(out), *SMALL]
    if "--replications" in command:
        args = [*command, "--out", str(out), "--horizon", "20000", "--workers", "2"]
    proc = start(args)
    children = wait_for_first_replication(proc, out)
    first = {p: (p.stat().st_ino, p.stat().st_mtime_ns)
             for p in (out / "runs").glob("*/replication-*.json")}
    sent = time.monotonic()
    proc.send_signal(sig)
    time.sleep(0.3)
    if proc.poll() is None:
        proc.send_signal(sig)  # a second one while it winds down changes nothing
    _, err = proc.communicate(timeout=15)
    took = time.monotonic() - sent
    assert proc.returncode == 1, err
    assert took < 6, f"took {took:.1f} s to stop"
    assert "Traceback" not in err
    assert (f"interrupted: finished replications are saved in {out}; run the same command "
            f"with --out {out} to go on") in err
    deadline = time.monotonic() + 3
    while any(alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [c.pid for c in children if alive(c)], "worker processes were left behind"
    assert not list((out / "runs").glob("*/.*.tmp"))

    again = subprocess.run([sys.executable, "-m", "twin.cli", *args], capture_output=True,
                           text=True, timeout=300, cwd=ROOT)
    assert again.returncode == 0, again.stderr
    for path, stamp in first.items():  # kept, not run again
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == stamp
    assert "report: " in again.stdout


def test_workers_exit_when_the_parent_is_killed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = start(["compare", WEAR, "--out", str(out), *SMALL])
    children = wait_for_first_replication(proc, out)
    proc.kill()  # SIGKILL: no handler runs in the parent
    proc.communicate(timeout=10)
    deadline = time.monotonic() + 5
    while any(alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [c.pid for c in children if alive(c)], "orphaned workers kept running"


def test_progress_lines_without_a_terminal(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = start(["run", WEAR, "--out", str(out), "--horizon", "20000", "--replications", "2",
                  "--workers", "1", "--no-sensors"])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    lines = [line for line in err.splitlines() if line.startswith("press-wear: replications")]
    assert lines, err
    assert "/2 done" in lines[-1] and "elapsed" in lines[-1]
