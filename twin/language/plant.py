"""The plant as a networkx DiGraph, and the checks that make it safe to simulate.

The checks work on plain dicts (``check_plant``): validating a scenario needs neither networkx
nor numpy, which are imported where a graph is built or solved.

Node attributes hold the frozen node specs (``spec``) and their kind; edge attributes hold the
routing probability ``p``. Structural rules:

- sources have no inputs and sinks no outputs; every other node has a way in and a way out;
- every node is reached from a source and can reach a sink (no part is ever trapped);
- a node with several outputs gives each a ``p`` and they sum to 1; a buffer's outputs carry no
  ``p``: the machines it feeds pull from it, first free first served;
- buffers feed machines only, and a machine fed by a buffer has no other input.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twin.errors import Loc

if TYPE_CHECKING:
    import networkx as nx

    from twin.language.schema import Scenario

P_TOLERANCE = 1e-9


def plant_graph(scenario: Scenario) -> nx.DiGraph:
    """The plant graph; assumes ``check_plant`` found no problem."""
    import networkx as nx

    graph = nx.DiGraph(name=scenario.name)
    for name, spec in scenario.plant.nodes.items():
        graph.add_node(name, kind=spec.kind, spec=spec)
    for edge in scenario.plant.edges:
        graph.add_edge(edge.source, edge.target, p=edge.p, spec=edge)
    for edge in scenario.plant.edges:
        graph.edges[edge.source, edge.target]["when"] = edge.when
        if edge.by is not None:
            graph.edges[edge.source, edge.target]["by"] = edge.by
    for node in graph:
        out = [e for e in graph.out_edges(node, data=True) if e[2]["when"] is None]
        if len(out) == 1 and out[0][2]["p"] is None:
            out[0][2]["p"] = 1.0
        elif out and all(e[2]["p"] is None for e in out):  # products route by their plans
            for e in out:
                e[2]["p"] = 1.0 / len(out)
    return graph


class _Graph:
    """The few directed-graph queries the checks make, on dicts: nodes, successors and
    predecessors in the order they were added (as a networkx DiGraph keeps them), each edge's
    attributes."""

    def __init__(self, nodes: Any) -> None:
        self.succ: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in nodes}
        self.pred: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in nodes}

    def add_edge(self, source: str, target: str, **data: Any) -> None:
        self.succ[source][target] = self.pred[target][source] = data

    def edge(self, source: str, target: str) -> dict[str, Any]:
        return self.succ[source][target]

    def predecessors(self, node: str) -> Iterator[str]:
        return iter(self.pred[node])

    def out_edges(self, node: str, key: str) -> list[tuple[str, str, Any]]:
        return [(node, target, data.get(key)) for target, data in self.succ[node].items()]

    def in_degree(self, node: str) -> int:
        return len(self.pred[node])

    def out_degree(self, node: str) -> int:
        return len(self.succ[node])

    def reached(self, starts: list[str], forward: bool) -> set[str]:
        """``starts`` and every node reached from them along (or against) the edges."""
        links = self.succ if forward else self.pred
        seen = set(starts)
        stack = list(starts)
        while stack:
            for nxt in links[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen


def check_plant(scenario: Scenario) -> list[tuple[Loc, str]]:
    """Structural problems of the plant, each with the field path it concerns."""
    nodes = scenario.plant.nodes
    problems: list[tuple[Loc, str]] = []
    graph = _Graph(nodes)
    edge_loc: dict[tuple[str, str], Loc] = {}
    for i, edge in enumerate(scenario.plant.edges):
        loc: Loc = ("plant", "edges", i)
        bad = [end for end in (edge.source, edge.target) if end not in nodes]
        for end in bad:
            hint = _did_you_mean(end, nodes)
            problems.append((loc, f"edge refers to unknown node {end!r}{hint}"))
        if bad:
            continue
        if edge.source == edge.target:
            problems.append((loc, f"edge from {edge.source!r} to itself"))
            continue
        if (edge.source, edge.target) in edge_loc:
            problems.append((loc, f"duplicate edge {edge.source!r} -> {edge.target!r}"))
            continue
        edge_loc[(edge.source, edge.target)] = loc
        graph.add_edge(edge.source, edge.target, p=edge.p, when=edge.when, share=edge.share)
        source_spec = nodes[edge.source]
        if edge.when == "rejected" and getattr(source_spec, "inspection", None) is None:
            problems.append((loc + ("when",), f"{edge.source!r} does not inspect parts "
                                              "(no inspection), so it rejects none"))
        if edge.when is not None and edge.p is not None:
            problems.append((loc + ("p",), f"a {edge.when}-parts edge takes no probability"))
        if edge.when == "suspect" and source_spec.kind != "machine":
            problems.append((loc + ("when",), "only machines send suspect parts"))
        pair = (nodes[edge.source].kind, nodes[edge.target].kind)
        problems += _transport_problems(edge, pair, loc)
        if pair[0] in SUPPLY or pair[1] in SUPPLY:
            problems += _supply_edge_problems(edge.source, edge.target, pair, loc)
        elif pair[1] == "source":
            problems.append((loc, f"edge into source {edge.target!r}: sources have no inputs"))
        elif pair[0] == "sink":
            problems.append((loc, f"edge out of sink {edge.source!r}: sinks have no outputs"))
        elif pair[0] == "buffer" and pair[1] != "machine":
            problems.append((loc, f"buffer {edge.source!r} feeds {pair[1]} {edge.target!r}: "
                                  "buffers feed machines only"))
        elif pair[0] == "source" and pair[1] == "sink" and edge.by is None:
            problems.append((loc, f"source {edge.source!r} feeds sink {edge.target!r} directly"))
        elif (pair[0] == "source" and pair[1] == "buffer"
              and nodes[edge.source].interarrival is None  # type: ignore[union-attr]
              and nodes[edge.target].capacity is None  # type: ignore[union-attr]
              and not _passive(scenario, nodes[edge.source])):
            problems.append((loc, f"source {edge.source!r} has no interarrival (infinite supply) "
                                  f"and feeds unbounded buffer {edge.target!r}: the buffer would "
                                  "fill without end; give the source an interarrival or the "
                                  "buffer a capacity"))
    if problems:
        return problems

    kinds = {name: spec.kind for name, spec in nodes.items()}
    problems += _supply_node_problems(scenario, graph, edge_loc)
    if problems:
        return problems
    sources = [n for n, k in kinds.items() if k in ("source", "supplier")]
    sinks = [n for n, k in kinds.items() if k in ("sink", "customer", "warehouse")]
    if not sources:
        problems.append((("plant", "nodes"), "the plant has no source (or supplier)"))
    if not sinks:
        problems.append((("plant", "nodes"), "the plant has no sink (or customer)"))
    if problems:
        return problems

    for name, kind in kinds.items():
        loc = ("plant", "nodes", name)
        rejects = [t for _, t, w in graph.out_edges(name, "when") if w == "rejected"]
        special = [t for _, t, w in graph.out_edges(name, "when") if w is not None]
        outs = [(s, t, p) for s, t, p in graph.out_edges(name, "p") if t not in special]
        if getattr(nodes[name], "inspection", None) is not None and len(rejects) != 1:
            problems.append((loc + ("inspection",), f"machine {name!r} inspects parts: give it "
                                                    "exactly one edge with when: rejected "
                                                    f"(it has {len(rejects)})"))
        if kind in SUPPLY:
            continue
        if kind != "sink" and not outs:
            problems.append((loc, f"{kind} {name!r} is a dead end: it has no outgoing edge"))
        if kind not in ("source",) and graph.in_degree(name) == 0:
            problems.append((loc, f"{kind} {name!r} has no incoming edge: nothing reaches it"))
        if kind == "buffer":
            for _, target, p in outs:
                if p is not None:
                    problems.append((edge_loc[(name, target)] + ("p",),
                                     f"buffer {name!r} has routing probabilities; the machines "
                                     "it feeds pull from it instead"))
        elif len(outs) > 1 and getattr(nodes[name], "disassembly", None) is not None:
            pass  # a disassembly sends parts along every edge
        elif len(outs) > 1:
            missing = [t for _, t, p in outs if p is None]
            if missing and scenario.products and len(missing) == len(outs):
                pass  # products go where their routes say; parts off their route split evenly
            elif missing:
                problems.append((edge_loc[(name, missing[0])],
                                 f"{name!r} has {len(outs)} outgoing edges: each needs a "
                                 "probability p"))
            else:
                total = sum(p for _, _, p in outs)
                if abs(total - 1.0) > P_TOLERANCE:
                    problems.append((loc, f"the probabilities p of the edges out of {name!r} "
                                          f"sum to {total:g}, not 1"))
        elif len(outs) == 1 and outs[0][2] is not None and abs(outs[0][2] - 1.0) > P_TOLERANCE:
            problems.append((edge_loc[(name, outs[0][1])] + ("p",),
                             f"the only edge out of {name!r} has p={outs[0][2]:g}; it must be 1"))
        if kind == "machine":
            feeders = [n for n in graph.predecessors(name) if kinds[n] in ("buffer", "warehouse")]
            joins = getattr(nodes[name], "assembly", None) is not None  # an assembly's inputs
            if feeders and graph.in_degree(name) > 1 and not joins:
                problems.append((loc, f"machine {name!r} is fed by {kinds[feeders[0]]} "
                                      f"{feeders[0]!r} and by "
                                      f"{graph.in_degree(name) - 1} other node(s); route them all "
                                      "into one buffer"))
    if problems:
        return problems

    reached = graph.reached(sources, forward=True)
    reaching = graph.reached(sinks, forward=False)
    for name, kind in kinds.items():
        if name not in reached:
            problems.append((("plant", "nodes", name), f"{kind} {name!r} is not reachable from any "
                                                       "source"))
        elif name not in reaching:
            problems.append((("plant", "nodes", name), f"parts at {kind} {name!r} can never reach "
                                                       "a sink"))
    return problems


SUPPLY = ("supplier", "warehouse", "customer")


def _passive(scenario: Scenario, source: Any) -> bool:
    """A source of a plant with products that has no mix: it releases orders only."""
    return bool(scenario.products) and source.mix is None and source.sequence is None
LINE_END = ("sink", "warehouse")


def _transport_problems(edge: Any, pair: tuple[str, str], loc: Loc) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    if pair[1] not in ("warehouse", "customer"):
        for field in ("transit", "capacity", "batch", "share"):
            if getattr(edge, field) is not None:
                problems.append((loc + (field,), "only edges into a warehouse or to a customer "
                                                 f"carry {field}"))
        if edge.cost:
            problems.append((loc + ("cost",), "only edges into a warehouse or to a customer "
                                              "carry a shipping cost"))
        return problems
    if edge.batch is not None and pair[0] != "machine":
        problems.append((loc + ("batch",), "batch is for edges from a machine to a warehouse "
                                           "(orders are shipped whole)"))
    if edge.share is not None and pair[0] not in ("supplier", "warehouse"):
        problems.append((loc + ("share",), "share is for edges from a supplier or a warehouse "
                                           "to a warehouse"))
    return problems


def _supply_edge_problems(source: str, target: str, pair: tuple[str, str],
                          loc: Loc) -> list[tuple[Loc, str]]:
    allowed = {"supplier": ("warehouse",), "warehouse": ("machine", "customer", "warehouse")}
    if pair[0] in allowed and pair[1] not in allowed[pair[0]]:
        return [(loc, f"{pair[0]} {source!r} feeds {pair[1]} {target!r}: a {pair[0]} feeds "
                      f"{' or '.join(k + 's' for k in allowed[pair[0]])} only")]
    if pair[0] == "customer":
        return [(loc, f"edge out of customer {source!r}: customers have no outputs")]
    if pair[1] == "supplier":
        return [(loc, f"edge into supplier {target!r}: suppliers have no inputs")]
    if pair[1] == "warehouse" and pair[0] not in ("supplier", "warehouse", "machine"):
        return [(loc, f"{pair[0]} {source!r} feeds warehouse {target!r}: warehouses are "
                      "replenished by suppliers, other warehouses or machines")]
    if pair[1] == "customer" and pair[0] != "warehouse":
        return [(loc, f"{pair[0]} {source!r} feeds customer {target!r}: customers are served "
                      "by warehouses")]
    return []


def _supply_node_problems(scenario: Scenario, graph: _Graph,
                          edge_loc: dict[tuple[str, str], Loc]) -> list[tuple[Loc, str]]:
    nodes = scenario.plant.nodes
    problems: list[tuple[Loc, str]] = []
    gated: dict[str, str] = {}
    for name, spec in nodes.items():
        loc: Loc = ("plant", "nodes", name)
        preds = list(graph.predecessors(name))
        if spec.kind == "supplier" and graph.out_degree(name) == 0:
            problems.append((loc, f"supplier {name!r} supplies no warehouse: give it an edge to "
                                  "one"))
        elif spec.kind == "customer" and len(preds) != 1:
            problems.append((loc, f"customer {name!r} needs exactly one warehouse to order from "
                                  f"(it has {len(preds)})"))
        elif spec.kind == "warehouse":
            sources = [n for n in preds if nodes[n].kind in ("supplier", "warehouse")]
            makers = [n for n in preds if nodes[n].kind == "machine"]
            policy = spec.policy
            if not preds:
                problems.append((loc, f"warehouse {name!r} has no supplier: give it an edge from "
                                      "a supplier or from the machine(s) of a line that makes "
                                      "its parts"))
            elif sources and makers:
                problems.append((loc, f"warehouse {name!r} is fed by {nodes[sources[0]].kind} "
                                      f"{sources[0]!r} and by machine {makers[0]!r}; it is "
                                      "replenished either by sources and warehouses or by a "
                                      "line"))
            elif sources and policy is None:
                problems.append((loc + ("policy",), f"warehouse {name!r} is fed by "
                                                    f"{nodes[sources[0]].kind} "
                                                    f"{sources[0]!r} but has no policy to "
                                                    "order with "
                                                    "(base-stock, sS or rQ)"))
            elif len(sources) > 1:
                shares = {n: graph.edge(n, name)["share"] for n in sources}
                missing = [n for n, v in shares.items() if v is None]
                if missing:
                    problems.append((edge_loc[(missing[0], name)], f"warehouse {name!r} has "
                                     f"{len(sources)} sources: each edge from a supplier "
                                     "or warehouse needs a share of its orders"))
                elif abs(sum(shares.values()) - 1.0) > P_TOLERANCE:
                    problems.append((loc, f"the shares of the sources of warehouse {name!r} "
                                          f"sum to {sum(shares.values()):g}, not 1"))
            elif len(sources) == 1:
                share = graph.edge(sources[0], name)["share"]
                if share is not None and abs(share - 1.0) > P_TOLERANCE:
                    problems.append((edge_loc[(sources[0], name)] + ("share",),
                                     f"{sources[0]!r} is the only source of {name!r}: its "
                                     "share must be 1"))
            if makers and policy is not None:
                entries = line_entries(graph, name, nodes)
                if not entries:
                    problems.append((loc + ("policy",), f"warehouse {name!r} has a policy but "
                                                        "the line feeding it has no entry "
                                                        "machine to release orders to"))
                for entry in entries:
                    if entry in gated:
                        problems.append((loc + ("policy",), f"machine {entry!r} starts the lines "
                                                            f"of warehouses {gated[entry]!r} and "
                                                            f"{name!r}; a line with production "
                                                            "orders makes for one warehouse"))
                    gated[entry] = name
    return problems


def line_entries(graph: nx.DiGraph | _Graph, warehouse: str, nodes: Any) -> list[str]:
    """The machines where the line that feeds ``warehouse`` takes in material: those upstream of
    it (up to the warehouses that feed the line) fed by a source or a warehouse, directly or
    through a buffer. ``graph`` is the plant graph, or the checks' own."""
    def intake(node: str) -> bool:
        return nodes[node].kind in ("source", "warehouse") or (
            nodes[node].kind == "buffer" and any(intake(n) for n in graph.predecessors(node)))

    line: set[str] = set()
    stack = [warehouse]
    while stack:  # upstream as far as the warehouses that feed the line
        for pred in graph.predecessors(stack.pop()):
            if pred not in line and nodes[pred].kind not in ("warehouse", "supplier"):
                line.add(pred)
                stack.append(pred)
    return sorted(m for m in line if nodes[m].kind == "machine"
                  and any(intake(n) for n in graph.predecessors(m)))


