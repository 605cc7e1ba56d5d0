"""Vehicles read back from an event log: the ``load``, ``travel`` and ``unload`` events of the
parts a fleet carried (``twin.handling.transport``) become one fitted fleet, ``vehicles``, and a
layout of distances in time units (``speed: 1``).

For each trip of a part (its ``load``, the next ``travel``, the next ``unload`` and the hand-over
after it: ``arrive``, or ``ship``/``scrap`` at a sink):

- ``load_time`` is the median of ``travel - load``;
- ``unload_time`` the median of ``hand-over - unload`` (a vehicle that waited, loaded, for room
  at the next node makes its trip longer: the median keeps to those that handed over at once);
- the distance from the sender to the next node is the median of ``unload - travel`` over the
  trips between them (both ways pooled: a layout's distances are the same both ways).

A vehicle's empty drives are not in the log. A vehicle that hands a part over at ``X`` and
next loads one at ``Y`` that was waiting already drove there straight: the time between is the
drive from ``X`` to ``Y``. Without the vehicles' names in the log, the hand-over paired with a
load is the latest one before it (exact for one vehicle, an estimate for several); the median of
those times gives the distances no loaded trip gives. Pairs still without a distance get the
shortest way over the known ones, or, without one, the longest distance known (noted).

The fleet's ``size`` is the most trips under way at once (from ``load`` to the hand-over): a
lower bound, since an idle or empty vehicle leaves no trace. ``home`` is the most common first
pickup point of the replications. Failures and batteries are not fitted.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from twin.fitting.laws import significant
from twin.fitting.log import EventLog

FLEET = "vehicles"
"""The name of the fitted fleet."""
HANDOVERS = ("arrive", "ship", "scrap")
"""The events that end a trip: the next node took the part."""


@dataclass
class TransportFit:
    """What the log shows of the vehicles: the edges they served, the trips' times, the fleet."""

    carried: dict[tuple[str, str], int]
    """Trips by (sender, next node)."""
    travel: dict[tuple[str, str], float]
    """Median travel time by (sender, next node), as observed."""
    distances: dict[tuple[str, str], float]
    """The layout's distance (a time) between every two points the fleet drives between, each
    pair once (sorted names)."""
    empty: set[tuple[str, str]]
    """The pairs whose distance came from the empty drives (not from a loaded trip)."""
    load_time: float
    unload_time: float
    size: int
    home: str
    trips: int
    notes: list[str] = field(default_factory=list)

    def spec(self) -> dict[str, object]:
        """The scenario's ``transport`` section."""
        return {
            "layout": {"distances": [[a, b, _ten(d)] for (a, b), d in self.distances.items()]},
            "fleets": {FLEET: {"size": self.size, "speed": 1, "load_time": _ten(self.load_time),
                               "unload_time": _ten(self.unload_time), "home": self.home}},
        }


def _ten(v: float) -> float:
    return significant(v, 10)


def _median(values: list[float] | np.ndarray) -> float:
    return float(np.median(np.asarray(values, dtype=float))) if len(values) else 0.0


