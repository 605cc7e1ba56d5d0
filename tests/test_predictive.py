"""Predictive maintenance in the loop: a model trained on the twin's own histories decides,
at decision epochs, which machines to maintain."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import predictor_params
from twin import load_scenario
from twin.cli import main
from twin.engine.replication import build, emit_readings
from twin.engine.sensors import MemorySink
from twin.study.executors import SerialExecutor
from twin.study.variants import compare, paired_difference

ROOT = Path(__file__).resolve().parents[1]
WEAR = ROOT / "scenarios" / "wear.yaml"


def test_readings_do_not_depend_on_the_block_boundaries() -> None:
    scenario = load_scenario(WEAR, [("horizon", 3000)])
    whole = build(scenario, 0)
    whole.env.run(until=3000)
    one = MemorySink()
    emit_readings(scenario, whole, 0, one)
    stepped = build(scenario, 0)
    stream = stepped.sensors["press"]
    for t in np.arange(37.0, 3000, 37.0):
        stepped.env.run(until=t)
        stream.advance(t)
    stepped.env.run(until=3000)
    many = MemorySink()
    emit_readings(scenario, stepped, 0, many)
    a = one.frame().sort_values(["sensor", "time"]).reset_index(drop=True)
    b = many.frame().sort_values(["sensor", "time"]).reset_index(drop=True)
    assert len(a) == len(b) > 3000
    assert np.array_equal(a["value"].to_numpy(), b["value"].to_numpy())


@pytest.fixture(scope="module", params=predictor_params(["linear", "lstm"]))
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp(f"train-{request.param}")
    assert main(["train", str(WEAR), "--predictor", request.param, "--out", str(out),
                 "--horizon", "40000", "--replications", "3"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rul_rmse"] < metrics["constant_rmse"]
    return out / "model.json"


def test_predictive_policy_beats_reactive_and_preventive(model: Path) -> None:
    policies = {
        "reactive": {"maintenance.policy": {"kind": "reactive"}},
        "preventive-350": {"maintenance.policy": {"kind": "preventive", "every": 350,
                                                  "duration": 20}},
        "predictive-linear": {"maintenance.policy": {
            "kind": "predictive", "model": str(model), "threshold": 250, "every": 30,
            "duration": 20}},
    }
    scenario = load_scenario(WEAR, [("horizon", 30_000), ("replications", 4),
                                    ("policies", policies)])
    doc = compare(scenario, executor=SerialExecutor(), baseline="reactive")
    predictive = doc["policies"]["predictive-linear"]
    reactive = doc["policies"]["reactive"]
    fewer = paired_difference(predictive["machines"]["press"]["failures"]["values"],
                              reactive["machines"]["press"]["failures"]["values"])
    assert fewer["ci95"][1] < 0
    assert predictive["machines"]["press"]["alarms"]["mean"] > 0
    online = predictive["predictor"]
    assert online["windows_scored"]["mean"] > online["maintenance_alarms"]["mean"] > 0
    assert online["prevented_share"]["mean"] > 0.9
    assert reactive["predictor"] == {}
    cost = {n: p["kpis"]["cost_rate"]["ci95"] for n, p in doc["policies"].items()}
    assert cost["predictive-linear"][1] < cost["preventive-350"][0]


def test_missing_model_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = "{kind: predictive, model: nowhere/model.json, threshold: 1, every: 30, duration: 2}"
    assert main(["run", str(WEAR), "--out", str(tmp_path), "--set",
                 f"maintenance.policy={policy}"]) == 2
    err = capsys.readouterr().err
    assert "maintenance.policy.model" in err and "twin train" in err


def test_train_refuses_unknown_predictors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(WEAR), "--predictor", "lstn"]) == 2
    assert "unknown predictor 'lstn'" in capsys.readouterr().err
