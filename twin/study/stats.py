"""Statistics over replications: means with Student-t confidence intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
from scipy import stats


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t interval of the finite values (NaN bounds below 2 values)."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    half = float(_t_quantile(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


@cache
def _t_quantile(q: float, df: int) -> float:
    return float(stats.t.ppf(q, df))  # scipy's ppf costs a millisecond a call


def _json_number(v: float) -> float | None:
    return v if math.isfinite(v) else None


Bounds = tuple[float | None, float | None]
"""The range of values a quantity can take; ``None``: unbounded on that side."""


def clip(low: float, high: float, bounds: Bounds | None) -> tuple[float, float]:
    """An interval clipped to ``bounds``: a fraction's interval stays in [0, 1], a count's
    above 0 (the t interval is symmetric and knows nothing of the range)."""
    if bounds is None:
        return low, high
    lo, hi = bounds
    if lo is not None and math.isfinite(low):
        low, high = max(low, lo), max(high, lo)
    if hi is not None and math.isfinite(high):
        low, high = min(low, hi), min(high, hi)
    return low, high


def statistic(values: Sequence[float], level: float = 0.95,
              bounds: Bounds | None = None) -> dict[str, Any]:
    """``{"mean", "ci95", "values"}`` as in summary.json; NaN becomes null. With ``bounds``,
    the interval is clipped to the range of the quantity."""
    mean, low, high = t_interval(values, level)
    low, high = clip(low, high, bounds)
    return {
        "mean": _json_number(mean),
        "ci95": [_json_number(low), _json_number(high)],
        "values": [_json_number(float(v)) for v in values],
    }
