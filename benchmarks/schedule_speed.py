"""Schedule speed: 200 orders on a 20-machine job shop, planned and run over 100 replications
on 2 worker processes (the target: under a minute on the 2-core machine).

The shop: 20 machines, each behind its own buffer (earliest due date), a stock feeding every
buffer; 8 products, each routed through 4 to 6 machines with lognormal process times; every
machine fails now and then (exponential lives, lognormal repairs, one crew of 2), and a fifth of
them change over between products. 200 orders of 1 to 6 parts are released over 30 hours, due
3 to 6 times their work after release.

Usage: python benchmarks/schedule_speed.py [--orders N] [--machines M] [--replications R]
       [--workers W] [--report]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from twin.language.loading import scenario_from_data  # noqa: E402
from twin.study.executors import make_executor  # noqa: E402
from twin.study.schedule import load_orders, schedule  # noqa: E402


def job_shop(machines: int, products: int, rng: np.random.Generator) -> dict[str, Any]:
    """A job shop of ``machines`` machines, each behind its own buffer, and its products."""
    names = [f"M{i:02d}" for i in range(1, machines + 1)]
    nodes: dict[str, Any] = {"stock": {"kind": "source"}, "done": {"kind": "sink"}}
    edges: list[list[str]] = []
    for k, m in enumerate(names):
        nodes[f"B{m}"] = {"kind": "buffer", "dispatch": "edd"}
        nodes[m] = {"kind": "machine", "process_time": 6.0,
                    "failures": {"ttf": {"dist": "exponential", "mean": 600.0},
                                 "ttr": {"dist": "lognormal", "mean": 20.0, "std": 8.0}}}
        edges += [["stock", f"B{m}"], [f"B{m}", m], [m, "done"]]
        edges += [[m, f"B{other}"] for other in names if other != m]
        if k % 5 == 0:
            nodes[m]["setup"] = {"matrix": {f"P{a}": {f"P{b}": 15.0 for b in range(products)
                                                      if b != a} for a in range(products)}}
    catalogue = {}
    for p in range(products):
        route = [str(m) for m in rng.choice(names, size=int(rng.integers(4, 7)), replace=False)]
        catalogue[f"P{p}"] = {"route": route, "process_time": {
            m: {"dist": "lognormal", "mean": float(rng.uniform(3.0, 9.0)), "std": 1.5}
            for m in route}}
    return {"name": "job-shop", "time_unit": "min", "horizon": 20_000, "replications": 100,
            "seed": 5, "maintenance": {"crew": 2, "policy": {"kind": "reactive"}},
            "plant": {"nodes": nodes, "edges": edges}, "products": catalogue}


def order_list(data: dict[str, Any], count: int, rng: np.random.Generator) -> pd.DataFrame:
    """``count`` orders of 1 to 6 parts released over 30 hours, due 3 to 6 times their work."""
    products = sorted(data["products"])
    rows = []
    for k in range(count):
        product = products[int(rng.integers(len(products)))]
        quantity = int(rng.integers(1, 7))
        work = quantity * sum(t["mean"] for t in
                              data["products"][product]["process_time"].values())
        release = float(np.round(rng.uniform(0, 1800), 1))
        rows.append((f"SO-{k + 1:03d}", product, quantity, release,
                     float(np.round(release + work * rng.uniform(3, 6), 1))))
    return pd.DataFrame(rows, columns=["order", "product", "quantity", "release", "due"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--machines", type=int, default=20)
    parser.add_argument("--products", type=int, default=8)
    parser.add_argument("--replications", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--report", action="store_true", help="also write the report")
    args = parser.parse_args()
    rng = np.random.default_rng(2024)
    data = job_shop(args.machines, args.products, rng)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders.csv"
        order_list(data, args.orders, rng).to_csv(path, index=False)
        scenario = scenario_from_data(data)
        orders = load_orders(path, scenario)
        parts = int(orders["quantity"].sum())
        operations = sum(int(q) * len(data["products"][p]["route"])
                         for p, q in zip(orders["product"], orders["quantity"], strict=True))
        start = time.perf_counter()
        result = schedule(scenario, orders, replications=args.replications,
                          executor=make_executor(args.workers), workers=args.workers)
        elapsed = time.perf_counter() - start
        doc = result.doc
        print(f"{args.orders} orders ({parts} parts, {operations} operations) on "
              f"{args.machines} machines, {args.replications} replications on "
              f"{args.workers} workers: {elapsed:.1f} s")
        print(f"plan: makespan {doc['plan']['makespan']:.0f} min, {doc['plan']['late']} late; "
              f"replications: makespan {doc['makespan']['mean']:.0f} min, "
              f"{len(doc['at_risk'])} orders at risk, mean tardiness "
              f"{doc['tardiness']['mean']:.1f} min")
        if args.report:
            from twin.report.schedule import save_schedule

            start = time.perf_counter()
            save_schedule(result, Path(folder) / "out")
            print(f"files and report: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
