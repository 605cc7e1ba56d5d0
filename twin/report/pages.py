"""Self-contained HTML reports for run, compare and sweep.

One file, no network needed to open it: tables of KPIs with their 95% intervals, bar charts
with error bars, each machine's time by state, the bottleneck view (blocked against starved),
warehouses, customers and inventory over time, costs by cause, and sweep curves.

plotly.js is inlined once per page, gzip-compressed (base64): 2 MB instead of 4.8 MB. The
browser inflates it (``DecompressionStream``), then draws the figures, whose scripts wait in
``<script type="text/x-twin-plot">`` until then; ``body[data-plots="ready"]`` marks the end.
"""

from __future__ import annotations

import base64
import functools
import gzip
import html
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from twin.kpis import KPI_TABLE, SUPPLY_KPIS, headline_kpis, kpi_units
from twin.records import __version__
from twin.report.camera import camera_compare_section, camera_section
from twin.study.results import Buckets, Comparison, Learning, Stat, Summary, Sweep, SweepPoint
from twin.view.svg import CONVEYOR_COLORS, CONVEYOR_LABELS, VEHICLE_COLORS, VEHICLE_LABELS
from twin.view.svg import STATE_COLORS as VIEW_COLORS
from twin.view.svg import STATE_LABELS as VIEW_LABELS

STATE_COLORS = {"utilization" if state == "working" else state: colour
                for state, colour in VIEW_COLORS.items()}
"""The colours of the state charts, by machine statistic (the plant drawing's, by state)."""
STATE_LABELS = {"utilization" if state == "working" else state: label
                for state, label in VIEW_LABELS.items()}
KPI_LABELS = {k.name: k.label for k in KPI_TABLE}

CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.meta { color: #666; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; }
td.best { font-weight: bold; }
td.ci { white-space: nowrap; }
.note { color: #555; font-size: 0.92em; }
.warning { color: #a15c00; }
.chart-note { color: #666; font-size: 0.9em; border: 1px dashed #ccc; padding: 0.6em 0.8em; }
.chart.drawn .chart-note { display: none; }
"""


def _num(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:,.{decimals}f}"


def _ci(stat: Stat) -> str:
    low, high = stat.ci95
    if low is None:
        return "–"
    return f"{_num(low)} … {_num(high)}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]],
           classes: Sequence[Sequence[str]] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = []
        for j, cell in enumerate(row):
            cls = classes[i][j] if classes else ""
            if "…" in cell:  # an interval: never broken over lines
                cls = f"{cls} ci".strip()
            attr = f' class="{cls}"' if cls else ""
            cells.append(f"<td{attr}>{html.escape(cell)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure(fig: go.Figure, height: int = 380) -> str:
    fig.update_layout(height=height, margin={"l": 60, "r": 20, "t": 50, "b": 60},
                      template="plotly_white")
    div = pio.to_html(fig, include_plotlyjs=False, full_html=False,
                      config={"displaylogo": False, "responsive": True})
    # drawn once plotly.js is inflated (see _PLOTLY_LOADER); until then, and for good where
    # scripts do not run, a note stands in for it
    title = fig.layout.title.text or "chart"
    note = (f'<p class="chart-note">Chart: {html.escape(str(title))}. It is drawn by the '
            "page's script (JavaScript on, a browser from 2023 or later); the numbers are in "
            "the tables.</p>")
    return (f'<div class="chart">{note}'
            + div.replace("<script>", f'<script type="{_DEFERRED}">', 1) + "</div>")


_DEFERRED = "text/x-twin-plot"

_PLOTLY_LOADER = """
(async function () {
  const bin = atob(document.getElementById("plotly-js-gzip").textContent.trim());
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const inflated = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  (0, eval)(await new Response(inflated).text());
  for (const s of document.querySelectorAll('script[type="DEFERRED"]')) {
    (0, eval)(s.textContent);
    const chart = s.closest(".chart");
    if (chart) chart.classList.add("drawn");
    await new Promise(function (done) { setTimeout(done, 0); });  // one chart at a time
  }
  document.body.dataset.plots = "ready";
})().catch(function (error) {
  document.body.dataset.plots = "failed";
  const p = document.createElement("p");
  p.className = "warning";
  p.textContent = "The charts could not be drawn: " + error + " (a browser from 2023 or later " +
                  "is needed); the tables above are complete.";
  document.body.prepend(p);
});
""".replace("DEFERRED", _DEFERRED)


@functools.cache
def _plotly_gzip_base64() -> str:
    """plotly.js, gzip-compressed and base64-encoded (computed once per process)."""
    return base64.b64encode(gzip.compress(get_plotlyjs().encode(), 9, mtime=0)).decode()


def _page(title: str, meta: str, sections: Sequence[str]) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class=\"meta\">{html.escape(meta)}</p>"
        + "".join(sections)
        + f"<p class=\"note\">twin {__version__}, {stamp}.</p>"
        + "<script id=\"plotly-js-gzip\" type=\"application/gzip;base64\">"
        + _plotly_gzip_base64() + "</script>"
        + f"<script>{_PLOTLY_LOADER}</script></body></html>\n"
    )


def write_report(out: Path, kind: str, doc: dict[str, Any] | Summary | Comparison | Sweep,
                 *,
                 readings: pd.DataFrame | None = None,
                 inventory: pd.DataFrame | None = None,
                 orders: pd.DataFrame | None = None,
                 events: pd.DataFrame | None = None, scenario: Any = None,
                 timeline: pd.DataFrame | None = None,
                 replay_window: tuple[float, float] | None = None) -> Path:
    """Write ``out/report.html`` for a run (``doc``: summary.json), compare or sweep; return
    its path. A run's report draws the plant given its ``scenario``, and replays replication
    0 given its ``timeline`` (and ``events``, its event log) over ``replay_window``."""
    from twin.records.output import write_text

    if kind == "run":
        text = run_report(Summary.model_validate(doc), readings, inventory, orders, events,
                          scenario=scenario, timeline=timeline, replay_window=replay_window)
    elif kind == "compare":
        text = compare_report(Comparison.model_validate(doc))
    elif kind == "sweep":
        text = sweep_report(Sweep.model_validate(doc))
    else:
        raise ValueError(f"no report for {kind!r}")
    path = out / "report.html"
    write_text(path, text)
    return path


def _meta(doc: Summary | Comparison | Sweep) -> str:
    return (f"{doc.replications} replications, statistics from t = {doc.warmup:g} to "
            f"{doc.horizon:g} {doc.time_unit}, seed {doc.seed}; intervals are 95% "
            "Student-t over replications.")


def _headline(kpis: dict[str, Stat]) -> list[str]:
    """``headline_kpis`` of typed statistics."""
    return headline_kpis({k: {"mean": stat.mean} for k, stat in kpis.items()})


def _stat(stat: Stat | dict[str, Any]) -> Stat:
    """A statistic of a section summary.json holds untyped (a warehouse's), typed."""
    return stat if isinstance(stat, Stat) else Stat.model_validate(stat)


def _kpi_section(kpis: dict[str, Stat], unit: str) -> str:
    units = kpi_units(unit)
    rows = [[f"{KPI_LABELS.get(k, k)} ({units[k]})" if units.get(k) else KPI_LABELS.get(k, k),
             _num(kpis[k].mean), _ci(kpis[k])] for k in _headline(kpis)]
    return "<h2>Key performance indicators</h2>" + _table(["KPI", "mean", "95% CI"], rows)


def _error_bars(stats: Sequence[Stat]) -> dict[str, Any]:
    plus = [(s.ci95[1] - s.mean) if s.ci95[1] is not None and s.mean is not None else 0
            for s in stats]
    minus = [(s.mean - s.ci95[0]) if s.ci95[0] is not None and s.mean is not None else 0
             for s in stats]
    return {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus}


def conveyors_of(nodes: dict[str, dict[str, Stat]] | None) -> dict[str, dict[str, Stat]]:
    """The conveyors among a summary's plug-in nodes: those with a share of time ``stopped``
    and a ``load`` (``twin.handling.conveyor``)."""
    return {n: s for n, s in (nodes or {}).items() if "stopped" in s and "load" in s}


def _state_section(machines: dict[str, dict[str, Stat]],
                   title: str = "Machine time by state",
                   fleets: dict[str, dict[str, Stat]] | None = None,
                   conveyors: dict[str, dict[str, Stat]] | None = None) -> str:
    """Each machine's time by state, one stacked bar each; then each fleet's vehicle time by
    state (one bar per fleet, its own colours) and each conveyor's time moving and stopped
    (its load, a share of its places, marked on it)."""
    names = list(machines)
    fleets, conveyors = fleets or {}, conveyors or {}
    fig = go.Figure()
    for key, label in STATE_LABELS.items():
        values = [machines[m][key].mean if key in machines[m] else 0.0 for m in names]
        if key in ("waiting_operator", "off") and not any(values):
            continue
        fig.add_bar(name=label, x=names, y=values, marker_color=STATE_COLORS[key])
    if fleets:
        xs = [f"{name} (fleet)" for name in fleets]
        for key, label in VEHICLE_LABELS.items():
            values = [stats[key].mean if key in stats else 0.0 for stats in fleets.values()]
            if key in ("blocked", "charging", "down") and not any(values):
                continue
            fig.add_bar(name=label, x=xs, y=values, marker_color=VEHICLE_COLORS[key])
    if conveyors:
        xs = [f"{name} (conveyor)" for name in conveyors]
        stopped = [stats["stopped"].mean or 0.0 for stats in conveyors.values()]
        fig.add_bar(name=CONVEYOR_LABELS["moving"], x=xs, y=[1 - v for v in stopped],
                    marker_color=CONVEYOR_COLORS["moving"])
        fig.add_bar(name=CONVEYOR_LABELS["stopped"], x=xs, y=stopped,
                    marker_color=CONVEYOR_COLORS["stopped"])
        loads = [stats["utilization"].mean if "utilization" in stats else None
                 for stats in conveyors.values()]
        if any(v is not None for v in loads):
            fig.add_scatter(name="conveyor: load (share of places)", x=xs, y=loads,
                            mode="markers", marker={"symbol": "diamond", "size": 11,
                                                    "color": "#222"})
    if fleets or conveyors:
        title = title.replace("Machine time", "Time")
    fig.update_layout(barmode="stack", title=title, yaxis_title="fraction of time",
                      yaxis_range=[0, 1])
    return f"<h2>{html.escape(title)}</h2>" + _figure(fig)


FLEET_COLUMNS = {"vehicles": "vehicles", "carried": "carried", "throughput": "parts/{unit}",
                 "utilization": "utilization", "loaded": "loaded", "empty": "empty",
                 "handling": "loading, unloading", "blocked": "blocked", "idle": "idle",
                 "charging": "charging", "down": "down", "wait": "wait ({unit})",
                 "max_wait": "longest wait ({unit})", "waiting": "calls waiting",
                 "failures": "failures"}
"""The columns of the report's fleets table: statistic and header."""


def _fleet_section(fleets: dict[str, dict[str, Stat]], unit: str) -> str:
    """The fleets of vehicles, one row each (means over replications; the utilization with its
    interval)."""
    headers = ["fleet"]
    for key, header in FLEET_COLUMNS.items():
        headers.append(header.format(unit=unit))
        if key == "utilization":
            headers.append("95% CI")
    rows = []
    for name, stats in fleets.items():
        row = [name]
        for key in FLEET_COLUMNS:
            stat = stats.get(key)
            row.append(_num(stat.mean if stat is not None else None, 3))
            if key == "utilization":
                row.append(_ci(stat) if stat is not None else "–")
        rows.append(row)
    return ("<h2>Vehicles</h2><p>Shares of the vehicles' time from warm-up to horizon "
            "(loaded, driving empty, loading or unloading, waiting loaded for room at the next "
            "node, idle, charging, failed); the wait is from a part's call for a vehicle to the "
            "start of its loading; calls waiting is a time average.</p>"
            + _table(headers, rows))


def _operator_section(pools: dict[str, dict[str, Stat]]) -> str:
    """Utilization of each operator pool and each operator, over the pool's working time."""
    rows = []
    for name, stats in pools.items():
        each = [k for k in stats if k.startswith("operator_")]
        rows.append([html.escape(name), _num(stats["utilization"].mean, 3),
                     _ci(stats["utilization"]), _num(stats["tasks"].mean, 4),
                     ", ".join(_num(stats[k].mean, 3) for k in each)])
    return ("<h2>Operators</h2><p>Utilization over each pool's working time (walking "
            "included).</p>" + _table(["pool", "utilization", "95% CI", "tasks",
                                        "each operator"], rows))


def _bottleneck_section(machines: dict[str, dict[str, Stat]]) -> str:
    names = list(machines)
    fig = go.Figure()
    fig.add_bar(name="blocked", x=names, y=[machines[m]["blocked"].mean for m in names],
                marker_color=STATE_COLORS["blocked"],
                error_y=_error_bars([machines[m]["blocked"] for m in names]))
    starved = [machines[m]["starved"].mean for m in names]
    fig.add_bar(name="starved", x=names, y=[None if v is None else -v for v in starved],
                marker_color=STATE_COLORS["starved"])
    fig.update_layout(barmode="relative", title="Blocked (up) against starved (down)",
                      yaxis_title="fraction of time")
    # the bottleneck is where the line turns from blocked (upstream) to starved (downstream)
    busiest = max(names, key=lambda m: machines[m]["utilization"].mean or 0)
    note = (f"<p class=\"note\">Machines upstream of a bottleneck are blocked, those downstream "
            f"are starved. The busiest machine is <b>{html.escape(busiest)}</b> "
            f"(working {_num(machines[busiest]['utilization'].mean, 3)} of the time).</p>")
    rows = [[m, _num(s["utilization"].mean, 3), _num(s["availability"].mean, 3),
             _num(s["blocked"].mean, 3), _num(s["starved"].mean, 3),
             _num(s["failures"].mean, 3), _num(s["preventive"].mean, 3),
             _num(s["oee"].mean if "oee" in s else None, 3)] for m, s in machines.items()]
    table = _table(["machine", "utilization", "availability", "blocked", "starved", "failures",
                    "preventive", "OEE"], rows)
    return "<h2>Bottleneck view</h2>" + _figure(fig) + note + table


def _warnings(warnings: Sequence[str]) -> str:
    if not warnings:
        return ""
    items = "".join(f"<li class=\"warning\">{html.escape(w)}</li>" for w in warnings)
    return f"<h2>Warnings</h2><ul>{items}</ul>"


def _sensor_section(readings: pd.DataFrame, points: int = 4000) -> str:
    """Each sensor's readings and the machine's true wear over time (first replication)."""
    out = ["<h2>Sensors and health (replication 0)</h2>"]
    for (machine, sensor), group in readings.groupby(["machine", "sensor"], observed=True):
        group = group.sort_values("time")
        step = max(1, len(group) // points)
        shown = group.iloc[::step]
        fig = make_subplots(specs=[[{"secondary_y": True}]])
        fig.add_scatter(x=shown["time"], y=shown["value"], mode="markers", name=str(sensor),
                        marker={"size": 3, "color": "#1f77b4"})
        fig.add_scatter(x=shown["time"], y=shown["wear"], mode="lines", name="wear",
                        line={"color": "#d62728"}, secondary_y=True)
        fig.update_layout(title=f"{machine}: {sensor} and wear")
        fig.update_yaxes(title_text=str(sensor), secondary_y=False)
        fig.update_yaxes(title_text="wear (fraction of threshold)", range=[0, 1.05],
                         secondary_y=True)
        out.append(_figure(fig, 340))
    return "".join(out)


def _supply_section(summary: Summary, inventory: pd.DataFrame | None,
                    points: int = 3000) -> str:
    """Warehouses and customers: their statistics, and inventory over time (replication 0)."""
    out = ["<h2>Supply chain</h2>"]
    unit = summary.time_unit
    warehouses = summary.warehouses or {}
    if warehouses:
        stats = {n: {k: _stat(v) for k, v in w.items() if k != "over_time"}
                 for n, w in warehouses.items()}
        rows = [[n, _num(w["inventory"].mean), _ci(w["inventory"]),
                 _num(w["backorders"].mean), _num(w["fill_rate"].mean, 3),
                 _num(w["stockouts"].mean), _num(w["stockout_time"].mean, 3),
                 _num(w["orders"].mean), _num(w["replenishment_lead_time"].mean)]
                for n, w in stats.items()]
        out.append(_table(["warehouse", "inventory (units)", "95% CI", "backorders (units)",
                           "fill rate", "stock-outs (orders)", "time out of stock",
                           "replenishment orders", f"replenishment lead time ({unit})"], rows))
    customers = summary.customers or {}
    if customers:
        rows = [[n, _num(c["demand"].mean), _num(c["fill_rate"].mean, 3),
                 _num(c["backorders"].mean), _num(c["lost"].mean),
                 _num(c["order_lead_time"].mean), _num(c["on_time"].mean, 3)]
                for n, c in customers.items()]
        out.append(_table(["customer", f"demand (units/{unit})", "fill rate",
                           "backorders (units)", f"lost (units/{unit})",
                           f"order lead time ({unit})", "on time"], rows))
    if inventory is not None and len(inventory):
        first = inventory[inventory["replication"] == inventory["replication"].min()]
        fig = go.Figure()
        for name, group in first.groupby("warehouse", sort=False):
            step = max(1, len(group) // points)
            shown = group.iloc[::step]
            fig.add_scatter(x=shown["time"], y=shown["on_hand"], mode="lines", name=f"{name}",
                            line={"shape": "hv"})
            if group["backordered"].any():
                fig.add_scatter(x=shown["time"], y=-shown["backordered"], mode="lines",
                                name=f"{name} backordered (below 0)",
                                line={"shape": "hv", "dash": "dot"})
        for name, w in warehouses.items():
            if "over_time" in w:
                fig.add_scatter(x=w["over_time"]["period_end"], y=w["over_time"]["on_hand"],
                                mode="lines", line={"shape": "vh", "width": 3},
                                name=f"{name}: mean of all replications, by period")
        fig.update_layout(title="Inventory on hand over time (replication 0, and period means "
                                "of all replications)",
                          xaxis_title=unit, yaxis_title="units")
        out.append(_figure(fig, 360))
    return "".join(out)


def _product_section(summary: Summary, orders: pd.DataFrame | None,
                     events: pd.DataFrame | None, first: int = 30) -> str:
    """Per product KPIs; the first orders of replication 0 against their due dates; with the
    event log, their operations on each machine (a Gantt chart)."""
    unit = summary.time_unit
    products = summary.products or {}
    rows = [[html.escape(name), _num(s["throughput"].mean), _ci(s["throughput"]),
             _num(s["lead_time"].mean), _ci(s["lead_time"]), _num(s["wip"].mean)]
            for name, s in products.items()]
    out = "<h2>Products</h2>" + _table(
        ["product", f"throughput (parts/{unit})", "95% CI", f"lead time ({unit})", "95% CI",
         "WIP (parts)"], rows)
    if orders is None or not len(orders):
        return out
    shown = orders[orders["replication"] == 0].sort_values("release").head(first)
    fig = go.Figure()
    for product, group in shown.groupby("product"):
        fig.add_bar(y=group["order"], x=group["completion"] - group["release"],
                    base=group["release"], orientation="h", name=str(product))
    due = shown[shown["due"] < float("inf")]
    fig.add_scatter(y=due["order"], x=due["due"], mode="markers", name="due",
                    marker={"symbol": "line-ns-open", "size": 14, "color": "#d62728"})
    fig.update_layout(title=f"First {len(shown)} orders of replication 0: release to completion",
                      xaxis_title=unit, barmode="overlay",
                      yaxis={"autorange": "reversed", "type": "category"})
    out += _figure(fig, max(320, 18 * len(shown)))
    if events is None or not len(events):
        return out
    ops = events[(events["replication"] == 0) & events["order"].isin(shown["order"])]
    starts = ops[ops["event"] == "start"].set_index(["part", "node"])["time"]
    ends = ops[ops["event"] == "finish"].set_index(["part", "node"])["time"]
    both = pd.DataFrame({"start": starts, "finish": ends}).dropna().reset_index()
    both = both.merge(ops[["part", "order"]].drop_duplicates(), on="part")
    fig = go.Figure()
    for order, group in both.groupby("order", sort=False):
        fig.add_bar(y=group["node"], x=group["finish"] - group["start"], base=group["start"],
                    orientation="h", name=str(order), showlegend=False,
                    hovertext=[str(order)] * len(group))
    fig.update_layout(title="Operations of those orders per machine (replication 0)",
                      xaxis_title=unit, barmode="overlay", yaxis={"type": "category"})
    return out + _figure(fig, 360)


def _cost_by_period_section(entries: dict[str, Summary], unit: str) -> str:
    """Maintenance cost rate per period (a year, or a tenth of the horizon) of each policy whose
    summary has it (``learning.cost_rate_by_period``), with when a learning policy's model took
    over; a policy without it is drawn at its cost rate over the whole run (dashed)."""
    timed = {n: e.learning for n, e in entries.items()
             if e.learning is not None and e.learning.cost_rate_by_period}
    if not timed:
        return ""
    first = next(iter(timed.values()))
    label, period = first.period_label, first.period
    count = max(len(t.cost_rate_by_period) for t in timed.values())
    yearly = label == "year"
    xs = [k + 1 for k in range(count)] if yearly else [period * (k + 1) for k in range(count)]
    fig = go.Figure()
    rows = []
    wide = count > 4  # the intervals only in the figure: the table stays within the page
    for name, entry in entries.items():
        if name in timed:
            stats = timed[name].cost_rate_by_period
            fig.add_scatter(x=xs[:len(stats)], y=[s.mean for s in stats], name=name,
                            mode="lines+markers", error_y=_error_bars(stats))
            rows.append([name] + [_num(s.mean, 3) if wide else f"{_num(s.mean)} [{_ci(s)}]"
                                  for s in stats] + [""] * (count - len(stats)))
        elif "cost_rate" in entry.kpis:
            level = entry.kpis["cost_rate"].mean
            fig.add_scatter(x=[xs[0], xs[-1]], y=[level, level], mode="lines",
                            name=f"{name} (whole run)", line={"dash": "dash"})
    notes = []
    for name, learning in timed.items():
        switched = _switched_at(learning)
        if switched is not None:
            notes.append(f"{html.escape(name)}: its model took over at "
                         f"{_num(switched)} {html.escape(unit)} on average"
                         + (f" ({learning.never_switched} replications never)"
                            if learning.never_switched else "") + ".")
    what = "year of operation" if yearly else f"end of the {label} ({unit})"
    fig.update_layout(title=f"Maintenance cost rate per {label}", xaxis_title=what,
                      yaxis_title=f"per {unit}")
    if yearly:
        fig.update_xaxes(dtick=1)
    headers = ["policy"] + [f"year {x}" if yearly else f"to {_num(x, 3)}" for x in xs]
    return ("<h2>Cost rate over time</h2>" + _figure(fig, 360)
            + _table(headers, rows)
            + "<p class=\"note\">Failures and preventive maintenances paid in each period, "
              "per time unit: mean " + ("(95% intervals in the figure)" if wide else
                                       "[95% interval]") + " over replications. "
            + " ".join(notes) + "</p>" + _learning_error_figure(timed, unit))


def _switched_at(learning: Learning) -> float | None:
    """When a learning policy's model took over, on average (None where it never did)."""
    return learning.switched_at.mean if learning.switched_at is not None else None


def _learning_error_figure(timed: dict[str, Learning], unit: str) -> str:
    """A learning policy's model error over calendar time: at each update, the error of the
    model then in use on the windows of the lives it is about to learn from (the prequential,
    test-then-train error), every replication's; a dotted line where the model took over (on
    average)."""
    fig = go.Figure()
    drawn = 0
    for name, learning in timed.items():
        xs: list[float] = []
        ys: list[float] = []
        text: list[str] = []
        for rep, updates in enumerate(learning.updates or []):
            for time, lives, failures, windows, error in updates:
                if error is None:
                    continue
                xs.append(time)
                ys.append(error)
                text.append(f"replication {rep}: {lives:.0f} lives ended, {failures:.0f} "
                            f"failures seen, {windows:.0f} windows learned from")
        if xs:
            drawn += len(xs)
            fig.add_scatter(x=xs, y=ys, mode="markers", name=name, hovertext=text)
        switched = _switched_at(learning)
        if xs and switched is not None:
            fig.add_vline(x=switched, line_dash="dot",
                          annotation_text=f"{name}: the model takes over")
    if not drawn:
        return ""
    fig.update_layout(title="Learning in the loop: the model's error on each new life, before "
                            "it learns from it", xaxis_title=unit,
                      yaxis_title="RMSE of the new windows")
    return _figure(fig, 360)


def _bucket_section(buckets: Buckets, unit: str) -> str:
    """The KPIs per time bucket (``--buckets``), with their intervals, one figure each: the
    throughput, the unplanned downtime, and the orders due beside those late."""
    charts = [([("throughput", "#1f77b4")], f"Throughput per {buckets.width:g} {unit} "
               "(bucket ends)", f"parts/{unit}", 320),
              ([("unplanned_downtime", "#d62728")], "Unplanned downtime per bucket (machines "
               "down or in repair, on average)", "machines", 300),
              ([("orders_due", "#7f7f7f"), ("late_orders", "#ff7f0e")], "Orders due per "
               "bucket, and those late (by due date)", "orders", 300)]
    out = "<h2>Over time</h2>"
    for bars, title, label, height in charts:
        if buckets.series(bars[0][0]) is None:
            continue
        fig = go.Figure()
        for name, color in bars:
            stats = buckets.series(name) or []
            fig.add_bar(x=buckets.end, y=[s.mean for s in stats],
                        error_y=_error_bars(stats), marker_color=color,
                        name=name.replace("_", " "))
        fig.update_layout(title=title, xaxis_title=unit, yaxis_title=label, barmode="group",
                          showlegend=len(bars) > 1)
        out += _figure(fig, height)
    return out


def run_report(summary: dict[str, Any] | Summary, readings: pd.DataFrame | None = None,
               inventory: pd.DataFrame | None = None, orders: pd.DataFrame | None = None,
               events: pd.DataFrame | None = None, *, scenario: Any = None,
               timeline: pd.DataFrame | None = None,
               replay_window: tuple[float, float] | None = None) -> str:
    """The report of one run (summary.json, or its ``Summary``), with sensor trajectories if
    ``readings`` given, inventory over time if ``inventory`` given, the orders of the first
    replication if ``orders`` given and their operations per machine if its ``events`` are
    given; the plant drawn with the results if its ``scenario`` is given, and replayed
    (``twin.view``) if the ``timeline`` is."""
    s = Summary.model_validate(summary)
    # the document itself, for the plant's drawing and the cameras
    doc = (summary if isinstance(summary, dict)
           else s.to_json() if scenario is not None or s.nodes else {})
    machines = s.machines
    costs = s.costs
    by_cause = go.Figure()
    by_cause.add_bar(x=list(costs), y=[c.mean for c in costs.values()],
                     error_y=_error_bars(list(costs.values())), marker_color="#8c564b")
    by_cause.update_layout(title="Cost rate by cause", yaxis_title=f"per {s.time_unit}")
    sections = [
        _warnings(s.warnings),
        _kpi_section(s.kpis, s.time_unit),
    ]
    if scenario is not None:
        from twin.view.sections import plant_section, replay_section

        sections.append(plant_section(scenario, doc))
        if timeline is not None and len(timeline):
            sections.append(replay_section(scenario, doc, timeline, events, replay_window,
                                           inventory))
    if s.warehouses is not None or s.customers is not None:
        sections.append(_supply_section(s, inventory))
    if s.products is not None:
        sections.append(_product_section(s, orders, events))
    if s.buckets is not None:
        sections.append(_bucket_section(s.buckets, s.time_unit))
    conveyors = conveyors_of(s.nodes)
    if machines or s.fleets or conveyors:
        sections.append(_state_section(machines, fleets=s.fleets, conveyors=conveyors))
    if machines:
        sections.append(_bottleneck_section(machines))
    if s.fleets:
        sections.append(_fleet_section(s.fleets, s.time_unit))
    if s.operators:
        sections.append(_operator_section(s.operators))
    sections.append(camera_section(doc, _table))
    sections.append("<h2>Costs</h2>" + _figure(by_cause, 320))
    sections.append(_cost_by_period_section({s.scenario: s}, s.time_unit))
    if readings is not None and len(readings):
        sections.append(_sensor_section(readings))
    return _page(f"{s.scenario}: run", _meta(s), sections)


def compare_report(doc: dict[str, Any] | Comparison) -> str:
    """The report of ``twin compare`` (compare.json, or its ``Comparison``)."""
    c = Comparison.model_validate(doc)
    policies = c.policies
    names = list(policies)
    baseline = c.baseline
    unit = c.time_unit
    units = kpi_units(unit)
    sections = []
    ranking_rows = []
    for entry in c.ranking:
        diff = entry.difference_to_previous
        ranking_rows.append([
            str(entry.rank), entry.name, _num(entry.mean),
            _ci(diff) if diff else "",
            ", ".join(entry.not_distinguishable_from),
        ])
    sections.append(
        f"<h2>Ranking by {html.escape(c.rank_by)} ({c.better} is better)</h2>"
        + _table(["rank", "policy", "mean", "difference to the one above (95% CI)",
                  "not distinguishable from"], ranking_rows)
        + "<p class=\"note\">Policies run on common random numbers; differences are paired by "
          "replication. Ranking rule: " + html.escape(c.rank_rule) + ".</p>")
    kpis = _headline(policies[baseline].kpis)
    labels = [f"{KPI_LABELS[k]} ({units[k]})" if units[k] else KPI_LABELS[k] for k in kpis]
    # one row per KPI, one column per policy: stays readable however many KPIs there are
    rows = [[label] + [f"{_num(policies[n].kpis[k].mean)} [{_ci(policies[n].kpis[k])}]"
                       for n in names] for k, label in zip(kpis, labels, strict=True)]
    sections.append("<h2>KPIs by policy</h2>" + _table(["KPI", *names], rows))
    others = [n for n in names if n != baseline]
    diff_rows = [[label] + [_ci(policies[n].differences[k]) for n in others]
                 for k, label in zip(kpis, labels, strict=True)]
    sections.append(f"<h2>Paired differences against {html.escape(baseline)}</h2>"
                    + _table(["KPI", *others], diff_rows))
    for kpi in kpis:
        stats = [policies[n].kpis[kpi] for n in names]
        fig = go.Figure(go.Bar(x=names, y=[s.mean for s in stats],
                               error_y=_error_bars(stats), marker_color="#1f77b4"))
        fig.update_layout(title=f"{KPI_LABELS[kpi]} by policy", yaxis_title=units[kpi])
        sections.append(_figure(fig, 320))
    fig = go.Figure()
    causes = list(policies[baseline].costs)
    for cause in causes:
        fig.add_bar(name=cause, x=names, y=[policies[n].costs[cause].mean for n in names])
    fig.update_layout(barmode="stack", title="Cost rate by cause", yaxis_title=f"per {unit}")
    sections.append("<h2>Costs</h2>" + _figure(fig, 340))
    sections.append(camera_compare_section(
        {n: {"nodes": p.to_json()["nodes"]} if p.nodes else {} for n, p in policies.items()},
        _table))
    sections.append(_cost_by_period_section(dict(policies), unit))
    for n in names:
        policy = policies[n]
        conveyors = conveyors_of(policy.nodes)
        if policy.machines or policy.fleets or conveyors:
            sections.append(_state_section(policy.machines, f"Machine time by state: {n}",
                                           policy.fleets, conveyors))
    warnings = [f"{n}: {w}" for n in names for w in policies[n].warnings]
    sections.insert(0, _warnings(warnings))
    return _page(f"{c.scenario}: policy comparison", _meta(c), sections)


def _params(point: SweepPoint) -> str:
    """``param=value, ...`` of a sweep point."""
    return ", ".join(f"{k}={v}" for k, v in point.params.items())


def sweep_report(doc: dict[str, Any] | Sweep) -> str:
    """The report of ``twin sweep`` (sweep.json, or its ``Sweep``)."""
    sw = Sweep.model_validate(doc)
    points = sw.points
    factors = [f.param for f in sw.factors]
    unit = sw.time_unit
    units = kpi_units(unit)
    best = sw.best
    rank_by = sw.rank_by
    best_stat = best.stat
    tied = best.not_distinguishable_from
    by_run = {p.run: p for p in points}
    tied_text = (" Not distinguishable from it: " + "; ".join(_params(by_run[t]) for t in tied)
                 + "." if tied else "")
    sections = [
        f"<h2>Best setting by {html.escape(rank_by)} ({sw.better} is better)</h2>"
        f"<p><b>{html.escape(', '.join(f'{k}={v}' for k, v in best.params.items()))}</b>: "
        f"{_num(best_stat.mean)} (95% CI {_ci(best_stat)}).{html.escape(tied_text)}</p>"
        + (f"<p class=\"note\">Rank by {html.escape(rank_by)}: "
           f"{html.escape(sw.rank_rule)}.</p>" if sw.rank_rule else "")
    ]
    kpis = _headline(points[0].kpis)
    groups_of_kpis = {"All points": kpis}
    if "fill_rate" in kpis:  # two narrower tables than one wide one
        groups_of_kpis = {"All points: supply chain": [k for k in kpis if k in SUPPLY_KPIS],
                          "All points: line and costs": [k for k in kpis
                                                         if k not in SUPPLY_KPIS]}
    for title, shown in groups_of_kpis.items():
        ranked = all(p.rank is not None for p in points)
        headers = factors + (["rank"] if ranked else []) + [
            f"{KPI_LABELS[k]} ({units[k]})" if units[k] else KPI_LABELS[k] for k in shown]
        rows = [[str(p.params[f]) for f in factors]
                + ([str(p.rank)] if ranked else [])
                + [f"{_num(p.kpis[k].mean)} [{_ci(p.kpis[k])}]" for k in shown]
                for p in points]
        classes = [["best" if p.run == best.run else "" for _ in headers] for p in points]
        sections.append(f"<h2>{html.escape(title)}</h2>" + _table(headers, rows, classes))
    x_param = factors[0]
    groups: dict[str, list[SweepPoint]] = {}
    for p in points:
        key = ", ".join(f"{f}={p.params[f]}" for f in factors[1:]) or "all"
        groups.setdefault(key, []).append(p)
    # the ranking KPI first, then the groups in the order of the tables
    charted = [rank_by] + [k for group in groups_of_kpis.values() for k in group if k != rank_by]
    for kpi in charted:
        fig = go.Figure()
        for key, members in groups.items():
            xs = [str(m.params[x_param]) for m in members]
            stats = [m.kpis[kpi] for m in members]
            fig.add_scatter(x=xs, y=[s.mean for s in stats], error_y=_error_bars(stats),
                            mode="lines+markers", name=key)
        fig.update_layout(title=f"{KPI_LABELS[kpi]} against {x_param}", xaxis_title=x_param,
                          yaxis_title=units[kpi], showlegend=len(groups) > 1)
        sections.append(_figure(fig, 340))
    best_point = by_run[best.run]
    if best_point.machines:
        sections.append(_state_section(best_point.machines, "Machine time by state at the "
                                                            "best setting"))
        sections.append(_bottleneck_section(best_point.machines))
    warnings = [f"{p.run}: {w}" for p in points for w in p.warnings]
    sections.insert(0, _warnings(warnings))
    return _page(f"{sw.scenario}: sweep of {', '.join(factors)}", _meta(sw), sections)
