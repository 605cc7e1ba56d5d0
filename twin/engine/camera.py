"""Camera inspection: images of parts, synthesised from their defect state, judged by a model.

``synthesize`` draws the image a camera takes of a part: a grey background under a lighting
gradient of random direction and strength, pixel noise, and, on a defective part, one defect
(a scratch, a dent or a spot) at a random place whose size and contrast grow with the defect's
severity. The images are synthetic: no real image set is bundled or downloaded, and what a
model learns on them says how the inspection behaves where defects look like these.

``CameraCheck`` is an inspection station's camera in a replication: it draws each inspected
part's image from its own random stream (so the quality stream draws the same numbers with or
without a camera: common random numbers), asks the classifier for the defect probability,
rejects at the threshold and keeps the confusion matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

KINDS = ("scratch", "dent", "spot")


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    axis = (np.arange(size) + 0.5) / size
    return np.meshgrid(axis, axis, indexing="ij")


def synthesize(spec: Any, defective: bool, rng: np.random.Generator,
               kind: str | None = None, severity: float | None = None) -> np.ndarray:
    """One ``spec.size`` x ``spec.size`` grey image (float32 in [0, 1]) of a part, with one
    defect when ``defective`` (its ``kind`` and ``severity`` drawn unless given). ``spec``
    holds the fields of ``twin.language.camera.Images``."""
    size = spec.size
    yy, xx = _grid(size)
    angle = rng.uniform(0, 2 * math.pi)
    strength = rng.uniform(0, spec.lighting)
    image = spec.background + strength * ((xx - 0.5) * math.cos(angle)
                                          + (yy - 0.5) * math.sin(angle))
    if defective:
        if kind is None:
            kind = KINDS[int(rng.integers(len(KINDS)))]
        if severity is None:
            severity = float(rng.uniform(*spec.severity))
        image = image + _defect(kind, severity * spec.contrast, severity, xx, yy, rng)
    elif spec.marks > 0 and rng.random() < spec.marks:
        image = image + _defect("spot", rng.uniform(0, spec.mark_contrast), 0.2, xx, yy, rng)
    image = image + rng.normal(0, spec.noise, image.shape)
    return np.clip(image, 0, 1).astype(np.float32)


def _defect(kind: str, contrast: float, severity: float, xx: np.ndarray, yy: np.ndarray,
            rng: np.random.Generator) -> np.ndarray:
    """The change a defect makes to the image: a bright scratch (a line whose length grows
    with the severity), a dent (a dark hollow with a bright rim on the lit side) or a dark
    spot (a disc)."""
    size = xx.shape[0]
    cx, cy = rng.uniform(0.25, 0.75, size=2)
    if kind == "scratch":
        angle = rng.uniform(0, math.pi)
        dx, dy = math.cos(angle), math.sin(angle)
        along = (xx - cx) * dx + (yy - cy) * dy
        across = -(xx - cx) * dy + (yy - cy) * dx
        half = 0.08 + 0.17 * severity
        width = 1.2 / size
        fade = np.clip((half - np.abs(along)) * size / 2, 0, 1)
        return contrast * np.exp(-0.5 * (across / width) ** 2) * fade
    if kind == "dent":
        radius = 0.04 + 0.06 * severity
        r2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / radius**2
        rim = ((xx - cx - 0.5 * radius) ** 2 + (yy - cy - 0.5 * radius) ** 2) / radius**2
        return -contrast * np.exp(-r2) + 0.4 * contrast * np.exp(-2 * rim)
    radius = 0.02 + 0.04 * severity
    distance = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
    return -contrast * np.clip((radius - distance) * size + 0.5, 0, 1)


def image_set(spec: Any, count: int, defect_share: float, seed: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images, a share ``defect_share`` of them of defective parts, in random order:
    (images of shape (count, size, size), labels 1 for defective)."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(count) < defect_share).astype(int)
    images = np.stack([synthesize(spec, bool(y), rng) for y in labels])
    return images, labels


class CameraCheck:
    """An inspection station's camera in one replication: ``classify(images)`` gives defect
    probabilities; a part is rejected when its probability is at least ``threshold``. The
    confusion matrix is counted from the end of the warmup."""

    def __init__(self, spec: Any, threshold: float,
                 classify: Callable[[np.ndarray], np.ndarray], rng: np.random.Generator) -> None:
        self.spec = spec
        self.threshold = threshold
        self.classify = classify
        self.rng = rng
        self.reset()

    def reset(self) -> None:
        """Start counting again (at the end of the warmup)."""
        self.true_rejects = self.false_rejects = self.escaped = self.true_passes = 0

    def rejects(self, defective: bool) -> bool:
        """Photograph a part and judge it: whether it is rejected."""
        image = synthesize(self.spec, defective, self.rng)
        reject = float(self.classify(image[None])[0]) >= self.threshold
        if reject:
            if defective:
                self.true_rejects += 1
            else:
                self.false_rejects += 1
        elif defective:
            self.escaped += 1
        else:
            self.true_passes += 1
        return reject

    def measure(self) -> dict[str, float]:
        """The confusion matrix and the rates it gives (NaN where nothing was there to
        count)."""
        bad = self.true_rejects + self.escaped
        good = self.false_rejects + self.true_passes
        return {"true_rejects": float(self.true_rejects),
                "false_rejects": float(self.false_rejects),
                "escaped": float(self.escaped), "true_passes": float(self.true_passes),
                "detection_rate": self.true_rejects / bad if bad else math.nan,
                "false_alarm_rate": self.false_rejects / good if good else math.nan}


_MODELS: dict[tuple[str, int], Any] = {}


def classifier(path: str) -> Callable[[np.ndarray], np.ndarray]:
    """The defect probabilities a saved image model (``twin train --task inspect``) gives
    images: its class found by name in the predictor registry, its arrays read without pickle;
    loaded once per process and version of its files."""
    import json
    from pathlib import Path

    from twin.errors import InputError
    from twin.registry import PREDICTOR_REGISTRY

    file = Path(path)
    if not file.with_suffix(".json").exists() or not file.with_suffix(".npz").exists():
        raise InputError(str(path), [((), f"no saved image model at {path!r} (make one with "
                                           "twin train SCENARIO --predictor cnn2d --task "
                                           "inspect)", None)])
    key = (str(file.resolve()), file.with_suffix(".npz").stat().st_mtime_ns)
    if key not in _MODELS:
        meta = json.loads(file.with_suffix(".json").read_text())
        if meta.get("metadata", {}).get("task") != "inspect":
            raise InputError(str(path), [((), f"{path} is not an image model (train one with "
                                               "--task inspect)", None)])
        model = PREDICTOR_REGISTRY.load(meta["predictor"])(**meta["params"])
        with np.load(file.with_suffix(".npz"), allow_pickle=False) as data:
            model.set_state({k: data[k] for k in data.files})
        _MODELS[key] = model
    return _MODELS[key].predict
