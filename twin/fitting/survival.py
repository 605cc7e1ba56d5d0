"""Times to failure and repair, fitted with right censoring.

A machine's operating life ends in a failure (observed) or is cut short by a preventive
maintenance or by the end of the log (right-censored: the life was at least that long). Every
life is kept: the censored ones enter the likelihood through the survival function, as in
``scipy.stats.CensoredData.right_censored`` and lifelines' ``event_observed``. Dropping them, or
counting them as failures, biases the fit (``naive_fit`` shows by how much).
"""

from __future__ import annotations

from scipy import stats

from twin.fitting.laws import PARAMETRIC, Candidate, Fit, fit_durations, fit_law, kaplan_meier
from twin.fitting.observe import Durations

__all__ = ["censored_data", "fit_survival", "informative", "kaplan_meier", "naive_fit"]


def censored_data(d: Durations) -> stats.CensoredData:
    """The durations as scipy's right-censored data."""
    return stats.CensoredData.right_censored(d.values, ~d.observed)


def informative(d: Durations) -> Durations:
    """The durations less the right-censored ones of length 0 or less (a log that ends right
    after a repair): such a value says only that the duration is at least 0, which every law of
    durations holds, so it adds nothing to the likelihood, and a law on the positive numbers
    (Weibull, gamma, lognormal) could not be fitted with it kept."""
    keep = d.observed | (d.values > 0)
    if keep.all():
        return d
    return Durations(d.values[keep], d.observed[keep])


def fit_survival(quantity: str, d: Durations, laws: tuple[str, ...] = PARAMETRIC) -> Fit | None:
    """Maximum-likelihood fit with right censoring over ``laws``, chosen by AIC, with
    profile-likelihood 95% intervals; None when no event (failure) was observed. Censored
    durations of length 0 are left out (``informative``)."""
    d = informative(d)
    return fit_durations(quantity, d.values, d.observed, laws=laws, empirical=False)


def naive_fit(d: Durations, law: str = "weibull") -> Candidate | None:
    """The fit a naive analysis makes: the observed failures alone, censored lives dropped."""
    observed = d.values[d.observed]
    if len(observed) < 2:
        return None
    return fit_law(law, observed, d.observed[d.observed])
