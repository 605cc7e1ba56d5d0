"""Threshold rule: alarm when a sensor's latest reading reaches a level."""

from __future__ import annotations

import numpy as np
from sklearn.exceptions import NotFittedError

from twin.ml.predictor import Predictor, check_windows


class ThresholdRule(Predictor):
    """Failure risk 1 when the latest reading of ``sensor`` is at or above the threshold, else 0.

    With ``threshold=None`` the level is learned: the one that best separates the windows
    labelled 1 from those labelled 0 (highest balanced accuracy)."""

    task = "failure"

    def __init__(self, sensor: int = 0, threshold: float | None = None) -> None:
        self.sensor = sensor
        self.threshold = threshold

    def fit(self, X: np.ndarray, y: np.ndarray) -> ThresholdRule:
        """Take the given threshold, or learn the one that best separates the 0/1 labels ``y`` by
        the latest reading of ``sensor`` (highest balanced accuracy); returns the rule."""
        last = check_windows(X)[:, -1, self.sensor]
        y = np.asarray(y).astype(bool)
        if self.threshold is not None:
            self.threshold_ = float(self.threshold)
            return self
        candidates = np.unique(last)
        pos, neg = max(y.sum(), 1), max((~y).sum(), 1)
        scores = [((last >= c) & y).sum() / pos + ((last < c) & ~y).sum() / neg
                  for c in candidates]
        self.threshold_ = float(candidates[int(np.argmax(scores))])
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """1.0 for each window whose latest reading of ``sensor`` is at or above the threshold, else
        0.0.

        Raises NotFittedError before ``fit``.
        """
        if not hasattr(self, "threshold_"):
            raise NotFittedError("ThresholdRule is not fitted")
        return (check_windows(X)[:, -1, self.sensor] >= self.threshold_).astype(float)

    def get_state(self) -> dict[str, np.ndarray]:
        """The threshold."""
        return {"threshold_": np.array(self.threshold_)}

    def set_state(self, state: dict[str, np.ndarray]) -> ThresholdRule:
        """Restore the threshold; returns the rule."""
        self.threshold_ = float(state["threshold_"])
        return self
