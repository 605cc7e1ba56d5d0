"""Predictive quality: a defect model trained on the twin's histories sends the parts of
machines judged risky to inspection, so fewer defects reach customers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from twin import load_scenario
from twin.cli import main
from twin.study.executors import SerialExecutor
from twin.study.stats import statistic
from twin.study.variants import compare

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = yaml.safe_load((ROOT / "scenarios" / "wear.yaml").read_text())
    nodes = data["plant"]["nodes"]
    nodes["press"]["defects"] = {"probability": 0.002, "per_wear": 0.4}
    nodes["QC"] = {"kind": "machine", "process_time": 0.3,
                   "inspection": {"detection": 0.95}}
    nodes["QB"] = {"kind": "buffer"}
    nodes["scrapped"] = {"kind": "sink", "scrap": True}
    data["plant"]["edges"] += [{"from": "press", "to": "QB", "when": "suspect"}, ["QB", "QC"],
                               ["QC", "B2"], {"from": "QC", "to": "scrapped", "when": "rejected"}]
    data["maintenance"]["policy"] = {"kind": "reactive"}
    data["policies"] = {}
    path = tmp_path_factory.mktemp("pq") / "press-quality.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_predictive_quality_catches_defects(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    assert main(["train", str(scenario_file), "--predictor", "logistic", "--task", "defect",
                 "--out", str(out), "--horizon", "40000", "--replications", "3"]) == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["metadata"]["task"] == "defect"
    assert meta["metadata"]["metrics"]["recall"] > 0.5
    policies = {
        "no-check": {"quality.policy": None},
        "predictive-quality": {"quality.policy": {"kind": "predictive",
                                                  "model": str(out / "model.json"),
                                                  "threshold": 0.15, "every": 20}},
    }
    scenario = load_scenario(scenario_file, [("horizon", 30_000), ("replications", 4),
                                             ("policies", policies)])
    doc = compare(scenario, executor=SerialExecutor(), baseline="no-check", rank_by="escaped_rate")
    checked = doc["policies"]["predictive-quality"]
    assert checked["machines"]["press"]["diverted"]["mean"] > 0
    assert doc["policies"]["no-check"]["machines"]["press"]["diverted"]["mean"] == 0
    fewer = checked["differences"]["escaped_rate"]
    assert fewer["ci95"][1] < 0  # fewer defects shipped, on common random numbers
    assert statistic(checked["kpis"]["scrap_rate"]["values"])["mean"] > 0


def test_suspect_edges_need_machines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: x\nhorizon: 10\nplant:\n  nodes:\n    raw: {kind: source}\n"
                    "    B: {kind: buffer, capacity: 2}\n    M: {kind: machine, process_time: 1}\n"
                    "    done: {kind: sink}\n  edges:\n    - [raw, B]\n    - [B, M]\n"
                    "    - [M, done]\n    - {from: raw, to: M, when: suspect}\n")
    assert main(["validate", str(path)]) == 2
    assert "only machines send suspect parts" in capsys.readouterr().err
