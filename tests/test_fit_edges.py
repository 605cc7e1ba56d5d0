"""Edge cases of fitting operating lives: lives of length 0 at the ends of a log.

A log that ends right after a repair leaves an open life of length 0 (right-censored at 0); a
log that starts with a failure shows a failure with no life before it. Neither says anything
about the law of the lives: the fit must be the one without them, Weibull included.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tests.test_fit import covers, machine_log
from twin.fitting import check_frame, fit_observations
from twin.fitting.observe import Durations
from twin.fitting.survival import censored_data, fit_survival, informative


def test_a_zero_length_censored_life_changes_nothing_and_the_weibull_is_recovered() -> None:
    frame, _ = machine_log(0, lives=300)
    ends = frame.index[frame["event"] == "repair_end"]
    cut = frame.loc[:ends[-1]]  # the log ends right after a repair: an open life of length 0
    with_zero = fit_observations(check_frame(cut)).fits["M1"]
    data = with_zero.lives_data
    assert int(((data.values == 0) & ~data.observed).sum()) == 1
    kept = informative(data)
    assert len(kept) == len(data) - 1 and kept.events == data.events
    # every positive law is fitted again: the choice is among the five
    assert with_zero.lives is not None and with_zero.lives.law != "normal"
    laws = {c.law for c in with_zero.lives.candidates}
    assert {"weibull", "gamma", "lognormal"} <= laws
    # the Weibull fit is the maximum of the likelihood without the zero (scipy's, censored)
    weibull = fit_survival("ttf", data, ("weibull",)).chosen
    c, _, scale = stats.weibull_min.fit(censored_data(kept), floc=0)
    assert weibull.params["shape"] == pytest.approx(c, rel=1e-5)
    assert weibull.params["scale"] == pytest.approx(scale, rel=1e-5)
    # and its 95% intervals cover the truth (shape 2.5, scale 900)
    assert covers(weibull.intervals["shape"], 2.5), weibull.intervals
    assert covers(weibull.intervals["scale"], 900.0), weibull.intervals
    same = fit_survival("ttf", kept, ("weibull",)).chosen
    assert weibull.params == same.params


def test_a_log_that_starts_with_a_failure_has_no_zero_observed_life() -> None:
    frame, _ = machine_log(1, lives=300)
    first_fail = frame.index[frame["event"] == "fail"][0]
    late = frame.loc[first_fail:]  # the log starts with a failure
    fits = fit_observations(check_frame(late)).fits["M1"]
    data = fits.lives_data
    assert not ((data.values <= 0) & data.observed).any()
    assert fits.lives is not None and fits.lives.law != "normal"
    weibull = fit_survival("ttf", data, ("weibull",)).chosen
    assert covers(weibull.intervals["shape"], 2.5), weibull.intervals
    assert covers(weibull.intervals["scale"], 900.0), weibull.intervals


def test_zero_censored_values_leave_the_likelihood_unchanged() -> None:
    rng = np.random.default_rng(7)
    lives = 900.0 * rng.weibull(2.5, 400)
    cut = np.minimum(lives, 700.0)
    observed = lives <= 700.0
    base = Durations(cut, observed)
    zeros = Durations(np.concatenate([cut, np.zeros(25)]),
                      np.concatenate([observed, np.zeros(25, dtype=bool)]))
    a = fit_survival("ttf", base)
    b = fit_survival("ttf", zeros)
    assert a is not None and b is not None
    assert b.law == a.law and b.params == a.params and b.n == a.n
