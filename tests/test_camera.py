"""Camera inspection: synthetic images of parts, an image model that judges them, and the
inspection station that rejects at the model's threshold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import needs_torch
from twin import run, scenario_from_data
from twin.cli import main
from twin.engine.camera import image_set, synthesize
from twin.language.camera import Images
from twin.ml.predictor import check_predictor, save_predictor
from twin.ml.registry import create
from twin.ml.vision import confusion, threshold_sweep
from twin.study.executors import SerialExecutor

ROOT = Path(__file__).resolve().parents[1]
CAMERA = ROOT / "scenarios" / "camera.yaml"
SEPARABLE = Images(noise=0.03, lighting=0.15, contrast=0.4, severity=(0.7, 1.0))
"""Defects of at least 0.28 contrast over noise of 0.03: no image is in doubt."""


def test_a_spot_darkens_the_part_by_its_contrast_times_the_severity() -> None:
    flat = Images(noise=0.0, lighting=0.0, contrast=0.4)
    for severity in (0.25, 0.5, 1.0):
        image = synthesize(flat, True, np.random.default_rng(1), "spot", severity)
        assert image.shape == (64, 64) and image.dtype == np.float32
        assert image.max() == pytest.approx(0.5)
        assert image.min() == pytest.approx(0.5 - 0.4 * severity, abs=1e-6)
        # the spot's area grows with the severity: radius 0.02 + 0.04 s of the image
        dark = (image < 0.5 - 0.2 * severity).sum()
        assert dark == pytest.approx(np.pi * ((0.02 + 0.04 * severity) * 64) ** 2, rel=0.35)
    good = synthesize(flat, False, np.random.default_rng(1))
    assert np.all(good == np.float32(0.5))


def test_images_are_reproducible_and_bounded() -> None:
    a, ya = image_set(Images(), 40, 0.5, 3)
    b, yb = image_set(Images(), 40, 0.5, 3)
    assert np.array_equal(a, b) and np.array_equal(ya, yb)
    assert a.min() >= 0 and a.max() <= 1 and 5 < ya.sum() < 35


@pytest.mark.parametrize("name", ["contrast", pytest.param("cnn2d", marks=needs_torch)])
def test_image_models_pass_the_conformance_check(name: str) -> None:
    X, y = image_set(SEPARABLE, 120, 0.5, 5)
    check_predictor(create(name, **({"epochs": 2} if name == "cnn2d" else {})), X, y)


@needs_torch
def test_the_cnn_finds_separable_defects(tmp_path: Path) -> None:
    X, y = image_set(SEPARABLE, 600, 0.5, 0)
    model = create("cnn2d", epochs=6).fit(X, y)
    Xt, yt = image_set(SEPARABLE, 400, 0.5, 1)
    counts = confusion(model.predict(Xt) >= 0.5, yt)
    precision = counts["true_rejects"] / (counts["true_rejects"] + counts["false_rejects"])
    recall = counts["true_rejects"] / (counts["true_rejects"] + counts["escaped"])
    assert precision > 0.95 and recall > 0.95, counts
    sweep = threshold_sweep(model.predict(Xt), yt)
    assert [r["detection"] for r in sweep] == sorted((r["detection"] for r in sweep),
                                                     reverse=True)
    save_predictor(model, "cnn2d", tmp_path / "model", {"task": "inspect"})
    from twin.ml.predictor import load_predictor

    loaded, _meta = load_predictor(tmp_path / "model")
    assert np.allclose(loaded.predict(Xt[:20]), model.predict(Xt[:20]), atol=1e-6)


def plant(inspection: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "camera-check", "horizon": 3000, "warmup": 200, "replications": 3,
        "seed": 5,
        "plant": {
            "nodes": {
                "src": {"kind": "source"},
                "M": {"kind": "machine", "process_time": {"dist": "exponential", "mean": 1.0},
                      "defects": {"probability": 0.2}},
                "B": {"kind": "buffer", "capacity": 5},
                "QC": {"kind": "machine", "process_time": 0.5, "inspection": inspection},
                "good": {"kind": "sink"},
                "scrap": {"kind": "sink", "scrap": True},
            },
            "edges": [["src", "M"], ["M", "B"], ["B", "QC"], ["QC", "good"],
                      {"from": "QC", "to": "scrap", "when": "rejected"}],
        },
        "costs": {"scrap": 30, "escaped_defect": 300},
    }


@pytest.fixture(scope="module")
def perfect(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The contrast rule, trained on images where every defect stands out: a perfect judge."""
    X, y = image_set(SEPARABLE, 400, 0.5, 0)
    out = tmp_path_factory.mktemp("contrast") / "model"
    save_predictor(create("contrast").fit(X, y), "contrast", out, {"task": "inspect"})
    return out.with_suffix(".json")


