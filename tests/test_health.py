"""Machine health: degradation against first-passage theory, sensors against their formula,
condition-based maintenance against reactive and preventive on common random numbers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import TypeAdapter

from tests.helpers import assert_matches, simulate_plant
from twin import load_scenario
from twin.cli import main
from twin.engine.health import mean_time_to_failure, sample_path
from twin.engine.replication import simulate
from twin.engine.sensors import MemorySink
from twin.language.schema import Degradation
from twin.study.executors import SerialExecutor
from twin.study.stats import statistic
from twin.study.variants import compare, paired_difference

ROOT = Path(__file__).resolve().parents[1]
WEAR = ROOT / "scenarios" / "wear.yaml"
DEGRADATION = TypeAdapter(Degradation)

MODELS = [
    {"model": "markov", "rates": [0.02, 0.05, 0.1]},
    {"model": "gamma", "rate": 0.5, "scale": 0.02, "threshold": 1.0, "step": 0.05},
    {"model": "wiener", "drift": 0.01, "volatility": 0.02, "threshold": 1.0, "step": 0.01},
]


@pytest.mark.parametrize("spec", MODELS, ids=[m["model"] for m in MODELS])
def test_mean_life_matches_first_passage_time(spec: dict) -> None:
    model = DEGRADATION.validate_python(spec)
    rng = np.random.default_rng(3)
    lives = [sample_path(model, rng).fail_age for _ in range(4000)]
    exact = mean_time_to_failure(model)
    if spec["model"] == "wiener":
        assert exact == pytest.approx(100.0, rel=1e-3)  # threshold / drift
    groups = np.array_split(np.array(lives), 20)
    assert_matches(statistic([g.mean() for g in groups]), exact, rel_precision=0.03)


def test_simulated_availability_follows_the_degradation_model() -> None:
    spec = MODELS[0]
    mttf, mttr = mean_time_to_failure(DEGRADATION.validate_python(spec)), 5.0
    plant = {"nodes": {"raw": {"kind": "source"},
                       "M1": {"kind": "machine", "process_time": 1.0, "degradation": spec,
                              "failures": {"ttr": mttr}},
                       "done": {"kind": "sink"}},
             "edges": [["raw", "M1"], ["M1", "done"]]}
    summary = simulate_plant(plant, horizon=100_000, warmup=1_000, replications=10)
    assert_matches(summary["machines"]["M1"]["availability"], mttf / (mttf + mttr),
                   rel_precision=0.01)


def test_shocks_compete_with_wear() -> None:
    base = {"model": "markov", "rates": [0.01]}
    model = DEGRADATION.validate_python({**base, "shocks": 0.01})
    rng = np.random.default_rng(5)
    paths = [sample_path(model, rng) for _ in range(4000)]
    # min of two independent exponentials of rate 0.01: mean 50, half of them shocks
    assert np.mean([p.fail_age for p in paths]) == pytest.approx(50, rel=0.05)
    assert np.mean([p.cause == "shock" for p in paths]) == pytest.approx(0.5, abs=0.03)


def test_imperfect_restoration_starts_a_life_worn() -> None:
    model = DEGRADATION.validate_python({**MODELS[1]})
    rng = np.random.default_rng(1)
    fresh = np.mean([sample_path(model, rng).fail_age for _ in range(500)])
    worn = np.mean([sample_path(model, rng, initial=0.5).fail_age for _ in range(500)])
    assert worn == pytest.approx(fresh / 2, rel=0.1)


def test_sensor_readings_follow_their_function_of_wear() -> None:
    scenario = load_scenario(WEAR, [("horizon", 20_000), ("warmup", 0)])
    sink = MemorySink()
    simulate(scenario, 0, sensor_sink=sink)
    df = sink.frame()
    sensors = scenario.plant.nodes["press"].sensors  # type: ignore[union-attr]
    for name, spec in sensors.items():
        part = df[df["sensor"] == name]
        signal = spec.base + spec.gain * part["wear"] ** spec.power
        scale = np.where(part["state"] == "working", 1.0, spec.idle)
        residual = part["value"] - signal * scale
        n = len(residual)
        assert abs(residual.mean()) < 4 * spec.noise / math.sqrt(n)
        assert residual.std() == pytest.approx(spec.noise, rel=0.03)
        # one reading per period while the machine is on, none while it is off
        assert np.allclose(np.diff(np.sort(part["time"].unique())) % spec.period, 0, atol=1e-6)
        assert set(part["state"].astype(str)) <= {"working", "starved", "blocked"}
    # wear rises within a life and restarts at renewals
    life = df[(df["sensor"] == "vibration") & (df["life"] == 1)]
    assert life["wear"].iloc[-1] > life["wear"].iloc[0]
    assert df["life"].max() >= 5


def test_run_writes_parquet_sensor_files(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["run", str(WEAR), "--out", str(out), "--horizon", "5000", "--replications",
                 "2"]) == 0
    files = sorted((out / "sensors").rglob("*.parquet"))
    assert [f.parent.name for f in files] == ["machine=press", "machine=press"]
    df = pd.read_parquet(out / "sensors")
    assert list(df.columns) == ["replication", "sensor", "time", "value", "state", "age",
                                "wear", "life", "machine"]
    for (_rep, sensor), group in df.groupby(["replication", "sensor"], observed=True):
        period = {"vibration": 1.0, "temperature": 5.0}[sensor]
        assert group["time"].is_unique  # one row per reading
        assert len(group) <= 5000 / period
        assert len(group) > 0.8 * 5000 / period  # the press is off only while down
    assert set(df["replication"]) == {0, 1}


def test_condition_based_maintenance_reduces_failures_on_common_random_numbers() -> None:
    scenario = load_scenario(WEAR, [("horizon", 30_000), ("replications", 6)])
    doc = compare(scenario, executor=SerialExecutor(), baseline="reactive")
    cbm = doc["policies"]["condition-based"]
    reactive = doc["policies"]["reactive"]
    failures = paired_difference(cbm["machines"]["press"]["failures"]["values"],
                                 reactive["machines"]["press"]["failures"]["values"])
    assert failures["ci95"][1] < 0
    assert cbm["machines"]["press"]["preventive"]["mean"] > 0
    assert doc["ranking"][0]["name"] == "condition-based"


def test_bundled_scenario_condition_based_beats_reactive_and_preventive() -> None:
    scenario = load_scenario(WEAR, [("horizon", 50_000), ("replications", 6)])
    doc = compare(scenario, executor=SerialExecutor())
    cost = {name: p["kpis"]["cost_rate"]["ci95"] for name, p in doc["policies"].items()}
    for name, (low, _high) in cost.items():
        if name != "condition-based":
            assert cost["condition-based"][1] < low, name  # intervals do not overlap


@pytest.mark.parametrize(("text", "words"), [
    ("    press:\n      kind: machine\n      process_time: 1\n      degradation: {model: markov, rates: [0.1]}\n",
     "needs failures"),
    ("    press:\n      kind: machine\n      process_time: 1\n      failures: {ttr: 5}\n",
     "failures.ttf is required"),
    ("    press:\n      kind: machine\n      process_time: 1\n      failures: {ttr: 5}\n"
     "      degradation: {model: markov, rates: [-0.1]}\n", "greater than 0"),
    ("    press:\n      kind: machine\n      process_time: 1\n      failures: {ttr: 5}\n"
     "      degradation: {model: wear, rates: [0.1]}\n", "unknown model"),
])
def test_bad_health_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                  words: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nhorizon: 100\nplant:\n  nodes:\n    raw: {kind: source}\n" + text
                    + "    done: {kind: sink}\n  edges: [[raw, press], [press, done]]\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert words in err and "plant.nodes.press" in err and "Traceback" not in err


def test_condition_policy_on_a_missing_sensor_exits_2(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(WEAR), "--set",
                 "maintenance.policy.indicator=acoustic"]) == 2
    assert "sensor 'acoustic' is missing" in capsys.readouterr().err
