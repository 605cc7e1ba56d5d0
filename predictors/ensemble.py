"""An ensemble of remaining-life predictors: the weighted mean of its members' predictions."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.exceptions import NotFittedError

from twin.ml.predictor import Predictor, accepts_groups

MEMBERS = ("gbt", "cnn")
WEIGHTS = (0.7, 0.3)
"""The default members' weights: the least squared error of the out-of-fold predictions of 5
folds (by engine) over the 80 training engines of C-MAPSS FD001's seed-0 split, on a grid of
tenths (0.5: equal, 11.59 cycles; 0.7: 11.43)."""


class EnsembleRUL(Predictor):
    """Fits each predictor named in ``members`` (with its hyper-parameters from
    ``member_params``, by name) on the same windows and averages their predictions, weighted by
    ``weights`` (normalized to sum 1; None: equal). The default weights are for the default
    members (``WEIGHTS``); other members left with them weigh the same."""

    task = "rul"

    def __init__(self, members: tuple[str, ...] | list[str] = MEMBERS,
                 weights: tuple[float, ...] | list[float] | None = WEIGHTS,
                 member_params: dict[str, dict[str, Any]] | None = None) -> None:
        self.members = members
        self.weights = weights
        self.member_params = member_params

    def _create(self) -> list[Predictor]:
        from twin.ml.registry import create

        params = self.member_params or {}
        models = [create(name, **params.get(name, {})) for name in self.members]
        if any(m.task != "rul" for m in models):
            raise ValueError("an ensemble averages remaining-life predictors only")
        return models

    def _weights(self) -> np.ndarray:
        default = self.weights is not None and tuple(self.weights) == WEIGHTS \
            and tuple(self.members) != MEMBERS
        w = (np.ones(len(self.members)) if self.weights is None or default
             else np.asarray(self.weights, float))
        if len(w) != len(self.members):
            raise ValueError("one weight per member")
        return w / w.sum()

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None
            ) -> EnsembleRUL:
        """Fit every member on the windows ``X`` and remaining lives ``y`` (``groups``: the life of
        each window, for members that split validation lives); returns the ensemble.

        Raises ValueError if a member is not a remaining-life predictor.
        """
        fitted = []
        for model in self._create():
            if groups is not None and accepts_groups(model):
                model.fit(X, y, groups=groups)
            else:
                model.fit(X, y)
            fitted.append(model)
        self.models_ = fitted
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The weighted mean of the members' remaining-life predictions, one per window.

        Raises NotFittedError before ``fit``.
        """
        if not hasattr(self, "models_"):
            raise NotFittedError("EnsembleRUL is not fitted")
        return np.sum([w * m.predict(X) for w, m in zip(self._weights(), self.models_,
                                                        strict=True)], axis=0)

    def get_state(self) -> dict[str, np.ndarray]:
        """Every member's learned state, its arrays prefixed by the member's position (``0.``,
        ``1.``, ...)."""
        return {f"{i}.{k}": v for i, m in enumerate(self.models_)
                for k, v in m.get_state().items()}

    def set_state(self, state: dict[str, np.ndarray]) -> EnsembleRUL:
        """Rebuild the members from their hyper-parameters and restore each one's state; returns the
        ensemble."""
        models = self._create()
        for i, model in enumerate(models):
            prefix = f"{i}."
            model.set_state({k[len(prefix):]: v for k, v in state.items()
                             if k.startswith(prefix)})
        self.models_ = models
        return self
