"""Gradient-boosted trees of remaining life on window features (scikit-learn's histogram
gradient boosting), with early stopping on held-out lives.

Fitting uses ``threads`` OpenMP threads (1 by default: on cores shared with other work, more
threads than free cores make the fit many times slower, not faster). The fitted trees are kept
as flat arrays (feature, threshold, children, leaf values), so the
model is saved without pickle and scored the same way before and after saving: every tree of
every window walked in one numpy step per level.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import NotFittedError
from threadpoolctl import threadpool_limits

from twin.ml.predictor import Predictor, trend_features, validation_split


class BoostedRUL(Predictor):
    """Histogram gradient boosting of RUL on each sensor's last value, mean, spread, slope,
    recent level and trend; the number of trees chosen on a share ``validation`` of the
    training lives (at most ``max_iter``), fitted on ``threads`` threads."""

    task = "rul"

    def __init__(self, max_iter: int = 500, learning_rate: float = 0.05,
                 max_leaf_nodes: int = 15, min_samples_leaf: int = 40,
                 l2_regularization: float = 1.0, validation: float = 0.15,
                 seed: int = 0, threads: int = 1) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.validation = validation
        self.seed = seed
        self.threads = threads

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None
            ) -> BoostedRUL:
        """Fit the boosted trees to the remaining lives ``y``, keep the number of trees with the
        least squared error on the validation lives (``groups``: the life of each window), and
        export the trees as flat arrays; returns the predictor."""
        features = trend_features(X)
        y = np.asarray(y, dtype=float)
        fit, valid = validation_split(len(y), groups, self.validation, self.seed)
        with threadpool_limits(limits=self.threads, user_api="openmp"):
            model = HistGradientBoostingRegressor(
                max_iter=self.max_iter, learning_rate=self.learning_rate,
                max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
                l2_regularization=self.l2_regularization, early_stopping=False,
                random_state=self.seed).fit(features[fit], y[fit])
            trees = len(model._predictors)
            if valid.any():
                errors = [float(np.mean((p - y[valid]) ** 2))
                          for p in model.staged_predict(features[valid])]
                trees = int(np.argmin(errors)) + 1
        self._export(model, trees)
        return self

    def _export(self, model: HistGradientBoostingRegressor, trees: int) -> None:
        nodes = [model._predictors[i][0].nodes for i in range(trees)]
        sizes = np.array([len(n) for n in nodes])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        flat = np.concatenate(nodes)
        shift = np.repeat(offsets, sizes)
        self.roots_ = offsets.astype(np.int64)
        self.feature_ = flat["feature_idx"].astype(np.int64)
        self.threshold_ = flat["num_threshold"].astype(float)
        self.left_ = flat["left"].astype(np.int64) + shift
        self.right_ = flat["right"].astype(np.int64) + shift
        self.leaf_ = flat["is_leaf"].astype(bool)
        self.value_ = flat["value"].astype(float)
        self.baseline_ = float(np.ravel(model._baseline_prediction)[0])
        self.depth_ = int(flat["depth"].max()) if len(flat) else 0

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The remaining life of each window (operating time, at least 0), walking the exported
        trees with numpy.

        Raises NotFittedError before ``fit``.
        """
        if not hasattr(self, "roots_"):
            raise NotFittedError("BoostedRUL is not fitted")
        return self._score(trend_features(X))

    def _score(self, features: np.ndarray) -> np.ndarray:
        rows = np.arange(len(features))[:, None]
        node = np.broadcast_to(self.roots_, (len(features), len(self.roots_))).copy()
        for _ in range(self.depth_):
            go_left = features[rows, self.feature_[node]] <= self.threshold_[node]
            node = np.where(self.leaf_[node], node,
                            np.where(go_left, self.left_[node], self.right_[node]))
        return np.maximum(self.baseline_ + self.value_[node].sum(axis=1), 0.0)

    def get_state(self) -> dict[str, np.ndarray]:
        """The trees as flat node arrays (roots, split features and thresholds, children, leaves,
        values), the baseline and the depth."""
        return {"roots": self.roots_, "feature": self.feature_, "threshold": self.threshold_,
                "left": self.left_, "right": self.right_, "leaf": self.leaf_,
                "value": self.value_, "baseline": np.array(self.baseline_),
                "depth": np.array(self.depth_)}

    def set_state(self, state: dict[str, np.ndarray]) -> BoostedRUL:
        """Restore the trees from ``get_state``'s arrays; returns the predictor."""
        self.roots_, self.feature_ = state["roots"], state["feature"]
        self.threshold_, self.left_, self.right_ = (state["threshold"], state["left"],
                                                    state["right"])
        self.leaf_, self.value_ = state["leaf"].astype(bool), state["value"]
        self.baseline_, self.depth_ = float(state["baseline"]), int(state["depth"])
        return self


