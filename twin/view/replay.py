"""The animated replay of one replication: machines coloured by their state, buffers filled to
their contents, parts moving along the edges, with play/pause, speed and a time slider.

It is built from what a run already writes: each machine's state changes (the timeline) and,
where it was kept, the event log (buffer contents and part moves follow each part from node to
node). The page carries them as one compact JSON of changes in the window replayed and a small
inline script; it needs no network. A window holds at most ``MAX_CHANGES`` changes (about 2 MB
of JSON): a longer one is cut at the time it reaches them, and the page says so.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from twin.view.sketch import Sketch
from twin.view.svg import STATE_COLORS, STATES, legend, plant_svg

MAX_CHANGES = 150_000
"""State changes, buffer changes and part moves a replay holds at most."""
DIGITS = 3
"""Decimals of the times in the replay's JSON."""


@dataclass
class Replay:
    """The changes replayed from ``start`` to ``end``: ``data`` is the page's JSON;
    ``cut`` says the window asked for was longer than the page may hold."""

    start: float
    end: float
    data: dict[str, Any]
    cut: float | None = None
    """The end asked for, where the replay stops before it."""


def _t(value: float) -> float:
    return round(float(value), DIGITS)


def _part_moves(sketch: Sketch, events: pd.DataFrame, end: float
                ) -> tuple[dict[str, tuple[list[float], list[int]]], list[float], list[int],
                           list[float]]:
    """Each buffer's contents after every change up to ``end`` and every part move along an
    edge (time, edge index, how long it takes: 0 where the part is handed over at once),
    following each part from node to node, in the order of their times. A part a vehicle
    carries moves from its ``travel`` to its ``unload`` and reaches the next node at its
    ``arrive`` (or ``ship``)."""
    buffers = [n for n, node in sketch.nodes.items() if node.shape == "buffer"]
    index = {(e.source, e.target): i for i, e in enumerate(sketch.edges)}
    level = dict.fromkeys(buffers, 0)
    changes: dict[str, tuple[list[float], list[int]]] = {b: ([0.0], [0]) for b in buffers}
    move_t: list[float] = []
    move_e: list[int] = []
    move_d: list[float] = []
    where: dict[int, str] = {}
    riding: dict[int, list[float]] = {}
    """The parts a vehicle carries: when they left (``travel``) and reached the next node
    (``unload``)."""
    frame = events[events["part"].notna() & (events["time"] <= end)]
    node_codes, node_names = pd.factorize(frame["node"])
    event_codes, event_names = pd.factorize(frame["event"])
    names = [str(n) for n in node_names]
    leaves = {i for i, e in enumerate(event_names) if str(e) in ("ship", "scrap")}
    code = {str(e): i for i, e in enumerate(event_names)}
    travel, unload, load = code.get("travel"), code.get("unload"), code.get("load")
    for time, node_code, event_code, part in zip(
            frame["time"].to_numpy(dtype=float).tolist(), node_codes.tolist(),
            event_codes.tolist(), frame["part"].to_numpy().astype(np.int64).tolist(),
            strict=True):
        if event_code == travel:
            riding[part] = [time, time]
            continue
        if event_code == unload:
            if part in riding:
                riding[part][1] = time
            continue
        if event_code == load:
            continue
        node = names[node_code]
        leaving = event_code in leaves
        before = where.get(part)
        if leaving:
            where.pop(part, None)
        elif before == node:
            continue
        else:
            where[part] = node
        if before is not None and before in level:
            level[before] -= 1
            changes[before][0].append(time)
            changes[before][1].append(level[before])
        if node in level and not leaving:
            level[node] += 1
            changes[node][0].append(time)
            changes[node][1].append(level[node])
        edge = index.get((before, node)) if before is not None else None
        ride = riding.pop(part, None)
        if edge is not None:
            move_t.append(ride[0] if ride is not None else time)
            move_e.append(edge)
            move_d.append(ride[1] - ride[0] if ride is not None else 0.0)
    if riding or any(d > 0 for d in move_d):  # carried parts moved from when they left
        order = np.argsort(np.asarray(move_t, dtype=float), kind="stable").tolist()
        move_t = [move_t[i] for i in order]
        move_e = [move_e[i] for i in order]
        move_d = [move_d[i] for i in order]
    return changes, move_t, move_e, move_d


