"""Statistics over replications: means with Student-t confidence intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence
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
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def _json_number(v: float) -> float | None:
    return v if math.isfinite(v) else None


def statistic(values: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """``{"mean", "ci95", "values"}`` as in summary.json; NaN becomes null."""
    mean, low, high = t_interval(values, level)
    return {
        "mean": _json_number(mean),
        "ci95": [_json_number(low), _json_number(high)],
        "values": [_json_number(float(v)) for v in values],
    }
