"""Learning in the loop: a predictive policy that starts with no model acts by its fallback
(preventive at an age) until enough lives have ended, then learns only from lives that had ended
before each update (no look-ahead), reproducibly on any number of workers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from twin import load_scenario
from twin.cli import main
from twin.engine.replication import build
from twin.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
WEAR = ROOT / "scenarios" / "wear.yaml"
LEARN = {"kind": "predictive", "threshold": 250, "every": 30, "duration": 20,
         "learn": {"every": 2, "warm_up": 4, "predictor": "linear", "horizon": 400,
                   "fallback_age": 600}}


def scenario(horizon: float = 40_000, learn: dict | None = None):  # type: ignore[no-untyped-def]
    policy = {**LEARN, "learn": {**LEARN["learn"], **(learn or {})}}  # type: ignore[dict-item]
    return load_scenario(WEAR, [("horizon", horizon), ("maintenance.policy", policy)])


def test_learns_only_from_lives_that_ended_before_each_update() -> None:
    sc = scenario()
    ctx = build(sc, 0)
    fits: list[tuple[float, int]] = []
    policy = ctx.maintenance
    learner = policy.decisions.learner  # type: ignore[union-attr]
    fresh = learner.fresh
    original = type(fresh).fit

    def spy(self, X, y, *args, **kwargs):  # type: ignore[no-untyped-def]
        fits.append((ctx.env.now, len(y)))
        return original(self, X, y, *args, **kwargs)

    type(fresh).fit = spy  # type: ignore[method-assign]
    try:
        ctx.env.run(until=sc.horizon)
    finally:
        type(fresh).fit = original  # type: ignore[method-assign]
    press = ctx.machines["press"]
    assert len(fits) >= 3 and len(learner.updates) >= 3
    for time, lives_ended, _failures, windows, _error in learner.updates:
        # the lives it had learned from by then had all ended, and every reading of them was
        # taken before the update
        assert all(end <= time and last <= time for end, last in learner.learned[:lives_ended])
        assert lives_ended == sum(1 for life in press.lives[1:] if life.start <= time + 1e-9)
        assert (time, windows) in fits
    # warm-up: the first fit came when the fourth life ended, not before
    ends = [life.start for life in press.lives[1:]]
    assert learner.switched_at == pytest.approx(ends[3], abs=60)  # the repair or PM in between


def test_fallback_is_preventive_at_an_age_until_the_model_takes_over() -> None:
    sc = scenario()
    ctx = build(sc, 0)
    ctx.env.run(until=sc.horizon)
    learner = ctx.maintenance.decisions.learner  # type: ignore[union-attr]
    press = ctx.machines["press"]
    before = [b.operating - a.operating for a, b in zip(press.lives[:-1], press.lives[1:], strict=True)
              if b.start < learner.switched_at]
    assert before and all(age <= 600 + 1e-6 for age in before)


def test_learning_is_reproducible_on_any_number_of_workers(tmp_path: Path) -> None:
    policy = json.dumps(LEARN)
    docs = []
    for workers in ("1", "2"):
        out = tmp_path / workers
        assert main(["run", str(WEAR), "--horizon", "15000", "--replications", "2",
                     "--workers", workers, "--no-sensors", "--set",
                     f"maintenance.policy={policy}", "--out", str(out)]) == 0
        docs.append(json.loads((out / "summary.json").read_text()))
    assert docs[0]["kpis"]["cost_rate"]["values"] == docs[1]["kpis"]["cost_rate"]["values"]
    assert docs[0]["learning"] == docs[1]["learning"]
    learning = docs[0]["learning"]
    assert learning["updates"][0] and learning["switched_at"]["mean"] > 0
    assert len(learning["cost_rate_by_period"]) == 10
    assert learning["error_by_update"][0]["error"] is None  # no model to score with yet
    assert np.isfinite(learning["error_by_update"][-1]["error"])


def test_sgd_learns_by_partial_fit() -> None:
    sc = scenario(learn={"predictor": "sgd"})
    ctx = build(sc, 1)
    ctx.env.run(until=sc.horizon)
    learner = ctx.maintenance.decisions.learner  # type: ignore[union-attr]
    assert learner.partial and learner.model.updates_ == len(learner.updates) - 1


def test_a_risk_predictor_needs_its_horizon_and_an_unknown_one_is_named() -> None:
    with pytest.raises(InputError, match="learn.horizon: logistic predicts a risk"):
        scenario(learn={"predictor": "logistic", "horizon": None})
    with pytest.raises(InputError, match="unknown predictor 'linaer'.*linear"):
        scenario(learn={"predictor": "linaer"})
    with pytest.raises(InputError, match="give a saved model, or learn"):
        load_scenario(WEAR, [("maintenance.policy", {k: v for k, v in LEARN.items()
                                                     if k != "learn"})])
