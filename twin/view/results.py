"""A run's results on the drawing: each machine's time by state, the bottleneck, each buffer's
mean and peak contents, each warehouse's mean stock and fill rate, each customer's demand and
fill rate, and the flow along each edge, all from the run's summary (means over
replications).

The bottleneck is the machine active the longest share of the time (working, down, in repair,
in maintenance or in setup: neither blocked, starved, off nor waiting for an operator), the
active-period rule: a machine that is rarely held up by its neighbours sets the pace. A fleet of
vehicles is active while neither idle nor blocked (standing loaded before a full node); where a
fleet is active a longer share than every machine, the fleet is the bottleneck instead.

Flows are parts per time unit from warm-up to horizon. Out of a machine: the parts it processed,
those it rejected along its ``rejected`` edge, those it set aside along its ``suspect`` edge, the
rest split by the routing probabilities (not drawn where products route by their plans and no
edge gives one). Into a machine from its only feeder: the parts it
processed (an assembly's components counted); from a feeder of several machines: what reaches
the feeder, shared by what each machine processed. Into a customer: its demand served; into a
warehouse: what it sends on, by each source's share; into a buffer: what it sends on, less
what its other inputs bring, where only one input is not known otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twin.study.results import Stat, Summary
from twin.view.sketch import EdgeSketch, Sketch
from twin.view.svg import (
    STATES,
    VEHICLE_STATES,
    BufferLook,
    ConveyorLook,
    FleetLook,
    MachineLook,
    Overlay,
)

ACTIVE = ("working", "down", "repair", "maintenance", "setup")
SUMMARY_KEY = {"working": "utilization"}


def _mean(stats: Mapping[str, Any], key: str) -> float:
    value = (stats.get(key) or {}).get("mean")
    return float(value) if isinstance(value, int | float) else 0.0


def machine_shares(stats: Mapping[str, Any]) -> dict[str, float]:
    """A machine's mean share of time in each state, from its summary statistics."""
    return {s: _mean(stats, SUMMARY_KEY.get(s, s)) for s in STATES}


