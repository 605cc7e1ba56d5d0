"""The fit report: one offline HTML page with, per fitted quantity, the data against the
fitted law (a histogram with the density, or for censored durations the Kaplan-Meier curve with
the fitted survival function) and the numbers: every candidate law's parameters with their 95%
intervals, AIC and Kolmogorov-Smirnov distance. Built with twin's report page (plotly.js
inlined, gzip-compressed)."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from twin.fitting.laws import Candidate, Fit
from twin.fitting.survival import kaplan_meier
from twin.report.pages import _figure, _num, _page, _table

if TYPE_CHECKING:
    from twin.fitting.fit import FitResult

CURVE_POINTS = 300
KM_POINTS = 2000


def _params(c: Candidate | Fit) -> str:
    if isinstance(c, Fit) and c.law == "empirical":
        return f"{len(c.params['values'])} values, mean {_num(c.mean())}"
    return ", ".join(f"{k} {_num(v)}" for k, v in c.params.items())


def _intervals(c: Candidate | Fit) -> str:
    parts = []
    for k, (lo, hi) in c.intervals.items():
        if math.isfinite(lo) and math.isfinite(hi):
            parts.append(f"{k} {_num(lo)} … {_num(hi)}")
    return "; ".join(parts) or "–"


def _candidates(fit: Fit, naive: Candidate | None) -> str:
    rows = [[c.law + (" (chosen)" if c.law == fit.law else ""), _params(c), _intervals(c),
             _num(c.aic, 6), _num(c.ks, 3)] for c in fit.candidates]
    if fit.law in ("constant", "empirical"):
        rows.insert(0, [f"{fit.law} (chosen)", _params(fit), _intervals(fit), "–",
                        _num(fit.ks, 3) if fit.ks is not None else "–"])
    if naive is not None:
        rows.append([f"naive {naive.law}: failures only, censored lives dropped",
                     _params(naive), _intervals(naive), "–", "–"])
    return _table(["law", "parameters", "95% intervals", "AIC", "KS distance"], rows)


def _grid(fit: Fit) -> np.ndarray:
    hi = float(np.quantile(fit.values, 0.999)) if len(fit.values) else 1.0
    return np.linspace(0.0, max(hi * 1.05, 1e-12), CURVE_POINTS)


def _histogram(fit: Fit, label: str) -> str:
    fig = go.Figure()
    v = fit.values
    hi = float(np.quantile(v, 0.999))
    counts, edges = np.histogram(v[v <= hi], bins=min(60, max(10, int(math.sqrt(len(v))))),
                                 range=(float(np.min(v)), hi if hi > np.min(v) else hi + 1))
    width = np.diff(edges)
    density = counts / max(len(v), 1) / np.where(width > 0, width, 1)
    fig.add_bar(x=(edges[:-1] + edges[1:]) / 2, y=density, width=width, name="observed",
                marker_color="#9ecae1")
    chosen = fit.chosen
    if chosen is not None:
        x = _grid(fit)
        fig.add_scatter(x=x, y=chosen.pdf(x), mode="lines", name=f"fitted {chosen.law}",
                        line={"color": "#d62728"})
    fig.update_layout(title=f"{label}: histogram and fitted density", xaxis_title=label,
                      yaxis_title="density", bargap=0)
    return _figure(fig, 340)


def _survival(fit: Fit, label: str, naive: Candidate | None) -> str:
    times, surv = kaplan_meier(fit.values, fit.observed)
    if len(times) > KM_POINTS:
        keep = np.unique(np.linspace(0, len(times) - 1, KM_POINTS).astype(int))
        times, surv = times[keep], surv[keep]
    fig = go.Figure()
    fig.add_scatter(x=np.concatenate([[0.0], times]), y=np.concatenate([[1.0], surv]),
                    mode="lines", line={"shape": "hv", "color": "#1f77b4"},
                    name=f"Kaplan-Meier ({fit.events} events, {fit.censored} censored)")
    x = _grid(fit)
    chosen = fit.chosen
    if chosen is not None:
        fig.add_scatter(x=x, y=1 - chosen.cdf(x), mode="lines", name=f"fitted {chosen.law}",
                        line={"color": "#d62728"})
    if naive is not None:
        fig.add_scatter(x=x, y=1 - naive.cdf(x), mode="lines",
                        name=f"naive {naive.law} (censored dropped)",
                        line={"color": "#7f7f7f", "dash": "dash"})
    fig.update_layout(title=f"{label}: survival", xaxis_title=label, yaxis_title="S(t)",
                      yaxis_range=[0, 1.02])
    return _figure(fig, 340)


def _quantity(label: str, fit: Fit, naive: Candidate | None = None) -> str:
    censored = fit.censored > 0
    head = (f"<h3>{html.escape(label)}</h3><p>{fit.n:,} values"
            + (f", {fit.events:,} observed and {fit.censored:,} right-censored" if censored
               else "")
            + f"; chosen: <b>{html.escape(fit.law)}</b> ({html.escape(_params(fit))})"
            + (f"; {html.escape(fit.note)}" if fit.note else "") + ".</p>")
    plot = _survival(fit, label, naive) if censored or naive is not None else \
        _histogram(fit, label)
    return head + _candidates(fit, naive) + plot


def _vehicles(result: FitResult) -> str:
    """The fitted fleet: its size (a lower bound), home, load and unload times, the trips along
    each edge and the distances (travel times)."""
    tf = result.transport
    assert tf is not None
    head = (f"<h2>Vehicles</h2><p>{tf.trips:,} trips of parts by vehicle; one fleet "
            f"(<code>vehicles</code>) of at least <b>{tf.size}</b> (the most trips under way at "
            "once: an idle or empty vehicle leaves no trace), home at "
            f"<b>{html.escape(tf.home)}</b> (the most common first pickup), load time "
            f"{_num(tf.load_time)} and unload time {_num(tf.unload_time)} (medians). Distances "
            "are <b>travel times</b> (the fleet's speed is 1): the median of unload − travel "
            "between two nodes, both ways pooled; pairs no loaded trip joins from the empty "
            "drives (hand-over to the next load of a part already waiting), else the shortest "
            "way over the others. Failures and batteries are not fitted.</p>")
    trips = _table(["from", "to", "trips", "median travel time"],
                   [[a, b, f"{n:,}", _num(tf.travel[(a, b)])]
                    for (a, b), n in tf.carried.items()])
    table = _table(["point", "point", "distance (time)", "from"],
                   [[a, b, _num(d), "empty drives" if (a, b) in tf.empty else
                     "loaded trips" if any({a, b} == {s, g} for s, g in tf.carried)
                     else "shortest way"] for (a, b), d in tf.distances.items()])
    notes = "".join(f"<p class=\"note\">{html.escape(n.removeprefix('vehicles: '))}</p>"
                    for n in tf.notes[1:])
    return head + trips + table + notes


def fit_report(result: FitResult) -> str:
    """The fit report as one self-contained HTML page: the plant, each quantity's fit with its
    candidates and plots, the crew and the notes."""
    obs, graph = result.obs, result.graph
    reps = len(obs.replications)
    meta = (f"{result.log.source}: {obs.events:,} events, {reps} replication"
            f"{'s' if reps > 1 else ''}, {_num(obs.span)} time units each; throughput "
            f"{_num(obs.throughput())} parts per time unit")
    sections = []
    node_rows = []
    for node, kind in graph.kinds.items():
        extra = ""
        if kind == "buffer":
            extra = f"capacity {obs.buffer_max.get(node, 0)} (largest contents seen)"
        elif kind == "source":
            extra = "infinite supply (its machines never waited for work)" \
                if node in graph.infinite else "interarrival times fitted"
        node_rows.append([node, kind, extra])
    sections.append("<h2>Plant</h2>" + _table(["node", "kind", ""], node_rows))
    edge_rows = [[e.source, e.target, f"{e.count:,}", _num(e.p) if e.p is not None else "–"]
                 for e in graph.edges]
    sections.append(_table(["from", "to", "moves", "p"], edge_rows))
    maint = [f"crew: {result.crew.note}"]
    if result.pm_every is not None:
        ages = result.pm_ages
        maint.append(f"preventive maintenance at operating age {_num(result.pm_every)} "
                     f"(median of {len(ages)}; range {_num(float(ages.min()))} … "
                     f"{_num(float(ages.max()))})")
    sections.append("<h2>Maintenance</h2>" + "".join(
        f"<p>{html.escape(m)}</p>" for m in maint))
    if result.transport is not None:
        sections.append(_vehicles(result))
    notes = [n for n in result.notes if not n.startswith(("crew:", "vehicles:"))]
    if notes:
        sections.append("<h2>Notes</h2><ul>" + "".join(
            f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    sections.append("<h2>Fitted quantities</h2><p class=\"note\">Maximum likelihood; laws "
                    "compared by AIC (lower is better); KS distance to the data (to the "
                    "Kaplan-Meier estimate for censored durations); 95% intervals from the "
                    "profile likelihood (censored) or the observed information.</p>")
    naive_of = {f"{m} time to failure": mf.naive_lives for m, mf in result.fits.items()}
    for label, fit in result.quantities():
        sections.append(_quantity(label, fit, naive_of.get(label)))
    return _page(f"Fit of {result.scenario.get('name', 'the plant')}", meta, sections)


def write_fit_report(result: FitResult, path: Path) -> Path:
    """Write the fit report of ``result`` to ``path`` atomically; returns ``path``."""
    from twin.records.output import write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, fit_report(result))
    return path
