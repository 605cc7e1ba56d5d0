"""The plant graph from observed part flows.

Nodes: sources (``release``), sinks (``ship``; a node that only scraps is a scrap sink),
machines (``start``), buffers (``arrive`` but never ``start``). Edges: every observed move of a
part (seen at X, next at Y). A node with several outputs routes by the observed shares (a
buffer's outputs carry none: the machines it feeds pull from it). A source is an infinite
supply when the machines it feeds never waited for work; otherwise its interarrival times are
fitted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twin.fitting.observe import Observations

INFINITE_STARVED_SHARE = 1e-3
"""A source whose machines waited for work before at most this share of their starts is an
infinite supply."""


@dataclass
class Edge:
    """An observed move from ``source`` to ``target``: how many parts took it, and its routing share
    ``p`` (None where the node does not route by shares)."""

    source: str
    target: str
    count: int
    p: float | None


@dataclass
class PlantGraph:
    """The plant graph inferred from the log: each node's kind, the edges, the sources that are an
    infinite supply, and notes on what was left out."""

    kinds: dict[str, str]
    edges: list[Edge]
    infinite: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def outputs(self, node: str) -> list[Edge]:
        """The edges leaving ``node``."""
        return [e for e in self.edges if e.source == node]


def plant_graph(obs: Observations) -> PlantGraph:
    """The plant graph from the observed part moves: nodes without moves are left out (with a note),
    routing shares from the move counts, infinite sources from the machines' starvation."""
    kinds = dict(obs.kinds)
    notes = []
    for name, ms in obs.machines.items():
        if len(ms.process) == 0:
            notes.append(f"machine {name!r} finished no part in the log")
    flows = {k: v for k, v in obs.moves.items() if k[0] in kinds and k[1] in kinds}
    used = {n for pair in flows for n in pair}
    for name in list(kinds):
        if name not in used:
            notes.append(f"node {name!r} ({kinds[name]}) has no observed part moves: left out")
            del kinds[name]
    edges: list[Edge] = []
    for node in kinds:
        out = sorted((t, c) for (s, t), c in flows.items() if s == node)
        total = sum(c for _, c in out)
        if len(out) > 1 and kinds[node] != "buffer":
            probs = [c / total for _, c in out]
            probs[-1] = 1.0 - sum(probs[:-1])
            edges += [Edge(node, t, c, p) for (t, c), p in zip(out, probs, strict=True)]
        else:
            edges += [Edge(node, t, c, None) for t, c in out]
    graph = PlantGraph(kinds, edges, notes=notes)
    for node, kind in kinds.items():
        if kind != "source":
            continue
        fed = _machines_fed(graph, node)
        starts = sum(obs.machines[m].starts for m in fed if m in obs.machines)
        starved = sum(obs.machines[m].starved_starts for m in fed if m in obs.machines)
        few = len(obs.interarrivals.get(node, ())) < 2
        if few or (starts > 0 and starved <= INFINITE_STARVED_SHARE * starts):
            graph.infinite.add(node)
    return graph


def _machines_fed(graph: PlantGraph, node: str) -> list[str]:
    out: list[str] = []
    for e in graph.outputs(node):
        kind = graph.kinds[e.target]
        if kind == "machine":
            out.append(e.target)
        elif kind == "buffer":
            out += [x.target for x in graph.outputs(e.target) if graph.kinds[x.target] ==
                    "machine"]
    return out
