"""Warm starts: a replication starts from a plant state (queued parts, a machine's age), a saved
state continues a run number for number, and bad state files are refused."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from twin.cli import main
from twin.engine.replication import simulate
from twin.engine.state import PlantState
from twin.language.loading import scenario_from_data

ROOT = Path(__file__).resolve().parents[1]


class Keep:
    def write(self, table):  # type: ignore[no-untyped-def]
        self.frame = table.to_pandas()


def test_ten_queued_parts_clear_in_ten_on_average() -> None:
    scenario = scenario_from_data({
        "name": "queue", "horizon": 200,
        "plant": {"nodes": {"src": {"kind": "source", "interarrival": 1e9},  # no arrivals
                            "B": {"kind": "buffer"},
                            "M": {"kind": "machine",
                                  "process_time": {"dist": "exponential", "mean": 1}},
                            "out": {"kind": "sink"}},
                  "edges": [["src", "B"], ["B", "M"], ["M", "out"]]}})
    state = PlantState.model_validate({"buffers": {"B": 10}})
    cleared = []
    for r in range(300):
        keep = Keep()
        simulate(scenario, r, state=state, event_sink=keep)
        shipped = keep.frame[keep.frame["event"] == "ship"]["time"].to_numpy()
        assert len(shipped) == 10
        cleared.append(shipped[-1])
    low, high = stats.t.interval(0.99, len(cleared) - 1, np.mean(cleared), stats.sem(cleared))
    assert low <= 10 <= high  # a sum of ten exponential(1) times
    assert high - low < 1.2


def test_throughput_per_bucket_of_a_draining_queue(tmp_path: Path) -> None:
    """Ten parts before an exponential(1) machine: in the first 5 it ships min(N, 10) with N
    Poisson(5); in the next 5, what is left."""
    import yaml

    scenario = {"name": "drain", "horizon": 10, "replications": 400,
                "plant": {"nodes": {"src": {"kind": "source", "interarrival": 1e9},
                                    "B": {"kind": "buffer"},
                                    "M": {"kind": "machine",
                                          "process_time": {"dist": "exponential", "mean": 1}},
                                    "out": {"kind": "sink"}},
                          "edges": [["src", "B"], ["B", "M"], ["M", "out"]]}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(scenario))
    (tmp_path / "state.yaml").write_text("buffers: {B: 10}\n")
    assert main(["run", str(tmp_path / "s.yaml"), "--state", str(tmp_path / "state.yaml"),
                 "--buckets", "5", "--out", str(tmp_path / "out"), "--workers", "2"]) == 0
    buckets = json.loads((tmp_path / "out" / "summary.json").read_text())["buckets"]
    assert buckets["end"] == [5, 10]
    k = np.arange(0, 60)
    first = float(np.sum(np.minimum(k, 10) * stats.poisson.pmf(k, 5))) / 5
    second = float(np.sum(np.minimum(k, 10) * stats.poisson.pmf(k, 10))) / 5 - first
    for stat, exact in zip(buckets["throughput"], (first, second), strict=True):
        low, high = stat["ci95"]
        assert low - 0.02 <= exact <= high + 0.02
        assert high - low < 0.15


@pytest.mark.parametrize(("age", "exact"), [(200.0, 143.38), (0.0, 265.87)])
def test_a_machine_started_at_an_age_lives_the_residual_life(age: float, exact: float) -> None:
    scenario = scenario_from_data({
        "name": "aged", "horizon": 2500, "maintenance": {"crew": None},
        "plant": {"nodes": {"src": {"kind": "source"},
                            "M": {"kind": "machine", "process_time": 1, "failures": {
                                "ttf": {"dist": "weibull", "shape": 2, "scale": 300},
                                "ttr": 1}},
                            "out": {"kind": "sink"}},
                  "edges": [["src", "M"], ["M", "out"]]}})
    state = PlantState.model_validate({"machines": {"M": {"state": "working", "age": age,
                                                          "part": {}}}})
    first = []
    for r in range(400):
        keep = Keep()
        simulate(scenario, r, state=state, event_sink=keep)
        first.append(float(keep.frame[keep.frame["event"] == "fail"]["time"].iloc[0]))

    def survival(x: float) -> float:
        return math.exp(-(x / 300) ** 2)

    mean_residual = integrate.quad(lambda t: survival(age + t) / survival(age), 0, np.inf)[0]
    assert mean_residual == pytest.approx(exact, abs=0.01)
    low, high = stats.t.interval(0.99, len(first) - 1, np.mean(first), stats.sem(first))
    assert low <= mean_residual <= high
    # the first failure ages follow S(age + t) / S(age)
    test = stats.kstest(first, lambda t: 1 - np.exp(-((age + np.asarray(t)) / 300) ** 2
                                                    + (age / 300) ** 2))
    assert test.pvalue > 0.01


def test_a_saved_state_continues_the_run_number_for_number(tmp_path: Path) -> None:
    default = str(ROOT / "scenarios" / "default.yaml")
    common = ["--replications", "3", "--workers", "2"]
    saved = tmp_path / "state.yaml"
    assert main(["run", default, "--horizon", "4000", "--out", str(tmp_path / "first"),
                 "--save-state", str(saved), *common]) == 0
    state = PlantState.model_validate(__import__("yaml").safe_load(saved.read_text()))
    assert state.time == 4000 and state.replay is not None
    assert state.machines["mill"].age > 0 and "B_saw" in state.buffers
    # on from the state for 4000 more, against one run of 8000 measured from 4000
    assert main(["run", default, "--horizon", "4000", "--set", "warmup=0", "--state", str(saved),
                 "--out", str(tmp_path / "continued"), *common]) == 0
    assert main(["run", default, "--horizon", "8000", "--set", "warmup=4000",
                 "--out", str(tmp_path / "long"), *common]) == 0
    continued = json.loads((tmp_path / "continued" / "summary.json").read_text())
    long = json.loads((tmp_path / "long" / "summary.json").read_text())
    assert continued["kpis"] == long["kpis"]
    assert continued["machines"] == long["machines"]
    # edited (as an MES would give it): fresh random streams from the state itself
    edited = saved.read_text().replace("time: 4000.0", "time: 4000.5")
    (tmp_path / "edited.yaml").write_text(edited)
    assert main(["run", default, "--horizon", "4000", "--set", "warmup=0", "--state",
                 str(tmp_path / "edited.yaml"), "--out", str(tmp_path / "fresh"), *common]) == 0
    fresh = json.loads((tmp_path / "fresh" / "summary.json").read_text())
    assert fresh["kpis"]["throughput"]["values"] != long["kpis"]["throughput"]["values"]
    assert fresh["kpis"]["throughput"]["mean"] == pytest.approx(
        long["kpis"]["throughput"]["mean"], rel=0.1)


@pytest.mark.parametrize(("text", "words"), [
    ("machines:\n  mil: {age: 5}\n", "machines.mil: no machine 'mil' in scenario "
                                     "'bracket-line'; did you mean 'mill'?"),
    ("machines:\n  mill: {state: working, part: {}, remaining: -2}\n",
     "machines.mill.remaining: Input should be greater than or equal to 0"),
    ("machines:\n  mill: {state: wroking}\n", "machines.mill.state"),
    ("buffers:\n  B_saw: 3\n  B_sa: 2\n", "did you mean 'B_saw'?"),
    ("machines:\n  mill: {state: blocked}\n", "a blocked machine holds a part"),
])
def test_bad_state_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                words: str) -> None:
    path = tmp_path / "state.yaml"
    path.write_text(text)
    assert main(["run", str(ROOT / "scenarios" / "default.yaml"), "--state", str(path),
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and words in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_downtime_per_bucket_follows_the_two_state_chain(tmp_path: Path) -> None:
    """A saturated machine that fails at rate l = 0.2 per minute of work and is repaired in an
    exponential r = 2 minutes, up at time 0: the expected time down in [t0, t1] is
    a ((t1 - t0) - (exp(-c t0) - exp(-c t1)) / c), a = l r / (1 + l r), c = l + 1 / r; each
    bucket's interval holds it, and in every replication the buckets add up to the run's
    unplanned downtime."""
    import yaml

    scenario = {"name": "updown", "horizon": 20, "replications": 400,
                "plant": {"nodes": {"src": {"kind": "source"},
                                    "M": {"kind": "machine",
                                          "process_time": {"dist": "constant", "value": 0.01},
                                          "failures": {
                                              "ttf": {"dist": "exponential", "mean": 5},
                                              "ttr": {"dist": "exponential", "mean": 2}}},
                                    "out": {"kind": "sink"}},
                          "edges": [["src", "M"], ["M", "out"]]}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(scenario))
    assert main(["run", str(tmp_path / "s.yaml"), "--buckets", "5", "--no-sensors",
                 "--out", str(tmp_path / "out"), "--workers", "2"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    buckets = summary["buckets"]
    rate, repair = 0.2, 2.0
    a, c = rate * repair / (1 + rate * repair), rate + 1 / repair
    for k, stat in enumerate(buckets["unplanned_downtime"]):
        t0, t1 = 5.0 * k, 5.0 * (k + 1)
        exact = a * ((t1 - t0) - (math.exp(-c * t0) - math.exp(-c * t1)) / c) / 5
        low, high = stat["ci95"]
        assert low <= exact <= high, (k, low, exact, high)
    whole = summary["kpis"]["unplanned_downtime"]["values"]
    per_bucket = np.mean([s["values"] for s in buckets["unplanned_downtime"]], axis=0)
    np.testing.assert_allclose(per_bucket, whole, rtol=1e-9, atol=1e-12)
    assert "orders_due" not in buckets  # no orders in this plant


def test_orders_due_and_late_per_bucket_are_the_orders_tables(tmp_path: Path) -> None:
    """Per day of the cell's week: the orders due that day, and those late (done after their
    due date, or still open at the end), as the run's orders table counts them."""
    import pandas as pd

    out = tmp_path / "out"
    assert main(["run", str(ROOT / "scenarios" / "cell-orders.yaml"), "--buckets", "1440",
                 "--replications", "2", "--no-sensors", "--out", str(out)]) == 0
    buckets = json.loads((out / "summary.json").read_text())["buckets"]
    orders = pd.read_parquet(out / "orders.parquet")
    orders["day"] = (orders["due"] // 1440).astype(int)
    orders["late"] = orders["completion"].isna() | (orders["lateness"] > 0)
    for rep in range(2):
        mine = orders[orders["replication"] == rep]
        due = mine.groupby("day").size().reindex(range(7), fill_value=0)
        late = mine.groupby("day")["late"].sum().reindex(range(7), fill_value=0)
        assert [s["values"][rep] for s in buckets["orders_due"]] == due.tolist()
        assert [s["values"][rep] for s in buckets["late_orders"]] == late.tolist()
    assert sum(s["mean"] for s in buckets["late_orders"]) > 10
    report = (out / "report.html").read_text()
    for title in ("Throughput per 1440", "Unplanned downtime per bucket",
                  "Orders due per bucket", "Cost rate by cause"):  # the costs' own figure too
        assert title in report, title
