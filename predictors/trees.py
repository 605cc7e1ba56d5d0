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
        features = trend_features(X)
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
