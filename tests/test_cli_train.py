"""`twin train`: inputs that cannot give labels are refused before anything runs; the PHM08
score only where RUL is in cycles; the README's predictive-quality example runs on the bundled
scenario."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from twin.cli import main

ROOT = Path(__file__).resolve().parents[1]
WEAR = str(ROOT / "scenarios" / "wear.yaml")
QUALITY = str(ROOT / "scenarios" / "quality.yaml")


def test_defect_task_needs_a_defect_model_and_says_so_up_front(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    assert main(["train", WEAR, "--predictor", "logistic", "--task", "defect",
                 "--out", str(tmp_path / "m")]) == 2
    assert time.monotonic() - started < 5  # nothing simulated (it used to take 15 s, then fail)
    err = capsys.readouterr().err
    assert f"{WEAR}: plant.nodes.press: machine 'press' has no defects model" in err
    assert "Traceback" not in err
    assert not (tmp_path / "m").exists()
    assert main(["train", QUALITY, "--predictor", "linear", "--task", "defect"]) == 2
    assert "needs a risk predictor" in capsys.readouterr().err


def test_phm08_score_only_for_rul_in_cycles(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    args = ["train", WEAR, "--predictor", "linear", "--horizon", "20000",
            "--replications", "2"]
    assert main([*args, "--out", str(tmp_path / "min")]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((tmp_path / "min" / "metrics.json").read_text())
    assert "phm_score" not in metrics  # exp(error/10) on minutes: 7e+136, meaningless
    assert math.isfinite(metrics["rul_rmse"])
    assert "PHM08 score left out" in out and "counts min" in out
    assert main([*args, "--out", str(tmp_path / "cycle"), "--set", "time_unit=cycle"]) == 0
    metrics = json.loads((tmp_path / "cycle" / "metrics.json").read_text())
    assert math.isfinite(metrics["phm_score"]) and metrics["phm_score"] > 0
    assert "phm_score" in capsys.readouterr().out


def test_readme_predictive_quality_example(tmp_path: Path) -> None:
    model = tmp_path / "models" / "defects"
    assert main(["train", QUALITY, "--predictor", "logistic", "--task", "defect",
                 "--out", str(model), "--horizon", "30000", "--replications", "3"]) == 0
    assert json.loads((model / "model.json").read_text())["metadata"]["task"] == "defect"
    policy = (f"policies.predictive-quality={{quality.policy: {{kind: predictive, model: "
              f"{model / 'model.json'}, threshold: 0.15, every: 20}}}}")
    out = tmp_path / "compare"
    assert main(["compare", QUALITY, "--rank-by", "escaped_rate", "--set", policy,
                 "--out", str(out), "--horizon", "20000", "--replications", "3",
                 "--workers", "2"]) == 0
    doc = json.loads((out / "compare.json").read_text())
    checked = doc["policies"]["predictive-quality"]
    assert checked["machines"]["press"]["diverted"]["mean"] > 0
    assert doc["policies"]["no-check"]["machines"]["press"]["diverted"]["mean"] == 0
    assert doc["ranking"][0]["name"] == "predictive-quality"