def _window(times: np.ndarray, values: np.ndarray, start: float, end: float
            ) -> tuple[list[float], list[int]]:
    """The value holding at ``start`` (the last change at or before it), then the changes
    after it up to ``end``."""
    upto = int(np.searchsorted(times, start, side="right"))
    first = int(values[upto - 1]) if upto > 0 else int(values[0])
    stop = int(np.searchsorted(times, end, side="right"))
    return ([_t(start)] + [_t(t) for t in times[upto:stop]],
            [first] + [int(v) for v in values[upto:stop]])


def replay_data(sketch: Sketch, timeline: pd.DataFrame, events: pd.DataFrame | None,
                start: float, end: float, unit: str = "",
                max_changes: int = MAX_CHANGES,
                inventory: pd.DataFrame | None = None) -> Replay:
    """The replay of the first replication in ``timeline`` (and ``events``, its event log;
    ``inventory``, the warehouses' stock on hand) from ``start`` to ``end``, cut where it would
    hold more than ``max_changes`` changes."""
    first = timeline["replication"].min()
    rows = timeline[timeline["replication"] == first]
    code = {s: i for i, s in enumerate(STATES)}
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, group in rows.groupby("machine", sort=False, observed=True):
        if str(name) not in sketch.nodes:
            continue
        series[str(name)] = (group["time"].to_numpy(dtype=float),
                             group["state"].astype(str).map(code).fillna(0).to_numpy(int))
    buffers: dict[str, tuple[list[float], list[int]]] = {}
    moves: tuple[list[float], list[int], list[float]] = ([], [], [])
    if events is not None and len(events):
        ev = events[events["replication"] == events["replication"].min()] \
            if "replication" in events else events
        buffers, move_t, move_e, move_d = _part_moves(sketch, ev, end)
        moves = (move_t, move_e, move_d)
    stocks: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if inventory is not None and len(inventory):
        held = inventory[inventory["replication"] == inventory["replication"].min()]
        for name, group in held.groupby("warehouse", sort=False, observed=True):
            if str(name) in sketch.nodes:
                stocks[str(name)] = (group["time"].to_numpy(dtype=float),
                                     group["on_hand"].to_numpy(dtype=np.int64))
    # where the window would hold too many changes, it ends at the last that fits
    stamps = [t[(t > start) & (t <= end)] for t, _ in series.values()]
    stamps += [t[(t > start) & (t <= end)] for t, _ in stocks.values()]
    for times, _ in buffers.values():
        later = np.asarray(times[1:], dtype=float)
        stamps.append(later[later > start])
    mt = np.asarray(moves[0], dtype=float)
    stamps.append(mt[mt > start])
    every = np.sort(np.concatenate(stamps)) if stamps else np.empty(0)
    cut = None
    if every.size > max_changes:
        cut, end = end, float(every[max_changes - 1])
    data: dict[str, Any] = {"t0": _t(start), "t1": _t(end), "unit": unit, "states": list(STATES),
                            "colors": [STATE_COLORS[s] for s in STATES], "machines": {},
                            "buffers": {}, "edges": [e.key for e in sketch.edges]}
    for name, (stamp, codes) in series.items():
        data["machines"][name] = _window(stamp, codes, start, end)
    for name, (times, levels) in buffers.items():
        shown = _window(np.asarray(times, dtype=float), np.asarray(levels, dtype=int), start,
                        end)
        capacity = sketch.nodes[name].capacity
        data["buffers"][name] = [*shown, capacity if capacity else max(1, max(shown[1]))]
    data["stocks"] = {name: _window(times, levels, start, end)
                      for name, (times, levels) in stocks.items()}
    lo, hi = np.searchsorted(mt, start, side="right"), np.searchsorted(mt, end, side="right")
    data["moves"] = [[_t(t) for t in mt[lo:hi]], [int(e) for e in moves[1][lo:hi]]]
    data["travel"] = _t(travel(data["moves"], end - start))
    durations = moves[2][lo:hi]
    if any(d > 0 for d in durations):  # parts carried by vehicles: their own travel times
        data["moves"].append([_t(d) for d in durations])
        data["longest"] = max(data["travel"], max(data["moves"][2]))
    return Replay(start, end, data, cut)


