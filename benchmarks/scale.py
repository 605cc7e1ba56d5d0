"""Scale: memory against the horizon, the validate command's time, a 200-machine plant for a
month, and a 1,000-point sweep (its overhead, and a kill-and-resume).

Prints, on the machine it runs on:
1. peak resident memory of one replication of scenarios/wear.yaml with its sensor readings
   written (Parquet, streamed), at horizons 1e5, 1e6 and 1e7, each in a fresh process, and
   whether the streamed readings are identical to the readings written in one piece;
2. ``twin validate scenarios/default.yaml`` as a process: best of several;
3. one replication of a 30-day month of a 200-machine plant (benchmarks/make_plant.py):
   wall time, plant events per second, and the ratio against a hand-written SimPy model of
   the same plant (the machine loop of benchmarks/handwritten_line.py);
4. ``twin sweep`` of wear.yaml over 1,000 values x 5 replications (short horizon): total time
   against the sum of the simulations' own times, results identical for batch sizes 1 and
   the default and for 1 and 2 workers, and a sweep killed midway (SIGKILL) then run again:
   the second pass runs only what was not finished.

Usage: python benchmarks/scale.py [--quick] [--only memory,validate,plant,sweep]
``--quick``: horizons 1e5 and 1e6, a 200-point sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WEAR = ROOT / "scenarios" / "wear.yaml"
DEFAULT = ROOT / "scenarios" / "default.yaml"


def python(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], check=True, capture_output=True, text=True,
                          cwd=ROOT, **kwargs)  # type: ignore[call-overload]


# ----------------------------------------------------------------------------- 1. memory


def child_memory(horizon: float, out: str, rows: int | None, whole: bool) -> None:
    """One replication with its readings written under ``out``; prints a JSON line."""
    from twin import load_scenario
    from twin.engine.replication import simulate
    from twin.engine.sensors import ROWS, ParquetSink

    class Whole:
        """A sink that takes whole tables only: the readings are written in one piece."""

        def __init__(self, sink: ParquetSink) -> None:
            self.sink = sink

        def write(self, machine: str, readings: object) -> None:
            self.sink.write(machine, readings)  # type: ignore[arg-type]

    scenario = load_scenario(WEAR, [("horizon", horizon), ("replications", 1)])
    sink = ParquetSink(Path(out), 0, rows=rows or ROWS)
    start = time.perf_counter()
    simulate(scenario, 0, sensor_sink=Whole(sink) if whole else sink)
    took = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": took, "peak": peak}))


def memory_run(horizon: float, out: Path, rows: int | None = None,
               whole: bool = False) -> dict[str, float]:
    args = [str(Path(__file__)), "--child-memory", str(horizon), str(out)]
    if rows is not None:
        args += ["--rows", str(rows)]
    if whole:
        args.append("--whole")
    return json.loads(python(*args).stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def same_readings(a: Path, b: Path) -> bool:
    """The two folders' readings: the same rows, columns and categories, floats bit for bit."""
    import numpy as np
    import pandas as pd

    x, y = pd.read_parquet(a), pd.read_parquet(b)
    if list(x.columns) != list(y.columns) or len(x) != len(y) or not x.equals(y):
        return False
    for column in x.columns:
        if x[column].dtype == "category":
            if list(x[column].cat.categories) != list(y[column].cat.categories):
                return False
        elif x[column].dtype.kind == "f" and not (
                x[column].to_numpy().view(np.int64) == y[column].to_numpy().view(np.int64)).all():
            return False
    return True


