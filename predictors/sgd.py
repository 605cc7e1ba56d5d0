"""Linear models fitted by stochastic gradient descent (scikit-learn), which learn online:
``partial_fit`` updates them with new windows.

Features are each sensor's last value, mean, spread and slope, standardized with the statistics
of the first fit (kept fixed after it, so later updates do not move the inputs under the
weights). ``SGDRUL`` regresses the (standardized) remaining life with squared loss;
``SGDRisk`` is logistic regression of the event, each update weighting the classes to balance.
"""

from __future__ import annotations

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import SGDClassifier, SGDRegressor

from twin.ml.predictor import Predictor, window_features


class _SGD(Predictor):
    def __init__(self, alpha: float = 1e-4, epochs: int = 20, seed: int = 0) -> None:
        self.alpha = alpha
        self.epochs = epochs
        self.seed = seed

    def _features(self, X: np.ndarray) -> np.ndarray:
        return (window_features(X) - self.mean_) / self.scale_

    def _start(self, X: np.ndarray) -> np.ndarray:
        features = window_features(X)
        self.mean_ = features.mean(axis=0)
        self.scale_ = np.where(features.std(axis=0) > 1e-12, features.std(axis=0), 1.0)
        self.updates_ = 0
        return (features - self.mean_) / self.scale_

    def fit(self, X: np.ndarray, y: np.ndarray) -> _SGD:
        """Standardize the window features and learn from the windows ``X`` and targets ``y`` for
        ``epochs`` passes; returns the predictor."""
        Z = self._start(X)
        self._learn(Z, np.asarray(y), self.epochs, first=True)
        return self

    def partial_fit(self, X: np.ndarray, y: np.ndarray) -> _SGD:
        """One pass over new windows (the first call fits)."""
        if not hasattr(self, "mean_"):
            return self.fit(X, y)
        self.updates_ += 1
        self._learn(self._features(X), np.asarray(y), 1, first=False)
        return self

    def _learn(self, Z: np.ndarray, y: np.ndarray, epochs: int, first: bool) -> None:
        raise NotImplementedError

    def _order(self, n: int, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, self.updates_, epoch]).permutation(n)


class SGDRUL(_SGD):
    """Linear regression of RUL by stochastic gradient descent (squared loss, L2 ``alpha``)."""

    task = "rul"

    def _learn(self, Z: np.ndarray, y: np.ndarray, epochs: int, first: bool) -> None:
        y = y.astype(float)
        if first:
            self.y_ = np.array([y.mean(), y.std() + 1e-9])
            self.coef_ = np.zeros(Z.shape[1])
            self.intercept_ = np.zeros(1)
        model = SGDRegressor(alpha=self.alpha, learning_rate="invscaling", eta0=0.01,
                             random_state=self.seed)
        model.partial_fit(Z[:1], np.zeros(1))
        model.coef_, model.intercept_ = self.coef_.copy(), self.intercept_.copy()
        target = (y - self.y_[0]) / self.y_[1]
        for epoch in range(epochs):
            order = self._order(len(y), epoch)
            model.partial_fit(Z[order], target[order])
        self.coef_, self.intercept_ = model.coef_.copy(), np.ravel(model.intercept_).copy()

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The remaining life of each window (operating time, at least 0).

        Raises NotFittedError before ``fit``.
        """
        if not hasattr(self, "coef_"):
            raise NotFittedError("SGDRUL is not fitted")
        out = self._features(X) @ self.coef_ + self.intercept_[0]
        return np.maximum(out * self.y_[1] + self.y_[0], 0.0)

    def get_state(self) -> dict[str, np.ndarray]:
        """The feature mean and scale, the coefficients, the intercept and the target's mean and
        scale."""
        return {"mean": self.mean_, "scale": self.scale_, "coef": self.coef_,
                "intercept": self.intercept_, "y": self.y_}

    def set_state(self, state: dict[str, np.ndarray]) -> SGDRUL:
        """Restore the model from ``get_state``'s arrays (online updates counted from 0); returns
        the predictor."""
        self.mean_, self.scale_, self.coef_ = state["mean"], state["scale"], state["coef"]
        self.intercept_, self.y_ = state["intercept"], state["y"]
        self.updates_ = 0
        return self


class SGDRisk(_SGD):
    """Logistic regression of the event by stochastic gradient descent (log loss)."""

    task = "failure"

    def _learn(self, Z: np.ndarray, y: np.ndarray, epochs: int, first: bool) -> None:
        y = y.astype(int)
        if first:
            self.coef_ = np.zeros(Z.shape[1])
            self.intercept_ = np.zeros(1)
        model = SGDClassifier(loss="log_loss", alpha=self.alpha, learning_rate="invscaling",
                              eta0=0.01, random_state=self.seed)
        model.partial_fit(Z[:1], y[:1], classes=np.array([0, 1]))
        model.coef_, model.intercept_ = self.coef_[None, :].copy(), self.intercept_.copy()
        counts = np.bincount(y, minlength=2).astype(float)
        weight = np.where(y == 1, len(y) / (2 * max(counts[1], 1)),
                          len(y) / (2 * max(counts[0], 1)))
        for epoch in range(epochs):
            order = self._order(len(y), epoch)
            model.partial_fit(Z[order], y[order], sample_weight=weight[order])
        self.coef_, self.intercept_ = model.coef_.ravel().copy(), np.ravel(model.intercept_).copy()

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The probability of the event for each window.

        Raises NotFittedError before ``fit``.
        """
        if not hasattr(self, "coef_"):
            raise NotFittedError("SGDRisk is not fitted")
        z = self._features(X) @ self.coef_ + self.intercept_[0]
        return 1.0 / (1.0 + np.exp(-np.clip(z, -700, 700)))

    def get_state(self) -> dict[str, np.ndarray]:
        """The feature mean and scale, the coefficients and the intercept."""
        return {"mean": self.mean_, "scale": self.scale_, "coef": self.coef_,
                "intercept": self.intercept_}

    def set_state(self, state: dict[str, np.ndarray]) -> SGDRisk:
        """Restore the model from ``get_state``'s arrays (online updates counted from 0); returns
        the predictor."""
        self.mean_, self.scale_, self.coef_ = state["mean"], state["scale"], state["coef"]
        self.intercept_ = state["intercept"]
        self.updates_ = 0
        return self
