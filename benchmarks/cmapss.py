"""Every built-in predictor trained on NASA's C-MAPSS FD001 and scored on held-out engines.

Each predictor is trained as ``twin train --data train_FD001.txt --format cmapss --predictor P``
does (``twin.ml.fromdata.train_from_data`` with its defaults: windows of 60 cycles, RUL
capped at 125 cycles, normalization fitted on the training engines only): 20% of the engines
(20 of 100) are held out by a seeded split and each is cut at 10 random cycles from the 30th on;
the window ending at each cut is scored against the true remaining life, capped. The held-out
engines never reach the fit, the normalization or the early stopping (which holds out training
engines of its own). The models are fitted on one thread each (their default).

``--age`` trains and scores as ``twin train --age`` does: each window has the operating age of
its readings (cycles since the engine's first) as one more channel.

Usage: python benchmarks/cmapss.py [--data FILE] [--predictors gbt,cnn] [--seeds 0,1,2,3,4]
       [--age]
Prints, per predictor and split seed, the held-out RUL RMSE, the PHM08 score, the RMSE of a
constant (the mean training RUL) and the fit time (risk models: precision, recall and AUC of
failure within 30 cycles), then the mean over the seeds. Fit times are wall times on this
machine: the load average is printed with them (other work on the cores inflates them).
Without the data file it says so and exits 0.

``--policy`` chooses the parameters of ``scenarios/fd001.yaml`` on the 80 training engines of
the seed-0 split only (the replayed engines are never looked at): the preventive age of least
cost rate over their lives (renewal reward: a maintenance at the age, a failure half a cycle
after the last reading, each followed by its downtime), and the predictive threshold of least
cost rate when each training engine is scored by a gbt fitted without it (5 folds), every
``every`` cycles at each phase, maintained after the cycle under way once the prediction is at
most the threshold (the model needs a full window of readings first). Costs and downtimes are
the scenario's.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "cmapss" / "train_FD001.txt"


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from twin.ml.fromdata import train_from_data
    from twin.ml.registry import builtin_names

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--predictors", default=",".join(builtin_names()),
                        help="comma-separated names (default: every built-in)")
    parser.add_argument("--seeds", default="0", help="split seeds, comma-separated (default 0)")
    parser.add_argument("--age", action="store_true",
                        help="the operating age as one more channel (twin train --age)")
    parser.add_argument("--out", type=Path, help="save each model in OUT/<predictor>-<seed>")
    parser.add_argument("--policy", action="store_true",
                        help="choose the preventive age and predictive threshold of "
                             "scenarios/fd001.yaml on the training engines instead")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"skipped: no C-MAPSS file at {args.data} (give --data train_FD001.txt)")
        return 0
    if args.policy:
        return choose_policies(args.data)
    names = [n.strip() for n in args.predictors.split(",") if n.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"{args.data}: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
          + ("; the operating age as a channel" if args.age else ""))
    print(f"{'predictor':<10} {'seed':>4} {'RMSE':>7} {'PHM08':>8} {'constant':>8} "
          f"{'fit s':>7} {'wall s':>7}   (risk: precision recall AUC)")
    rows: dict[str, list[dict[str, float]]] = {}
    for name in names:
        for seed in seeds:
            started = time.perf_counter()
            result = train_from_data(args.data, name, format="cmapss", seed=seed, age=args.age)
            wall = time.perf_counter() - started
            if args.out is not None:
                result.save(args.out / f"{name}-{seed}")
            m = result.metrics
            rows.setdefault(name, []).append({**m, "wall": wall})
            if "rul_rmse" in m:
                print(f"{name:<10} {seed:>4} {m['rul_rmse']:>7.2f} {m['phm_score']:>8.0f} "
                      f"{m['constant_rmse']:>8.2f} {m['fit_seconds']:>7.1f} {wall:>7.1f}",
                      flush=True)
            else:
                print(f"{name:<10} {seed:>4} {'':>7} {'':>8} {'':>8} {m['fit_seconds']:>7.1f} "
                      f"{wall:>7.1f}   {m['precision']:.3f} {m['recall']:.3f} "
                      f"{m.get('auc', float('nan')):.3f}", flush=True)
    first = rows[names[0]][0]
    print(f"load average {os.getloadavg()[0]:.1f}; engines per split: "
          f"{first['train_lives']} trained on, {first['test_lives']} held out")
    if len(seeds) > 1:
        print(f"\nmean over seeds {args.seeds}")
        for name, runs in rows.items():
            mean = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]
                    if isinstance(runs[0][k], (int, float))}
            if "rul_rmse" in mean:
                spread = np.ptp([r["rul_rmse"] for r in runs])
                print(f"{name:<10} RMSE {mean['rul_rmse']:.2f} (range {spread:.2f}) PHM08 "
                      f"{mean['phm_score']:.0f} fit {mean['fit_seconds']:.1f} s")
            else:
                print(f"{name:<10} precision {mean['precision']:.3f} recall {mean['recall']:.3f}"
                      f" AUC {mean.get('auc', float('nan')):.3f} fit {mean['fit_seconds']:.1f} s")
    return 0


def choose_policies(data: Path, folds: int = 5) -> int:
    import yaml

    from twin.ml.fromdata import HISTORY, STEPS, split_units
    from twin.ml.lives import Preprocess, life_windows, window_index
    from twin.ml.registry import create
    from twin.records.lives import read_lives

    scenario = yaml.safe_load((ROOT / "scenarios" / "fd001.yaml").read_text())
    costs = scenario["costs"]
    policies = scenario["policies"]
    predictive = policies["predictive"]["maintenance.policy"]
    every, down_pm = int(predictive["every"]), float(predictive["duration"])
    down_fail = float(scenario["plant"]["nodes"]["engine"]["failures"]["ttr"])
    lives = read_lives(data, "cmapss")
    train, _held = split_units(lives, 0.2, 0)
    length = {u: len(g) for u, g in lives.groups()}

    def rate(ages: list[float], units: list[object]) -> tuple[float, float]:
        """Cost rate and failure share of lives renewed at ``ages`` (inf: run to failure)."""
        cost = time_ = failures = 0.0
        for age, unit in zip(ages, units, strict=True):
            fail_at = length[unit] + 0.5
            if age < fail_at:
                cost, time_ = cost + costs["preventive"], time_ + age + down_pm
            else:
                cost, time_ = cost + costs["corrective"], time_ + fail_at + down_fail
                failures += 1
        return cost / time_, failures / len(ages)

    print(f"{len(train)} training engines; costs {costs}, downtime {down_pm:g} planned, "
          f"{down_fail:g} after a failure")
    best = min(range(100, 260, 5), key=lambda a: rate([a] * len(train), train)[0])
    print("preventive age: cost rate over the training engines' lives")
    for age in (best - 10, best - 5, best, best + 5, best + 10, best + 20):
        print(f"  {age:>4}  {rate([age] * len(train), train)[0]:.3f}"
              + ("  <- least" if age == best else ""))
    rng = np.random.default_rng(0)
    order = np.array(train)
    rng.shuffle(order)
    thresholds = [10, 15, 20, 25, 30, 40]
    renew: dict[float, tuple[list[float], list[object]]] = {t: ([], []) for t in thresholds}
    for fold in np.array_split(order, folds):
        fitted = [u for u in train if u not in set(fold.tolist())]
        prep = Preprocess.fit(lives.subset(fitted))
        windows = life_windows(lives.subset(fitted), prep, STEPS, 1, 125.0, HISTORY)
        model = create("gbt").fit(windows.X, windows.rul, groups=windows.life)
        scored = lives.subset(fold.tolist())
        values = prep.transform(scored.frame, scored.source)
        start = 0
        for unit, group in scored.groups():
            n = len(group)
            block = values[start:start + n]
            start += n
            ends = np.arange(STEPS - 1, n)  # the policy scores a full window only
            predicted = model.predict(block[window_index(ends, STEPS)])
            for phase in range(every):
                checked = ends % every == phase
                for t in thresholds:
                    hit = ends[checked][predicted[checked] <= t]
                    # reading k (0-based) is in after k + 1 cycles; the cycle under way ends
                    renew[t][0].append(float(hit[0] + 2) if len(hit) else math.inf)
                    renew[t][1].append(unit)
    print(f"predictive threshold (gbt, {folds} folds over the training engines, every {every}):")
    for t in thresholds:
        cost, failed = rate(*renew[t])
        print(f"  {t:>4}  {cost:.3f}  failures {failed:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
