"""Camera inspection models: trained on the images a scenario's cameras take, read by the twin.

``train_inspection`` draws labelled images of good and defective parts as the scenario's
camera describes them (``twin.engine.camera``: synthetic images, no data set downloaded), fits
an image predictor (``cnn2d``, or the ``contrast`` rule) on three quarters and measures it on the
rest: precision and recall at the threshold 0.5, the confusion matrix, and a sweep of thresholds
(detection against false alarms). The twin reads a saved model with
``twin.engine.camera.classifier``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from twin.engine.camera import image_set
from twin.errors import InputError
from twin.language.schema import Scenario
from twin.ml.training import TrainResult

THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def cameras(scenario: Scenario) -> dict[str, Any]:
    """The camera (``twin.language.camera.Camera``) of each machine that inspects by camera."""
    out = {}
    for name, node in scenario.plant.nodes.items():
        check = getattr(node, "inspection", None)
        if check is not None and check.camera is not None:
            out[name] = check.camera
    return out


def confusion(predicted: np.ndarray, truth: np.ndarray) -> dict[str, int]:
    """Counts of rejects and passes against the truth (1: defective)."""
    predicted, truth = np.asarray(predicted, bool), np.asarray(truth, bool)
    return {"true_rejects": int((predicted & truth).sum()),
            "false_rejects": int((predicted & ~truth).sum()),
            "escaped": int((~predicted & truth).sum()),
            "true_passes": int((~predicted & ~truth).sum())}


def threshold_sweep(probability: np.ndarray, truth: np.ndarray,
                    thresholds: tuple[float, ...] = THRESHOLDS) -> list[dict[str, float]]:
    """Per threshold: detection rate (defective parts rejected) and false-alarm rate (good parts
    rejected) on labelled images."""
    truth = np.asarray(truth, bool)
    rows = []
    for threshold in thresholds:
        reject = probability >= threshold
        rows.append({"threshold": threshold,
                     "detection": float(reject[truth].mean()) if truth.any() else float("nan"),
                     "false_alarm": float(reject[~truth].mean()) if (~truth).any()
                     else float("nan")})
    return rows


def train_inspection(scenario: Scenario, predictor: str, *, images: int = 2000,
                     defect_share: float = 0.5, seed: int | None = None,
                     allow_imports: bool = False, stage: Callable[[str], None] | None = None,
                     source: str = "scenario") -> TrainResult:
    """Fit the image predictor called ``predictor`` on ``images`` synthetic images (a share
    ``defect_share`` of defective parts) as the scenario's first camera takes them, and measure
    it on a quarter of them held out."""
    from twin.ml.registry import create

    found = cameras(scenario)
    if not found:
        raise InputError(source, [(("plant", "nodes"), "no machine inspects by camera: give "
                                   "one inspection: {camera: {model: PATH}} to learn its images",
                                   None)])
    model = create(predictor, allow_imports=allow_imports)
    if model.task != "defect":
        raise InputError("--predictor", [((), f"{predictor} predicts {model.task}; --task "
                                               "inspect needs an image model (cnn2d, contrast)",
                                          None)])
    say = stage or (lambda _text: None)
    name, camera = next(iter(found.items()))
    seed = scenario.seed if seed is None else seed
    say(f"drawing {images:,} images of {name}'s camera ({defect_share:.0%} defective)")
    X, y = image_set(camera.images, images, defect_share, seed)
    cut = int(round(0.75 * len(y)))
    say(f"fitting {predictor} on {cut:,} images")
    model.fit(X[:cut], y[:cut])
    probability = np.asarray(model.predict(X[cut:]), float)
    truth = y[cut:]
    counts = confusion(probability >= 0.5, truth)
    rejects = counts["true_rejects"] + counts["false_rejects"]
    defective = counts["true_rejects"] + counts["escaped"]
    metrics: dict[str, Any] = {"train_images": cut, "test_images": int(len(truth)),
                               "precision": counts["true_rejects"] / rejects if rejects else 0.0,
                               "recall": counts["true_rejects"] / defective if defective
                               else 0.0, **counts}
    if truth.any() and (~truth.astype(bool)).any():
        from sklearn.metrics import roc_auc_score

        metrics["auc"] = float(roc_auc_score(truth, probability))
    metadata = {"scenario": scenario.name, "task": "inspect", "camera": name,
                "images": camera.images.model_dump(mode="json"),
                "image_shape": list(X.shape[1:]), "metrics": metrics,
                "threshold_sweep": threshold_sweep(probability, truth)}
    notes = [f"scored on {len(truth):,} held-out synthetic images (rejected at probability "
             "0.5); threshold sweep in model.json (threshold_sweep)"]
    return TrainResult(model, predictor, metrics, metadata, notes)