def memory(horizons: list[float]) -> None:
    print("1. memory: one replication of scenarios/wear.yaml with its sensor readings written "
          "(each in a fresh process)")
    with tempfile.TemporaryDirectory() as tmp:
        # the identity check: a replication streamed in small row groups against one written
        # in one piece at the end (as before streaming)
        check = 100_000.0
        memory_run(check, Path(tmp) / "whole", whole=True)
        memory_run(check, Path(tmp) / "streamed", rows=4096)
        import pandas as pd

        rows = len(pd.read_parquet(Path(tmp) / "whole"))
        same = same_readings(Path(tmp) / "whole", Path(tmp) / "streamed")
        print(f"   readings streamed in row groups of 4,096 vs written in one piece, horizon "
              f"{check:,.0f}: {rows:,} readings, identical: {'yes' if same else 'NO'}")
        peaks = []
        for horizon in horizons:
            out = Path(tmp) / f"h{horizon:g}"
            got = memory_run(horizon, out)
            size = sum(f.stat().st_size for f in out.rglob("*.parquet"))
            peaks.append(got["peak"])
            print(f"   horizon {horizon:>12,.0f}: peak RSS {got['peak'] / 2**20:6.0f} MiB, "
                  f"{got['seconds']:7.1f} s, readings files {size / 2**20:7.1f} MiB")
        print(f"   largest peak / smallest: {max(peaks) / min(peaks):.2f} (target <= 1.25)")


# ----------------------------------------------------------------------------- 2. validate


def validate(repeat: int = 7) -> None:
    twin = str(Path(sys.executable).with_name("twin"))
    command = [twin, "validate", str(DEFAULT)] if Path(twin).exists() else \
        [sys.executable, "-m", "twin.cli", "validate", str(DEFAULT)]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    bare = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, cwd=ROOT)
        bare.append(time.perf_counter() - start)
    print(f"2. twin validate scenarios/default.yaml: best of {repeat} {min(times):.3f} s "
          f"(median {sorted(times)[repeat // 2]:.3f} s; the interpreter alone: "
          f"{min(bare):.3f} s) (target < 0.5 s)")


# ----------------------------------------------------------------------------- 3. plant


def plant() -> None:
    sys.path.insert(0, str(HERE))
    import make_plant
    import plant_handwritten

    from twin.engine.replication import simulate
    from twin.language.loading import load_scenario

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plant200.yaml"
        make_plant.write(path)
        scenario = load_scenario(path)
    machines = sum(1 for n in scenario.plant.nodes.values() if n.kind == "machine")
    horizon = scenario.horizon

    class Count:
        rows = 0

        def write(self, table: object) -> None:
            Count.rows += table.num_rows  # type: ignore[attr-defined]

    start = time.perf_counter()
    simulate(scenario, 0, event_sink=Count())  # the plant's events, counted once
    t_logged = time.perf_counter() - start
    events = Count.rows
    start = time.perf_counter()
    result = simulate(scenario, 0)
    t_twin = time.perf_counter() - start
    start = time.perf_counter()
    hand = plant_handwritten.simulate(make_plant.layout(), horizon)
    t_hand = time.perf_counter() - start
    print(f"3. a {machines}-machine plant for a month ({horizon:,.0f} min, one replication; "
          f"{make_plant.describe()}):")
    print(f"   parts made: twin {result.kpis['throughput'] * (horizon - scenario.warmup):,.0f}, "
          f"hand-written {hand['parts']:,} (same plant)")
    print(f"   twin {t_twin:.1f} s, {events:,} plant events, {events / t_twin:,.0f} events/s; "
          f"hand-written {t_hand:.1f} s; ratio {t_twin / t_hand:.2f}")
    print(f"   (twin keeping the event log, which counted them: {t_logged:.1f} s)")


# ----------------------------------------------------------------------------- 4. sweep


PARAM = "plant.nodes.press.process_time.mean"
SWEEP_HORIZON = 2000.0


def sweep_values(points: int) -> list[float]:
    """The press's mean process time, 0.80 to 0.95 min."""
    return [round(0.80 + 0.15 * i / points, 5) for i in range(points)]


def sweep_command(out: Path, points: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "twin.cli", "sweep", str(WEAR),
            "--param", PARAM, "--values", ",".join(f"{v:g}" for v in sweep_values(points)),
            "--horizon", f"{SWEEP_HORIZON:g}", "--set", "warmup=100", "--replications", "5",
            "--workers", str(workers), "--out", str(out)]


