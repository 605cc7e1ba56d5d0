"""Costs per period: what a policy paid, per time unit, in each year of a run (or each tenth of
its horizon where the time unit does not say how long a year is)."""

from __future__ import annotations

from typing import Any

import numpy as np

YEAR = {"min": 525_600.0, "minute": 525_600.0, "minutes": 525_600.0, "h": 8_760.0,
        "hour": 8_760.0, "hours": 8_760.0, "d": 365.0, "day": 365.0, "days": 365.0,
        "s": 31_536_000.0, "sec": 31_536_000.0, "second": 31_536_000.0,
        "seconds": 31_536_000.0}


def period_of(time_unit: str, horizon: float) -> tuple[float, str]:
    """The period costs are reported by: a year where the time unit says how long one is, else
    a tenth of the horizon."""
    year = YEAR.get(time_unit.strip().lower())
    if year is not None and year < horizon:
        return year, "year"
    return horizon / 10, "tenth of the horizon"
"""Time units in a year, by the names a scenario may give its time unit."""


def cost_by_period(time_unit: str, horizon: float, times: Any, paid: Any) -> dict[str, Any]:
    """The cost ``paid`` at ``times`` per time unit in each period (a year, or a tenth of the
    horizon; the last may be shorter), with the period and its name."""
    period, label = period_of(time_unit, horizon)
    edges = np.arange(0.0, horizon + 1e-9, period)
    if edges[-1] < horizon - 1e-9:
        edges = np.append(edges, horizon)
    spent = np.histogram(times, bins=edges, weights=paid)[0] if len(times) \
        else np.zeros(len(edges) - 1)
    return {"period": period, "period_label": label,
            "cost_rate_by_period": (spent / np.diff(edges)).tolist()}
