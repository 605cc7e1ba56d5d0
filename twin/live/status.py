"""The live twin's rolling status: ``status.json`` (each write atomic: a reader, or an
interrupt, never sees half a file) and ``index.html``, a page that reloads itself; given the
scenario, the page draws the plant and follows ``status.js`` without reloading
(``twin.view.live``)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from twin.kpis import BUCKET_KPIS
from twin.records.output import write_json, write_text

REFRESH_S = 5


def write_status(folder: Path, status: dict[str, Any], scenario: Any = None) -> None:
    """Write ``status.json`` and ``index.html`` into ``folder``, each atomically (and, given the
    scenario, ``status.js``, which the page's plant drawing follows)."""
    write_json(folder / "status.json", status)
    text = page(status)
    if scenario is not None:
        from twin.view.live import status_script, with_diagram

        write_text(folder / "status.js", status_script(status, text))
        text = with_diagram(text, scenario, status)
    write_text(folder / "index.html", text)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(status: dict[str, Any]) -> str:
    """The status page: plant clock, machines, buffers, counts, forecast and alarms, reloading every
    ``REFRESH_S`` seconds."""
    state = status.get("state") or {}
    machines = [[name, m.get("state", ""), m.get("age", 0.0), "yes" if "part" in m else ""]
                for name, m in (state.get("machines") or {}).items()]
    buffers = [[name, len(parts) if isinstance(parts, list) else parts]
               for name, parts in (state.get("buffers") or {}).items()]
    counts = [[k, v] for k, v in (status.get("counts") or {}).items()]
    sections = [
        f"<h1>{html.escape(str(status.get('plant', '')))}: live</h1>",
        f"<p>plant time {_cell(status.get('clock', 0.0))} "
        f"{html.escape(str(status.get('time_unit', '')))}"
        f"; updated {html.escape(str(status.get('updated', '')))}"
        f"{'; stopped' if status.get('stopped') else ''}; broker "
        f"{'connected' if status.get('connected') else 'away'}</p>",
        "<h2>Machines</h2>", _table(["machine", "state", "age", "part"], machines),
        "<h2>Buffers</h2>", _table(["buffer", "parts"], buffers),
    ]
    forecast = status.get("forecast")
    if forecast:
        rows = [[k, s["mean"], f"[{_cell(s['ci95'][0])}, {_cell(s['ci95'][1])}]"]
                for k, s in forecast["kpis"].items() if s["mean"] is not None
                and s["ci95"][0] is not None]
        sections += [f"<h2>Forecast: the next {_cell(forecast['horizon'])} from "
                     f"{_cell(forecast['time'])} ({forecast['replications']} replications)</h2>",
                     _table(["KPI", "mean", "95% interval"], rows)]
        buckets = forecast.get("buckets")
        if buckets:
            names = [n for n in BUCKET_KPIS if n in buckets]
            sections.append(_table(["until", *(f"{n.replace('_', ' ')} [95% interval]"
                                               for n in names)], [
                [end, *(f"{_cell(buckets[n][k]['mean'])} [{_cell(buckets[n][k]['ci95'][0])}, "
                        f"{_cell(buckets[n][k]['ci95'][1])}]" for n in names)]
                for k, end in enumerate(buckets["end"])]))
    predictive = status.get("predictive")
    if predictive:
        share = predictive.get("share")
        sections += [f"<h2>Predictions ({html.escape(str(predictive['kind']))}, alarm at "
                     f"{_cell(predictive['threshold'])})</h2>",
                     _table(["machine", "time", "prediction"],
                            [[name, p["time"], p["value"]]
                             for name, p in (predictive.get("latest") or {}).items()]),
                     f"<p>failures seen {predictive['failures']}, warned of by an alarm "
                     f"{predictive['warned']}"
                     f"{'' if share is None else f' (share {share:.2f})'}</p>"]
        learning = predictive.get("learning")
        if learning:
            switched = learning["switched_at"]
            sections.append(
                f"<p>learning in the loop: {learning['lives_ended']} lives ended "
                f"({learning['failures_seen']} failures), {learning['updates']} updates; "
                + ("no model yet" if switched is None
                   else f"the model took over at {_cell(switched)}")
                + (f"; readings stalled: {html.escape(', '.join(predictive['stalled']))}"
                   if predictive.get("stalled") else "") + "</p>")
    alarms = status.get("alarms") or []
    if alarms:
        sections += ["<h2>Alarms</h2>", _table(["time", "machine", "kind", "value"], [
            [a["time"], a["machine"], a["kind"], a["value"]] for a in alarms])]
    sections += ["<h2>Messages</h2>", _table(["count", "value"], counts)]
    problems = status.get("problems") or []
    if problems:
        sections += ["<h2>Last rejected messages</h2>",
                     _table(["topic", "why"], [[p["topic"], p["why"]] for p in problems])]
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
             "margin-bottom:1em}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}")
    return (f"<!doctype html><html><head><meta charset='utf-8'>"
            f"<meta http-equiv='refresh' content='{REFRESH_S}'><title>twin live</title>"
            f"<style>{style}</style></head><body>{''.join(sections)}</body></html>\n")
