"""``twin show``: the plant drawn from its scenario file before anything runs.

A scenario that validates is drawn as it is. One that does not is drawn as far as its raw data
allows, with the nodes and edges the problems name marked, and the problems are then raised as
the usual ``InputError`` (file, field path, line), so the command still exits 2.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from twin.errors import InputError, format_loc
from twin.view.sketch import Sketch, sketch_of, sketch_of_data
from twin.view.svg import plant_svg

PAGE_CSS = ("body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:2em;"
            "color:#222}.meta{color:#666}.problems li{color:#a15c00}")


def _problems_by_element(sketch: Sketch, error: InputError) -> dict[str, list[str]]:
    """The problems of ``error`` by the node name or edge key they concern."""
    out: dict[str, list[str]] = {}
    for loc, message, _ in error.problems:
        if len(loc) >= 3 and loc[0] == "plant" and loc[1] == "nodes" and str(loc[2]) in \
                sketch.nodes:
            out.setdefault(str(loc[2]), []).append(message)
        elif len(loc) >= 3 and loc[0] == "plant" and loc[1] == "edges" and isinstance(loc[2], int):
            out.setdefault(f"#edge{loc[2]}", []).append(message)  # by index: see _edge_problems
    return out


def _edge_problems(sketch: Sketch, data: Any, found: dict[str, list[str]]) -> None:
    """Move the problems found by edge index onto the edges drawn."""
    raw = (data.get("plant") or {}).get("edges") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        return
    drawn = {e.key for e in sketch.edges}
    for index, edge in enumerate(raw):
        messages = found.pop(f"#edge{index}", None)
        if messages is None:
            continue
        if isinstance(edge, list | tuple) and len(edge) >= 2:
            key = f"{edge[0]}->{edge[1]}"
        elif isinstance(edge, dict):
            key = f"{edge.get('from')}->{edge.get('to')}"
        else:
            continue
        if key in drawn:
            found.setdefault(key, []).extend(messages)


def page(sketch: Sketch, svg: str, title: str, problems: Iterable[str] = ()) -> str:
    """A page holding the drawing (and the problems, where there are)."""
    listed = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
    counts: dict[str, int] = {}
    for node in sketch.nodes.values():
        counts[node.shape] = counts.get(node.shape, 0) + 1
    meta = ", ".join(f"{n} {k}" for k, n in counts.items()) + f", {len(sketch.edges)} edges"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{PAGE_CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p class=\"meta\">{html.escape(meta)}</p>"
            + (f"<h2>Problems</h2><ul class=\"problems\">{listed}</ul>" if listed else "")
            + svg + "</body></html>\n")


def show(path: str | Path, out: str | Path | None = None,
         overrides: Iterable[tuple[str, Any]] = ()) -> Path:
    """Draw the scenario at ``path`` into ``out`` (``.svg``: the drawing alone; otherwise an
    HTML page; default: ``<scenario>.html`` beside the working folder's ``plant-<name>``).
    Returns the file written; raises ``InputError`` after drawing a scenario that does not
    validate."""
    from twin.language.loading import load_scenario
    from twin.language.yamlio import load_yaml
    from twin.records.output import write_text

    path = Path(path)
    error: InputError | None = None
    try:
        scenario = load_scenario(path, list(overrides))
        sketch: Sketch | None = sketch_of(scenario)
        found: dict[str, list[str]] = {}
    except InputError as exc:
        error = exc
        data, _ = load_yaml(path)
        sketch = sketch_of_data(data)
        if sketch is None:
            raise
        found = _problems_by_element(sketch, exc)
        _edge_problems(sketch, data, found)
    assert sketch is not None
    target = Path(out) if out is not None else Path(f"plant-{path.stem}.html")
    svg = plant_svg(sketch, problems=found)
    if target.suffix.lower() == ".svg":
        text = '<?xml version="1.0" encoding="utf-8"?>\n' + svg + "\n"
    else:
        listed = [f"{format_loc(loc)}: {msg}" if loc else msg
                  for loc, msg, _ in (error.problems if error else [])]
        text = page(sketch, svg, f"{sketch.name}: plant"
                    + (" (does not validate)" if error else ""), listed)
    write_text(target, text)
    if error is not None:
        raise error
    return target
