"""The plant on the live twin's page, following the mirrored state without reloading the page.

The page holds the drawing (``#plant-diagram``) and a small script. The live twin writes, beside
``status.json``, ``status.js``: one call ``twinLive(status, page)`` with the status and the
page as ``twin.live.status`` writes it, whose tables replace the page's. The script loads it
again every ``POLL_MS`` (a script element works where the page is opened as a file, which a
fetch of ``status.json`` would not), then colours each machine by its state with its age, fills
each buffer to its contents, marks the machines that raised alarms, and puts the new tables in
place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from twin.view.sketch import sketch_of
from twin.view.svg import STATE_COLORS, legend, plant_svg

if TYPE_CHECKING:
    from twin.language.schema import Scenario

POLL_MS = 1000

SCRIPT = """
(function () {
  const colors = COLORS;
  const svg = document.getElementById("plant-diagram");
  const nodes = {};
  svg.querySelectorAll("[data-node]").forEach(function (g) { nodes[g.dataset.node] = g; });
  function text(g, cls, y, value) {
    let t = g.querySelector("text." + cls);
    if (!t) {
      t = document.createElementNS("http://www.w3.org/2000/svg", "text");
      t.setAttribute("class", cls); t.setAttribute("y", y); g.appendChild(t);
    }
    t.textContent = value;
  }
  window.twinLive = function (status, page) {
    const state = status.state || {};
    const machines = state.machines || {}, buffers = state.buffers || {};
    const alarmed = {};
    (status.alarms || []).forEach(function (a) { alarmed[a.machine] = a; });
    for (const name in machines) {
      const g = nodes[name];
      if (!g) continue;
      const m = machines[name], s = m.state || "starved";
      g.dataset.state = s;
      g.querySelector(".body").style.fill = colors[s] || "#f7f7f7";
      text(g, "value", 10, s.replace("_", " ") + " · age " + Number(m.age || 0).toFixed(1));
      const a = alarmed[name];
      g.classList.toggle("alarmed", !!a);
      g.dataset.alarm = a ? a.kind : "";
      text(g, "alarm", -38, a ? "alarm: " + a.kind : "");
    }
    for (const name in buffers) {
      const g = nodes[name];
      if (!g) continue;
      const content = buffers[name], n = Array.isArray(content) ? content.length : content;
      const body = g.querySelector(".body"), fill = g.querySelector(".level");
      const h = body.height.baseVal.value - 4, y = body.y.baseVal.value + 2;
      const cap = Number(g.dataset.capacity) || Math.max(1, n);
      const share = Math.min(1, n / cap);
      fill.setAttribute("y", y + h - share * h); fill.setAttribute("height", share * h);
      g.dataset.contents = n;
      text(g, "value", 36, n + " parts");
    }
    const holder = document.getElementById("live-tables");
    if (holder && page) {
      const body = new DOMParser().parseFromString(page, "text/html").body;
      const title = body.querySelector("h1");
      if (title) title.remove();
      holder.innerHTML = body.innerHTML;
    }
    svg.dataset.updated = status.updated || "";
    svg.dataset.clock = status.clock || 0;
  };
  setInterval(function () {
    const s = document.createElement("script");
    s.src = "status.js?" + Date.now();
    s.onload = s.onerror = function () { s.remove(); };
    document.head.appendChild(s);
  }, POLL);
})();
"""


_DRAWN: dict[int, tuple[Scenario, str]] = {}
"""The drawing of each scenario, made once (the status is written every second)."""


def live_diagram(scenario: Scenario, status: Mapping[str, Any]) -> str:
    """The drawing, drawn with ``status``, and the script that keeps it up to date (see the
    module's docstring)."""
    drawn = _DRAWN.get(id(scenario))
    if drawn is None or drawn[0] is not scenario:
        if len(_DRAWN) >= 8:
            _DRAWN.clear()
        drawn = _DRAWN[id(scenario)] = (scenario, _drawing(scenario))
    return drawn[1] + f"<script>{status_script(status, None)}</script>"


def _drawing(scenario: Scenario) -> str:
    sketch = sketch_of(scenario)
    svg = plant_svg(sketch, svg_id="plant-diagram")
    for name, node in sketch.nodes.items():  # buffers' capacities, for their fill
        if node.shape == "buffer" and node.capacity:
            marker = f'data-node="{_attr(name)}" '
            svg = svg.replace(marker, f'{marker}data-capacity="{node.capacity}" ', 1)
    script = (SCRIPT.replace("COLORS", json.dumps(STATE_COLORS))
              .replace("POLL", str(POLL_MS)))
    return svg + legend() + f"<script>{script}</script>"


def _attr(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def status_script(status: Mapping[str, Any], page: str | None) -> str:
    """``status.js``: the call that brings the page up to date (``page``: the live page as
    ``twin.live.status`` writes it, whose tables are taken; None leaves them)."""
    payload = json.dumps([status, page], separators=(",", ":")).replace("</", "<\\/")
    return f"twinLive.apply(null, {payload});\n"


def with_diagram(page: str, scenario: Scenario, status: Mapping[str, Any]) -> str:
    """The live page (as ``twin.live.status`` writes it) with the drawing under its title,
    its tables in ``#live-tables`` (replaced as the status changes), and the reload left to
    browsers without scripts."""
    head, _, body = page.partition("<body>")
    title, _, rest = body.partition("</h1>")
    rest, _, tail = rest.rpartition("</body>")
    head = re.sub(r"(<meta http-equiv='refresh'[^>]*>)", r"<noscript>\1</noscript>", head)
    return (f"{head}<body>{title}</h1>{live_diagram(scenario, status)}"
            f"<div id='live-tables'>{rest}</div></body>{tail}")