class BoostedQuantileRUL(Predictor):
    """Gradient-boosted trees with a quantile (pinball) loss: one model of the median remaining
    life (``predict``) and one each of its lower and upper quantiles, ``(1 - coverage) / 2``
    and ``(1 + coverage) / 2`` (``predict_quantiles``), for conformalized quantile regression
    (``twin train --coverage`` sets ``coverage``). The features and the early stopping on held-
    out lives are those of ``BoostedRUL``; each model keeps the trees that minimise its own
    pinball loss on them."""

    task = "rul"

    def __init__(self, coverage: float = 0.9, max_iter: int = 300, learning_rate: float = 0.05,
                 max_leaf_nodes: int = 15, min_samples_leaf: int = 40,
                 l2_regularization: float = 1.0, validation: float = 0.15,
                 seed: int = 0, threads: int = 1) -> None:
        self.coverage = coverage
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.validation = validation
        self.seed = seed
        self.threads = threads

    def _levels(self) -> tuple[float, float, float]:
        if not 0 < self.coverage < 1:
            raise ValueError(f"coverage must lie between 0 and 1, got {self.coverage}")
        return (1 - self.coverage) / 2, 0.5, (1 + self.coverage) / 2

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None
            ) -> BoostedQuantileRUL:
        """Fit the lower, median and upper quantile trees (``groups``: the life of each window,
        for the held-out lives of the early stopping)."""
        features = trend_features(X)
        y = np.asarray(y, dtype=float)
        fit, valid = validation_split(len(y), groups, self.validation, self.seed)
        parts: list[dict[str, np.ndarray]] = []
        with threadpool_limits(limits=self.threads, user_api="openmp"):
            for level in self._levels():
                model = HistGradientBoostingRegressor(
                    loss="quantile", quantile=level, max_iter=self.max_iter,
                    learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
                    min_samples_leaf=self.min_samples_leaf,
                    l2_regularization=self.l2_regularization, early_stopping=False,
                    random_state=self.seed).fit(features[fit], y[fit])
                trees = len(model._predictors)
                if valid.any():
                    losses = [_pinball(y[valid], p, level)
                              for p in model.staged_predict(features[valid])]
                    trees = int(np.argmin(losses)) + 1
                flat = BoostedRUL()
                flat._export(model, trees)
                parts.append(flat.get_state())
        self.low_, self.median_, self.high_ = parts
        return self

    def _walk(self, state: dict[str, np.ndarray], features: np.ndarray) -> np.ndarray:
        return BoostedRUL().set_state(state)._score(features)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The median remaining life of each window."""
        if not hasattr(self, "median_"):
            raise NotFittedError("BoostedQuantileRUL is not fitted")
        return self._walk(self.median_, trend_features(X))

    def predict_quantiles(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The lower and upper quantiles of the remaining life of each window (the upper one
        never below the lower)."""
        if not hasattr(self, "median_"):
            raise NotFittedError("BoostedQuantileRUL is not fitted")
        features = trend_features(X)
        low, high = self._walk(self.low_, features), self._walk(self.high_, features)
        return np.minimum(low, high), np.maximum(low, high)

    def get_state(self) -> dict[str, np.ndarray]:
        """The three models' flat trees, their arrays prefixed ``low_``, ``median_``, ``high_``."""
        return {f"{part}_{key}": value
                for part, state in (("low", self.low_), ("median", self.median_),
                                    ("high", self.high_))
                for key, value in state.items()}

    def set_state(self, state: dict[str, np.ndarray]) -> BoostedQuantileRUL:
        """The model ``get_state`` gave."""
        split: dict[str, dict[str, np.ndarray]] = {"low": {}, "median": {}, "high": {}}
        for key, value in state.items():
            part, _, name = key.partition("_")
            split[part][name] = value
        self.low_, self.median_, self.high_ = split["low"], split["median"], split["high"]
        return self


def _pinball(y: np.ndarray, predicted: np.ndarray, level: float) -> float:
    d = y - predicted
    return float(np.mean(np.maximum(level * d, (level - 1) * d)))
