"""How fast hostile inputs are refused: a scenario of a million values (written out, and through
aliases), /dev/zero as a scenario, and the pilot that estimates a huge horizon's run time.
Run from the repository root: ``python benchmarks/input_limits.py``."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from twin.errors import InputError
from twin.language.loading import load_scenario
from twin.study.estimate import run_time_note

ROOT = Path(__file__).resolve().parents[1]


def refused(path: Path) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        load_scenario(path)
    except InputError as exc:
        return time.perf_counter() - started, exc.problems[0][1]
    raise AssertionError(f"{path} was accepted")


def main() -> None:
    base = (ROOT / "scenarios" / "mm1.yaml").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        flat = Path(tmp) / "flat.yaml"
        flat.write_text(base + "description: [" + ",".join(["1"] * 1_000_000) + "]\n")
        aliases = Path(tmp) / "aliases.yaml"
        aliases.write_text(base + "x0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
            f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 7)))
        for label, path in (("1,000,000 values written out", flat),
                            ("10**7 values through aliases", aliases),
                            ("/dev/zero", Path("/dev/zero"))):
            seconds, message = refused(path)
            size = path.stat().st_size if path.is_file() else 0
            print(f"{label:<32} {size:>12,} bytes  refused in {seconds:6.3f} s: {message[:70]}")
    huge = load_scenario(ROOT / "scenarios" / "two-station.yaml", [("horizon", 1e12)])
    started = time.perf_counter()
    note = run_time_note(huge, huge.replications, 2)
    print(f"pilot of a 1e12 horizon: {time.perf_counter() - started:.2f} s: {note}")


if __name__ == "__main__":
    main()
