"""Training from recorded lives: a data file instead of the twin's own histories.

``train_from_data`` reads the lives (``twin.ml.lives``), splits them by unit (or takes a given
test set of truncated lives with their true remaining lives, as published benchmarks do), fits
the normalization on the training lives only, cuts windows labelled with the remaining life
(capped: the piecewise-linear target), fits the predictor (with the life of each window, for
its validation split) and scores it on the held-out lives, each cut at random cycles as the
C-MAPSS benchmark does.

Windows are longer than the shortest history a model must score (``HISTORY``, 30 readings: the
shortest test lives of C-MAPSS have 31): a window reaching back before a life's first reading
repeats it. The held-out cuts depend on the shortest history only, never on the window, so
models with different windows are scored at the same cuts.

The model is saved with everything it needs to read new data: sensor order, dropped sensors,
regimes and normalization, and which units it learned from.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone

from twin.errors import InputError
from twin.ml.lives import Preprocess, last_windows, life_windows, truncated
from twin.ml.predictor import accepts_groups
from twin.ml.training import TrainResult, phm_score, rmse
from twin.records.inputfiles import check_input_file
from twin.records.lives import Lives, file_digest, read_lives, read_rul

STEPS = 60
"""Readings per window by default: sixty cycles of C-MAPSS score better than thirty (a longer
mean of noisy sensors, and the padding of young lives shows their age)."""
HISTORY = 30
"""The fewest readings a window ends after, and where held-out lives are first cut."""


def split_units(lives: Lives, holdout: float, seed: int) -> tuple[list[Any], list[Any]]:
    """(train, test) units: a share ``holdout`` of the lives run to failure held out."""
    failed = [u for u in lives.units if lives.failed[u]]
    rng = np.random.default_rng(seed)
    count = max(1, int(round(holdout * len(failed)))) if holdout > 0 else 0
    if count >= len(failed):
        raise InputError(lives.source, [((), f"{len(failed)} lives run to failure: too few to "
                                             f"hold out {holdout:.0%} and train on the rest",
                                         None)])
    test = [failed[i] for i in sorted(rng.choice(len(failed), size=count, replace=False))]
    held = set(test)
    return [u for u in lives.units if u not in held], test


def train_from_data(
    data: str | Path,
    predictor: str,
    *,
    format: str = "long",
    steps: int = STEPS,
    stride: int = 1,
    rul_cap: float | None = 125.0,
    label_horizon: float = 30.0,
    test: str | Path | None = None,
    test_rul: str | Path | None = None,
    holdout: float = 0.2,
    truncations: int = 10,
    seed: int = 0,
    allow_imports: bool = False,
    stage: Callable[[str], None] | None = None,
    params: dict[str, Any] | None = None,
    history: int | None = None,
    coverage: float | None = None,
    calibration_share: float = 0.2,
    calibration_folds: int | None = None,
    conformal: str | None = None,
    age: bool = False,
) -> TrainResult:
    """Fit the predictor called ``predictor`` on the lives in ``data`` and score it on held-out
    lives (``holdout`` of the units, each cut at ``truncations`` random cycles) or on the test
    set ``test`` with its true remaining lives ``test_rul``. Windows of ``steps`` readings end
    from reading ``history`` on (default: ``HISTORY``, or ``steps`` where shorter). With
    ``coverage`` (an RUL model) a share ``calibration_share`` of the training lives run to
    failure is kept out of the fit (and of the normalization) to calibrate conformal
    prediction intervals, whose coverage and width are measured on the test lives; with
    ``calibration_folds`` every training life calibrates instead, scored by a model fitted on
    the other folds (cross-conformal), and none is kept out of the fit. ``conformal``: the
    score (``twin.ml.conformal``; default ``relative``, or ``cqr`` for a quantile model).
    With ``age`` every window has one more channel after the sensors: the operating age of each
    reading (the time since its life's first reading), normalized on the training lives; a
    model trained so scores recorded lives only (the twin's sensor windows do not carry the
    age, and a predictive policy refuses it)."""
    from twin.ml.registry import create

    say = stage or (lambda _text: None)
    history = min(steps, HISTORY) if history is None else history
    model = create(predictor, allow_imports=allow_imports, **(params or {}))
    if (test is None) != (test_rul is None):
        raise InputError("--test", [((), "--test and --test-rul go together (the truncated "
                                          "lives and their true remaining lives)", None)])
    if test is not None and test_rul is not None:  # their mistakes before the fit, not after
        check_input_file(test, "lives file")
        check_input_file(test_rul, "remaining-life file")
    if calibration_folds is not None and coverage is None:
        raise InputError("--calibration-folds", [((), "calibration folds go with --coverage",
                                                  None)])
    lives = read_lives(data, format)
    test_units: list[Any]
    if test is not None:
        train_units, test_units = lives.units, []
    else:
        train_units, test_units = split_units(lives, holdout, seed)
    calibration_units: list[Any] = []
    if coverage is not None and calibration_folds is None:
        if model.task != "rul":
            raise InputError("--coverage", [((), f"{predictor} predicts a risk: prediction "
                                                  "intervals are for remaining-life models",
                                             None)])
        from twin.ml.conformal import prepare_units

        model, train_units, calibration_units = prepare_units(
            model, coverage, lives, train_units, calibration_share, seed)
    elif coverage is not None:
        if model.task != "rul":
            raise InputError("--coverage", [((), f"{predictor} predicts a risk: prediction "
                                                  "intervals are for remaining-life models",
                                             None)])
        if "coverage" in model.get_params():
            model.set_params(coverage=coverage)
    training = lives.subset(train_units)
    prep = Preprocess.fit(training, age=age)
    say(f"{lives.source}: {len(lives.units)} lives; sensors {', '.join(prep.sensors)}"
        + (f"; dropped (no variation): {', '.join(prep.dropped)}" if prep.dropped else "")
        + f"; {max(1, len(prep.centers))} operating regime(s)"
        + ("; the operating age as a channel" if age else ""))
    if model.task == "rul":
        windows = life_windows(training, prep, steps, stride, rul_cap, history)
        y = windows.rul
    else:
        # failure within the horizon: censored lives give the windows whose record goes on at
        # least the horizon (label 0)
        windows = life_windows(training, prep, steps, stride, label_horizon, history)
        y = (windows.rul < label_horizon).astype(int)
    keep = np.ones(len(y), dtype=bool)
    X, y = windows.X[keep], y[keep]
    say(f"fitting {predictor} on {len(y):,} windows of {len(windows.units)} lives")
    started = time.perf_counter()
    if accepts_groups(model):
        model.fit(X, y, groups=windows.life[keep])  # type: ignore[call-arg]
    else:
        model.fit(X, y)
    fit_seconds = time.perf_counter() - started
    if test is not None:
        assert test_rul is not None
        test_lives = read_lives(test, format)
        Xt, _units = last_windows(test_lives, prep, steps, 1)  # every test life, padded
        actual = read_rul(test_rul)
        if len(actual) != len(Xt):
            raise InputError(str(test_rul), [((), f"{len(actual)} remaining lives for "
                                                  f"{len(Xt)} test units", None)])
        uncapped = actual
        actual = actual if rul_cap is None else np.minimum(actual, rul_cap)
        evaluation = "test set (last window of each truncated life)"
    else:
        Xt, actual, uncapped = truncated(lives.subset(test_units), prep, steps, seed + 1,
                                         truncations, rul_cap, history)
        evaluation = (f"{len(test_units)} held-out lives, each cut at {truncations} random "
                      f"cycles from the {history}th on")
    metrics: dict[str, Any] = {"train_lives": len(windows.units), "test_lives":
                               len(test_units) if test is None else len(Xt),
                               "windows": int(len(y)), "test_windows": int(len(Xt)),
                               "fit_seconds": round(fit_seconds, 2)}
    predicted = model.predict(Xt)
    calibrated: dict[str, Any] | None = None
    if model.task == "rul":
        metrics.update(rul_rmse=rmse(predicted, actual), phm_score=phm_score(predicted, actual),
                       constant_rmse=rmse(np.full(len(actual), float(np.mean(y))), actual))
        if coverage is not None:
            from twin.ml.conformal import (
                calibrate,
                cross_calibrate,
                interval_metrics,
                relative_scale,
            )

            if calibration_folds is not None:
                failed = np.array([training.failed[u] for u in windows.units])[windows.life]
                calibration = cross_calibrate(clone(model), X, y, windows.life[keep], coverage,
                                              calibration_folds, seed, failed[keep], say,
                                              conformal)
            else:
                held = life_windows(lives.subset(calibration_units), prep, steps, 1, rul_cap,
                                    history)
                calibration = calibrate(model, held.X, held.rul, held.life, coverage,
                                        conformal, relative_scale(y))
            metrics.update(interval_metrics(model, calibration, Xt, actual))
            calibrated = calibration.to_json()
        if rul_cap is not None:
            metrics["rul_rmse_uncapped_truth"] = rmse(predicted, uncapped)
    else:
        truth = uncapped < label_horizon
        alarm = predicted >= 0.5
        tp = int((alarm & truth).sum())
        metrics.update(precision=tp / max(int(alarm.sum()), 1),
                       recall=tp / max(int(truth.sum()), 1))
        if truth.any() and (~truth).any():
            from sklearn.metrics import roc_auc_score

            metrics["auc"] = float(roc_auc_score(truth, predicted))
    metadata = {
        "data": str(Path(data).resolve()), "data_sha256": file_digest(data), "format": format,
        "sensors": prep.sensors, "preprocess": prep.to_json(), "steps": steps,
        "history": history, "age": age,
        "stride": stride, "rul_cap": rul_cap, "label_horizon": label_horizon,
        "task": model.task if model.task == "rul" else "failure", "time_unit": "cycle",
        "train_units": [_plain(u) for u in train_units],
        "test_units": [_plain(u) for u in test_units],
        "evaluation": evaluation, "metrics": metrics,
    }
    if calibrated is not None:
        metadata["conformal"] = calibrated
        metadata["calibration_units"] = [_plain(u) for u in calibration_units]
    notes = [f"scored on {evaluation}" + (f"; RUL capped at {rul_cap:g} cycles"
                                          if rul_cap is not None else "")]
    return TrainResult(model, predictor, metrics, metadata, notes)


def _plain(unit: Any) -> Any:
    return unit.item() if isinstance(unit, np.generic) else unit
