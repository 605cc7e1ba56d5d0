"""Products in the line: the five-station benchmark line with three products of the same mean
work (each with its own process times, a mix at the source, the buffers dispatching by
shortest processing time) against the single-product line.

Usage: python benchmarks/products_speed.py [--horizon H] [--repeat N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from line_speed import best_of  # noqa: E402

from twin import load_scenario, simulate  # noqa: E402

# the same mean work per machine: a, b, c average to the single product's mean
SCALE = {"A": 0.8, "B": 1.0, "C": 1.2}


def three_products(horizon: float) -> object:
    base = load_scenario(HERE / "five_station.yaml", [("horizon", horizon)])
    means = {n: s.process_time.mean() for n, s in base.plant.nodes.items()
             if s.kind == "machine"}
    products = {p: {"route": list(means), "process_time": {
        m: {"dist": "exponential", "mean": mean * k} for m, mean in means.items()}}
        for p, k in SCALE.items()}
    overrides = [("horizon", horizon), ("products", products),
                 ("plant.nodes.raw.sequence", list(SCALE))]
    overrides += [(f"plant.nodes.B{i}.dispatch", "spt") for i in range(1, 5)]
    return load_scenario(HERE / "five_station.yaml", overrides)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizon", type=float, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    one = load_scenario(HERE / "five_station.yaml", [("horizon", args.horizon)])
    three = three_products(args.horizon)
    r1, r3 = simulate(one, 0), simulate(three, 0)  # type: ignore[arg-type]
    each = ", ".join(f"{p} {s['throughput']:.4f}" for p, s in r3.products.items())
    print(f"throughput: one product {r1.kpis['throughput']:.4f}, three products "
          f"{r3.kpis['throughput']:.4f} ({each})")
    t1 = best_of(args.repeat, lambda: simulate(one, 0))
    t3 = best_of(args.repeat, lambda: simulate(three, 0))  # type: ignore[arg-type]
    print(f"engine: three products {t3:.3f} s, one product {t1:.3f} s, ratio {t3 / t1:.2f}")


if __name__ == "__main__":
    main()
