"""Support vector machines: registered, conformant (scaled in a pipeline, saved without
pickle), and better than a constant on held-out lives."""

from __future__ import annotations

import numpy as np

from twin.ml.predictor import check_predictor
from twin.ml.registry import create
from twin.ml.training import rmse


def windows(n_lives: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xs, ys, lives = [], [], []
    for life in range(n_lives):
        n = int(rng.integers(80, 160))
        wear = (np.arange(n) / n) ** 2
        signal = np.stack([2 + 6 * wear + rng.normal(0, 0.4, n),
                           45 + 20 * wear + rng.normal(0, 1.5, n)], axis=1)
        ends = np.arange(19, n, 5)
        xs.append(signal[ends[:, None] - np.arange(19, -1, -1)[None, :]])
        ys.append((n - 1 - ends).astype(float))
        lives.append(np.full(len(ends), life))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(lives)


def test_svm_predictors_pass_the_conformance_check() -> None:
    X, rul, _ = windows(12)
    check_predictor(create("svm"), X, rul)
    check_predictor(create("svm-risk"), X, (rul < 20).astype(int))
    assert create("svm").task == "rul" and create("svm-risk").task == "failure"


def test_svm_beats_a_constant_on_held_out_lives() -> None:
    X, rul, life = windows()
    train, test = life < 30, life >= 30
    model = create("svm").fit(X[train], rul[train])
    assert rmse(model.predict(X[test]), rul[test]) < 0.5 * rmse(
        np.full(test.sum(), rul[train].mean()), rul[test])
    from sklearn.metrics import roc_auc_score

    y = (rul < 20).astype(int)
    risk = create("svm-risk").fit(X[train], y[train])
    p = risk.predict(X[test])
    assert roc_auc_score(y[test], p) > 0.9
    assert p.min() >= 0 and p.max() <= 1
    # calibrated: among windows given a high risk, failures within the horizon are common
    assert y[test][p > 0.5].mean() > 0.5
