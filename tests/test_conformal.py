"""Prediction intervals of remaining life by split conformal prediction, calibrated by life."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from twin import load_scenario
from twin.cli import main
from twin.ml.conformal import (
    calibrate,
    coverage_by_life,
    interval_metrics,
    life_weights,
    load_interval_model,
    predict_interval,
    relative_scale,
    weighted_conformal_quantile,
)
from twin.ml.registry import create
from twin.study.executors import SerialExecutor
from twin.study.variants import compare

ROOT = Path(__file__).resolve().parents[1]
WEAR = ROOT / "scenarios" / "wear.yaml"
STEPS = 10
NOISE = 0.05


def synthetic_lives(count: int, rng: np.random.Generator
                    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Lives of a linear wear with a drift that varies by life, read by one sensor with Gaussian
    noise of known spread ``NOISE``: the failure comes when the wear reaches 1. Per life, the
    readings and the remaining life after each reading."""
    readings, ruls = [], []
    for _ in range(count):
        drift = rng.lognormal(math.log(0.012), 0.3)
        life = 1.0 / drift
        t = np.arange(0.0, math.floor(life) + 1)
        readings.append(drift * t + rng.normal(0, NOISE, len(t)))
        ruls.append(life - t)
    return readings, ruls


def all_windows(readings: list[np.ndarray], ruls: list[np.ndarray]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every window of ``STEPS`` readings of every life, its remaining life and its life."""
    xs, ys, lives = [], [], []
    for i, (x, r) in enumerate(zip(readings, ruls, strict=True)):
        ends = np.arange(STEPS - 1, len(x))
        xs.append(x[ends[:, None] - np.arange(STEPS - 1, -1, -1)][:, :, None])
        ys.append(r[ends])
        lives.append(np.full(len(ends), i))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(lives)


def random_cuts(readings: list[np.ndarray], ruls: list[np.ndarray], rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """One window per life, ending at a random reading (a test set of truncated lives)."""
    xs, ys = [], []
    for x, r in zip(readings, ruls, strict=True):
        end = int(rng.integers(STEPS - 1, len(x)))
        xs.append(x[end - STEPS + 1:end + 1, None])
        ys.append(r[end])
    return np.stack(xs), np.asarray(ys)


def test_the_quantile_is_the_split_conformal_order_statistic() -> None:
    # one window per life: the ceil((n + 1)(1 - alpha))-th smallest score
    scores = np.random.default_rng(1).permutation(np.arange(1.0, 100.0))
    weights = life_weights(np.arange(99))
    assert weighted_conformal_quantile(scores, weights, 99, 0.9) == 90.0
    assert weighted_conformal_quantile(scores, weights, 99, 0.5) == 50.0
    assert weighted_conformal_quantile(scores, weights, 9, 0.95) == math.inf
    # a life of many windows weighs no more than a life of one
    lives = np.array([0] * 9 + [1])
    w = life_weights(lives)
    assert np.isclose(w.sum(), 1) and np.isclose(w[-1], 0.5) and np.isclose(w[0], 0.5 / 9)
    assert weighted_conformal_quantile(np.r_[np.zeros(9), 1.0], w, 2, 0.3) == 0.0
    assert weighted_conformal_quantile(np.r_[np.zeros(9), 1.0], w, 2, 0.34) == 1.0


@pytest.mark.parametrize("method", ["relative", "absolute"])
def test_split_conformal_covers_90_percent_of_held_out_lives(method: str) -> None:
    """Synthetic lives with known noise: the interval covers the true remaining life of a life
    cut at a random reading in 90% of held-out lives, within 2 points. 20 calibrations of 200
    lives, each judged on 500 new lives: the pooled coverage has a standard deviation of about
    0.6 points (0.3/sqrt(20 x 200) for the calibrations, 0.3/sqrt(10,000) for the tests), so
    2 points is over three of them; the expected coverage is at least 0.9 and at most
    0.9 + 1/201 (one window per life); pooling the windows of a life keeps it there."""
    rng = np.random.default_rng(2026)
    X, y, _lives = all_windows(*synthetic_lives(300, rng))
    model = create("linear").fit(X, y)
    scale = relative_scale(y)
    covered, widths, late = [], [], []
    for _ in range(20):
        X, y, lives = all_windows(*synthetic_lives(200, rng))
        calibration = calibrate(model, X, y, lives, 0.9, method, scale)
        assert calibration.method == method and calibration.lives == 200
        Xt, yt = random_cuts(*synthetic_lives(500, rng), rng)
        lower, upper = predict_interval(model, Xt, calibration)
        assert np.all(lower >= 0) and np.all(upper >= lower)
        covered.append(coverage_by_life(lower, upper, yt))
        widths.append(float(np.mean(upper - lower)))
        late.append(float(np.mean((upper - lower)[yt < 15])))
    print(f"{method}: coverage {np.mean(covered):.4f}, mean width {np.mean(widths):.2f}")
    assert abs(np.mean(covered) - 0.9) <= 0.02, np.mean(covered)
    # the interval of a model that knows nothing (the mean life left) is much wider
    constant = 2 * np.quantile(np.abs(yt - yt.mean()), 0.9)
    assert 0 < np.mean(widths) < 0.6 * constant
    if method == "relative":  # near the end the interval narrows with the predicted life
        assert np.mean(late) < 0.5 * np.mean(widths)


def test_asking_for_more_coverage_widens_the_interval() -> None:
    rng = np.random.default_rng(7)
    X, y, _lives = all_windows(*synthetic_lives(100, rng))
    model = create("linear").fit(X, y)
    scale = relative_scale(y)
    X, y, lives = all_windows(*synthetic_lives(100, rng))
    calibration = calibrate(model, X, y, lives, 0.9, scale=scale)
    Xt, yt = random_cuts(*synthetic_lives(2000, rng), rng)
    shares = []
    for coverage in (0.5, 0.8, 0.9, 0.95):
        metrics = interval_metrics(model, calibration, Xt, yt)
        lower, upper = predict_interval(model, Xt, calibration, coverage)
        shares.append((coverage_by_life(lower, upper, yt), float(np.mean(upper - lower))))
        assert metrics["coverage_target"] == 0.9
    assert [s[1] for s in shares] == sorted(s[1] for s in shares)
    for (share, _), coverage in zip(shares, (0.5, 0.8, 0.9, 0.95), strict=True):
        assert abs(share - coverage) < 0.05


def test_conformalized_quantile_regression_covers_held_out_lives() -> None:
    """The quantile trees' own band, conformalized: 90% of 2000 new lives within 2.5 points
    (one calibration of 150 lives: a standard deviation of 0.3/sqrt(150) = 2.4 points... of
    which the seed's draw is one; with its test draw it lands at the value asserted)."""
    rng = np.random.default_rng(3)
    X, y, lives = all_windows(*synthetic_lives(150, rng))
    model = create("gbt-quantile", max_iter=60, coverage=0.9).fit(X, y, groups=lives)
    Xc, yc, lc = all_windows(*synthetic_lives(150, rng))
    calibration = calibrate(model, Xc, yc, lc, 0.9)
    assert calibration.method == "cqr"
    Xt, yt = random_cuts(*synthetic_lives(2000, rng), rng)
    lower, upper = predict_interval(model, Xt, calibration)
    assert abs(coverage_by_life(lower, upper, yt) - 0.9) < 0.05
    low, high = model.predict_quantiles(Xt)
    assert np.all(low <= high)


def test_train_with_coverage_stores_the_calibration(tmp_path: Path) -> None:
    out = tmp_path / "model"
    assert main(["train", str(WEAR), "--predictor", "linear", "--out", str(out),
                 "--horizon", "40000", "--replications", "3", "--coverage", "0.9"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["coverage_target"] == 0.9
    assert 0.7 < metrics["coverage"] <= 1 and metrics["mean_width"] > 0
    assert metrics["calibration_lives"] >= 5
    model = load_interval_model(out / "model.json")
    meta = json.loads((out / "model.json").read_text())["metadata"]
    assert meta["conformal"]["method"] == "relative"
    assert model.calibration.quantile() == pytest.approx(meta["conformal"]["quantile"])
    X = np.random.default_rng(0).normal(3, 0.5, (4, 30, 2))
    lower, upper = model.predict_interval(X)
    point = model.predict(X)
    spread = point + meta["conformal"]["scale"]
    assert np.allclose(upper - point, model.calibration.quantile() * spread, rtol=1e-12)
    assert np.all(lower <= point)


def test_coverage_on_a_risk_model_exits_2(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", str(WEAR), "--predictor", "logistic", "--out", str(tmp_path / "m"),
                 "--horizon", "20000", "--replications", "2", "--coverage", "0.9"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--coverage" in err and "Traceback" not in err


def test_coverage_outside_0_1_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", str(WEAR), "--predictor", "linear", "--coverage", "1.5"]) == 2
    assert "--coverage: must lie between 0 and 1" in capsys.readouterr().err


# --------------------------------------------------------------------------- the policy


@pytest.fixture(scope="module")
def quantile_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gbt-quantile")
    assert main(["train", str(WEAR), "--predictor", "gbt-quantile", "--out", str(out),
                 "--horizon", "40000", "--replications", "3", "--coverage", "0.9"]) == 0
    meta = json.loads((out / "model.json").read_text())["metadata"]
    assert meta["conformal"]["method"] == "cqr"
    return out / "model.json"


def test_a_policy_on_the_lower_bound_fails_no_more_than_the_coverage_allows(
        quantile_model: Path) -> None:
    """Maintain when the lower bound of the remaining life reaches 100 minutes: a life ends in
    a failure only where the bound missed the true remaining life, which a bound of coverage c
    does in at most a share 1 - c of lives. The count of failures among the lives ended is
    judged against that share by a one-sided binomial test at 5%; the point prediction, at
    the same threshold, lets the press fail."""
    from scipy.stats import binom

    policy = {"kind": "predictive", "model": str(quantile_model), "threshold": 100,
              "every": 30, "duration": 20}
    policies = {"point": {"maintenance.policy": policy},
                "lower-0.5": {"maintenance.policy": {**policy, "on": "lower",
                                                     "coverage": 0.5}},
                "lower-0.9": {"maintenance.policy": {**policy, "on": "lower"}}}
    scenario = load_scenario(WEAR, [("horizon", 20_000), ("replications", 2),
                                    ("policies", policies)])
    doc = compare(scenario, executor=SerialExecutor())
    ended = {}
    for name, result in doc["policies"].items():
        press = result["machines"]["press"]
        failures = round(sum(press["failures"]["values"]))
        ended[name] = (failures, failures + round(sum(press["preventive"]["values"])))
    for name, coverage in (("lower-0.5", 0.5), ("lower-0.9", 0.9)):
        failures, lives = ended[name]
        assert lives >= 15
        assert binom.sf(failures - 1, lives, 1 - coverage) > 0.05, (name, failures, lives)
    assert ended["lower-0.9"][0] < ended["point"][0]
    cost = {n: p["kpis"]["cost_rate"]["mean"] for n, p in doc["policies"].items()}
    assert cost["lower-0.9"] < cost["point"]


def test_on_lower_needs_a_calibrated_model(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plain"
    assert main(["train", str(WEAR), "--predictor", "linear", "--out", str(out),
                 "--horizon", "20000", "--replications", "2"]) == 0
    policy = ("maintenance.policy={kind: predictive, model: " + json.dumps(str(out / "model.json"))
              + ", threshold: 100, every: 30, duration: 20, on: lower}")
    assert main(["validate", str(WEAR), "--set", policy]) == 2
    err = capsys.readouterr().err
    assert "maintenance.policy.on" in err and "--coverage" in err and "Traceback" not in err
    assert main(["validate", str(WEAR), "--set", policy.replace(", on: lower",
                                                                  ", coverage: 0.9")]) == 2
    assert "give on: lower too" in capsys.readouterr().err


def test_a_coverage_the_calibration_lives_cannot_promise_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model"
    assert main(["train", str(WEAR), "--predictor", "linear", "--out", str(out),
                 "--horizon", "20000", "--replications", "2", "--coverage", "0.8"]) == 0
    lives = json.loads((out / "model.json").read_text())["metadata"]["conformal"]["lives"]
    assert json.loads((out / "metrics.json").read_text())["calibration_lives"] == lives
    too_much = lives / (lives + 1) + 0.01
    policy = ("maintenance.policy={kind: predictive, model: " + json.dumps(str(out / "model.json"))
              + f", threshold: 100, every: 30, duration: 20, on: lower, coverage: {too_much}}}")
    assert main(["validate", str(WEAR), "--set", policy]) == 2
    err = capsys.readouterr().err
    assert "maintenance.policy.coverage" in err and f"calibrated on {lives} lives" in err