def travel(moves: list[list[Any]], span: float) -> float:
    """How long a part is shown moving along an edge: most of the median time between two
    parts on the busiest edge (so that about one part at a time is seen on it), at most a
    400th of the window."""
    longest = max(span / 400, 10.0 ** -DIGITS)
    if not moves[0]:
        return longest
    times = np.asarray(moves[0], dtype=float)
    edges = np.asarray(moves[1], dtype=int)
    busiest = np.bincount(edges).argmax()
    gaps = np.diff(times[edges == busiest])
    if not gaps.size:
        return longest
    return float(min(longest, max(0.8 * float(np.median(gaps)), 10.0 ** -DIGITS)))


SCRIPT = """
(function () {
  const data = JSON.parse(document.getElementById("plant-replay-data").textContent);
  const root = document.getElementById("plant-replay");
  const svg = root.querySelector("svg");
  const slider = document.getElementById("replay-slider");
  const clock = root.querySelector(".replay-time");
  const button = root.querySelector(".replay-play");
  const speed = root.querySelector(".replay-speed");
  const nodes = {};
  svg.querySelectorAll("[data-node]").forEach(function (g) { nodes[g.dataset.node] = g; });
  const paths = data.edges.map(function (key) {
    const g = svg.querySelector('[data-edge="' + CSS.escape(key) + '"]');
    return g ? g.querySelector("path") : null;
  });
  const lengths = paths.map(function (p) { return p ? p.getTotalLength() : 0; });
  const layer = svg.querySelector(".parts");
  const dots = [];
  function last(times, t) {  // the last index whose time is at or before t
    let lo = 0, hi = times.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  }
  function draw(t) {
    for (const name in data.machines) {
      const series = data.machines[name], g = nodes[name];
      const state = data.states[series[1][Math.max(0, last(series[0], t))]];
      g.dataset.state = state;
      g.querySelector(".body").style.fill = data.colors[data.states.indexOf(state)];
    }
    for (const name in data.buffers) {
      const series = data.buffers[name], g = nodes[name];
      const level = series[1][Math.max(0, last(series[0], t))];
      const body = g.querySelector(".body"), fill = g.querySelector(".level");
      const h = body.height.baseVal.value - 4, y = body.y.baseVal.value + 2;
      const share = Math.min(1, level / series[2]);
      fill.setAttribute("y", y + h - share * h);
      fill.setAttribute("height", share * h);
      g.dataset.contents = level;
    }
    for (const name in data.stocks) {
      const series = data.stocks[name], g = nodes[name];
      const level = series[1][Math.max(0, last(series[0], t))];
      g.dataset.contents = level;
      let label = g.querySelector("text.stock");
      if (!label) {
        label = document.createElementNS("http://www.w3.org/2000/svg", "text");
        label.setAttribute("class", "value stock");
        label.setAttribute("y", g.querySelector(".body").getBBox().height / 2 + 13);
        g.appendChild(label);
      }
      label.textContent = "on hand " + level;
    }
    // a move takes data.travel, or its own time where it has one (a vehicle's trip)
    const own = data.moves[2], longest = own ? data.longest : data.travel;
    const hi = last(data.moves[0], t), lo = last(data.moves[0], t - longest);
    let n = 0;
    for (let k = Math.max(lo + 1, hi - 400); k <= hi; k++) {
      const path = paths[data.moves[1][k]];
      if (!path) continue;
      const takes = own && own[k] > 0 ? own[k] : data.travel;
      if (t - data.moves[0][k] > takes) continue;
      const at = path.getPointAtLength(lengths[data.moves[1][k]] *
                                       (t - data.moves[0][k]) / takes);
      if (!dots[n]) {
        dots[n] = document.createElementNS("http://www.w3.org/2000/svg", "circle");
        dots[n].setAttribute("r", 4); dots[n].setAttribute("class", "part");
        layer.appendChild(dots[n]);
      }
      dots[n].setAttribute("cx", at.x); dots[n].setAttribute("cy", at.y);
      dots[n].style.display = ""; n++;
    }
    for (let k = n; k < dots.length; k++) dots[k].style.display = "none";
    clock.textContent = "t = " + t.toFixed(2) + " " + data.unit;
    root.dataset.time = t;
  }
  let playing = false, before = null;
  function frame(now) {
    if (!playing) return;
    if (before !== null) {
      let t = Number(slider.value) + (now - before) / 1000 * Number(speed.value);
      if (t >= data.t1) { t = data.t1; playing = false; button.textContent = "play"; }
      slider.value = t; draw(t);
    }
    before = now;
    if (playing) requestAnimationFrame(frame);
  }
  button.addEventListener("click", function () {
    playing = !playing; before = null;
    button.textContent = playing ? "pause" : "play";
    if (playing) {
      if (Number(slider.value) >= data.t1) slider.value = data.t0;
      requestAnimationFrame(frame);
    }
  });
  slider.addEventListener("input", function () { draw(Number(slider.value)); });
  root.twinDraw = draw;
  draw(data.t0);
  root.dataset.ready = "true";
})();
"""


