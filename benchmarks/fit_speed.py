"""twin fit on an event log of about one million events.

The log comes from ``twin run --events`` on a three-machine line (gamma process times, Weibull
lives under preventive maintenance at age 600, lognormal repairs, a crew of one), 4 replications;
generating it is not timed. Then ``twin fit`` runs as a command (reading the Parquet log,
fitting every quantity, writing the scenario and the HTML report) and is timed end to end.

Usage: python benchmarks/fit_speed.py [--horizon T] [--keep DIR]
Prints the events, the wall time and events per second (target: under 30 s).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

LINE = {
    "name": "fit-speed-line", "horizon": 112000, "warmup": 0, "replications": 4, "seed": 3,
    "plant": {
        "nodes": {
            "raw": {"kind": "source"},
            **{m: {"kind": "machine",
                   "process_time": {"dist": "gamma", "shape": 4, "scale": scale},
                   "failures": {"ttf": {"dist": "weibull", "shape": 2.5, "scale": 900},
                                "ttr": {"dist": "lognormal", "mean": 30, "std": 10}}}
               for m, scale in (("M1", 1.0), ("M2", 1.1), ("M3", 0.95))},
            "B1": {"kind": "buffer", "capacity": 5},
            "B2": {"kind": "buffer", "capacity": 5},
            "done": {"kind": "sink"}},
        "edges": [["raw", "M1"], ["M1", "B1"], ["B1", "M2"], ["M2", "B2"], ["B2", "M3"],
                  ["M3", "done"]]},
    "maintenance": {"crew": 1, "policy": {"kind": "preventive", "every": 600, "duration": 10}},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizon", type=float, default=LINE["horizon"])
    parser.add_argument("--keep", type=Path, help="folder to keep the log and outputs in")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="fit-speed-"))
    folder.mkdir(parents=True, exist_ok=True)
    scenario = folder / "line.yaml"
    scenario.write_text(yaml.safe_dump({**LINE, "horizon": args.horizon}))
    twin = [sys.executable, "-m", "twin.cli"]
    run_dir = folder / "run"
    subprocess.run([*twin, "run", str(scenario), "--events", "--no-sensors", "--out",
                    str(run_dir)], check=True, stdout=subprocess.DEVNULL)
    log = run_dir / "events.parquet"
    events = len(pd.read_parquet(log, columns=["event"]))
    start = time.perf_counter()
    subprocess.run([*twin, "fit", str(log), "--out", str(folder / "fitted.yaml"),
                    "--report", str(folder / "fit.html")], check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    print(f"events:          {events:,}")
    print(f"twin fit:        {wall:.2f} s (command: read, fit, scenario, report)")
    print(f"events / second: {events / wall:,.0f}")
    print(f"outputs:         {folder}")


if __name__ == "__main__":
    main()
