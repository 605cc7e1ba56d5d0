"""Prediction intervals of remaining life by conformal prediction, calibrated by life.

A point prediction of remaining life says nothing of how far off it may be. Split conformal
prediction turns any RUL predictor into one that gives an interval: hold out some lives the
model never sees (the calibration lives), score the model's errors on their windows
(nonconformity scores), and widen every later prediction by the score quantile that covers the
wanted share of them. Where the model predicts quantiles (``predict_quantiles``: the lower and
upper quantile of the remaining life, as the gradient-boosted trees with a quantile loss do), the
interval is the model's own, widened or narrowed by the calibration (conformalized quantile
regression, Romano, Patterson and Candes 2019).

Windows of one life are not exchangeable with each other (they share the life's drift and
noise), lives are: the calibration is by life. Each calibration life weighs the same, its
windows share its weight, and the quantile is that of the pooled per-life distributions with
the finite-sample correction of split conformal over ``lives`` units (the pooled-CDF method of
Dunn, Wasserman and Ramdas 2022). A new life, scored at a random one of its windows, is then
covered with the wanted probability; ``coverage_by_life`` measures it on held-out lives.

Scores (all split conformal; the first two for any RUL predictor):

- ``relative`` (the default for point predictors): ``|y - prediction| / (prediction + scale)``;
  the interval is the prediction plus or minus the quantile times ``prediction + scale``, so it
  narrows as the predicted life runs out (a remaining life's error grows with it: the further
  the failure, the less the sensors tell of it). ``scale`` (10% of the mean remaining life of
  the lives fitted on, never of the calibration lives) keeps the score finite near the end;
- ``absolute``: ``|y - prediction|``; the interval is the prediction plus or minus the
  quantile, one width for every window;
- ``cqr`` (predictors with ``predict_quantiles``): ``max(low - y, y - high)``; the interval is
  ``[low - q, high + q]``.

Every lower bound is cut at 0 (a remaining life is never negative).

The calibration is kept with the saved model (its metadata, ``conformal``), scores included,
so a policy may ask for another coverage than the one it was trained for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.errors import InputError

METHODS = ("relative", "absolute", "cqr")


def quantile_predictor(model: Any) -> bool:
    """Whether ``model`` predicts quantiles (``predict_quantiles(X) -> (low, high)``)."""
    return callable(getattr(model, "predict_quantiles", None))


def life_weights(lives: np.ndarray) -> np.ndarray:
    """One weight per window: each life weighs ``1 / lives``, shared by its windows."""
    lives = np.asarray(lives)
    _names, index, counts = np.unique(lives, return_inverse=True, return_counts=True)
    return 1.0 / (len(counts) * counts[index])


def weighted_conformal_quantile(scores: np.ndarray, weights: np.ndarray, units: int,
                                coverage: float) -> float:
    """The smallest score ``s`` whose weighted share of scores at most ``s`` reaches
    ``coverage * (units + 1) / units`` (the split-conformal level over ``units`` exchangeable
    units); infinity when that level exceeds 1 (too few units for the coverage)."""
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must lie between 0 and 1, got {coverage}")
    level = coverage * (units + 1) / units
    if level > 1 + 1e-12:
        return math.inf
    order = np.argsort(scores, kind="stable")
    cumulative = np.cumsum(np.asarray(weights, float)[order])
    cumulative /= cumulative[-1]
    index = int(np.searchsorted(cumulative, min(level, 1.0) - 1e-12, side="left"))
    return float(np.asarray(scores)[order][min(index, len(order) - 1)])


@dataclass(frozen=True)
class Calibration:
    """Nonconformity scores of the calibration lives' windows, with each window's weight."""

    method: str
    coverage: float
    """The coverage it was made for (a policy may ask for another)."""
    scores: np.ndarray
    weights: np.ndarray
    lives: int
    scale: float = 0.0
    """The ``relative`` score's offset (0 for the others)."""

    def quantile(self, coverage: float | None = None) -> float:
        """The score quantile that covers ``coverage`` (default: the trained one) of new lives."""
        return weighted_conformal_quantile(self.scores, self.weights, self.lives,
                                           self.coverage if coverage is None else coverage)

    def to_json(self) -> dict[str, Any]:
        """The calibration as JSON (``metadata.conformal`` of a saved model)."""
        return {"method": self.method, "coverage": self.coverage, "lives": self.lives,
                "scale": self.scale, "quantile": self.quantile(),
                "scores": [float(s) for s in self.scores],
                "weights": [float(w) for w in self.weights]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Calibration:
        """The calibration ``to_json`` wrote."""
        return cls(doc["method"], float(doc["coverage"]), np.asarray(doc["scores"], float),
                   np.asarray(doc["weights"], float), int(doc["lives"]),
                   float(doc.get("scale", 0.0)))


def _bands(model: Any, X: np.ndarray, method: str, scale: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, spread): the model's band and the factor the quantile is multiplied by."""
    if method == "cqr":
        low, high = model.predict_quantiles(X)
        low, high = np.asarray(low, float), np.asarray(high, float)
        return low, high, np.ones(len(low))
    point = np.asarray(model.predict(X), float)
    spread = point + scale if method == "relative" else np.ones(len(point))
    return point, point, spread


def scores(model: Any, X: np.ndarray, y: np.ndarray, method: str, scale: float = 0.0
           ) -> np.ndarray:
    """Nonconformity of the true remaining lives ``y`` under the model's predictions."""
    low, high, spread = _bands(model, X, method, scale)
    y = np.asarray(y, float)
    return np.maximum(low - y, y - high) / spread


def default_method(model: Any) -> str:
    """``cqr`` for a model that predicts quantiles, else ``relative``."""
    return "cqr" if quantile_predictor(model) else "relative"


def relative_scale(y_fit: np.ndarray) -> float:
    """The ``relative`` score's offset: 10% of the mean remaining life fitted on (at least a
    millionth of the largest, so the score stays finite)."""
    y_fit = np.asarray(y_fit, float)
    return float(max(0.1 * np.mean(y_fit), 1e-6 * np.max(np.abs(y_fit)), 1e-9))


def calibrate(model: Any, X: np.ndarray, y: np.ndarray, lives: np.ndarray, coverage: float,
              method: str | None = None, scale: float = 0.0) -> Calibration:
    """Score a fitted RUL ``model`` on the windows ``X`` of calibration lives (``lives``: the
    life of each window; none of them seen in fitting) with true remaining lives ``y``
    (``method``: default ``default_method``; ``scale``: the ``relative`` score's offset, from
    the lives fitted on)."""
    method = default_method(model) if method is None else method
    _check_method(model, method, scale)
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must lie between 0 and 1, got {coverage}")
    units = len(np.unique(lives))
    return Calibration(method, float(coverage), scores(model, X, y, method, scale),
                       life_weights(lives), units, scale if method == "relative" else 0.0)


def _check_method(model: Any, method: str, scale: float) -> None:
    if method not in METHODS:
        raise InputError("--conformal", [((), f"unknown conformal score {method!r} "
                                               f"({', '.join(METHODS)})", None)])
    if method == "cqr" and not quantile_predictor(model):
        raise InputError("--conformal", [((), "cqr needs a model that predicts quantiles "
                                               "(such as gbt-quantile)", None)])
    if method == "relative" and scale <= 0:
        raise ValueError("the relative score needs a positive scale")


def predict_interval(model: Any, X: np.ndarray, calibration: Calibration,
                     coverage: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the remaining life of each window, covering ``coverage``
    (default: the calibrated one) of new lives; the lower bound is never below 0."""
    q = calibration.quantile(coverage)
    low, high, spread = _bands(model, X, calibration.method, calibration.scale)
    return np.maximum(low - q * spread, 0.0), high + q * spread


def coverage_by_life(lower: np.ndarray, upper: np.ndarray, y: np.ndarray,
                     lives: np.ndarray | None = None) -> float:
    """The share of lives whose true remaining life the interval covers, each life weighing
    the same (the mean over lives of the share of its windows covered)."""
    y = np.asarray(y, float)
    inside = ((y >= lower) & (y <= upper)).astype(float)
    if lives is None:
        return float(inside.mean())
    return float(np.sum(inside * life_weights(lives)))


def interval_metrics(model: Any, calibration: Calibration, X: np.ndarray, y: np.ndarray,
                     lives: np.ndarray | None = None) -> dict[str, Any]:
    """Empirical coverage (by life) and mean width of the calibrated intervals on held-out or
    test windows, beside the coverage asked for."""
    lower, upper = predict_interval(model, X, calibration)
    width = upper - lower
    weights = life_weights(lives) if lives is not None else np.full(len(y), 1 / len(y))
    return {"coverage_target": calibration.coverage,
            "coverage": coverage_by_life(lower, upper, y, lives),
            "mean_width": float(np.sum(width * weights)),
            "calibration_lives": calibration.lives}


def calibration_of(metadata: dict[str, Any]) -> Calibration | None:
    """The calibration a saved model's metadata carries, if it has one."""
    doc = metadata.get("conformal")
    return None if doc is None else Calibration.from_json(doc)


class IntervalModel:
    """A saved RUL model with its calibration: ``predict`` (the point) and ``predict_interval``
    (lower and upper bounds)."""

    def __init__(self, predictor: Any, calibration: Calibration) -> None:
        self.predictor = predictor
        self.calibration = calibration

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The point prediction of each window."""
        return np.asarray(self.predictor.predict(X), float)

    def predict_interval(self, X: np.ndarray, coverage: float | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds at ``coverage`` (default: the calibrated one)."""
        return predict_interval(self.predictor, X, self.calibration, coverage)


def load_interval_model(path: Any) -> IntervalModel:
    """A model saved by ``twin train --coverage`` with its calibration (ValueError without)."""
    from pathlib import Path

    from twin.ml.predictor import load_predictor

    predictor, meta = load_predictor(Path(path))
    calibration = calibration_of(meta.get("metadata", {}))
    if calibration is None:
        raise ValueError(f"{path} has no conformal calibration: train it with --coverage")
    return IntervalModel(predictor, calibration)


def split_lives(lives: np.ndarray, mask: np.ndarray, share: float, seed: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (fit, calibration) that split the windows under ``mask`` by life: a
    share ``share`` of its lives (at least one, at most all but one) to calibrate on."""
    names = np.unique(lives[mask])
    if len(names) < 2:
        raise InputError("--coverage", [((), f"{len(names)} training lives: too few to keep "
                                              "some out for the calibration", None)])
    count = min(len(names) - 1, max(1, int(round(share * len(names)))))
    held = np.random.default_rng(seed).choice(names, size=count, replace=False)
    calibration = mask & np.isin(lives, held)
    return mask & ~calibration, calibration


def prepare(model: Any, coverage: float, lives: np.ndarray, train_mask: np.ndarray,
            share: float, seed: int) -> tuple[Any, np.ndarray, np.ndarray]:
    """Ready an RUL model for conformal intervals: a model with a ``coverage`` hyper-parameter
    (a quantile model) gets the asked one; the training windows are split by life into those
    it fits on and the calibration lives'. Returns (model, fit mask, calibration mask)."""
    if "coverage" in model.get_params():
        model.set_params(coverage=coverage)
    fit, calibration = split_lives(lives, train_mask, share, seed + 7)
    return model, fit, calibration


def prepare_units(model: Any, coverage: float, lives: Any, train_units: list[Any],
                  share: float, seed: int) -> tuple[Any, list[Any], list[Any]]:
    """``prepare`` for recorded lives: (model, units to fit on, calibration units), the
    calibration units drawn among the training lives run to failure."""
    if "coverage" in model.get_params():
        model.set_params(coverage=coverage)
    failed = [u for u in train_units if lives.failed[u]]
    if len(failed) < 2:
        raise InputError("--coverage", [((), f"{len(failed)} training lives run to failure: "
                                              "too few to keep some out for the calibration",
                                         None)])
    count = min(len(failed) - 1, max(1, int(round(share * len(failed)))))
    rng = np.random.default_rng(seed + 7)
    held = {failed[i] for i in rng.choice(len(failed), size=count, replace=False)}
    return model, [u for u in train_units if u not in held], [u for u in failed if u in held]


def cross_calibrate(model: Any, X: np.ndarray, y: np.ndarray, lives: np.ndarray,
                    coverage: float, folds: int, seed: int = 0,
                    scored: np.ndarray | None = None,
                    stage: Any = None, method: str | None = None) -> Calibration:
    """Cross-conformal calibration by life: the training lives split into ``folds``; a copy of
    the (unfitted) ``model`` fitted on the other folds scores each fold's windows (those under
    ``scored``: by default all), so every training life calibrates and none is kept out of the
    final fit. Its quantile is the pooled out-of-fold one (K-fold cross-conformal; Barber,
    Candes, Ramdas and Tibshirani 2021 bound its miscoverage by twice the asked one, and it
    sits near the asked one in practice)."""
    from sklearn.base import clone

    from twin.ml.predictor import accepts_groups

    names = np.unique(lives if scored is None else lives[scored])
    if len(names) < folds or folds < 2:
        raise InputError("--calibration-folds", [((), f"{folds} folds of {len(names)} lives: "
                                                       "give 2 or more, at most the lives",
                                                  None)])
    order = np.random.default_rng(seed + 11).permutation(names)
    assigned = {life: i % folds for i, life in enumerate(order)}
    fold_of = np.array([assigned.get(life, -1) for life in lives])
    method = default_method(model) if method is None else method
    scale = relative_scale(y) if method == "relative" else 0.0
    _check_method(model, method, scale)
    out_scores = np.zeros(len(y))
    for k in range(folds):
        if stage is not None:
            stage(f"calibration fold {k + 1} of {folds}")
        inside = fold_of == k
        copy = clone(model)
        if accepts_groups(copy):
            copy.fit(X[~inside], y[~inside], groups=lives[~inside])
        else:
            copy.fit(X[~inside], y[~inside])
        out_scores[inside] = scores(copy, X[inside], y[inside], method, scale)
    keep = fold_of >= 0
    return Calibration(method, float(coverage), out_scores[keep], life_weights(lives[keep]),
                       len(names), scale)
