"""What ``twin fit`` prints: the plant found and each fitted quantity with its intervals."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from twin.fitting.fit import FitResult
from twin.fitting.laws import Fit


def _g(v: float) -> str:
    return f"{v:.4g}" if math.isfinite(v) else "–"


def describe(fit: Fit) -> tuple[str, str]:
    """A fit's parameters and their 95% intervals, as two short texts for a table."""
    if fit.law == "empirical":
        lo, hi = fit.intervals.get("mean", (math.nan, math.nan))
        return (f"{len(fit.params['values'])} values, mean {_g(fit.mean())}",
                f"mean {_g(lo)} .. {_g(hi)}")
    params = ", ".join(f"{k} {_g(v)}" for k, v in fit.params.items())
    ivs = "; ".join(f"{k} {_g(lo)} .. {_g(hi)}" for k, (lo, hi) in fit.intervals.items()
                    if fit.law != "constant")
    return params, ivs or "–"


def print_fit(console: Console, result: FitResult) -> None:
    """Print the fit of a log to ``console``: the plant found, and a table of every quantity's law,
    parameters, intervals and goodness of fit."""
    obs, graph = result.obs, result.graph
    kinds: dict[str, int] = {}
    for kind in graph.kinds.values():
        kinds[kind] = kinds.get(kind, 0) + 1
    parts = ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in sorted(kinds.items()))
    console.print(f"{result.log.source}: {obs.events:,} events, {len(obs.replications)} "
                  f"replication(s): {parts}, {len(graph.edges)} edges; log throughput "
                  f"{obs.throughput():.4g}", highlight=False, soft_wrap=True)
    table = Table(show_lines=False)
    for col in ("quantity", "n", "censored", "law", "parameters", "95% intervals", "KS"):
        table.add_column(col, justify="left" if col in ("quantity", "law", "parameters",
                                                        "95% intervals") else "right")
    for label, fit in result.quantities():
        params, ivs = describe(fit)
        table.add_row(label, f"{fit.n:,}", f"{fit.censored:,}" if fit.censored else "",
                      fit.law, params, ivs, f"{fit.ks:.3g}" if fit.ks is not None else "–")
    console.print(table)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True, markup=False)
    if result.out is not None:
        console.print(f"scenario: {result.out}", highlight=False, soft_wrap=True)
    if result.report is not None:
        console.print(f"report: {result.report}", highlight=False, soft_wrap=True)
