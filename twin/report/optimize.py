"""The report of ``twin optimize``: the search history, the parameters' importance and the
final selection table, on one self-contained page like the other reports."""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from twin.report.pages import KPI_LABELS, _figure, _num, _page, _table


def _ci(stat: dict[str, Any]) -> str:
    low, high = stat["ci95"]
    return "–" if low is None else f"{_num(low)} … {_num(high)}"


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k.removeprefix('plant.nodes.')}={_num(v) if isinstance(v, float) else v}"
                     for k, v in params.items())


def _constraints(judged: list[dict[str, Any]]) -> str:
    return "; ".join(f"{j['constraint']}: {_ci(j)} ({j['satisfied']})" for j in judged)


def optimize_report(doc: dict[str, Any]) -> str:
    """The HTML page of an optimization: the selection, the search history, the parameters'
    importance and the candidates' table, from optimize.json's document ``doc``."""
    objective = doc["objective"]
    label = KPI_LABELS.get(objective, objective)
    trials = doc["trials"]
    selection = doc["selection"]
    selected = selection.get("selected")
    sections = []
    if selected is not None:
        sure = ("with probability at least "
                f"{selection['pcs']:.0%} it is within {_num(selection['delta'])} of the best "
                "candidate's mean" if selection["guaranteed"] else
                "the selection stopped at its replication cap: the best mean, without the "
                "stated probability")
        sections.append(
            f"<h2>Selected</h2><p><b>{html.escape(_params(selected['params']))}</b>: {label} "
            f"{_num(selected['objective']['mean'])} (95% CI {_ci(selected['objective'])}, "
            f"{selected['replications']} replications); {html.escape(sure)}.</p>")
    else:
        sections.append("<h2>Selected</h2><p class=\"warning\">No trial satisfies the "
                        "constraints.</p>")
    notes = doc.get("notes", []) + selection.get("notes", [])
    if notes:
        sections.append("".join(f"<p class=\"note\">{html.escape(n)}</p>" for n in notes))
    rows = [[_params(c["params"]), str(c["trial"]), str(c["replications"]),
             _num(c["objective"]["mean"]), _ci(c["objective"]),
             "" if c["eliminated_at"] is None else f"at {c['eliminated_at']}",
             _constraints(c["constraints"]), "yes" if c["selected"] else ""]
            for c in selection.get("candidates", [])]
    sections.append(
        f"<h2>Selection ({html.escape(selection['procedure'])})</h2>"
        + _table(["point", "trial", "replications", label, "95% CI", "eliminated",
                  "constraints", "selected"], rows)
        + f"<p class=\"note\">Indifference zone {_num(selection.get('delta'))}, probability of "
          f"correct selection {selection['pcs']}, first stage {selection['first_stage']} "
          "replications (the search's), common random numbers.</p>")
    numbers = [t["number"] for t in trials]
    means = [t["objective"]["mean"] for t in trials]
    best, best_line = None, []
    for t in trials:
        m = t["objective"]["mean"]
        if t["feasible"] and m is not None and (
                best is None or (m > best if doc["direction"] == "maximize" else m < best)):
            best = m
        best_line.append(best)
    fig = go.Figure()
    fig.add_scatter(x=numbers, y=means, mode="markers", name="trial",
                    marker={"color": ["#1f77b4" if t["feasible"] else "#d62728"
                                      for t in trials]},
                    hovertext=[_params(t["params"]) for t in trials])
    fig.add_scatter(x=numbers, y=best_line, mode="lines", name="best feasible so far",
                    line={"shape": "hv", "color": "#2ca02c"})
    fig.update_layout(title=f"Search history ({doc['sampler']}; red: infeasible)",
                      xaxis_title="trial", yaxis_title=label)
    sections.append("<h2>Search</h2>" + _figure(fig, 360))
    paths = [p["path"] for p in doc["params"]]
    fig = make_subplots(rows=1, cols=len(paths), subplot_titles=paths)
    for i, path in enumerate(paths, start=1):
        fig.add_scatter(x=[t["params"][path] for t in trials], y=means, mode="markers",
                        showlegend=False, row=1, col=i,
                        marker={"color": ["#1f77b4" if t["feasible"] else "#d62728"
                                          for t in trials]})
    fig.update_layout(title=f"{label} against each parameter")
    sections.append(_figure(fig, 340))
    importance = doc.get("importance", {})
    if importance:
        fig = go.Figure(go.Bar(x=list(importance.values()), y=list(importance), orientation="h",
                               marker_color="#8c564b"))
        fig.update_layout(title="Parameter importance (fANOVA, optuna.importance)",
                          xaxis_title="share of the objective's variance")
        sections.append("<h2>Parameter importance</h2>" + _figure(fig, 120 + 40 * len(paths)))
    rows = [[str(t["number"]), t["state"], _params(t["params"]), _num(t["objective"]["mean"]),
             _ci(t["objective"]), _constraints(t["constraints"])] for t in trials]
    sections.append("<h2>Trials</h2>" + _table(["trial", "state", "point", label, "95% CI",
                                                "constraints"], rows))
    meta = (f"{doc['direction']} {objective} over {', '.join(paths)}; "
            f"{len(trials)} trials of {doc['replications']} replications on common random "
            f"numbers (seed {doc['seed']}), statistics from t = {doc['warmup']:g} to "
            f"{doc['horizon']:g} {doc['time_unit']}. "
            + (f"Constraints: {', '.join(doc['constraints'])} ({doc['constraint_rule']})."
               if doc["constraints"] else ""))
    return _page(f"{doc['scenario']}: optimisation", meta, sections)
