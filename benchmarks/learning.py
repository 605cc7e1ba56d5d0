"""Learning in the loop, year by year: a predictive policy that starts with no model, the same
policy with an offline-trained model, and the best preventive age, on common random numbers.

Runs ``twin compare scenarios/wear-learning.yaml`` (the press of wear.yaml over three years;
its policies preventive-350 and predictive-learning) with ``predictive-offline`` added: the same
policy with the linear model ``twin train scenarios/wear.yaml --predictor linear`` saves (trained
first if it is missing). Or reads a compare.json written that way (``--compare``). Prints:

- the cost rate per year of operation of each policy, mean and 95% interval over replications;
- when the learning policy's model took over;
- from when on its cost rate stays below the preventive policy's, and how many failures it had
  seen (learned from) by then: its cost per week from the lives' ends it records (a failure
  costs ``costs.corrective``, a maintenance ``costs.preventive``), averaged over replications;
  the preventive policy's is its cost rate over the whole run (a renewal process: the same
  every week).

Usage: python benchmarks/learning.py [--replications N] [--years Y] [--workers W] [--out DIR]
       python benchmarks/learning.py --compare results/wear-learning/compare.json
The run takes long (three policies x replications x three years of a press sampled every
minute): 5 replications took 80 minutes on the 2-core machine while other jobs shared it.
The preventive policy's cost per year needs the replications to record it (its cost rate over
the whole run stands in where they do not).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twin import load_scenario  # noqa: E402
from twin.study.executors import make_executor  # noqa: E402
from twin.study.variants import compare  # noqa: E402

SCENARIO = ROOT / "scenarios" / "wear-learning.yaml"
MODEL = ROOT / "results" / "models" / "linear" / "model.json"
LEARNING, PREVENTIVE, OFFLINE = "predictive-learning", "preventive-350", "predictive-offline"
WEEK = 10_080.0


def offline_model() -> Path:
    if not MODEL.exists():
        from twin.ml.training import train

        print(f"training the offline model ({MODEL.relative_to(ROOT)}) ...", flush=True)
        train(load_scenario(ROOT / "scenarios" / "wear.yaml"), "linear").save(MODEL.parent)
    return MODEL


def run_compare(replications: int | None, years: float | None, workers: int | None,
                out: Path) -> dict[str, Any]:
    overrides: list[tuple[str, Any]] = [(f"policies.{OFFLINE}", {"maintenance.policy": {
        "kind": "predictive", "threshold": 250, "every": 30, "duration": 20,
        "model": str(offline_model())}})]
    if replications:
        overrides.append(("replications", replications))
    if years:
        overrides.append(("horizon", years * 525_600))
    scenario = load_scenario(SCENARIO, overrides)
    started = time.perf_counter()
    doc = compare(scenario, executor=make_executor(workers), out=out)
    print(f"compare: {len(doc['policies'])} policies x {scenario.replications} replications of "
          f"{scenario.horizon:,.0f} min in {time.perf_counter() - started:,.0f} s; {out}")
    return doc


def _cell(stat: dict[str, Any]) -> str:
    low, high = stat["ci95"]
    return f"{stat['mean']:.3f} [{low:.3f}, {high:.3f}]" if low is not None \
        else f"{stat['mean']:.3f}"


def per_year(doc: dict[str, Any]) -> None:
    policies = doc["policies"]
    timed = {n: p["learning"] for n, p in policies.items()
             if p.get("learning", {}).get("cost_rate_by_period")}
    label = next(iter(timed.values()))["period_label"]
    count = max(len(t["cost_rate_by_period"]) for t in timed.values())
    print(f"\ncost rate per {label} (per min; mean [95% interval] over {doc['replications']} "
          "replications)")
    print(f"{'policy':<22}" + "".join(f"{label + ' ' + str(k + 1):>25}" for k in range(count))
          + f"{'whole run':>25}")
    for name, policy in policies.items():
        cells = [_cell(s) for s in timed[name]["cost_rate_by_period"]] if name in timed \
            else ["(not recorded)"] * count
        print(f"{name:<22}" + "".join(f"{c:>25}" for c in cells)
              + f"{_cell(policy['kpis']['cost_rate']):>25}")


def crossing(doc: dict[str, Any]) -> None:
    """From when on the learning policy's weekly cost rate (mean over replications) stays
    below the preventive policy's, and the failures it had seen by then."""
    learning = doc["policies"][LEARNING]["learning"]
    costs = load_scenario(SCENARIO).costs
    reference = doc["policies"][PREVENTIVE]["kpis"]["cost_rate"]["mean"]
    edges = np.arange(0.0, doc["horizon"] + 1e-9, WEEK)
    rates, seen = [], []
    for ends in learning["ends"]:
        times = np.array([t for t, _ in ends])
        failed = np.array([f for _, f in ends], dtype=bool)
        paid = np.where(failed, costs.corrective, costs.preventive)
        rates.append(np.histogram(times, bins=edges, weights=paid)[0] / WEEK)
        seen.append(np.searchsorted(times[failed], edges[:-1], side="right"))
    rate, failures = np.mean(rates, axis=0), np.mean(seen, axis=0)
    above = np.flatnonzero(rate >= reference)
    week = int(above[-1]) + 1 if above.size else 0
    switched = learning["switched_at"]["mean"]
    print(f"\n{LEARNING}: model took over at {switched:,.0f} min on average "
          f"({switched / 1440:.1f} days)")
    if week >= len(rate):
        print(f"its weekly cost rate never stays below {PREVENTIVE}'s ({reference:.3f})")
        return
    print(f"its weekly cost rate (mean over replications) stays below {PREVENTIVE}'s "
          f"({reference:.3f}/min) from week {week + 1} of {len(rate)} on (day "
          f"{edges[week] / 1440:.0f}), after {failures[week]:.1f} failures seen (mean over "
          "replications)")
    print("weekly cost rate, first weeks: " + ", ".join(f"{r:.2f}" for r in rate[:week + 3]))
    print(f"failures by the end: {np.mean([sum(f for _, f in e) for e in learning['ends']]):.1f}"
          " (mean over replications)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", type=Path, help="read this compare.json instead of running")
    parser.add_argument("--replications", type=int)
    parser.add_argument("--years", type=float)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "wear-learning")
    args = parser.parse_args()
    if args.compare is not None:
        doc = json.loads(args.compare.read_text())
    else:
        doc = run_compare(args.replications, args.years, args.workers, args.out)
    per_year(doc)
    crossing(doc)


if __name__ == "__main__":
    main()
