"""The plant as plain SVG, built in Python: one ``<g data-node>`` per node, drawn with the shape
of its kind, one ``<g data-edge>`` per edge; optionally coloured by a run's results
(``twin.view.results.Overlay``) and marked where a scenario has problems.

The drawing needs no script and no network: it opens as a file, inside a report or alone.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from twin.view.layout import LOOP_ROOM, Layout, layout
from twin.view.sketch import EdgeSketch, NodeSketch, Sketch

STATES = ("working", "blocked", "starved", "down", "repair", "maintenance", "setup",
          "waiting_operator", "off")
"""A machine's states, as its timeline names them."""
STATE_COLORS = {"working": "#2ca02c", "blocked": "#ff7f0e", "starved": "#9ecae1",
                "down": "#d62728", "repair": "#e377c2", "maintenance": "#8c564b",
                "setup": "#bcbd22", "waiting_operator": "#9467bd", "off": "#d9d9d9"}
"""The colours of the report's state charts, by timeline state."""
STATE_LABELS = {"working": "working", "blocked": "blocked", "starved": "starved",
                "down": "down (waiting)", "repair": "in repair", "maintenance": "maintenance",
                "setup": "setup", "waiting_operator": "waiting for an operator",
                "off": "off (calendar)"}

VEHICLE_STATES = ("loaded", "empty", "handling", "blocked", "idle", "charging", "down")
"""A vehicle's states (``twin.handling.transport.STATES``), in the order the charts stack them."""
VEHICLE_COLORS = {"loaded": "#00796b", "empty": "#80cbc4", "handling": "#3f51b5",
                  "blocked": "#f4a261", "idle": "#cfd8dc", "charging": "#fdd835",
                  "down": "#8b0000"}
"""The colours of a fleet's time by state (the run report's chart, the plant drawing's box)."""
VEHICLE_LABELS = {"loaded": "vehicles: loaded", "empty": "vehicles: driving empty",
                  "handling": "vehicles: loading or unloading",
                  "blocked": "vehicles: waiting, loaded, for room",
                  "idle": "vehicles: idle", "charging": "vehicles: charging",
                  "down": "vehicles: failed"}
CONVEYOR_COLORS = {"moving": "#607d8b", "stopped": "#e57373"}
"""A conveyor's time moving and with its head part stopped at the end."""
CONVEYOR_LABELS = {"moving": "conveyor: moving", "stopped": "conveyor: head part stopped"}

SIZES = {"buffer": (76.0, 44.0), "source": (92.0, 44.0), "sink": (92.0, 44.0),
         "customer": (104.0, 50.0), "supplier": (112.0, 58.0), "conveyor": (128.0, 26.0)}
"""Width and height of each shape; the others are ``NODE_W`` by ``NODE_H``."""
NAME_CHARS = 16

FILLS = {"source": "#eef3fb", "sink": "#eef3fb", "machine": "#f7f7f7", "assembly": "#f3f0fa",
         "oven": "#fbf1ea", "buffer": "#ffffff", "supplier": "#eef7ee", "warehouse": "#fdf8e8",
         "customer": "#eef3fb", "conveyor": "#eceff1", "other": "#f7f7f7"}
FLEET_COLOR = "#00796b"
"""The colour of the edges a fleet of vehicles serves (dashed) and of their labels."""


@dataclass
class MachineLook:
    """A machine's results: the share of time in each state, and whether it is the
    bottleneck."""

    shares: dict[str, float]
    bottleneck: bool = False


@dataclass
class BufferLook:
    """A buffer's mean and peak contents, against its capacity (null: unbounded)."""

    mean: float
    peak: float
    capacity: int | None


@dataclass
class FleetLook:
    """A fleet's results: the shares of vehicle time by state (``VEHICLE_STATES``), its
    utilization and the mean wait for a vehicle."""

    shares: dict[str, float]
    utilization: float
    wait: float
    bottleneck: bool = False
    """Whether the fleet, rather than a machine, is the plant's bottleneck."""


@dataclass
class ConveyorLook:
    """A conveyor's results: its mean load, the load as a share of its places, and the share of
    time its head part stood stopped at the end."""

    load: float
    share: float
    stopped: float