def _did_you_mean(name: str, names: object) -> str:
    import difflib

    hint = difflib.get_close_matches(name, list(names), n=1, cutoff=0.5)  # type: ignore[call-overload]
    return f"; did you mean {hint[0]!r}?" if hint else ""


@dataclass(frozen=True)
class Constraint:
    """The station that limits the line's ideal rate, used for the line's OEE."""

    machine: str
    visits: float
    """Mean visits to this machine per part released."""
    ideal_load: float
    """Ideal processing time this machine spends per part released."""


def visit_ratios(graph: nx.DiGraph) -> dict[str, float]:
    """Mean number of visits to each node per part released (traffic equations).

    Releases are split over sources by their rate (infinite sources count as equal). A buffer
    passes parts evenly to the machines it feeds.
    """
    import numpy as np

    names = list(graph)
    index = {n: i for i, n in enumerate(names)}
    n = len(names)
    routing = np.zeros((n, n))
    entry = np.zeros(n)
    for name in names:
        spec = graph.nodes[name]["spec"]
        if spec.kind == "source":
            rate = 1.0 if spec.interarrival is None else 1.0 / max(spec.interarrival.mean(), 1e-300)
            entry[index[name]] = rate
        if spec.kind in SUPPLY:  # where the line starts or ends, not part of its routing
            if spec.kind == "warehouse":
                entry[index[name]] = float(any(graph.nodes[t]["kind"] == "machine"
                                               for t in graph.successors(name)))
            continue
        targets = [t for t in graph.successors(name) if graph.edges[name, t].get("when") is None]
        for t in targets:
            p = graph.edges[name, t]["p"]
            routing[index[name], index[t]] = 1.0 / len(targets) if p is None else p
    if entry.sum() > 0:
        entry /= entry.sum()
    visits = np.linalg.solve(np.eye(n) - routing.T, entry)
    return {name: float(visits[index[name]]) for name in names}


def line_constraint(graph: nx.DiGraph) -> Constraint | None:
    """The machine with the greatest ideal processing time per released part."""
    visits = visit_ratios(graph)
    best: Constraint | None = None
    for name, data in graph.nodes(data=True):
        if data["kind"] != "machine":
            continue
        load = visits[name] * data["spec"].process_time.mean()
        if best is None or load > best.ideal_load + 1e-15:
            best = Constraint(name, visits[name], load)
    if best is not None and not math.isfinite(best.ideal_load):
        return None
    return best
