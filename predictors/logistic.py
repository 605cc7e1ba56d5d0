"""Logistic regression of an event (failure within a horizon, a defect) on window features."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from twin.ml.predictor import Predictor, window_features


class LogisticRisk(Predictor):
    """Probability of the event from each sensor's last value, mean, spread and slope."""

    task = "failure"

    def __init__(self, C: float = 1.0, class_weight: str | None = "balanced") -> None:
        self.C = C
        self.class_weight = class_weight

    def fit(self, X: np.ndarray, y: np.ndarray) -> LogisticRisk:
        """Standardize the window features and fit the logistic regression to the 0/1 labels ``y``;
        returns the predictor."""
        features = window_features(X)
        self.scaler_ = StandardScaler().fit(features)
        self.model_ = LogisticRegression(C=self.C, class_weight=self.class_weight,
                                         max_iter=1000).fit(self.scaler_.transform(features),
                                                            np.asarray(y).astype(int))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The probability of the event for each window (0 if the training data had no event)."""
        check_is_fitted(self, "model_")
        proba = self.model_.predict_proba(self.scaler_.transform(window_features(X)))
        return proba[:, list(self.model_.classes_).index(1)] if 1 in self.model_.classes_ \
            else np.zeros(len(X))

    def get_state(self) -> dict[str, np.ndarray]:
        """The scaler's mean and scale, the coefficients, the intercept and the classes."""
        return {"mean": self.scaler_.mean_, "scale": self.scaler_.scale_,
                "coef": self.model_.coef_, "intercept": self.model_.intercept_,
                "classes": self.model_.classes_}

    def set_state(self, state: dict[str, np.ndarray]) -> LogisticRisk:
        """Restore the scaler and the regression from ``get_state``'s arrays; returns the
        predictor."""
        self.scaler_ = StandardScaler()
        self.scaler_.mean_, self.scaler_.scale_ = state["mean"], state["scale"]
        self.scaler_.var_ = state["scale"] ** 2
        self.scaler_.n_features_in_ = len(state["mean"])
        self.model_ = LogisticRegression(C=self.C, class_weight=self.class_weight)
        self.model_.coef_, self.model_.intercept_ = state["coef"], state["intercept"]
        self.model_.classes_ = state["classes"]
        self.model_.n_features_in_ = state["coef"].shape[1]
        return self
