"""The report's camera inspection sections: each camera station's confusion matrix, per
replication in a run, per policy in a comparison."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

COLUMNS = (("true_rejects", "defects rejected"), ("escaped", "defects escaped"),
           ("false_rejects", "good parts rejected"), ("true_passes", "good parts passed"),
           ("detection_rate", "detection"), ("false_alarm_rate", "false alarm"))


def cameras(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The nodes of a summary that carry a camera's confusion matrix."""
    return {name: stats for name, stats in (summary.get("nodes") or {}).items()
            if "true_rejects" in stats}


def _cell(value: float) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:.3f}"


def camera_section(summary: dict[str, Any],
                   table: Callable[[Sequence[str], Sequence[Sequence[str]]], str]) -> str:
    """A run's camera stations: the confusion matrix of every replication (empty without)."""
    out = []
    for name, stats in cameras(summary).items():
        count = len(stats["true_rejects"]["values"])
        rows = [[str(r)] + [_cell(stats[k]["values"][r]) for k, _ in COLUMNS]
                for r in range(count)]
        out.append(f"<h2>Camera inspection at {html.escape(name)}: confusion matrix by "
                   "replication</h2>" + table(["replication", *(h for _, h in COLUMNS)], rows))
    return "".join(out)


def camera_compare_section(policies: dict[str, Any],
                           table: Callable[[Sequence[str], Sequence[Sequence[str]]], str]
                           ) -> str:
    """A comparison's camera stations: each policy's mean confusion matrix (empty without)."""
    names = sorted({n for p in policies.values() for n in cameras(p)})
    out = []
    for name in names:
        rows = [[policy] + [_cell(cameras(doc)[name][k]["mean"]) for k, _ in COLUMNS]
                for policy, doc in policies.items() if name in cameras(doc)]
        out.append(f"<h2>Camera inspection at {html.escape(name)} by policy (means over "
                   "replications)</h2>" + table(["policy", *(h for _, h in COLUMNS)], rows))
    return "".join(out)
