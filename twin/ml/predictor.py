"""The Predictor seam: models that turn windows of sensor readings into decisions.

Predictors follow scikit-learn: hyper-parameters only as keyword arguments of ``__init__``
(stored unchanged), learned state in attributes ending in ``_``, ``fit(X, y)`` returning the
predictor, ``predict(X)`` one value per window. ``X`` has shape ``(windows, steps, sensors)``:
the last ``steps`` readings of each sensor, oldest first. ``task`` says what ``predict`` gives:

- ``rul``: remaining useful life (operating time to failure);
- ``failure``: probability of failure within the training horizon;
- ``defect``: probability that a part made now is defective.

Saving and loading never unpickles: a predictor gives its learned state as named numpy arrays
(``get_state``), stored in an ``.npz`` read with ``allow_pickle=False``, beside a JSON file of its
name and hyper-parameters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError

TASKS = ("rul", "failure", "defect")


class Predictor(BaseEstimator):
    """Base of predictors: scikit-learn estimators over windows of shape (windows, steps, sensors);
    ``task`` says what ``predict`` gives (rul, failure or defect)."""

    task: ClassVar[str] = "rul"

    def fit(self, X: np.ndarray, y: np.ndarray) -> Predictor:
        """Learn from windows ``X`` and targets ``y``; returns the predictor."""
        raise NotImplementedError

    def predict(self, X: np.ndarray) -> np.ndarray:
        """One value per window of ``X``: remaining life or probability, as ``task`` says."""
        raise NotImplementedError

    def get_state(self) -> dict[str, np.ndarray]:
        """The learned state as named arrays (no Python objects)."""
        raise NotImplementedError

    def set_state(self, state: dict[str, np.ndarray]) -> Predictor:
        """Restore the learned state ``get_state`` gave; returns the predictor."""
        raise NotImplementedError


def check_windows(X: np.ndarray) -> np.ndarray:
    """``X`` as a float array of windows, checked.

    Raises ValueError if it is not 3-dimensional or holds NaN or infinite readings.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 3:
        raise ValueError(f"expected windows of shape (windows, steps, sensors), got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("windows hold NaN or infinite readings")
    return X


def window_features(X: np.ndarray) -> np.ndarray:
    """Per sensor: last reading, mean, standard deviation and least-squares slope per step."""
    X = check_windows(X)
    steps = X.shape[1]
    t = np.arange(steps) - (steps - 1) / 2
    slope = (t[None, :, None] * (X - X.mean(axis=1, keepdims=True))).sum(axis=1) / max(
        float((t**2).sum()), 1e-12)
    return np.concatenate([X[:, -1, :], X.mean(axis=1), X.std(axis=1), slope], axis=1)


def save_predictor(predictor: Predictor, name: str, path: Path,
                   metadata: dict[str, Any] | None = None) -> None:
    """Write ``path.json`` (name, hyper-parameters, metadata) and ``path.npz`` (state)."""
    from twin.records.output import atomic_write, write_json

    state = predictor.get_state()
    atomic_write(path.with_suffix(".npz"), lambda tmp: _savez(tmp, state))
    write_json(path.with_suffix(".json"), {"predictor": name, "task": predictor.task,
                                           "params": predictor.get_params(),
                                           "metadata": metadata or {}})


def _savez(tmp: Path, state: dict[str, np.ndarray]) -> None:
    with open(tmp, "wb") as f:
        np.savez(f, **state)  # type: ignore[arg-type]


def load_predictor(path: Path, allow_imports: bool = False) -> tuple[Predictor, dict[str, Any]]:
    """Rebuild a saved predictor from its name, hyper-parameters and arrays (no pickle)."""
    from twin.ml.registry import create

    meta = json.loads(path.with_suffix(".json").read_text())
    predictor = create(meta["predictor"], allow_imports=allow_imports, **meta["params"])
    with np.load(path.with_suffix(".npz"), allow_pickle=False) as data:
        predictor.set_state({k: data[k] for k in data.files})
    return predictor, meta


def check_predictor(predictor: Predictor, X: np.ndarray, y: np.ndarray,
                    tmp: Path | None = None) -> None:
    """The conformance check every predictor passes (raises AssertionError otherwise)."""
    assert predictor.task in TASKS, f"task must be one of {TASKS}"
    params = predictor.get_params()
    fresh = clone(predictor)
    assert fresh.get_params() == params, "__init__ must store hyper-parameters unchanged"
    assert not [a for a in vars(fresh) if a.endswith("_") and not a.startswith("_")], \
        "__init__ must not set learned attributes"
    try:
        fresh.predict(X)
    except (NotFittedError, AttributeError, ValueError):
        pass
    else:
        raise AssertionError("predict before fit must raise")
    assert fresh.fit(X, y) is fresh, "fit must return the predictor"
    learned = [a for a in vars(fresh) if a.endswith("_") and not a.startswith("_")]
    assert learned, "fit must set learned attributes ending in '_'"
    out = fresh.predict(X)
    assert out.shape == (len(X),), f"predict must give one value per window, got {out.shape}"
    assert np.all(np.isfinite(out))
    if predictor.task != "rul":
        assert np.all((out >= 0) & (out <= 1)), "probabilities must lie in [0, 1]"
    again = clone(predictor).fit(X, y).predict(X)
    assert np.allclose(again, out), "fit must be deterministic"
    state = fresh.get_state()
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in state.values())
    copy = clone(predictor).set_state(state)
    assert np.allclose(copy.predict(X), out), "set_state(get_state()) must give the same model"
    assert fresh.get_params() == params, "fit must not change hyper-parameters"


def trend_features(X: np.ndarray) -> np.ndarray:
    """``window_features`` and, per sensor, the mean of the last five readings and the change
    of the mean from the first third of the window to the last (smoothed level and trend)."""
    X = check_windows(X)
    third = max(1, X.shape[1] // 3)
    tail = min(5, X.shape[1])
    return np.concatenate([window_features(X), X[:, -tail:, :].mean(axis=1),
                           X[:, -third:, :].mean(axis=1) - X[:, :third, :].mean(axis=1)], axis=1)


def validation_split(n: int, groups: np.ndarray | None, share: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (fit, validation): a share of the groups (lives) held out whole, or, with
    no groups, the last share of the windows (windows come life after life)."""
    valid = np.zeros(n, dtype=bool)
    if share <= 0 or n < 10:
        return ~valid, valid
    if groups is not None and len(np.unique(groups)) >= 5:
        names = np.unique(groups)
        rng = np.random.default_rng(seed)
        held = rng.choice(names, size=max(1, int(round(share * len(names)))), replace=False)
        valid = np.isin(groups, held)
    else:
        valid[int(n * (1 - share)):] = True
    return ~valid, valid


def accepts_groups(predictor: Any) -> bool:
    """Whether ``predictor.fit`` takes ``groups`` (the life of each window, for its validation
    split)."""
    import inspect

    return "groups" in inspect.signature(predictor.fit).parameters
