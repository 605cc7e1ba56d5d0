"""Support vector machines on window features (scikit-learn): support vector regression of
remaining life, and a support vector classifier with calibrated probabilities of failure (or
defect) risk.

Each scales the features inside a pipeline (``StandardScaler`` then the SVM) and fits on at most
``max_samples`` windows drawn at random (seeded): kernel methods grow with the square of the
windows. The fitted model is kept as arrays (scaler, support vectors, dual coefficients,
intercepts, and for the classifier the sigmoid calibration of each cross-validation fold), and
scored from them with the RBF kernel in numpy, the same before and after saving (no pickle).
"""

from __future__ import annotations

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

from twin.ml.predictor import Predictor, window_features


def _sample(n: int, limit: int, seed: int) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def _rbf(Z: np.ndarray, support: np.ndarray, gamma: float) -> np.ndarray:
    d = (Z**2).sum(1)[:, None] + (support**2).sum(1)[None, :] - 2 * Z @ support.T
    return np.exp(-gamma * np.maximum(d, 0.0))


class SupportVectorRUL(Predictor):
    """Support vector regression (RBF kernel) of RUL on each sensor's last value, mean, spread
    and slope; the target is standardized, so ``C`` and ``epsilon`` are in its standard
    deviations."""

    task = "rul"

    def __init__(self, C: float = 3.0, epsilon: float = 0.1, gamma: str | float = "scale",
                 max_samples: int = 4000, seed: int = 0) -> None:
        self.C = C
        self.epsilon = epsilon
        self.gamma = gamma
        self.max_samples = max_samples
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray) -> SupportVectorRUL:
        """Fit the support vector regression to the standardized remaining lives of at most
        ``max_samples`` windows drawn with ``seed``; keeps the support vectors, dual coefficients
        and intercept to predict with numpy alone. Returns the predictor."""
        features = window_features(X)
        y = np.asarray(y, dtype=float)
        pick = _sample(len(y), self.max_samples, self.seed)
        self.y_ = np.array([y.mean(), y.std() + 1e-9])
        pipe = make_pipeline(StandardScaler(), SVR(C=self.C, epsilon=self.epsilon,
                                                   gamma=self.gamma))
        pipe.fit(features[pick], (y[pick] - self.y_[0]) / self.y_[1])
        scaler, svr = pipe[0], pipe[-1]
        self.mean_, self.scale_ = scaler.mean_, scaler.scale_
        self.support_ = svr.support_vectors_
        self.dual_ = svr.dual_coef_.ravel()
        self.intercept_ = np.ravel(svr.intercept_).astype(float)
        self.gamma_ = float(svr._gamma)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The remaining life of each window (operating time, at least 0).

        Raises NotFittedError before ``fit``.
        """
        if not hasattr(self, "support_"):
            raise NotFittedError("SupportVectorRUL is not fitted")
        Z = (window_features(X) - self.mean_) / self.scale_
        out = _rbf(Z, self.support_, self.gamma_) @ self.dual_ + self.intercept_[0]
        return np.maximum(out * self.y_[1] + self.y_[0], 0.0)

    def get_state(self) -> dict[str, np.ndarray]:
        """The feature mean and scale, support vectors, dual coefficients, intercept, kernel width
        and the target's mean and scale."""
        return {"mean": self.mean_, "scale": self.scale_, "support": self.support_,
                "dual": self.dual_, "intercept": self.intercept_, "gamma": np.array(self.gamma_),
                "y": self.y_}

    def set_state(self, state: dict[str, np.ndarray]) -> SupportVectorRUL:
        """Restore the model from ``get_state``'s arrays; returns the predictor."""
        self.mean_, self.scale_ = state["mean"], state["scale"]
        self.support_, self.dual_ = state["support"], state["dual"]
        self.intercept_, self.gamma_ = state["intercept"], float(state["gamma"])
        self.y_ = state["y"]
        return self


