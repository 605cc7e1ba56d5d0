"""twin fit: event logs of known laws in, fitted laws with censoring and a valid scenario out.

``machine_log`` writes the log of one machine fed by an infinite supply, drawing its process
times, operating lives, repairs and preventive maintenance from known laws with numpy, in the
schema ``twin run --events`` writes; the round trip at the end goes through ``twin run --events``
itself.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from twin.cli import main
from twin.fitting import check_frame, fit_log, fit_observations
from twin.fitting.observe import Durations
from twin.fitting.survival import censored_data, fit_survival, naive_fit
from twin.language.loading import load_scenario
from twin.study.stats import t_interval


def machine_log(seed: int, lives: int, *, life: tuple[float, float] | None = (2.5, 900.0),
                pm_age: float | None = 600.0, process: tuple[float, float] = (4.0, 5.0),
                repair: tuple[float, float] = (30.0, 10.0), pm_time: float = 10.0,
                ) -> tuple[pd.DataFrame, dict[str, float]]:
    """raw -> M1 -> done: Weibull(shape, scale) operating lives (``life=None``: exponential
    with mean 900), preventive maintenance at operating age ``pm_age``, gamma(shape, scale)
    process times, lognormal(mean, std) repairs; until ``lives`` lives have ended. Returns the
    log and the truth (failures, total operating time)."""
    rng = np.random.default_rng(seed)
    sigma2 = math.log1p((repair[1] / repair[0]) ** 2)
    mu = math.log(repair[0]) - sigma2 / 2

    def draw_life() -> float:
        if life is None:
            return float(rng.exponential(900.0))
        return float(life[1] * rng.weibull(life[0]))

    rows: list[tuple[float, str, str, float]] = []
    nan = math.nan
    t = age = exposure = 0.0
    left = draw_life()
    ended = failures = part = 0
    due = pm_age if pm_age is not None else math.inf
    while ended < lives:
        part += 1
        rows += [(t, "raw", "release", part), (t, "M1", "start", part)]
        work = float(rng.gamma(*process))
        exposure += work
        while work >= left or work >= due - age:
            step = min(left, due - age)
            t += step
            work -= step
            left -= step
            age += step
            if left <= due - age:
                failures += 1
                rows += [(t, "M1", "fail", nan), (t, "M1", "repair_start", nan)]
                t += float(rng.lognormal(mu, math.sqrt(sigma2)))
                rows.append((t, "M1", "repair_end", nan))
            else:
                rows.append((t, "M1", "pm_start", nan))
                t += pm_time
                rows.append((t, "M1", "pm_end", nan))
            ended += 1
            left, age = draw_life(), 0.0
        t += work
        left -= work
        age += work
        rows += [(t, "M1", "finish", part), (t, "done", "ship", part)]
    frame = pd.DataFrame(rows, columns=["time", "node", "event", "part"])
    return frame, {"failures": failures, "exposure": exposure, "parts": part}


def covers(interval: tuple[float, float], value: float) -> bool:
    return interval[0] <= value <= interval[1]


def test_censored_weibull_intervals_cover_the_truth_where_a_naive_fit_misses() -> None:
    # about 70% of the lives end in preventive maintenance at age 600 (right-censored)
    shape_hits = scale_hits = naive_shape = naive_scale = 0
    censored_share = []
    for seed in range(20):
        frame, _ = machine_log(seed, lives=300)
        result = fit_observations(check_frame(frame))
        lives = result.fits["M1"].lives
        assert lives is not None
        censored_share.append(lives.censored / lives.n)
        weibull = next(c for c in lives.candidates if c.law == "weibull")
        if lives.law == "weibull":
            assert weibull.intervals == lives.intervals
        else:  # the profile intervals of the Weibull candidate itself
            weibull = fit_survival("ttf", result.fits["M1"].lives_data, ("weibull",)).chosen
        shape_hits += covers(weibull.intervals["shape"], 2.5)
        scale_hits += covers(weibull.intervals["scale"], 900)
        naive = result.fits["M1"].naive_lives
        naive_shape += covers(naive.intervals["shape"], 2.5)
        naive_scale += covers(naive.intervals["scale"], 900)
        if seed == 0:  # the same maximum as scipy's censored fit
            c, _, scale = stats.weibull_min.fit(censored_data(result.fits["M1"].lives_data),
                                                floc=0)
            assert weibull.params["shape"] == pytest.approx(c, rel=1e-5)
            assert weibull.params["scale"] == pytest.approx(scale, rel=1e-5)
    assert 0.65 < np.mean(censored_share) < 0.75
    assert shape_hits >= 18 and scale_hits >= 18, (shape_hits, scale_hits)
    # dropping the censored lives: the scale is far too short, the intervals miss 900
    assert naive_scale == 0 and naive_shape <= 10, (naive_shape, naive_scale)


def test_exponential_lives_rate_is_failures_over_exposure() -> None:
    frame, truth = machine_log(3, lives=200, life=None, pm_age=None)
    lives = fit_observations(check_frame(frame)).fits["M1"].lives_data
    assert lives.events == truth["failures"]
    assert float(lives.values.sum()) == pytest.approx(truth["exposure"], rel=1e-12)
    fit = fit_survival("ttf", lives, ("exponential",))
    assert fit.law == "exponential" and fit.censored == 1  # the life open at the end
    rate = truth["failures"] / truth["exposure"]
    assert 1 / fit.params["mean"] == pytest.approx(rate, rel=1e-12)
    # the interval of the mean: exp(log mean -+ 1.96 / sqrt(failures))
    half = stats.norm.ppf(0.975) / math.sqrt(truth["failures"])
    assert fit.intervals["mean"][0] == pytest.approx(fit.params["mean"] * math.exp(-half))
    assert fit.intervals["mean"][1] == pytest.approx(fit.params["mean"] * math.exp(half))


def test_known_laws_of_a_large_uncensored_sample() -> None:
    rng = np.random.default_rng(7)
    from twin.fitting.laws import fit_durations
    gamma = fit_durations("p", rng.gamma(4.0, 0.25, 50_000))
    assert gamma.law == "gamma"
    assert covers(gamma.intervals["shape"], 4.0) and covers(gamma.intervals["scale"], 0.25)
    logn = fit_durations("r", rng.lognormal(1.0, 0.5, 20_000))
    assert logn.law == "lognormal"
    assert logn.params["mean"] == pytest.approx(math.exp(1.125), rel=0.02)
    assert fit_durations("c", np.full(100, 0.8)).spec() == {"dist": "constant", "value": 0.8}
    steps = fit_durations("e", rng.choice([0.5, 0.6, 0.9], 5000))
    assert steps.law == "empirical" and set(steps.spec()["values"]) == {0.5, 0.6, 0.9}


def test_written_scenario_validates_and_gives_the_logs_throughput(tmp_path: Path) -> None:
    frame, truth = machine_log(11, lives=400)
    log = tmp_path / "plant.csv"
    frame.to_csv(log, index=False)
    out, report = tmp_path / "fitted.yaml", tmp_path / "fit.html"
    assert main(["fit", str(log), "--out", str(out), "--report", str(report)]) == 0
    scenario = load_scenario(out)
    m1 = scenario.plant.nodes["M1"]
    assert m1.process_time.dist == "gamma"
    assert m1.failures.ttf.dist in ("weibull", "gamma", "lognormal", "normal")
    assert m1.failures.ttr.dist in ("lognormal", "gamma")
    assert scenario.maintenance.policy.kind == "preventive"
    assert scenario.maintenance.policy.every == pytest.approx(600)
    assert scenario.plant.nodes["raw"].interarrival is None  # M1 never waited: infinite supply
    assert "Kaplan-Meier" in report.read_text()
    from twin import run
    from twin.study.executors import LocalExecutor
    summary = run(scenario, executor=LocalExecutor(2)).summary
    log_throughput = truth["parts"] / frame["time"].max()
    assert summary["kpis"]["throughput"]["mean"] == pytest.approx(log_throughput, rel=0.03)


def test_bad_logs_exit_2_naming_the_file_row_and_column(tmp_path: Path, capsys) -> None:
    frame, _ = machine_log(1, lives=5)
    missing = tmp_path / "missing.csv"
    frame.drop(columns=["part"]).to_csv(missing, index=False)
    assert main(["fit", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "'part'" in err and "missing required column" in err
    assert "Traceback" not in err

    swapped = frame.copy()
    i = int(swapped.index[swapped["event"] == "finish"][3])
    swapped.loc[i, "time"] = swapped.loc[i - 1, "time"] - 1.0  # finish before its start
    bad = tmp_path / "order.parquet"
    swapped.to_parquet(bad)
    assert main(["fit", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: row {i + 1}, column 'time': events out of time order at node 'M1'" in err

    typo = frame.copy()
    typo.loc[5, "event"] = "finsh"
    csv = tmp_path / "typo.csv"
    typo.to_csv(csv, index=False)
    assert main(["fit", str(csv)]) == 2
    err = capsys.readouterr().err
    assert f"{csv}:7: row 6, column 'event': unknown event 'finsh'; did you mean 'finish'?" in err

    assert main(["fit", str(tmp_path / "nowhere.parquet")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["fit", str(tmp_path / "empty")]) == 2
    assert "a folder without Parquet files" in capsys.readouterr().err


def test_a_folder_of_parquet_parts_is_one_log(tmp_path: Path) -> None:
    """A live twin's record, or any log written in parts: read in name order, the same log."""
    from twin.fitting.log import read_log

    frame, _ = machine_log(1, lives=5)
    whole = tmp_path / "whole.parquet"
    frame.to_parquet(whole)
    parts = tmp_path / "parts"
    parts.mkdir()
    half = len(frame) // 2
    frame.iloc[:half].to_parquet(parts / "part-00000.parquet")
    frame.iloc[half:].to_parquet(parts / "part-00001.parquet")
    (parts / ".part-00002.parquet.tmp").write_text("being written")
    one, two = read_log(whole).frame, read_log(parts).frame
    for name in ("replication", "time", "node", "event", "part"):
        assert one[name].astype(str).tolist() == two[name].astype(str).tolist(), name


