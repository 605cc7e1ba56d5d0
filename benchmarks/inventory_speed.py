"""Wall time of twin against a minimal hand-written SimPy model of the same warehouse.

Prints the ratio twin / hand-written for one replication simulated in this process (lower is
better). twin measures much more (inventory over time, stock-out time, order lead times, costs,
per-node statistics) and moves real parts rather than counting.

Usage: python benchmarks/inventory_speed.py [--horizon H] [--repeat N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import handwritten_inventory  # noqa: E402
from line_speed import best_of  # noqa: E402

from twin import load_scenario, simulate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizon", type=float, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    scenario = load_scenario(HERE / "inventory.yaml", [("horizon", args.horizon)])
    twin_fill = simulate(scenario, 0).kpis["fill_rate"]
    hand_fill = handwritten_inventory.simulate(args.horizon)
    print(f"fill rate: twin {twin_fill:.4f}, hand-written {hand_fill:.4f} (same warehouse; "
          "exact 0.5209)")
    t_twin = best_of(args.repeat, lambda: simulate(scenario, 0))
    t_hand = best_of(args.repeat, lambda: handwritten_inventory.simulate(args.horizon))
    print(f"engine: twin {t_twin:.3f} s, hand-written {t_hand:.3f} s, ratio {t_twin / t_hand:.2f}")


if __name__ == "__main__":
    main()