def speeds(span: float) -> list[float]:
    """Speeds offered (time units per second): round numbers around the one that plays the
    window in a minute."""
    base = max(span / 60, 1e-6)
    power = 10 ** math.floor(math.log10(base))
    return sorted({round(power * k, 12) for k in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50)})


def replay_html(sketch: Sketch, replay: Replay) -> str:
    """The replay's section: the drawing (inside ``#plant-replay``), its controls (the slider
    is ``#replay-slider``), the JSON and the script."""
    data = replay.data
    span = replay.end - replay.start
    options = speeds(span)
    default = min(options, key=lambda s: abs(math.log(s / max(span / 60, 1e-6))))
    choices = "".join(f'<option value="{s:g}"{" selected" if s == default else ""}>'
                      f'{s:g} {html.escape(data["unit"])}/s</option>' for s in options)
    step = 10.0 ** -DIGITS
    note = (f"Replication 0 from t = {replay.start:g} to {replay.end:g} {data['unit']}"
            + (f" (cut from {replay.cut:g} to keep the page small; choose a shorter window "
               "with --replay-window START:END)" if replay.cut is not None else "")
            + ". Machines take the colour of their state; buffers fill to their contents"
            + ("; warehouses show their stock on hand" if data["stocks"] else "")
            + ("; dots are parts moving along the edges" if data["moves"][0] else
               " (with the event log: twin run --replay)") + ".")
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return (f'<div id="plant-replay" data-start="{replay.start:g}" data-end="{replay.end:g}">'
            f'<p class="note">{html.escape(note)}</p>'
            + legend()
            + '<p><button type="button" class="replay-play">play</button> '
              f'<label>speed <select class="replay-speed">{choices}</select></label> '
              f'<input type="range" id="replay-slider" min="{replay.start:g}" '
              f'max="{replay.end:g}" step="{step:g}" value="{replay.start:g}" '
              'style="width:60%;vertical-align:middle"> '
              '<span class="replay-time"></span></p>'
            + plant_svg(sketch, svg_id="plant-replay-svg")
            + "</div>"
            + f'<script id="plant-replay-data" type="application/json">{payload}</script>'
            + f"<script>{SCRIPT}</script>")


def parse_window(text: str) -> tuple[float, float]:
    """``START:END`` (plant time) as a pair; a ValueError says what is wrong."""
    start, sep, end = text.partition(":")
    try:
        low, high = float(start), float(end)
    except ValueError:
        raise ValueError(f"expected START:END (two numbers), got {text!r}") from None
    if not sep or not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high <= low:
        raise ValueError(f"expected START:END with 0 <= START < END, got {text!r}")
    return low, high


def check_window(window: tuple[float, float] | None, horizon: float) -> None:
    """A replay window must start within the run (an ``InputError`` otherwise)."""
    from twin.errors import InputError

    if window is not None and window[0] >= horizon:
        raise InputError("--replay-window", [((), f"starts at {window[0]:g}, at or after the "
                                                 f"end of the run ({horizon:g})", None)])