def saved(out: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*/replication-*.json"))]


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sweep(points: int, workers: int = 2) -> None:
    total = points * 5
    print(f"4. twin sweep of scenarios/wear.yaml over {PARAM}: {points:,} values x 5 "
          f"replications = {total:,} simulations (horizon {SWEEP_HORIZON:,.0f} min), "
          f"{workers} workers")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sweep"
        cpu = cpu_of_children()
        start = time.perf_counter()
        subprocess.run(sweep_command(out, points, workers), check=True, capture_output=True,
                       cwd=ROOT)
        wall = time.perf_counter() - start
        cpu = cpu_of_children() - cpu
        runs = saved(out)
        sim_wall = sum(float(r["seconds"]) for r in runs)  # type: ignore[arg-type]
        sim_cpu = sum(float(r["cpu_seconds"]) for r in runs)  # type: ignore[arg-type]
        print(f"   total {wall:.1f} s wall; simulations {sim_wall:.1f} s summed "
              f"({sim_wall / len(runs) * 1000:.0f} ms each)")
        print(f"   overhead: {cpu / sim_cpu - 1:.1%} of CPU time (all processes {cpu:.1f} s, "
              f"simulations {sim_cpu:.1f} s); wall x workers / simulations "
              f"{wall * workers / sim_wall - 1:+.1%}")
        doc = json.loads((out / "sweep.json").read_text())
        identical(points, doc)
        resume(points, workers, Path(tmp) / "killed", doc)


def identical(points: int, doc: dict[str, object]) -> None:
    """The same sweep in-process with batch sizes 1 and 7, on 1 and 2 workers."""
    from twin import load_scenario
    from twin.study.executors import make_executor
    from twin.study.variants import sweep as run_sweep

    scenario = load_scenario(WEAR, [("horizon", SWEEP_HORIZON), ("warmup", 100),
                                    ("replications", 5)])
    few = sweep_values(points)[:: max(1, points // 40)]
    factors = [(PARAM, few)]
    docs = {}
    for workers, batch in ((1, 1), (2, 1), (2, 7)):
        docs[(workers, batch)], _ = run_sweep(scenario, factors,
                                              executor=make_executor(workers), batch=batch)
    texts = {json.dumps(d["points"], sort_keys=True) for d in docs.values()}
    wanted = {json.dumps(p["kpis"], sort_keys=True) for p in doc["points"]  # type: ignore[attr-defined]
              if p["params"][PARAM] in few}
    got = {json.dumps(p["kpis"], sort_keys=True) for p in docs[(1, 1)]["points"]}
    print(f"   {len(few)} of the points again in-process: workers 1 and 2, batches of 1 and 7, "
          f"and the command's default: identical: "
          f"{'yes' if len(texts) == 1 and wanted == got else 'NO'}")


def resume(points: int, workers: int, out: Path, whole: dict[str, object]) -> None:
    total = points * 5
    command = sweep_command(out, points, workers)
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=ROOT, start_new_session=True)
    runs = out / "runs"
    while len(list(runs.glob("*/replication-*.json"))) < total * 0.4:
        if proc.poll() is not None:
            raise RuntimeError("the sweep ended before it could be killed")
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in runs.glob("*/replication-*.json")}
    subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in runs.glob("*/replication-*.json")}
    kept = sum(after.get(p) == stamp for p, stamp in first.items())
    ran = sum(p not in first or first[p] != stamp for p, stamp in after.items())
    doc = json.loads((out / "sweep.json").read_text())
    same = doc["points"] == whole["points"]
    print(f"   killed (SIGKILL) with {len(first):,} of {total:,} simulations finished; the "
          f"second pass ran {ran:,} (total - finished = {total - len(first):,}), kept "
          f"{kept:,} untouched; results identical to the uninterrupted sweep: "
          f"{'yes' if same else 'NO'}")


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="memory,validate,plant,sweep")
    parser.add_argument("--child-memory", nargs=2, metavar=("HORIZON", "OUT"))
    parser.add_argument("--rows", type=int)
    parser.add_argument("--whole", action="store_true")
    args = parser.parse_args()
    if args.child_memory:
        child_memory(float(args.child_memory[0]), args.child_memory[1], args.rows, args.whole)
        return
    only = set(args.only.split(","))
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at the start "
          "(other work on the machine makes the times noisy)")
    if "memory" in only:
        memory([1e5, 1e6] if args.quick else [1e5, 1e6, 1e7])
    if "validate" in only:
        validate()
    if "plant" in only:
        plant()
    if "sweep" in only:
        sweep(200 if args.quick else 1000)


if __name__ == "__main__":
    main()