class SupportVectorRisk(Predictor):
    """A support vector classifier (RBF kernel, classes balanced) of the event on the same
    features, its decision values turned into probabilities by sigmoid (Platt) calibration on
    ``folds`` cross-validation folds, averaged over the folds."""

    task = "failure"

    def __init__(self, C: float = 1.0, gamma: str | float = "scale", folds: int = 3,
                 max_samples: int = 4000, seed: int = 0) -> None:
        self.C = C
        self.gamma = gamma
        self.folds = folds
        self.max_samples = max_samples
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray) -> SupportVectorRisk:
        """Fit the calibrated classifier to the 0/1 labels of at most ``max_samples`` windows drawn
        with ``seed``; with too few of one class for the folds, the risk is the share of events.
        Returns the predictor."""
        features = window_features(X)
        y = np.asarray(y).astype(int)
        pick = _sample(len(y), self.max_samples, self.seed)
        scaler = StandardScaler().fit(features[pick])
        self.mean_, self.scale_ = scaler.mean_, scaler.scale_
        Z, labels = scaler.transform(features[pick]), y[pick]
        counts = np.bincount(labels, minlength=2)
        if counts.min() < max(2, self.folds):  # one class (or almost): a constant risk
            self.constant_ = np.array([float(labels.mean())])
            self.support_ = np.zeros((0, Z.shape[1]))
            self.dual_ = self.intercept_ = self.sigmoid_ = self.gamma_ = np.zeros(0)
            self.fold_ = np.zeros(0, dtype=np.int64)
            return self
        svc = SVC(C=self.C, gamma=self.gamma, class_weight="balanced")
        model = CalibratedClassifierCV(svc, method="sigmoid", cv=self.folds).fit(Z, labels)
        supports, duals, folds, intercepts, sigmoids, gammas = [], [], [], [], [], []
        for k, fold in enumerate(model.calibrated_classifiers_):
            fitted, calibrator = fold.estimator, fold.calibrators[0]
            supports.append(fitted.support_vectors_)
            duals.append(fitted.dual_coef_.ravel())
            folds.append(np.full(len(fitted.support_vectors_), k))
            intercepts.append(float(np.ravel(fitted.intercept_)[0]))
            sigmoids.append([float(calibrator.a_), float(calibrator.b_)])
            gammas.append(float(fitted._gamma))
        self.constant_ = np.zeros(0)
        self.support_ = np.concatenate(supports)
        self.dual_ = np.concatenate(duals)
        self.fold_ = np.concatenate(folds).astype(np.int64)
        self.intercept_ = np.array(intercepts)
        self.sigmoid_ = np.array(sigmoids)
        self.gamma_ = np.array(gammas)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The probability of the event for each window: the mean of the folds' calibrated
        probabilities (or the constant risk).

        Raises NotFittedError before ``fit``.
        """
        if not hasattr(self, "support_"):
            raise NotFittedError("SupportVectorRisk is not fitted")
        Z = (window_features(X) - self.mean_) / self.scale_
        if self.constant_.size:
            return np.full(len(Z), float(self.constant_[0]))
        proba = np.zeros(len(Z))
        for k in range(len(self.intercept_)):
            mine = self.fold_ == k
            decision = _rbf(Z, self.support_[mine], float(self.gamma_[k])) @ self.dual_[mine] \
                + self.intercept_[k]
            a, b = self.sigmoid_[k]
            proba += 1.0 / (1.0 + np.exp(np.clip(a * decision + b, -700, 700)))
        return proba / len(self.intercept_)

    def get_state(self) -> dict[str, np.ndarray]:
        """Every fold's support vectors, dual coefficients, intercept, sigmoid and kernel width, the
        feature mean and scale, and the constant risk (empty unless used)."""
        return {"mean": self.mean_, "scale": self.scale_, "support": self.support_,
                "dual": self.dual_, "fold": self.fold_, "intercept": self.intercept_,
                "sigmoid": self.sigmoid_, "gamma": self.gamma_, "constant": self.constant_}

    def set_state(self, state: dict[str, np.ndarray]) -> SupportVectorRisk:
        """Restore the model from ``get_state``'s arrays; returns the predictor."""
        for key in ("mean", "scale", "support", "dual", "fold", "intercept", "sigmoid", "gamma",
                    "constant"):
            setattr(self, f"{key}_", state[key])
        return self