def test_a_perfect_camera_equals_perfect_rates_part_for_part(perfect: Path) -> None:
    camera = {"camera": {"model": str(perfect), "threshold": 0.5,
                         "images": SEPARABLE.model_dump()}}
    seen = run(scenario_from_data(plant(camera)), executor=SerialExecutor()).summary
    rates = run(scenario_from_data(plant({"detection": 1.0, "false_alarm": 0.0})),
                executor=SerialExecutor()).summary
    qc = seen["nodes"]["QC"]
    assert qc["false_rejects"]["values"] == [0, 0, 0] and qc["escaped"]["values"] == [0, 0, 0]
    assert min(qc["true_rejects"]["values"]) > 300
    assert qc["detection_rate"]["values"] == [1, 1, 1]
    assert seen["kpis"] == rates["kpis"]
    assert seen["machines"] == rates["machines"]


def test_the_camera_confusion_follows_the_threshold(perfect: Path) -> None:
    """A threshold of 0 rejects every part (false alarm 1), of 1 only certain defects."""
    camera = {"camera": {"model": str(perfect), "threshold": 0.0,
                         "images": SEPARABLE.model_dump()}}
    doc = run(scenario_from_data(plant(camera)), executor=SerialExecutor()).summary
    qc = doc["nodes"]["QC"]
    assert qc["false_alarm_rate"]["values"] == [1, 1, 1]
    assert qc["escaped"]["values"] == [0, 0, 0]
    assert doc["kpis"]["throughput"]["mean"] == 0


def test_train_inspect_writes_an_image_model(tmp_path: Path) -> None:
    out = tmp_path / "camera"
    assert main(["train", str(CAMERA), "--predictor", "contrast", "--task", "inspect",
                 "--images", "300", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_images"] == 75 and metrics["train_images"] == 225
    assert sum(metrics[k] for k in ("true_rejects", "false_rejects", "escaped",
                                    "true_passes")) == 75
    meta = json.loads((out / "model.json").read_text())
    assert meta["metadata"]["task"] == "inspect" and meta["metadata"]["camera"] == "QC"
    assert len(meta["metadata"]["threshold_sweep"]) == 11


def test_inspect_with_a_sensor_model_exits_2(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(CAMERA), "--predictor", "logistic", "--task", "inspect",
                 "--images", "50", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "image model" in err and "Traceback" not in err


def test_a_missing_camera_model_exits_2(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none" / "model.json"
    code = main(["run", str(CAMERA), "--replications", "1", "--horizon", "1200", "--out",
                 str(tmp_path / "run"), "--set",
                 f"plant.nodes.QC.inspection.camera.model={json.dumps(str(missing))}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no saved image model" in err and "Traceback" not in err


def test_rates_and_camera_together_are_refused(perfect: Path) -> None:
    from twin.errors import InputError

    with pytest.raises(InputError, match="leave detection and false_alarm out"):
        scenario_from_data(plant({"detection": 0.9, "camera": {"model": str(perfect)}}))


def test_the_run_report_shows_the_confusion_matrix_by_replication(perfect: Path,
                                                                    tmp_path: Path) -> None:
    import yaml

    camera = {"camera": {"model": str(perfect), "threshold": 0.5,
                         "images": SEPARABLE.model_dump(mode="json")}}
    doc = plant(camera)
    doc["horizon"] = 800
    path = tmp_path / "camera.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert main(["run", str(path), "--out", str(tmp_path / "run"), "--workers", "1"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    qc = summary["nodes"]["QC"]
    page = (tmp_path / "run" / "report.html").read_text()
    assert "Camera inspection at QC: confusion matrix by replication" in page
    for r in range(3):
        row = [str(r), f"{qc['true_rejects']['values'][r]:,.0f}",
               f"{qc['escaped']['values'][r]:,.0f}"]
        assert "<tr><td>" + "</td><td>".join(row) + "</td>" in page