@dataclass
class Overlay:
    """What a run's results add to the drawing; ``unit`` is the scenario's time unit."""

    unit: str
    machines: dict[str, MachineLook] = field(default_factory=dict)
    buffers: dict[str, BufferLook] = field(default_factory=dict)
    flows: dict[str, float] = field(default_factory=dict)
    """Parts per time unit along each edge, by key (``source->target``)."""
    notes: dict[str, str] = field(default_factory=dict)
    """A line of results under other nodes (a warehouse's stock, a customer's fill rate)."""
    fleets: dict[str, FleetLook] = field(default_factory=dict)
    conveyors: dict[str, ConveyorLook] = field(default_factory=dict)


def size(node: NodeSketch) -> tuple[float, float]:
    """The width and height ``node`` is drawn with."""
    from twin.view.layout import NODE_H, NODE_W

    return SIZES.get(node.shape, (NODE_W, NODE_H))


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[:NAME_CHARS - 1] + "…"


def _num(value: float) -> str:
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else "–"
    digits = max(0, 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{min(digits, 4)}f}"


def _body(shape: str, w: float, h: float, level: float = 0.0) -> str:
    """The outline of a shape centred on 0, 0 (class ``body``: the replay colours it); a
    buffer's tray filled to ``level`` (a fraction)."""
    x, y = -w / 2, -h / 2
    if shape == "assembly":  # chamfered corners
        c = 12
        points = [(x + c, y), (x + w - c, y), (x + w, y + c), (x + w, y + h - c),
                  (x + w - c, y + h), (x + c, y + h), (x, y + h - c), (x, y + c)]
        return f'<polygon class="body" points="{_points(points)}"/>'
    if shape == "source":  # a tag pointing along the flow
        points = [(x, y), (x + w - 16, y), (x + w, 0), (x + w - 16, y + h), (x, y + h)]
        return f'<polygon class="body" points="{_points(points)}"/>'
    if shape == "sink":
        points = [(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x + 16, 0)]
        return f'<polygon class="body" points="{_points(points)}"/>'
    if shape == "customer":
        return f'<ellipse class="body" cx="0" cy="0" rx="{w / 2:g}" ry="{h / 2:g}"/>'
    if shape == "warehouse":  # a house: walls and a roof
        roof = 14
        points = [(x, y + roof), (0, y), (x + w, y + roof), (x + w, y + h), (x, y + h)]
        return f'<polygon class="body" points="{_points(points)}"/>'
    if shape == "supplier":  # a works with a saw-tooth roof
        t = 12
        points = [(x, y + h), (x, y + t), (x + w / 4, y), (x + w / 4, y + t), (x + w / 2, y),
                  (x + w / 2, y + t), (x + 3 * w / 4, y), (x + 3 * w / 4, y + t), (x + w, y),
                  (x + w, y + h)]
        return f'<polygon class="body" points="{_points(points)}"/>'
    if shape == "conveyor":  # a belt round two end rollers, its load filling it from the left
        r = h / 2
        filled = level * (w - 2 * r)
        rollers = "".join(f'<circle class="roller" cx="{cx:g}" cy="0" r="{r - 4:g}"/>'
                          for cx in (x + r, x + w - r))
        arrows = "".join(f'<path class="belt-arrow" d="M{ax:g},-4 l5,4 l-5,4"/>'
                         for ax in range(int(x + 2 * r + 6), int(x + w - 2 * r - 4), 14))
        return (f'<rect class="body" x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" '
                f'rx="{r:g}"/>'
                f'<rect class="level" x="{x + r:g}" y="{y + 3:g}" width="{filled:.2f}" '
                f'height="{h - 6:g}"/>{rollers}{arrows}')
    if shape == "buffer":  # a tray, open at the top; its contents fill it from the bottom
        filled = level * (h - 4)
        return (f'<rect class="body" x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" rx="2"/>'
                f'<rect class="level" x="{x + 2:g}" y="{y + h - 2 - filled:.2f}" '
                f'width="{w - 4:g}" height="{filled:.2f}"/>'
                f'<path class="tray" d="M{x:g},{y:g} V{y + h:g} H{x + w:g} V{y:g}"/>')
    rx = 2 if shape == "oven" else 7
    dash = ' stroke-dasharray="5 3"' if shape == "other" else ""
    out = (f'<rect class="body" x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" '
           f'rx="{rx}"{dash}/>')
    if shape == "oven":  # heat waves under a batch machine
        waves = "".join(f'<path class="heat" d="M{x + 10 + 14 * i:g},{y + h + 9:g} '
                        f'q3,-4 0,-7 q-3,-4 0,-7"/>' for i in range(int(w // 14) - 1))
        out += waves
    return out


def _points(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{px:g},{py:g}" for px, py in points)


def _edge_geometry(edge: EdgeSketch, lay: Layout, sizes: Mapping[str, tuple[float, float]],
                   at: float = 0.5) -> tuple[str, tuple[float, float]]:
    """The edge's path, and the point where its label goes (``at``: the share of the way
    along a forward edge's bend)."""
    sx, sy = lay.x[edge.source], lay.y[edge.source]
    tx, ty = lay.x[edge.target], lay.y[edge.target]
    sw, sh = sizes[edge.source]
    tw, th = sizes[edge.target]
    if edge.key in lay.back:  # a loop: below the plant, back into the target's left side
        low, r = lay.bottom + LOOP_ROOM * 0.6, 10.0
        x1, y1 = sx, sy + sh / 2
        x2, y2 = tx - tw / 2 - 18, ty + th / 4
        path = (f"M{x1:g},{y1:g} V{low - r:g} Q{x1:g},{low:g} {x1 - r:g},{low:g} "
                f"H{x2 + r:g} Q{x2:g},{low:g} {x2:g},{low - r:g} V{y2 + r:g} "
                f"Q{x2:g},{y2:g} {x2 + r:g},{y2:g} H{tx - tw / 2 - 4:g}")
        return path, ((x1 + x2) / 2, low)
    x1, y1 = sx + sw / 2, sy
    x2, y2 = tx - tw / 2 - 4, ty
    if x2 <= x1 + 1:  # same layer (only where a loop was cut): round the side
        return (f"M{sx:g},{sy + sh / 2:g} C{sx:g},{sy + sh:g} {tx:g},{ty - th:g} "
                f"{tx:g},{ty - th / 2:g}", (sx, sy + sh))
    from twin.view.layout import LAYER_GAP

    # over several layers: the bend in the first gap, then straight on to the target
    bend_end = min(x2, x1 + LAYER_GAP - (sw / 2 + 4) + 20) if lay.layer[edge.target] - \
        lay.layer[edge.source] > 1 else x2
    dx = (bend_end - x1) / 2
    path = f"M{x1:g},{y1:g} C{x1 + dx:g},{y1:g} {bend_end - dx:g},{y2:g} {bend_end:g},{y2:g}"
    if bend_end < x2:
        path += f" H{x2:g}"
    # the point of the cubic with horizontal tangents at ``at``
    ease = 3 * at * at - 2 * at ** 3
    return path, (x1 + (bend_end - x1) * at, y1 + (y2 - y1) * ease)


CSS = """
#ID text { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; }
#ID .body { stroke: #555; stroke-width: 1.4; }
#ID .tray { fill: none; stroke: #555; stroke-width: 2.2; }
#ID .level { fill: #6baed6; }
#ID .peak { stroke: #08519c; stroke-width: 1.5; stroke-dasharray: 3 2; }
#ID .heat { fill: none; stroke: #e6550d; stroke-width: 1.2; }
#ID .name { font-size: 12px; font-weight: 600; text-anchor: middle; fill: #222; }
#ID .detail { font-size: 10px; text-anchor: middle; fill: #555; }
#ID .value { font-size: 10px; text-anchor: middle; fill: #222; }
#ID .edge path { fill: none; stroke: #7a7a7a; stroke-width: 1.6; }
#ID .edge.when path { stroke: #c0392b; stroke-dasharray: 6 4; }
#ID .edge.loop path { stroke: #8e6fb5; }
#ID .edge text { font-size: 10px; text-anchor: middle; fill: #333; paint-order: stroke;
                 stroke: #fff; stroke-width: 3px; }
#ID .node.bottleneck .body { stroke: #c0392b; stroke-width: 4; }
#ID .fleets .bottleneck text { fill: #c0392b; font-weight: bold; }
#ID .tag { font-size: 10px; font-weight: 700; text-anchor: middle; fill: #c0392b; }
#ID .node.problem .body { stroke: #c0392b; stroke-width: 3; stroke-dasharray: 6 3; }
#ID .edge.problem path { stroke: #c0392b; stroke-width: 3; }
#ID .part { fill: #08519c; stroke: #fff; stroke-width: 1; }
#ID .roller { fill: #fff; stroke: #555; stroke-width: 1.2; }
#ID .belt-arrow { fill: none; stroke: #78909c; stroke-width: 1.4; }
#ID .shape-conveyor .level { fill: #90a4ae; fill-opacity: 0.6; }
#ID .edge.by path { stroke: #00796b; stroke-dasharray: 9 5; }
#ID .edge text.fleet { fill: #00796b; font-style: italic; }
#ID .fleets rect.box { fill: #f6fbfa; stroke: #00796b; stroke-width: 1; }
#ID .fleets text { font-size: 11px; fill: #222; }
#ID .fleets text.fleet-name { font-weight: 700; fill: #00796b; }
#ID .alarm { font-size: 11px; font-weight: 700; text-anchor: middle; fill: #c0392b; }
"""


def plant_svg(sketch: Sketch, lay: Layout | None = None, *, overlay: Overlay | None = None,
              svg_id: str = "plant-diagram",
              problems: Mapping[str, list[str]] | None = None) -> str:
    """The drawing of ``sketch`` as one ``<svg id=svg_id>`` element. ``overlay`` colours it by
    a run's results; ``problems`` (by node name or edge key) marks what a check found wrong."""
    lay = lay or layout(sketch)
    problems = problems or {}
    sizes = {n: size(node) for n, node in sketch.nodes.items()}
    top_extra = 0.0
    box, (box_w, box_h) = _fleet_box(sketch, overlay, lay)
    width, height = max(lay.width, box_w), lay.height + box_h
    out = [f'<svg id="{_e(svg_id)}" class="plant" xmlns="http://www.w3.org/2000/svg" '
           f'viewBox="0 -{top_extra:g} {width:g} {height + top_extra:g}" '
           f'width="{width:g}" height="{height:g}" '
           f'style="max-width:100%;height:auto" role="img" '
           f'aria-label="{_e(f"plant {sketch.name}")}">',
           f"<title>{_e(sketch.name)}</title>",
           f'<defs><marker id="{_e(svg_id)}-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
           f'markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" '
           f'orient="auto-start-reverse">'
           f'<path d="M0,0 L10,5 L0,10 z" fill="#666"/></marker></defs>',
           f"<style>{CSS.replace('#ID', '#' + svg_id)}</style>", '<g class="edges">']
    top = max(overlay.flows.values(), default=0.0) if overlay else 0.0
    outs: dict[str, int] = {}
    ins: dict[str, int] = {}
    for edge in sketch.edges:
        outs[edge.source] = outs.get(edge.source, 0) + 1
        ins[edge.target] = ins.get(edge.target, 0) + 1
    for index, edge in enumerate(sketch.edges):
        # labels of a fan out near the targets, of a fan in near the sources; where fans
        # cross (buffers feeding several assemblies each), early, where they are still apart
        fan_out, fan_in = outs[edge.source] > 1, ins[edge.target] > 1
        at = 0.3 if fan_out and fan_in else 0.62 if fan_out else 0.38 if fan_in else 0.5
        path, (mx, my) = _edge_geometry(edge, lay, sizes, at)
        classes = ["edge"]
        if edge.when:
            classes.append("when")
        if edge.key in lay.back:
            classes.append("loop")
        if edge.key in problems:
            classes.append("problem")
        if edge.by is not None:
            classes.append("by")
        label = ""
        stroke = ""
        tip = f"{edge.source} → {edge.target}"
        if edge.when:
            tip += f" ({edge.when} parts)"
        elif edge.p is not None:
            tip += f" (p = {edge.p:g})"
        if edge.by is not None:
            tip += f" by {edge.by}"
        if overlay is not None and edge.key in overlay.flows:
            flow = overlay.flows[edge.key]
            tip += f": {_num(flow)} parts/{overlay.unit}"
            label = f'<text x="{mx:g}" y="{my - 6:g}">{_e(_num(flow))}</text>'
            if top > 0:
                stroke = f' style="stroke-width:{1.2 + 4.8 * flow / top:.2f}"'
        if edge.by is not None:  # the fleet's name under the edge (the flow is above it)
            label += (f'<text class="fleet" data-fleet="{_e(edge.by)}" x="{mx:g}" '
                      f'y="{my + 13:g}">{_e(edge.by)}</text>')
        tip += "".join(f"; {p}" for p in problems.get(edge.key, []))
        out.append(f'<g class="{" ".join(classes)}" data-edge="{_e(edge.key)}" '
                   f'data-index="{index}"><title>{_e(tip)}</title>'
                   f'<path d="{path}"{stroke} '
                   f'marker-end="url(#{_e(svg_id)}-arrow)"/>{label}</g>')
    out.append('</g><g class="nodes">')
    for name, node in sketch.nodes.items():
        out.append(_node(node, lay, sizes[name], overlay, problems.get(name, [])))
    out.append(f'</g>{box}<g class="parts"></g></svg>')
    return "".join(out)


FLEET_LINE = 30.0
"""Height of a fleet's line in the fleets' box."""


def _fleet_box(sketch: Sketch, overlay: Overlay | None, lay: Layout) -> tuple[str, tuple[float,
                                                                                      float]]:
    """The box under the plant that lists its fleets of vehicles (``<g class="fleets">``, one
    ``<g data-fleet>`` each): their size, speed and handling times and, with a run's results,
    their utilization, the mean wait for a vehicle and their time by state (a bar). Its
    width and height (nothing without fleets)."""
    if not sketch.fleets:
        return "", (0.0, 0.0)
    from twin.view.layout import MARGIN

    rows = []
    longest = 0.0
    for i, fleet in enumerate(sketch.fleets.values()):
        y = 22 + FLEET_LINE * i
        look = overlay.fleets.get(fleet.name) if overlay is not None else None
        text = fleet.detail
        tip = f"fleet {fleet.name}: {fleet.detail}"
        bar = ""
        if look is not None:
            assert overlay is not None
            results = (f"utilization {look.utilization:.0%}, mean wait {_num(look.wait)} "
                       f"{overlay.unit}")
            text += f" · {results}"
            if look.bottleneck:
                text += " · the bottleneck"
                results += "; the bottleneck"
            tip += "; " + results + "; " + ", ".join(
                f"{VEHICLE_LABELS[s].removeprefix('vehicles: ')} {v:.1%}"
                for s, v in look.shares.items() if v)
            x0 = 10.0
            for state in VEHICLE_STATES:
                share = look.shares.get(state, 0.0)
                if share > 0:
                    bar += (f'<rect class="share" data-state="{state}" x="{x0:.2f}" '
                            f'y="{y + 5:g}" width="{share * 120:.2f}" height="6" '
                            f'style="fill:{VEHICLE_COLORS[state]}"/>')
                    x0 += share * 120
        longest = max(longest, 58 + 7.5 * len(fleet.name) + 5.7 * len(text))
        neck = ' class="bottleneck"' if look is not None and look.bottleneck else ""
        rows.append(f'<g data-fleet="{_e(fleet.name)}"{neck}><title>{_e(tip)}</title>'
                    f'<line x1="10" x2="34" y1="{y - 4:g}" y2="{y - 4:g}" '
                    f'style="stroke:{FLEET_COLOR};stroke-width:2;stroke-dasharray:7 4"/>'
                    f'<text class="fleet-name" x="42" y="{y:g}">{_e(fleet.name)}</text>'
                    f'<text x="{48 + 7.5 * len(fleet.name):g}" y="{y:g}">{_e(text)}</text>'
                    f'{bar}</g>')
    w = longest
    h = 10 + FLEET_LINE * len(rows)
    top = lay.height
    box = (f'<g class="fleets" transform="translate({MARGIN:g},{top:g})">'
           f'<rect class="box" x="0" y="0" width="{w:g}" height="{h:g}" rx="4"/>'
           + "".join(rows) + "</g>")
    return box, (w + 2 * MARGIN, h + MARGIN)


def _node(node: NodeSketch, lay: Layout, wh: tuple[float, float], overlay: Overlay | None,
          problems: list[str]) -> str:
    w, h = wh
    classes = ["node", f"shape-{node.shape}"]
    look = overlay.machines.get(node.name) if overlay else None
    tank = overlay.buffers.get(node.name) if overlay else None
    if look is not None and look.bottleneck:
        classes.append("bottleneck")
    if problems:
        classes.append("problem")
    tip = f"{node.name} ({node.kind}{', ' + node.detail if node.detail else ''})"
    fill = FILLS.get(node.shape, "#f7f7f7")
    level = 0.0
    if tank is not None:
        full = tank.capacity if tank.capacity else max(tank.peak, 1.0)
        level = min(1.0, tank.mean / full)
    belt = overlay.conveyors.get(node.name) if overlay else None
    if belt is not None:
        level = min(1.0, max(0.0, belt.share))
    inner = [_body(node.shape, w, h, level).replace('class="body"',
                                                    f'class="body" style="fill:{fill}"', 1)]
    name_y = -4.0 if node.detail or look or tank else 4.0
    if node.shape == "warehouse":
        name_y += 6
    if node.shape in ("buffer", "conveyor"):
        name_y = -h / 2 - 6  # above the tray (the belt), which its contents fill
    inner.append(f'<text class="name" y="{name_y:g}">{_e(_short(node.name))}</text>')
    if node.shape == "conveyor":
        if node.detail:
            inner.append(f'<text class="detail" y="{h / 2 + 12:g}">{_e(node.detail)}</text>')
        if belt is not None:
            result = (f"load {_num(belt.load)} ({belt.share:.0%} of places) · stopped "
                      f"{belt.stopped:.0%}")
            inner.append(f'<text class="value" y="{h / 2 + 24:g}">{_e(result)}</text>')
            tip += f"; {result}"
    elif look is not None:
        shares = look.shares
        working = shares.get("working", 0.0)
        tip += "; " + ", ".join(f"{STATE_LABELS[s]} {v:.1%}" for s, v in shares.items() if v)
        inner.append(f'<text class="value" y="{name_y + 13:g}">working {working:.0%}</text>')
        x0, bar_w = -w / 2 + 8, w - 16
        for state in STATES:
            share = shares.get(state, 0.0)
            if share <= 0:
                continue
            inner.append(f'<rect class="share" data-state="{state}" x="{x0:.2f}" '
                         f'y="{h / 2 - 16:g}" width="{share * bar_w:.2f}" height="9" '
                         f'style="fill:{STATE_COLORS[state]}"/>')
            x0 += share * bar_w
        if look.bottleneck:
            inner.append(f'<text class="tag" y="{-h / 2 - 6:g}">bottleneck</text>')
            tip += "; the bottleneck"
    elif tank is not None:
        full = tank.capacity if tank.capacity else max(tank.peak, 1.0)
        peak = min(1.0, tank.peak / full)
        py = h / 2 - 2 - peak * (h - 4)
        inner.append(f'<line class="peak" x1="{-w / 2:g}" x2="{w / 2:g}" y1="{py:.2f}" '
                     f'y2="{py:.2f}"/>')
        inner.append(f'<text class="value" y="{h / 2 + 13:g}">mean {_num(tank.mean)} · '
                     f'peak {_num(tank.peak)}</text>')
        tip += f"; contents mean {_num(tank.mean)}, peak {_num(tank.peak)}"
    elif overlay is not None and node.name in overlay.notes:
        inner.append(f'<text class="value" y="{h / 2 + 13:g}">'
                     f'{_e(overlay.notes[node.name])}</text>')
        tip += f"; {overlay.notes[node.name]}"
        if node.detail:
            inner.append(f'<text class="detail" y="{name_y + 14:g}">{_e(node.detail)}</text>')
    elif node.detail:
        detail_y = h / 2 + 13 if node.shape == "buffer" else name_y + 14
        inner.append(f'<text class="detail" y="{detail_y:g}">{_e(node.detail)}</text>')
    tip += "".join(f"; {p}" for p in problems)
    return (f'<g class="{" ".join(classes)}" data-node="{_e(node.name)}" '
            f'data-kind="{_e(node.kind)}" transform="translate({lay.x[node.name]:g},'
            f'{lay.y[node.name]:g})"><title>{_e(tip)}</title>{"".join(inner)}</g>')


def legend(states: tuple[str, ...] = STATES) -> str:
    """An HTML legend of the state colours."""
    items = "".join(f'<span style="display:inline-block;margin-right:1em">'
                    f'<span style="display:inline-block;width:0.9em;height:0.9em;'
                    f'background:{STATE_COLORS[s]};vertical-align:middle;margin-right:0.3em">'
                    f'</span>{_e(STATE_LABELS[s])}</span>' for s in states)
    return f'<p class="note legend">{items}</p>'