ROUND_TRIP = {
    "name": "three-machine-line", "horizon": 60000, "warmup": 2000, "replications": 4,
    "seed": 5,
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
    "maintenance": {"crew": 1,
                    "policy": {"kind": "preventive", "every": 600, "duration": 10}},
}


def test_round_trip_through_twin_run_events(tmp_path: Path) -> None:
    import yaml
    original = tmp_path / "line.yaml"
    original.write_text(yaml.safe_dump(ROUND_TRIP))
    run_dir = tmp_path / "run"
    assert main(["run", str(original), "--events", "--out", str(run_dir), "--no-sensors",
                 "--workers", "2"]) == 0
    result = fit_log(run_dir / "events.parquet", out=tmp_path / "fitted.yaml")
    hits = 0
    for m in ("M1", "M2", "M3"):
        lives = result.fits[m].lives_data
        assert 0.6 < 1 - lives.events / len(lives) < 0.8  # about 70% censored
        weibull = fit_survival("ttf", lives, ("weibull",))
        hits += covers(weibull.intervals["shape"], 2.5) + covers(weibull.intervals["scale"], 900)
        naive = naive_fit(lives)
        assert not covers(naive.intervals["scale"], 900)
        assert result.fits[m].process.law == "gamma"
    assert hits >= 5
    assert result.graph.kinds == {"raw": "source", "M1": "machine", "B1": "buffer",
                                  "M2": "machine", "B2": "buffer", "M3": "machine",
                                  "done": "sink"}
    assert result.obs.buffer_max == {"B1": 5, "B2": 5}
    assert result.pm_every == pytest.approx(600)
    summary = json.loads((run_dir / "summary.json").read_text())
    _, low, high = t_interval(summary["kpis"]["throughput"]["values"], 0.99)
    fitted = load_scenario(tmp_path / "fitted.yaml",
                           overrides=[("horizon", 60000), ("warmup", 2000), ("replications", 8)])
    from twin import run
    from twin.study.executors import LocalExecutor
    refit = run(fitted, executor=LocalExecutor(2)).summary["kpis"]["throughput"]["mean"]
    assert low <= refit <= high, (low, refit, high)