def bottleneck(machines: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The machine active the longest share of the time (see the module's docstring)."""
    best, most = None, -1.0
    for name, stats in machines.items():
        shares = machine_shares(stats)
        active = sum(shares[s] for s in ACTIVE)
        if active > most + 1e-12:
            best, most = name, active
    return best


def fleet_active(stats: Mapping[str, Any]) -> float:
    """A fleet's mean share of vehicle time neither idle nor blocked."""
    return sum(_mean(stats, s) for s in VEHICLE_STATES if s not in ("idle", "blocked"))


def plant_bottleneck(summary: Mapping[str, Any]) -> tuple[str | None, bool]:
    """The bottleneck of the plant and whether it is a fleet (see the module's docstring)."""
    machines = summary.get("machines", {})
    neck = bottleneck(machines)
    most = (sum(machine_shares(machines[neck])[s] for s in ACTIVE) if neck is not None
            else -1.0)
    fleet = None
    for name, stats in (summary.get("fleets") or {}).items():
        active = fleet_active(stats)
        if active > most + 1e-12:
            fleet, most = name, active
    return (fleet, True) if fleet is not None else (neck, False)


def _routing(sketch: Sketch) -> dict[str, float]:
    """Each ordinary edge's share of its source's output (``when`` edges: none). Where a node
    has several such edges and none gives ``p`` (products go where their routes say), the
    shares are not known and those edges are left out."""
    shares: dict[str, float] = {}
    for name in sketch.nodes:
        out = [e for e in sketch.edges if e.source == name and e.when is None]
        given = [e.p for e in out if e.p is not None]
        if len(out) > 1 and not given:
            continue
        for e in out:
            shares[e.key] = e.p if e.p is not None else (
                max(0.0, 1.0 - sum(given)) / max(1, len(out) - len(given)))
    return shares


def edge_flows(sketch: Sketch, summary: Mapping[str, Any]) -> dict[str, float]:
    """Parts per time unit along each edge (see the module's docstring)."""
    span = float(summary["horizon"]) - float(summary["warmup"])
    if span <= 0:
        return {}
    machines = summary.get("machines", {})
    customers = summary.get("customers", {})
    rate = {m: _mean(s, "processed") / span for m, s in machines.items()}
    share = _routing(sketch)
    into: dict[str, list[EdgeSketch]] = {n: [] for n in sketch.nodes}
    out_of: dict[str, list[EdgeSketch]] = {n: [] for n in sketch.nodes}
    for e in sketch.edges:
        into[e.target].append(e)
        out_of[e.source].append(e)
    flows: dict[str, float] = {}
    for e in sketch.edges:
        if e.source in machines:
            stats = machines[e.source]
            if e.when == "rejected":
                flows[e.key] = _mean(stats, "rejected") / span
            elif e.when == "suspect":
                flows[e.key] = _mean(stats, "diverted") / span
            elif e.key in share:
                passed = rate[e.source] - (_mean(stats, "rejected")
                                           + _mean(stats, "diverted")) / span
                flows[e.key] = max(0.0, passed) * share[e.key]
        elif e.target in customers:
            stats = customers[e.target]
            flows[e.key] = _mean(stats, "demand") * _mean(stats, "fill_rate")
        elif e.target in machines and len(into[e.target]) == 1:
            components = sketch.nodes[e.target].components
            flows[e.key] = rate[e.target] * (components or 1)

    def inflow(node: str) -> float | None:
        edges = into[node]
        if not edges or any(f.key not in flows for f in edges):
            return None
        return sum(flows[f.key] for f in edges)

    for _ in range(len(sketch.edges) + 1):  # until every edge that can be is known
        changed = False
        for e in sketch.edges:
            if e.key in flows:
                continue
            if e.target in machines:  # a feeder of several: what reaches it, shared out
                arriving = inflow(e.source)
                siblings = [x.target for x in out_of[e.source] if x.target in rate]
                total = sum(rate[t] for t in siblings)
                if arriving is None:
                    if into[e.source]:
                        continue
                    arriving = total  # a source: it sends what its machines take
                flows[e.key] = arriving * rate[e.target] / total if total else 0.0
                changed = True
            elif sketch.nodes[e.target].shape in ("warehouse", "buffer"):  # what it sends on
                outs = out_of[e.target]
                if not outs or any(x.key not in flows for x in outs):
                    continue
                sent = sum(flows[x.key] for x in outs)
                if sketch.nodes[e.target].shape == "warehouse":
                    flows[e.key] = sent * (e.share if e.share is not None
                                           else 1.0 / len(into[e.target]))
                elif sum(f.key not in flows for f in into[e.target]) == 1:
                    # a buffer: what its other inputs do not bring
                    known = sum(flows[f.key] for f in into[e.target] if f.key in flows)
                    flows[e.key] = max(0.0, sent - known)
                else:
                    continue
                changed = True
        if not changed:
            break
    return flows


def overlay(sketch: Sketch, summary: Mapping[str, Any]) -> Overlay:
    """The results of a run (``summary``: summary.json) to draw on ``sketch``."""
    machines = summary.get("machines", {})
    neck, by_fleet = plant_bottleneck(summary)
    looks = {name: MachineLook(machine_shares(stats), name == neck and not by_fleet)
             for name, stats in machines.items() if name in sketch.nodes}
    tanks = {}
    for name, stats in summary.get("buffers", {}).items():
        if name not in sketch.nodes:
            continue
        peaks = (stats.get("max_level") or {}).get("values") or [_mean(stats, "max_level")]
        tanks[name] = BufferLook(_mean(stats, "level"), float(max(peaks)),
                                 sketch.nodes[name].capacity)
    notes = {}
    for group, first in (("warehouses", ("stock", "inventory")),
                         ("customers", ("demand", "demand"))):
        for name, stats in summary.get(group, {}).items():
            if name not in sketch.nodes:
                continue
            label, key = first
            note = f"{label} {_short(_mean(stats, key))}"
            if (stats.get("fill_rate") or {}).get("mean") is not None:  # none without orders
                note += f" · fill {_mean(stats, 'fill_rate'):.0%}"
            notes[name] = note
    typed = summary if isinstance(summary, Summary) else Summary.model_validate(summary)
    return Overlay(str(summary.get("time_unit", "")), looks, tanks, edge_flows(sketch, summary),
                   notes, fleet_looks(typed, neck if by_fleet else None),
                   conveyor_looks(sketch, typed))


def _m(stat: Stat | None) -> float:
    return float(stat.mean) if stat is not None and stat.mean is not None else 0.0


def fleet_looks(summary: Summary, neck: str | None = None) -> dict[str, FleetLook]:
    """Each fleet's shares of vehicle time by state, utilization and mean wait (means over
    replications); ``neck`` is the fleet that is the plant's bottleneck, if one is."""
    return {name: FleetLook({s: _m(stats.get(s)) for s in VEHICLE_STATES},
                            _m(stats.get("utilization")), _m(stats.get("wait")), name == neck)
            for name, stats in (summary.fleets or {}).items()}


def conveyor_looks(sketch: Sketch, summary: Summary) -> dict[str, ConveyorLook]:
    """Each conveyor's mean load, load as a share of its places and share of time stopped."""
    return {name: ConveyorLook(_m(stats.get("load")), _m(stats.get("utilization")),
                               _m(stats.get("stopped")))
            for name, stats in (summary.nodes or {}).items()
            if name in sketch.nodes and sketch.nodes[name].shape == "conveyor"}


def _short(value: float) -> str:
    return f"{value:.2g}" if abs(value) < 10 else f"{value:.0f}"
