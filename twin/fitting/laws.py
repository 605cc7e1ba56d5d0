"""Maximum-likelihood fits of the scenario language's laws, with right censoring.

Each candidate law is fitted by maximizing the log-likelihood ``sum log f(x_i)`` over the
observed values plus ``sum log S(c_j)`` over the right-censored ones (a censored value says only
that the duration was longer). The choice among candidates is by AIC; the Kolmogorov-Smirnov
distance to the data (to the Kaplan-Meier estimate when some values are censored) is reported.
Parameter intervals are Wald intervals from the observed information (the inverse Hessian of the
negative log-likelihood at the maximum), computed on the log of each positive parameter, so
they stay positive and are asymmetric like the likelihood.

The exponential law has a closed form: mean = total exposure / events (rate = events / exposure).
``normal`` is the scenario language's normal truncated at 0, and is fitted as such.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, special, stats

Z95 = float(stats.norm.ppf(0.975))
LOG_2PI = math.log(2 * math.pi)
EMPIRICAL_POINTS = 200
"""An empirical law keeps at most this many values (evenly spaced quantiles); a sample of at
most ``DISCRETE`` distinct values keeps them, repeated in proportion to their frequencies."""
DISCRETE = 50
KS_REJECT = 1e-3
"""With at least ``MIN_PARAMETRIC`` uncensored values and a best parametric law whose KS test
p-value is below this, the empirical law is chosen instead."""
MIN_PARAMETRIC = 30
NORMAL_MIN_Z = -3.0
"""A fitted normal with mean below this many stds is dropped: the scenario language refuses a
normal that puts almost all of its mass below 0 (it is truncated there)."""
MIN_FIT = 5
"""Fewer uncensored values than this: the empirical law (censored: exponential only)."""


@dataclass(frozen=True)
class Law:
    """A candidate law: its internal parameters ``theta`` (unconstrained), their start from the
    data, the log density and log survival on ``(x, log x)``, the CDF, and the parameters in
    the scenario language with whether each is positive."""

    name: str
    names: tuple[str, ...]
    positive_support: bool
    start: Callable[[np.ndarray, np.ndarray], np.ndarray]
    logpdf: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    logsf: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    cdf: Callable[[np.ndarray, np.ndarray], np.ndarray]
    params: Callable[[np.ndarray], tuple[float, ...]]
    linear: tuple[str, ...] = ()
    """Parameters whose interval is on the natural scale (not the log)."""
    loglik: Callable[[Summary, np.ndarray], float] | None = None
    """The log-likelihood of the observed values from their summary (sufficient statistics),
    so that large samples cost nothing per evaluation."""


@dataclass(frozen=True)
class Summary:
    """Sufficient statistics of a sample: its size, the mean and the centred sum of squares of
    the values and of their logs (the logs only for positive samples)."""

    n: int
    total: float
    mean: float
    m2: float
    log_total: float
    log_mean: float
    log_m2: float

    @classmethod
    def of(cls, x: np.ndarray, lx: np.ndarray) -> Summary:
        """The summary of values ``x`` and their logs ``lx`` (log statistics NaN unless all
        finite)."""
        n = len(x)
        mean = float(np.mean(x)) if n else 0.0
        finite = n and bool(np.all(np.isfinite(lx)))
        lmean = float(np.mean(lx)) if finite else math.nan
        return cls(n, float(np.sum(x)), mean, float(np.sum((x - mean) ** 2)),
                   float(np.sum(lx)) if finite else math.nan, lmean,
                   float(np.sum((lx - lmean) ** 2)) if finite else math.nan)

    def squares(self, mu: float) -> float:
        """sum (x - mu)**2"""
        return self.m2 + self.n * (self.mean - mu) ** 2

    def log_squares(self, mu: float) -> float:
        """sum (log x - mu)**2"""
        return self.log_m2 + self.n * (self.log_mean - mu) ** 2


def _log_std(x: np.ndarray) -> float:
    s = float(np.std(x))
    return math.log(s) if s > 0 else math.log(max(float(np.mean(np.abs(x))), 1e-12) * 1e-3)


def _exp_start(x: np.ndarray, lx: np.ndarray) -> np.ndarray:
    return np.array([math.log(max(float(np.mean(x)), 1e-300))])


def _weibull_start(x: np.ndarray, lx: np.ndarray) -> np.ndarray:
    sd = float(np.std(lx))
    k = math.pi / (math.sqrt(6) * sd) if sd > 0 else 10.0
    return np.array([math.log(k), float(np.mean(lx)) + 0.5772 / k])


def _gamma_start(x: np.ndarray, lx: np.ndarray) -> np.ndarray:
    m, v = float(np.mean(x)), float(np.var(x))
    if v <= 0:
        return np.array([math.log(100.0), math.log(m / 100.0)])
    return np.array([math.log(m * m / v), math.log(v / m)])


def _lognormal_start(x: np.ndarray, lx: np.ndarray) -> np.ndarray:
    return np.array([float(np.mean(lx)), _log_std(lx)])


def _normal_start(x: np.ndarray, lx: np.ndarray) -> np.ndarray:
    return np.array([float(np.mean(x)), _log_std(x)])


def _weibull_logpdf(x: np.ndarray, lx: np.ndarray, th: np.ndarray) -> np.ndarray:
    lk, ls = th
    u = lx - ls
    return lk - ls + (math.exp(lk) - 1) * u - np.exp(math.exp(lk) * u)


def _weibull_logsf(x: np.ndarray, lx: np.ndarray, th: np.ndarray) -> np.ndarray:
    return -np.exp(math.exp(th[0]) * (lx - th[1]))


def _gamma_logpdf(x: np.ndarray, lx: np.ndarray, th: np.ndarray) -> np.ndarray:
    a, s = math.exp(th[0]), math.exp(th[1])
    return (a - 1) * lx - x / s - special.gammaln(a) - a * th[1]


def _gamma_logsf(x: np.ndarray, lx: np.ndarray, th: np.ndarray) -> np.ndarray:
    a, s = math.exp(th[0]), math.exp(th[1])
    with np.errstate(divide="ignore"):
        return np.log(special.gammaincc(a, x / s))


def _lognormal_logpdf(x: np.ndarray, lx: np.ndarray, th: np.ndarray) -> np.ndarray:
    mu, ls = th
    z = (lx - mu) / math.exp(ls)
    return -lx - ls - 0.5 * LOG_2PI - 0.5 * z * z


def _lognormal_logsf(x: np.ndarray, lx: np.ndarray, th: np.ndarray) -> np.ndarray:
    return special.log_ndtr(-(lx - th[0]) / math.exp(th[1]))


def _normal_logpdf(x: np.ndarray, lx: np.ndarray, th: np.ndarray) -> np.ndarray:
    mu, ls = th
    sigma = math.exp(ls)
    z = (x - mu) / sigma
    return -ls - 0.5 * LOG_2PI - 0.5 * z * z - float(special.log_ndtr(mu / sigma))


def _normal_logsf(x: np.ndarray, lx: np.ndarray, th: np.ndarray) -> np.ndarray:
    mu, sigma = th[0], math.exp(th[1])
    return special.log_ndtr(-(x - mu) / sigma) - float(special.log_ndtr(mu / sigma))


def _normal_cdf(x: np.ndarray, th: np.ndarray) -> np.ndarray:
    mu, sigma = th[0], math.exp(th[1])
    low = special.ndtr(-mu / sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip((special.ndtr((x - mu) / sigma) - low) / max(1 - low, 1e-300), 0, 1)


def _gamma_loglik(s: Summary, th: np.ndarray) -> float:
    a, scale = math.exp(th[0]), math.exp(th[1])
    return float((a - 1) * s.log_total - s.total / scale - s.n * (special.gammaln(a)
                                                                  + a * th[1]))


def _lognormal_loglik(s: Summary, th: np.ndarray) -> float:
    mu, ls = float(th[0]), float(th[1])
    return (-s.log_total - s.n * (ls + 0.5 * LOG_2PI)
            - s.log_squares(mu) / (2 * math.exp(2 * ls)))


def _normal_loglik(s: Summary, th: np.ndarray) -> float:
    mu, ls = float(th[0]), float(th[1])
    sigma = math.exp(ls)
    return (-s.n * (ls + 0.5 * LOG_2PI) - s.squares(mu) / (2 * sigma * sigma)
            - s.n * float(special.log_ndtr(mu / sigma)))


def _lognormal_params(th: np.ndarray) -> tuple[float, ...]:
    mu, s2 = float(th[0]), math.exp(2 * th[1])
    mean = math.exp(mu + s2 / 2)
    return mean, mean * math.sqrt(math.expm1(s2))


def _positive(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


LAWS: dict[str, Law] = {
    "exponential": Law(
        "exponential", ("mean",), False, _exp_start,
        lambda x, lx, th: -th[0] - x / math.exp(th[0]),
        lambda x, lx, th: -x / math.exp(th[0]),
        lambda x, th: -np.expm1(-_positive(x) / math.exp(th[0])),
        lambda th: (math.exp(th[0]),),
        loglik=lambda s, th: -s.n * float(th[0]) - s.total / math.exp(th[0])),
    "weibull": Law(
        "weibull", ("shape", "scale"), True, _weibull_start, _weibull_logpdf, _weibull_logsf,
        lambda x, th: -np.expm1(-(_positive(x) / math.exp(th[1])) ** math.exp(th[0])),
        lambda th: (math.exp(th[0]), math.exp(th[1]))),
    "gamma": Law(
        "gamma", ("shape", "scale"), True, _gamma_start, _gamma_logpdf, _gamma_logsf,
        lambda x, th: special.gammainc(math.exp(th[0]), _positive(x) / math.exp(th[1])),
        lambda th: (math.exp(th[0]), math.exp(th[1])), loglik=_gamma_loglik),
    "lognormal": Law(
        "lognormal", ("mean", "std"), True, _lognormal_start, _lognormal_logpdf,
        _lognormal_logsf,
        lambda x, th: special.ndtr((np.log(np.maximum(x, 1e-300)) - th[0]) / math.exp(th[1])),
        _lognormal_params, loglik=_lognormal_loglik),
    "normal": Law(
        "normal", ("mean", "std"), False, _normal_start, _normal_logpdf, _normal_logsf,
        _normal_cdf, lambda th: (float(th[0]), math.exp(th[1])), linear=("mean",),
        loglik=_normal_loglik),
}
PARAMETRIC = tuple(LAWS)


@dataclass
class Candidate:
    """One law fitted to the data."""

    law: str
    params: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    loglik: float
    aic: float
    ks: float
    ks_p: float | None
    theta: np.ndarray = field(repr=False)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """The fitted cumulative distribution function at ``x``."""
        return LAWS[self.law].cdf(np.asarray(x, dtype=float), self.theta)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """The fitted density at ``x`` (0 outside the law's support)."""
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            lx = np.log(np.maximum(x, 1e-300))
            out = np.exp(LAWS[self.law].logpdf(x, lx, self.theta))
        return np.where((x < 0) | ((x <= 0) & LAWS[self.law].positive_support), 0.0, out)


@dataclass
class Fit:
    """The fit of one quantity: the chosen law with its parameters, their 95% intervals, the
    goodness of fit, every candidate tried, and the data (for the report)."""

    quantity: str
    law: str
    params: dict[str, Any]
    intervals: dict[str, tuple[float, float]]
    n: int
    events: int
    aic: float | None
    ks: float | None
    candidates: list[Candidate]
    values: np.ndarray = field(repr=False)
    observed: np.ndarray = field(repr=False)
    note: str = ""

    @property
    def censored(self) -> int:
        """How many values are right-censored."""
        return self.n - self.events

    def spec(self) -> dict[str, Any]:
        """The law as the scenario language writes it."""
        if self.law == "empirical":
            return {"dist": "empirical", "values": [significant(v) for v in self.params["values"]]}
        return {"dist": self.law, **{k: significant(v) for k, v in self.params.items()}}

    @property
    def chosen(self) -> Candidate | None:
        """The candidate of the chosen law, if it was among those fitted."""
        return next((c for c in self.candidates if c.law == self.law), None)

    def mean(self) -> float:
        """The mean of the chosen law with its fitted parameters."""
        if self.law == "constant":
            return float(self.params["value"])
        if self.law == "empirical":
            return float(np.mean(self.params["values"]))
        if self.law == "weibull":
            return self.params["scale"] * math.gamma(1 + 1 / self.params["shape"])
        if self.law == "gamma":
            return self.params["shape"] * self.params["scale"]
        return float(self.params["mean"])


def significant(v: float, digits: int = 6) -> float:
    """``v`` to ``digits`` significant digits, for the numbers a fitted scenario shows."""
    if v == 0 or not math.isfinite(v):
        return float(v)
    return float(f"{v:.{digits}g}")


def _nll(law: Law, x: np.ndarray, lx: np.ndarray, c: np.ndarray, lc: np.ndarray
         ) -> Callable[[np.ndarray], float]:
    summary = Summary.of(x, lx) if law.loglik is not None else None

    def f(th: np.ndarray) -> float:
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                if law.loglik is not None and summary is not None:
                    total = law.loglik(summary, th)
                else:
                    total = float(np.sum(law.logpdf(x, lx, th)))
                if len(c):
                    total += float(np.sum(law.logsf(c, lc, th)))
        except (ZeroDivisionError, OverflowError, ValueError):
            return math.inf
        return -total if math.isfinite(total) else math.inf

    return f


def _weibull_mle(x: np.ndarray, lx: np.ndarray, c: np.ndarray, lc: np.ndarray,
                 start: np.ndarray) -> np.ndarray:
    """Weibull MLE with right censoring: for a shape k the best scale is
    (sum over all values of x**k / events)**(1/k); the shape maximizes the profile."""
    allv = np.concatenate([lx, lc])
    r = len(x)
    slx = float(np.sum(lx))

    def profile(lk: float) -> float:
        k = math.exp(lk)
        m = float(np.max(allv))
        sk = float(np.sum(np.exp(k * (allv - m))))  # sum x**k / exp(k m)
        ls = (math.log(sk / r) + k * m) / k
        return -(r * (lk - ls) + (k - 1) * (slx - r * ls) - r)

    res = optimize.minimize_scalar(profile, bracket=(float(start[0]) - 0.5, float(start[0])),
                                   tol=1e-12)
    lk = float(res.x)
    k = math.exp(lk)
    m = float(np.max(allv))
    ls = (math.log(float(np.sum(np.exp(k * (allv - m)))) / r) + k * m) / k
    return np.array([lk, ls])


def _hessian(f: Callable[[np.ndarray], float], th: np.ndarray) -> np.ndarray:
    k = len(th)
    h = 1e-4 * (1 + np.abs(th))
    out = np.zeros((k, k))
    f0 = f(th)
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h[i]
        out[i, i] = (f(th + ei) - 2 * f0 + f(th - ei)) / h[i] ** 2
        for j in range(i + 1, k):
            ej = np.zeros(k)
            ej[j] = h[j]
            out[i, j] = out[j, i] = (f(th + ei + ej) - f(th + ei - ej) - f(th - ei + ej)
                                     + f(th - ei - ej)) / (4 * h[i] * h[j])
    return out


def _intervals(law: Law, th: np.ndarray, cov: np.ndarray | None) -> dict[str, tuple[float,
                                                                                     float]]:
    values = law.params(th)
    out: dict[str, tuple[float, float]] = {}
    for j, name in enumerate(law.names):
        if cov is None:
            out[name] = (math.nan, math.nan)
            continue
        linear = name in law.linear

        def g(t: np.ndarray, j: int = j, linear: bool = linear) -> float:
            v = law.params(t)[j]
            return v if linear else math.log(v)

        grad = np.zeros(len(th))
        for i in range(len(th)):
            h = 1e-6 * (1 + abs(th[i]))
            e = np.zeros(len(th))
            e[i] = h
            grad[i] = (g(th + e) - g(th - e)) / (2 * h)
        se = math.sqrt(max(float(grad @ cov @ grad), 0.0))
        centre = g(th)
        low, high = centre - Z95 * se, centre + Z95 * se
        out[name] = (low, high) if linear else (math.exp(low), math.exp(high))
        if not linear and not math.isfinite(values[j]):
            out[name] = (math.nan, math.nan)
    return out


def _profile_intervals(law: Law, f: Callable[[np.ndarray], float], th: np.ndarray,
                       cov: np.ndarray | None) -> dict[str, tuple[float, float]] | None:
    """Profile-likelihood 95% intervals of the parameters that are (the exp of) one internal
    parameter each: {v : 2 (min nll at theta_i = v - min nll) <= chi2(1; 0.95)}. More
    accurate than Wald intervals for the skewed likelihoods of censored lives."""
    if cov is None or len(th) != 2:
        return None
    crit = float(stats.chi2.ppf(0.95, 1)) / 2
    best = f(th)
    out: dict[str, tuple[float, float]] = {}
    for i, name in enumerate(law.names):
        if law.name == "lognormal":
            return None  # its parameters mix both internal ones: Wald on their logs
        j = 1 - i
        se_j = math.sqrt(max(cov[j, j], 1e-12))

        def profile(v: float, i: int = i, j: int = j, se_j: float = se_j) -> float:
            def g(u: float) -> float:
                t = th.copy()
                t[i], t[j] = v, u
                return f(t)

            shift = cov[i, j] / cov[i, i] * (v - th[i]) if cov[i, i] > 0 else 0.0
            guess = float(th[j] + shift)
            res = optimize.minimize_scalar(g, bracket=(guess - se_j, guess), tol=1e-10)
            return float(res.fun) - best - crit

        se = math.sqrt(max(cov[i, i], 1e-300))
        ends = []
        for sign in (-1, 1):
            step = 2 * se
            far = th[i] + sign * step
            tries = 0
            while profile(far) < 0 and tries < 20:
                step *= 2
                far = th[i] + sign * step
                tries += 1
            if tries == 20:
                return None
            ends.append(optimize.brentq(profile, th[i], far, xtol=1e-10) if sign > 0
                        else optimize.brentq(profile, far, th[i], xtol=1e-10))
        low, high = ends
        if name in law.linear:
            out[name] = (low, high)
        else:
            out[name] = (math.exp(low), math.exp(high))
    return out


def kaplan_meier(values: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Kaplan-Meier survival estimate: the distinct event times and S just after each."""
    order = np.argsort(values, kind="stable")
    v, o = values[order], observed[order]
    n = len(v)
    at_risk = n - np.arange(n)
    times, first = np.unique(v, return_index=True)
    deaths = np.add.reduceat(o.astype(float), first) if n else np.zeros(0)
    risk = at_risk[first]
    keep = deaths > 0
    surv = np.cumprod(1 - deaths[keep] / risk[keep])
    return times[keep], surv


def _ks(cand_cdf: Callable[[np.ndarray], np.ndarray], values: np.ndarray,
        observed: np.ndarray) -> float:
    if observed.all():
        x = np.sort(values)
        n = len(x)
        f = cand_cdf(x)
        i = np.arange(1, n + 1)
        return float(max(np.max(i / n - f), np.max(f - (i - 1) / n)))
    times, surv = kaplan_meier(values, observed)
    if len(times) == 0:
        return math.nan
    f = cand_cdf(times)
    before = np.concatenate([[1.0], surv[:-1]])
    return float(max(np.max(np.abs(1 - surv - f)), np.max(np.abs(1 - before - f))))


def fit_law(name: str, values: np.ndarray, observed: np.ndarray,
            profile: bool = True) -> Candidate | None:
    """The maximum-likelihood fit of law ``name``; None where it cannot be fitted."""
    law = LAWS[name]
    x, c = values[observed], values[~observed]
    if len(x) == 0 or (law.positive_support and (np.min(values) <= 0)):
        return None
    with np.errstate(divide="ignore"):
        lx, lc = np.log(x), np.log(c)
    f = _nll(law, x, lx, c, lc)
    if name == "exponential":
        th = np.array([math.log(float(np.sum(values)) / len(x))])
        cov: np.ndarray | None = np.array([[1.0 / len(x)]])
    else:
        start = law.start(values if len(c) else x, np.log(values) if law.positive_support
                          and len(c) else lx)
        if not math.isfinite(f(start)):
            start = law.start(x, lx)
        if not math.isfinite(f(start)):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name == "weibull":
                th = _weibull_mle(x, lx, c, lc, start)
            else:
                # tolerances relative to the size of the log-likelihood; a restart from
                # the first optimum guards against a collapsed simplex
                fatol = 1e-12 * (1.0 + abs(f(start)))
                th = np.asarray(start, dtype=float)
                for _ in range(2):
                    res = optimize.minimize(f, th, method="Nelder-Mead",
                                            options={"xatol": 1e-9, "fatol": fatol,
                                                     "maxiter": 2000})
                    th = np.asarray(res.x, dtype=float)
        if not math.isfinite(f(th)):
            return None
        try:
            hess = _hessian(f, th)
            cov = np.linalg.inv(hess) if np.all(np.linalg.eigvalsh(hess) > 0) else None
        except np.linalg.LinAlgError:
            cov = None
    nll = f(th)
    if not math.isfinite(nll):
        return None
    params = dict(zip(law.names, law.params(th), strict=True))
    if name == "normal" and params["mean"] < NORMAL_MIN_Z * params["std"]:
        return None  # the tail of a normal centred far below 0: not the scenario's normal

    def cdf(z: np.ndarray) -> np.ndarray:
        return law.cdf(z, th)

    intervals = _intervals(law, th, cov)
    if profile and len(c):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.suppress(ValueError, RuntimeError, ArithmeticError):
                intervals = _profile_intervals(law, f, th, cov) or intervals
    ks = _ks(cdf, values, observed)
    ks_p = float(stats.kstwo.sf(ks, len(values))) if observed.all() else None
    return Candidate(name, params, intervals, -nll, 2 * len(th) + 2 * nll, ks,
                     ks_p, th)


def fit_durations(quantity: str, values: Any, observed: Any = None,
                  laws: tuple[str, ...] = PARAMETRIC, empirical: bool = True) -> Fit | None:
    """Fit ``values`` (``observed`` False marks a right-censored value) by every law of
    ``laws``; choose by AIC. Uncensored samples may also be constant (no spread) or empirical
    (too few values, or every parametric law rejected by the KS test)."""
    v = np.asarray(values, dtype=float)
    o = np.ones(len(v), dtype=bool) if observed is None else np.asarray(observed, dtype=bool)
    if len(v) == 0 or not o.any():
        return None
    censored = not o.all()
    events = int(o.sum())
    if not censored:
        lo, hi = float(np.min(v)), float(np.max(v))
        if hi - lo <= 1e-9 * max(abs(hi), 1e-12):
            value = float(np.mean(v))
            return Fit(quantity, "constant", {"value": value}, {"value": (value, value)},
                       len(v), events, None, 0.0, [], v, o, "no spread: constant")
        if len(v) < MIN_FIT and empirical:
            return _empirical(quantity, v, o, [], f"only {len(v)} values: empirical")
    if censored and events < MIN_FIT:
        laws = ("exponential",)
    candidates = [c for c in (fit_law(name, v, o, profile=False) for name in laws)
                  if c is not None]
    if not candidates:
        return _empirical(quantity, v, o, [], "no law could be fitted") if empirical and \
            not censored else None
    candidates.sort(key=lambda c: c.aic)
    if censored:  # the chosen law's intervals from the profile likelihood
        candidates[0] = fit_law(candidates[0].law, v, o, profile=True) or candidates[0]
    best = candidates[0]
    if (empirical and not censored and len(v) >= MIN_PARAMETRIC and best.ks_p is not None
            and best.ks_p < KS_REJECT):
        return _empirical(quantity, v, o, candidates,
                          f"every law rejected by the KS test (best {best.law}: "
                          f"p = {best.ks_p:.2g}): empirical")
    return Fit(quantity, best.law, best.params, best.intervals, len(v), events, best.aic,
               best.ks, candidates, v, o)


def _empirical(quantity: str, v: np.ndarray, o: np.ndarray, candidates: list[Candidate],
               note: str) -> Fit:
    x = np.sort(v)
    distinct, counts = np.unique(x, return_counts=True)
    if len(x) > EMPIRICAL_POINTS and len(distinct) <= DISCRETE:
        # a few distinct values: each repeated in proportion to its frequency
        reps = np.maximum(np.round(counts / len(x) * EMPIRICAL_POINTS), 1).astype(int)
        reps //= np.gcd.reduce(reps)
        x = np.repeat(distinct, reps)
    elif len(x) > EMPIRICAL_POINTS:
        x = np.quantile(x, (np.arange(EMPIRICAL_POINTS) + 0.5) / EMPIRICAL_POINTS)
    mean = float(np.mean(v))
    se = float(np.std(v, ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan
    return Fit(quantity, "empirical", {"values": [float(a) for a in x]},
               {"mean": (mean - Z95 * se, mean + Z95 * se)}, len(v), int(o.sum()), None,
               None, candidates, v, o, note)
