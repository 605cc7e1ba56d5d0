"""Linear regression of remaining useful life on window features (scikit-learn)."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from twin.ml.predictor import Predictor, window_features


class LinearRUL(Predictor):
    """Ridge regression of RUL on each sensor's last value, mean, spread and slope."""

    task = "rul"

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(self, X: np.ndarray, y: np.ndarray) -> LinearRUL:
        """Standardize the window features and fit the ridge regression to the remaining lives
        ``y``; returns the predictor."""
        features = window_features(X)
        self.scaler_ = StandardScaler().fit(features)
        self.model_ = Ridge(alpha=self.alpha).fit(self.scaler_.transform(features),
                                                  np.asarray(y, float))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The remaining life of each window (operating time, at least 0)."""
        check_is_fitted(self, "model_")
        out = self.model_.predict(self.scaler_.transform(window_features(X)))
        return np.maximum(out, 0.0)

    def get_state(self) -> dict[str, np.ndarray]:
        """The scaler's mean and scale, the coefficients and the intercept."""
        return {"mean": self.scaler_.mean_, "scale": self.scaler_.scale_,
                "coef": self.model_.coef_, "intercept": np.array(self.model_.intercept_)}

    def set_state(self, state: dict[str, np.ndarray]) -> LinearRUL:
        """Restore the scaler and the regression from ``get_state``'s arrays; returns the
        predictor."""
        self.scaler_ = StandardScaler()
        self.scaler_.mean_, self.scaler_.scale_ = state["mean"], state["scale"]
        self.scaler_.var_ = state["scale"] ** 2
        self.scaler_.n_features_in_ = len(state["mean"])
        self.model_ = Ridge(alpha=self.alpha)
        self.model_.coef_, self.model_.intercept_ = state["coef"], float(state["intercept"])
        self.model_.n_features_in_ = len(state["coef"])
        return self