def observe_transport(log: EventLog) -> TransportFit | None:
    """The vehicles of the log (see the module docstring); None where no part was carried."""
    f = log.frame
    moving = f[f["event"].isin(("load", "travel", "unload")) & f["part"].notna()]
    if moving.empty:
        return None
    parts = f[f["part"].notna()]
    order = np.lexsort((parts["row"].to_numpy(), parts["time"].to_numpy(),
                        parts["part"].to_numpy(), parts["replication"].to_numpy()))
    rep = parts["replication"].to_numpy()[order]
    part = parts["part"].to_numpy()[order]
    t = parts["time"].to_numpy()[order]
    node = parts["node"].astype(str).to_numpy()[order]
    event = parts["event"].astype(str).to_numpy()[order]
    n = len(t)

    trips: list[tuple[int, float, float, float, float, str, str, float]] = []
    """(replication, load, travel, unload, hand-over, sender, next node, call)."""
    same = np.zeros(n, dtype=bool)
    same[1:] = (rep[1:] == rep[:-1]) & (part[1:] == part[:-1])
    for i in np.flatnonzero(event == "load"):
        # the trip's events follow the load among the part's own (others may come between:
        # the sender's ``unblocked``)
        travel = unload = handover = None
        j = i + 1
        while j < n and same[j]:
            e = event[j]
            if travel is None:
                if e == "travel":
                    travel = j
            elif unload is None:
                if e == "unload":
                    unload = j
            elif e in HANDOVERS and node[j] == node[unload]:
                handover = j
                break
            if e == "load":
                break
            j += 1
        if travel is None or unload is None or handover is None:
            continue  # the log ends on the way
        call = t[i - 1] if same[i] else t[i]
        trips.append((int(rep[i]), float(t[i]), float(t[travel]), float(t[unload]),
                      float(t[handover]), str(node[i]), str(node[unload]), float(call)))
    if not trips:
        return None
    frame = pd.DataFrame(trips, columns=["rep", "load", "travel", "unload", "handover",
                                         "sender", "target", "call"])
    load_time = _median(frame["travel"] - frame["load"])
    unload_time = _median(frame["handover"] - frame["unload"])
    carried: dict[tuple[str, str], int] = {}
    times: dict[tuple[str, str], float] = {}
    loaded: dict[tuple[str, str], list[float]] = {}
    for (s, g), x in frame.groupby(["sender", "target"]):
        key, trip = (str(s), str(g)), x["unload"] - x["travel"]
        carried[key], times[key] = len(x), _median(trip)
        loaded.setdefault(_pair(*key), []).extend(trip.tolist())

    # empty drives: from the latest hand-over before a load whose part was waiting already
    drives: dict[tuple[str, str], list[float]] = {}
    for _, x in frame.groupby("rep"):
        done = x.sort_values("handover")
        ends = done["handover"].to_numpy()
        where = done["target"].to_numpy()
        for load, sender, call in zip(x["load"], x["sender"], x["call"], strict=True):
            k = int(np.searchsorted(ends, load, side="right")) - 1
            if k < 0 or ends[k] < call or where[k] == sender:
                continue
            drives.setdefault(_pair(str(where[k]), str(sender)), []).append(load - ends[k])

    firsts = Counter(str(x.sort_values("load")["sender"].iloc[0]) for _, x in frame.groupby("rep"))
    home = sorted(firsts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    points = sorted({p for pair in carried for p in pair} | {home})
    distances: dict[tuple[str, str], float] = {p: _median(v) for p, v in loaded.items()}
    empty = set()
    for p, v in drives.items():
        if p not in distances:
            distances[p] = _median(v)
            empty.add(p)
    notes = [f"vehicles: {len(frame):,} trips; distances are travel times (speed 1): the "
             "median of unload - travel per pair of nodes"]
    missing = _fill(points, distances)
    if missing:
        notes.append(f"vehicles: no trip between {len(missing)} pair"
                     f"{'s' if len(missing) > 1 else ''} of points ("
                     + ", ".join(f"{a}-{b}" for a, b in missing[:5])
                     + (", …" if len(missing) > 5 else "")
                     + "): the longest distance known")
    size = _most_at_once(frame)
    notes.append(f"vehicles: {size} at least (the most trips under way at once; an idle or "
                 "empty vehicle leaves no trace in the log); failures and batteries not fitted")
    table = {p: distances[p] for p in sorted(distances)
             if p[0] in points and p[1] in points and p[0] != p[1]}
    return TransportFit(carried, times, table, empty & set(table), load_time, unload_time,
                        size, home, len(frame), notes)


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def _fill(points: list[str], distances: dict[tuple[str, str], float]) -> list[tuple[str, str]]:
    """Give every two ``points`` a distance: the shortest way over the known ones, else the
    longest known; returns the pairs that had no way."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(points)
    for (a, b), d in distances.items():
        graph.add_edge(a, b, length=d)
    longest = max(distances.values(), default=0.0)
    missing = []
    for i, a in enumerate(points):
        lengths = nx.single_source_dijkstra_path_length(graph, a, weight="length")
        for b in points[i + 1:]:
            if (a, b) in distances:
                continue
            if b in lengths and math.isfinite(lengths[b]):
                distances[(a, b)] = float(lengths[b])
            else:
                distances[(a, b)] = longest
                missing.append((a, b))
    return missing


def _most_at_once(frame: pd.DataFrame) -> int:
    """The most trips under way at once, from load to hand-over, in any replication."""
    most = 0
    for _, x in frame.groupby("rep"):
        times = np.concatenate([x["load"].to_numpy(), x["handover"].to_numpy()])
        delta = np.concatenate([np.ones(len(x)), -np.ones(len(x))])
        o = np.lexsort((delta, times))  # an end before a start at the same time
        most = max(most, int(np.cumsum(delta[o]).max()))
    return max(1, most)
