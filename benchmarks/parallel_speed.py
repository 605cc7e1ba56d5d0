"""Replication throughput with two local worker processes against one.

Usage: python benchmarks/parallel_speed.py [--replications N] [--horizon H]
Prints replications per second for 1 and 2 workers and their ratio (target >= 1.8 on 2 cores).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from twin import load_scenario, run
from twin.study.executors import LocalExecutor, SerialExecutor

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=8)
    parser.add_argument("--horizon", type=float, default=43_200)
    args = parser.parse_args()
    scenario = load_scenario(ROOT / "scenarios" / "default.yaml",
                             [("replications", args.replications), ("horizon", args.horizon)])
    rates = {}
    for workers, executor in ((1, SerialExecutor()), (2, LocalExecutor(2))):
        start = time.perf_counter()
        summary = run(scenario, executor=executor).summary
        elapsed = time.perf_counter() - start
        rates[workers] = args.replications / elapsed
        print(f"{workers} worker{'s' if workers > 1 else ''}: {elapsed:.2f} s, "
              f"{rates[workers]:.2f} replications/s "
              f"(throughput {summary['kpis']['throughput']['mean']:.4f})")
    print(f"ratio 2 workers / 1 worker: {rates[2] / rates[1]:.2f}")


if __name__ == "__main__":
    main()
