"""Wall time of twin against a minimal hand-written SimPy model of the same five-station line.

Prints two ratios (twin / hand-written; lower is better, target <= 1.5):
- engine: one replication simulated in this process by each (same horizon, no output);
- command: ``twin run`` as a user runs it (interpreter start, validation, Parquet and JSON output)
  against ``python handwritten_line.py`` (interpreter start, printing one number).

Usage: python benchmarks/line_speed.py [--horizon H] [--repeat N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import handwritten_line  # noqa: E402

from twin import load_scenario, simulate  # noqa: E402


def best_of(repeat: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizon", type=float, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    scenario = load_scenario(HERE / "five_station.yaml", [("horizon", args.horizon)])
    twin_rate = simulate(scenario, 0).kpis["throughput"]
    hand_rate = handwritten_line.simulate(args.horizon) / args.horizon
    print(f"throughput: twin {twin_rate:.4f}, hand-written {hand_rate:.4f} (same plant)")

    t_twin = best_of(args.repeat, lambda: simulate(scenario, 0))
    t_hand = best_of(args.repeat, lambda: handwritten_line.simulate(args.horizon))
    print(f"engine:  twin {t_twin:.3f} s, hand-written {t_hand:.3f} s, ratio {t_twin / t_hand:.2f}")

    with tempfile.TemporaryDirectory() as tmp:
        twin_cmd = [sys.executable, "-m", "twin.cli", "run", str(HERE / "five_station.yaml"),
                    "--horizon", str(args.horizon), "--replications", "1", "--out", tmp]
        hand_cmd = [sys.executable, str(HERE / "handwritten_line.py"), str(args.horizon)]
        run = lambda cmd: subprocess.run(cmd, check=True, capture_output=True)  # noqa: E731
        c_twin = best_of(args.repeat, lambda: run(twin_cmd))
        c_hand = best_of(args.repeat, lambda: run(hand_cmd))
    print(f"command: twin run {c_twin:.3f} s, hand-written {c_hand:.3f} s, "
          f"ratio {c_twin / c_hand:.2f}")


if __name__ == "__main__":
    main()
