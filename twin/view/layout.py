"""Where each node goes: left to right along the flow, in layers.

Edges that close a loop (rework back to inspection, say) are found by a depth-first search from
the nodes without inputs (sources, suppliers) and set aside: they are drawn back, below the
plant. On the rest, a node's layer is the longest path to it from a node without inputs; a node
without inputs sits one layer before the first node it feeds (a component's source next to its
assembly), and the nodes without outputs (sinks, customers) share the last layer. Within a
layer, nodes are ordered by, and placed as near as they may be to, the mean row of their
neighbours (a few barycentre sweeps), which keeps a line straight and its branches apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.view.sketch import Sketch

NODE_W = 112.0
NODE_H = 64.0
LAYER_GAP = 160.0
"""Horizontal distance between the centres of two layers."""
ROW_GAP = 104.0
"""Vertical distance between the centres of two rows."""
MARGIN = 28.0
LOOP_ROOM = 54.0
"""Room below the plant for the loops drawn back, per loop level."""


@dataclass(frozen=True)
class Layout:
    """Node centres, the edges drawn back (by key), the layer of each node and the size of the
    drawing."""

    x: dict[str, float]
    y: dict[str, float]
    layer: dict[str, int]
    back: frozenset[str]
    width: float
    height: float
    bottom: float
    """The lowest node edge: loops are drawn below it."""


def _back_edges(sketch: Sketch) -> set[str]:
    succ: dict[str, list[str]] = {n: [] for n in sketch.nodes}
    has_input = set()
    for e in sketch.edges:
        succ[e.source].append(e.target)
        has_input.add(e.target)
    roots = [n for n in sketch.nodes if n not in has_input] + list(sketch.nodes)
    colour: dict[str, int] = {}  # 1: on the stack, 2: done
    back: set[str] = set()
    for root in roots:
        if root in colour:
            continue
        colour[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = 2
                stack.pop()
            elif colour.get(child) == 1:
                back.add(f"{node}->{child}")
            elif child not in colour:
                colour[child] = 1
                stack.append((child, iter(succ[child])))
    return back


def _layers(sketch: Sketch, back: set[str]) -> dict[str, int]:
    forward = [e for e in sketch.edges if e.key not in back]
    preds: dict[str, list[str]] = {n: [] for n in sketch.nodes}
    succ: dict[str, list[str]] = {n: [] for n in sketch.nodes}
    for e in forward:
        preds[e.target].append(e.source)
        succ[e.source].append(e.target)
    indegree = {n: len(p) for n, p in preds.items()}
    ready = [n for n in sketch.nodes if indegree[n] == 0]
    order: list[str] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for t in succ[node]:
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
    layer: dict[str, int] = {}
    for node in order:
        layer[node] = max((layer[p] + 1 for p in preds[node]), default=0)
    for node in reversed(order):  # inputs next to what they feed
        if not preds[node] and succ[node]:
            layer[node] = max(0, min(layer[t] for t in succ[node]) - 1)
    last = max(layer.values(), default=0)
    for node in order:  # the ends of the plant (sinks, customers) in the last layer
        if preds[node] and not succ[node] and not any(
                e.source == node for e in sketch.edges):
            layer[node] = last
    return layer


def _spread(wanted: list[float], order: list[str]) -> dict[str, float]:
    """Rows as near as may be to those ``wanted`` (in order), at least one row apart: the
    mean of pushing each down from the first and each up from the last (both keep the gap, so
    their mean does)."""
    down: list[float] = []
    for w in wanted:
        down.append(w if not down else max(w, down[-1] + 1))
    up: list[float] = []
    for w in reversed(wanted):
        up.append(w if not up else min(w, up[-1] - 1))
    up.reverse()
    return {n: (a + b) / 2 for n, a, b in zip(order, down, up, strict=True)}


def layout(sketch: Sketch) -> Layout:
    """The positions of ``sketch``'s nodes (see the module's docstring)."""
    back = _back_edges(sketch)
    layer = _layers(sketch, back)
    count = max(layer.values(), default=0) + 1
    rows: list[list[str]] = [[] for _ in range(count)]
    for node in sketch.nodes:
        rows[layer[node]].append(node)
    neighbours: dict[str, list[str]] = {n: [] for n in sketch.nodes}
    for e in sketch.edges:
        if e.key not in back:
            neighbours[e.source].append(e.target)
            neighbours[e.target].append(e.source)

    def centred(row: list[str]) -> dict[str, float]:
        return {n: i - (len(row) - 1) / 2 for i, n in enumerate(row)}

    place: dict[str, float] = {}
    for row in rows:
        place.update(centred(row))
    for sweep in range(8):  # barycentre sweeps, forwards then backwards
        indices = range(count) if sweep % 2 == 0 else range(count - 1, -1, -1)
        for k in indices:
            row = rows[k]
            side_layer = k - 1 if sweep % 2 == 0 else k + 1

            def centre(node: str, side_layer: int = side_layer) -> float:
                near = [place[m] for m in neighbours[node] if layer[m] == side_layer]
                near = near or [place[m] for m in neighbours[node]]
                return sum(near) / len(near) if near else place[node]

            wanted = {n: centre(n) for n in row}
            order = sorted(row, key=lambda n: (wanted[n], row.index(n)))
            rows[k] = order
            place.update(_spread([wanted[n] for n in order], order))
    lowest = min(place.values(), default=0.0)
    highest = max(place.values(), default=0.0)
    x = {n: MARGIN + NODE_W / 2 + layer[n] * LAYER_GAP for n in sketch.nodes}
    y = {n: MARGIN + NODE_H / 2 + 14 + (place[n] - lowest) * ROW_GAP for n in sketch.nodes}
    bottom = MARGIN + NODE_H + 14 + (highest - lowest) * ROW_GAP
    loops = 1 if back else 0
    width = 2 * MARGIN + NODE_W + (count - 1) * LAYER_GAP
    height = bottom + MARGIN + 22 + loops * LOOP_ROOM
    return Layout(x, y, layer, frozenset(back), width, height, bottom)