def test_durations_keep_censored_lives() -> None:
    d = Durations(np.array([1.0, 2.0, 3.0]), np.array([True, False, False]))
    fit = fit_survival("x", d, ("exponential",))
    assert fit.params["mean"] == pytest.approx(6.0)  # exposure 6 over 1 failure


def test_twenty_seeds_through_the_engine_cover_the_weibull_lives(tmp_path: Path) -> None:
    """One machine with Weibull(2.5, 900) operating lives, maintained at age 600 (about 70% of
    lives censored), gamma process times, lognormal repairs: the event log of each of 20 seeds,
    fitted with censoring, gives 95% intervals that cover both parameters in at least 18."""
    from twin.engine.replication import simulate
    from twin.fitting.log import read_log
    from twin.language.loading import scenario_from_data

    class Keep:
        def write(self, table):  # type: ignore[no-untyped-def]
            self.table = table

    covered = 0
    for seed in range(20):
        scenario = scenario_from_data({
            "name": "lives", "horizon": 150_000, "seed": seed,
            "plant": {"nodes": {
                "raw": {"kind": "source"},
                "M": {"kind": "machine",
                      "process_time": {"dist": "gamma", "shape": 4, "scale": 6},
                      "failures": {"ttf": {"dist": "weibull", "shape": 2.5, "scale": 900},
                                   "ttr": {"dist": "lognormal", "mean": 30, "std": 10}}},
                "done": {"kind": "sink"}},
                "edges": [["raw", "M"], ["M", "done"]]},
            "maintenance": {"crew": None, "policy": {"kind": "preventive", "every": 600,
                                                     "duration": 20}}})
        keep = Keep()
        simulate(scenario, 0, event_sink=keep)
        path = tmp_path / f"seed-{seed}.parquet"
        keep.table.to_pandas().to_parquet(path)
        lives = fit_observations(read_log(path)).fits["M"].lives_data
        weibull = fit_survival("ttf", lives, ("weibull",))
        covered += covers(weibull.intervals["shape"], 2.5) and covers(weibull.intervals["scale"],
                                                                       900)
    assert covered >= 18
