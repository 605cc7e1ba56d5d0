"""The report and the tables of ``twin schedule``: the plan as a Gantt chart (one row per
machine, coloured by product or order, orders at risk hatched and outlined in red), each order's
probability of being on time with its interval, the makespan's distribution, and the rules
compared.

``save_schedule(result, out)`` writes schedule.parquet, schedule.json and report.html;
``print_schedule(console, doc)`` prints the command's tables.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import plotly.graph_objects as go

from twin.report.pages import _figure, _num, _page, _table

if TYPE_CHECKING:
    from rich.console import Console

    from twin.study.schedule import ScheduleResult

__all__ = ["gantt_bars", "print_schedule", "save_schedule", "schedule_report"]

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5", "#c49c94")
KIND_COLOURS = {"setup": "#c7c7c7", "repair": "#222222", "maintenance": "#6b6b6b"}
RISK_COLOUR = "#d62728"
ROWS_PRINTED = 20
"""Orders the command prints (the least likely to be on time first); all are in the files."""


def save_schedule(result: ScheduleResult, out: str | Path, report: bool = True,
                  colour_by: str = "product") -> Path:
    """Write schedule.parquet, schedule.json and (with ``report``) report.html into ``out``;
    the path of the report (or of schedule.json)."""
    from twin.records.output import write_text

    out = Path(out)
    result.save(out)
    if not report:
        return out / "schedule.json"
    path = out / "report.html"
    write_text(path, schedule_report(result.doc, result.plan, colour_by))
    return path


def gantt_bars(plan: pd.DataFrame) -> pd.DataFrame:
    """The plan's operations joined where a machine works on one order's parts one after the
    other without a break (one bar for the run of an order on a machine): machine, order,
    product, kind, start, end, parts."""
    rows: list[dict[str, Any]] = []
    ordered = plan.sort_values(["machine", "start"], kind="stable")
    for r in ordered.itertuples(index=False):
        last = rows[-1] if rows else None
        if (last is not None and last["machine"] == r.machine and last["order"] == r.order
                and last["kind"] == r.kind == "process"
                and abs(last["end"] - r.start) <= 1e-9 * max(1.0, abs(r.start))):
            last["end"] = r.end
            last["parts"] += 1
            continue
        rows.append({"machine": r.machine, "order": r.order, "product": r.product,
                     "kind": r.kind, "start": r.start, "end": r.end, "parts": 1})
    return pd.DataFrame(rows, columns=["machine", "order", "product", "kind", "start", "end",
                                       "parts"])


def _gantt(doc: dict[str, Any], plan: pd.DataFrame, colour_by: str) -> go.Figure:
    bars = gantt_bars(plan)
    risk = {o["order"]: o for o in doc["orders"]}
    at_risk = set(doc["at_risk"])
    fig = go.Figure()
    keys = sorted({str(k) for k in bars[colour_by].dropna()}) if len(bars) else []
    colours = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(keys)}
    machines = list(dict.fromkeys(plan.sort_values("machine")["machine"]))
    groups: dict[tuple[str, bool], list[Any]] = {}
    for r in bars.itertuples(index=False):
        name = r.kind if r.kind != "process" else str(getattr(r, colour_by))
        groups.setdefault((name, r.order in at_risk and r.kind == "process"), []).append(r)
    for (name, risky), rows in sorted(groups.items()):
        colour = KIND_COLOURS.get(name, colours.get(name, PALETTE[0]))
        hover = []
        for r in rows:
            entry = risk.get(r.order, {})
            p = entry.get("on_time_probability")
            hover.append(
                f"{html.escape(str(r.order))} ({html.escape(str(r.product))}), {r.kind}"
                f"<br>{_num(r.start)} to {_num(r.end)}, {r.parts} part(s)"
                + (f"<br>due {_num(entry.get('due'))}, P(on time) {p:.3f}"
                   if p is not None else ""))
        fig.add_bar(
            y=[r.machine for r in rows], x=[r.end - r.start for r in rows],
            base=[r.start for r in rows], orientation="h",
            name=f"{name} (at risk)" if risky else name, legendgroup=name,
            marker={"color": colour,
                    "line": {"color": RISK_COLOUR, "width": 1 if risky else 0},
                    **({"pattern": {"shape": "/", "fgcolor": RISK_COLOUR}} if risky else {})},
            hovertext=hover, hoverinfo="text")
    fig.update_layout(barmode="overlay", title=f"Plan (Gantt chart, coloured by {colour_by}; "
                      "orders at risk hatched red)", xaxis_title=f"time ({doc['time_unit']})",
                      yaxis={"categoryorder": "array", "categoryarray": machines[::-1]})
    return fig


def _risk_figure(doc: dict[str, Any]) -> go.Figure:
    orders = [o for o in doc["orders"] if o["on_time_probability"] is not None]
    orders.sort(key=lambda o: (o["due"], o["order"]))
    p = [o["on_time_probability"] for o in orders]
    fig = go.Figure(go.Bar(
        x=[o["order"] for o in orders], y=p,
        error_y={"type": "data", "symmetric": False,
                 "array": [o["on_time_ci95"][1] - o["on_time_probability"] for o in orders],
                 "arrayminus": [o["on_time_probability"] - o["on_time_ci95"][0]
                                for o in orders]},
        marker_color=[RISK_COLOUR if o["at_risk"] else "#2ca02c" for o in orders]))
    fig.add_hline(y=doc["risk_threshold"], line_dash="dash", line_color=RISK_COLOUR)
    fig.update_layout(title="Probability of each order being on time (by due date; 95% "
                      "Wilson intervals; red: at risk)", yaxis={"range": [0, 1.02]},
                      xaxis_title="order")
    return fig


def _cell(value: float | None) -> str:
    return _num(value) if value is not None else "–"


def _interval(pair: list[float | None]) -> str:
    low, high = pair
    return "–" if low is None or high is None else f"{low:.3f} … {high:.3f}"


def schedule_report(doc: dict[str, Any], plan: pd.DataFrame, colour_by: str = "product") -> str:
    """The page of ``twin schedule`` (schedule.json and the plan's operations)."""
    unit = doc["time_unit"]
    span = doc["makespan"]
    sections = []
    plan_span = doc["plan"]["makespan"]
    sections.append(
        "<h2>Summary</h2><p>"
        + html.escape(
            f"{len(doc['orders'])} orders from t = {doc['start']:g} {unit}: the plan's "
            f"makespan is {_cell(plan_span)} {unit} with {doc['plan']['late']} order(s) late "
            f"in the plan; over {doc['replications']} replications the makespan is "
            f"{_cell(span['mean'])} on average (5% to 95%: {_cell(span['quantiles']['5%'])} to "
            f"{_cell(span['quantiles']['95%'])}), and {len(doc['at_risk'])} order(s) are at "
            f"risk (probability of being on time under {doc['risk_threshold']:g}).")
        + "</p>")
    if len(plan):
        machines = plan["machine"].nunique()
        sections.append('<h2 id="gantt">Plan</h2>'
                        + _figure(_gantt(doc, plan, colour_by), 160 + 34 * machines))
    if any(o["on_time_probability"] is not None for o in doc["orders"]):
        sections.append("<h2>Risk</h2>" + _figure(_risk_figure(doc), 380))
    values = [v for v in span.get("values", []) if v is not None]
    if values:
        fig = go.Figure(go.Histogram(x=values, marker_color="#1f77b4"))
        if plan_span is not None:
            fig.add_vline(x=plan_span, line_dash="dash", line_color="#222",
                          annotation_text="plan")
        fig.update_layout(title="Makespan over replications", xaxis_title=unit,
                          yaxis_title="replications")
        sections.append(_figure(fig, 320))
    rows, classes = [], []
    for o in sorted(doc["orders"], key=lambda o: (_sort(o["on_time_probability"]), o["order"])):
        q = o["completion_quantiles"]
        rows.append([o["order"], o["product"], str(o["quantity"]), _cell(o["release"]),
                     _cell(o["due"]), _cell(o["planned_end"]),
                     "–" if o["on_time_probability"] is None
                     else f"{o['on_time_probability']:.3f}",
                     _interval(o["on_time_ci95"]), _cell(q["5%"]), _cell(q["50%"]),
                     _cell(q["95%"]), _cell(o["expected_tardiness"]),
                     "yes" if o["at_risk"] else ""])
        classes.append(["best" if o["at_risk"] else ""] * len(rows[-1]))
    sections.append(
        '<h2 id="risk-table">Orders</h2>'
        + _table(["order", "product", "parts", "release", "due", "planned end", "P(on time)",
                  "95% CI", "5%", "50%", "95% completion", "expected tardiness", "at risk"],
                 rows, classes)
        + "<p class=\"note\">Completion quantiles over replications; an order still open at "
          "the horizon counts as never done (a quantile beyond it shows –) and as done at the "
          "horizon in its tardiness (a lower bound).</p>")
    if doc.get("rules"):
        rows = [[str(r["rank"]), r["rule"], _cell(r["tardiness"]["mean"]),
                 _interval_num(r["tardiness"]["ci95"]), _interval_num(r["difference"]["ci95"]),
                 str(r["rank_at_risk"]), str(r["orders_at_risk"]),
                 _cell(r["late_orders"]["mean"]), _cell(r["makespan"]["mean"])]
                for r in doc["rules"]]
        sections.append(
            "<h2>Dispatching rules</h2>"
            + _table(["rank", "rule", "expected tardiness", "95% CI", "minus the best (95% CI)",
                      "rank by risk", "orders at risk", "late orders", "makespan"], rows)
            + "<p class=\"note\">Every buffer dispatching by the rule, on common random "
              "numbers; differences paired by replication.</p>")
    meta = (f"{doc['replications']} replications from the plant's state at t = "
            f"{doc['start']:g} {unit}, horizon {doc['horizon']:g} {unit}, seed {doc['seed']}; "
            "the plan is one run with every time at its mean"
            + ("" if doc["plan_failures"] else " and no failures") + ".")
    return _page(f"{doc['scenario']}: schedule", meta, sections)


def _interval_num(pair: list[float | None]) -> str:
    low, high = pair
    return "–" if low is None or high is None else f"{_num(low)} … {_num(high)}"


def _sort(p: float | None) -> float:
    return math.inf if p is None else p


def print_schedule(console: Console, doc: dict[str, Any], rows: int = ROWS_PRINTED) -> None:
    """The command's output: the orders least likely to be on time (all of them when few),
    the makespan, and the rules compared."""
    from rich.table import Table

    unit = doc["time_unit"]
    orders = sorted(doc["orders"], key=lambda o: (_sort(o["on_time_probability"]), o["order"]))
    table = Table(title=f"{doc['scenario']}: {len(orders)} orders from t = {doc['start']:g} "
                        f"{unit}, {doc['replications']} replications")
    for name in ("order", "product", "due", "planned end", "P(on time)", "95% CI",
                 "completion 5% / 50% / 95%", "at risk"):
        table.add_column(name, justify="left" if name in ("order", "product") else "right")
    for o in orders[:rows]:
        q = o["completion_quantiles"]
        p = o["on_time_probability"]
        table.add_row(o["order"], o["product"], _cell(o["due"]), _cell(o["planned_end"]),
                      "–" if p is None else f"{p:.3f}", _interval(o["on_time_ci95"]),
                      f"{_cell(q['5%'])} / {_cell(q['50%'])} / {_cell(q['95%'])}",
                      "yes" if o["at_risk"] else "", style="red" if o["at_risk"] else None)
    console.print(table)
    if len(orders) > rows:
        console.print(f"... {len(orders) - rows} more orders in schedule.json", highlight=False)
    span = doc["makespan"]
    console.print(
        f"makespan: plan {_cell(doc['plan']['makespan'])} {unit}; over replications "
        f"{_cell(span['mean'])} (5% {_cell(span['quantiles']['5%'])}, 95% "
        f"{_cell(span['quantiles']['95%'])}); orders at risk (P < {doc['risk_threshold']:g}): "
        f"{len(doc['at_risk'])} of {len(orders)}", highlight=False, soft_wrap=True)
    if doc.get("rules"):
        rules = Table(title="dispatching rules (common random numbers)")
        for name in ("rank", "rule", "expected tardiness", "95% CI", "orders at risk",
                     "rank by risk", "late orders", "makespan"):
            rules.add_column(name, justify="left" if name == "rule" else "right")
        for r in doc["rules"]:
            rules.add_row(str(r["rank"]), r["rule"], _cell(r["tardiness"]["mean"]),
                          _interval_num(r["tardiness"]["ci95"]), str(r["orders_at_risk"]),
                          str(r["rank_at_risk"]), _cell(r["late_orders"]["mean"]),
                          _cell(r["makespan"]["mean"]))
        console.print(rules)
