"""What an event log shows, as samples: process times, operating lives (with censoring),
repair and maintenance durations, interarrival times, part moves and buffer contents.

Everything is vectorized over the whole log (numpy and pandas group operations); no Python loop
runs per event. Each replication's sequences are read separately, then pooled.

A machine's operating clock runs while it processes a part (between ``start`` and ``finish``)
and is not failed (``fail`` to ``repair_end``), in maintenance (``pm_start`` to ``pm_end``) or
in setup (``setup_start`` to ``setup_end``). A part's process time is the clock's advance from
its ``start`` to its ``finish`` (preempt-resume: the failure in between is not counted). An
operating life is the clock's advance from a renewal (``repair_end``, ``pm_end``, or the
machine's first event in the log) to ``fail`` (observed) or to ``pm_start`` or the end of the
log (right-censored).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from twin.fitting.log import EVENTS, EventLog

E = {name: i for i, name in enumerate(EVENTS)}
STARVED_TOLERANCE = 1e-9
PLACES = ("release", "arrive", "start", "ship", "scrap")
"""Events that say where a part is (finish, blocked and unblocked happen where it already is)."""


@dataclass
class Durations:
    """Durations with their ``observed`` flags (False: right-censored)."""

    values: np.ndarray
    observed: np.ndarray

    @classmethod
    def empty(cls) -> Durations:
        """No durations."""
        return cls(np.zeros(0), np.zeros(0, dtype=bool))

    def __len__(self) -> int:
        return len(self.values)

    @property
    def events(self) -> int:
        """How many durations are observed (not censored)."""
        return int(self.observed.sum())


@dataclass
class MachineSamples:
    """What the log shows of one machine: process times (per product too), lives and repairs with
    censoring, waits for a technician, maintenance durations and ages, and setups."""

    process: np.ndarray
    process_by_product: dict[str, np.ndarray] = field(default_factory=dict)
    lives: Durations = field(default_factory=Durations.empty)
    repairs: Durations = field(default_factory=Durations.empty)
    waits: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """From ``fail`` to ``repair_start``: waiting for a technician and the response time."""
    pm: Durations = field(default_factory=Durations.empty)
    pm_ages: np.ndarray = field(default_factory=lambda: np.zeros(0))
    setups: Durations = field(default_factory=Durations.empty)
    parts_per_setup: float | None = None
    starts: int = 0
    starved_starts: int = 0
    """Parts started after the machine had waited for work."""


@dataclass
class Observations:
    """Everything read from an event log: the replications and their spans, node kinds, part moves,
    per machine samples, sources' interarrivals, buffer levels, parts out, and the repair, failure
    and maintenance intervals the crew is inferred from."""

    replications: list[int]
    ends: dict[int, float]
    """Last event time of each replication."""
    begins: dict[int, float]
    kinds: dict[str, str]
    """Node kind inferred from its events: source, machine, buffer, sink (scrap sink: 'scrap')."""
    moves: dict[tuple[str, str], int]
    machines: dict[str, MachineSamples]
    interarrivals: dict[str, np.ndarray]
    buffer_max: dict[str, int]
    shipped: dict[int, int]
    scrapped: dict[int, int]
    repair_intervals: list[tuple[int, float, float]]
    """(replication, start, end) of every repair, for the crew."""
    fail_times: list[tuple[int, float, float]]
    """(replication, fail, repair_start) of every failure repaired."""
    pm_intervals: list[tuple[int, float, float]]
    """(replication, pm_start, pm_end) of every preventive maintenance ended."""
    events: int = 0

    @property
    def span(self) -> float:
        """Mean time covered by one replication."""
        return float(np.mean([self.ends[r] - self.begins[r] for r in self.replications]))

    def throughput(self) -> float:
        """Parts shipped per time unit, over the whole log (mean over replications)."""
        return float(np.mean([self.shipped.get(r, 0) / max(self.ends[r] - self.begins[r], 1e-300)
                              for r in self.replications]))


def _group_starts(keys: list[np.ndarray]) -> np.ndarray:
    """Boolean: the row starts a new group of the (sorted) key columns."""
    n = len(keys[0])
    new = np.zeros(n, dtype=bool)
    if n:
        new[0] = True
    for k in keys:
        new[1:] |= k[1:] != k[:-1]
    return new


def _state(ev: np.ndarray, group: np.ndarray, on: int, off: int) -> np.ndarray:
    """1 after an ``on`` event until the next ``off`` event within the group, else 0."""
    val = np.where(ev == on, 1.0, np.where(ev == off, 0.0, np.nan))
    return pd.Series(val).groupby(group).ffill().fillna(0.0).to_numpy()


def _pairs(ev: np.ndarray, group: np.ndarray, first: int, second: int) -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """Indices (a, b) of ``first`` events followed, among the rows with either event in their
    group, by a ``second`` event; and the indices of ``first`` events left open at the end of
    their group."""
    idx = np.flatnonzero((ev == first) | (ev == second))
    if len(idx) == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z
    e, g = ev[idx], group[idx]
    nxt_same = np.zeros(len(idx), dtype=bool)
    nxt_same[:-1] = g[1:] == g[:-1]
    is_first = e == first
    paired = np.zeros(len(idx), dtype=bool)
    paired[:-1] = is_first[:-1] & nxt_same[:-1] & (e[1:] == second)
    a = idx[paired]
    b = idx[np.flatnonzero(paired) + 1]
    open_ = idx[is_first & ~nxt_same]
    return a, b, open_


def observe(log: EventLog) -> Observations:
    """The observations of an event log, read in one vectorized pass over its events."""
    f = log.frame
    rep_all = f["replication"].to_numpy()
    t_all = f["time"].to_numpy()
    code_all = f["node"].cat.codes.to_numpy().astype(np.int64)
    names = list(f["node"].cat.categories)
    ev_all = f["event"].cat.codes.to_numpy().astype(np.int64)
    part_all = f["part"].to_numpy()
    reps = sorted(int(r) for r in np.unique(rep_all))
    ends = {int(r): float(t) for r, t in pd.Series(t_all).groupby(rep_all).max().items()}
    begins = {int(r): float(min(0.0, t)) for r, t in
              pd.Series(t_all).groupby(rep_all).min().items()}

    # ------------------------------------------------------------ node kinds
    present = pd.crosstab(code_all, ev_all)
    has = {int(c): set(int(e) for e in present.columns[present.loc[c].to_numpy() > 0])
           for c in present.index}
    kinds: dict[str, str] = {}
    for c, evs in has.items():
        name = names[c]
        if E["release"] in evs:
            kinds[name] = "source"
        elif E["scrap"] in evs and E["ship"] not in evs:
            kinds[name] = "scrap"
        elif E["ship"] in evs:
            kinds[name] = "sink"
        elif E["start"] in evs:
            kinds[name] = "machine"
        elif E["arrive"] in evs:
            kinds[name] = "buffer"

    # ------------------------------------------------------------ per node, in time order
    order = np.lexsort((f["row"].to_numpy(), code_all, rep_all))
    rep, t, code, ev = rep_all[order], t_all[order], code_all[order], ev_all[order]
    new = _group_starts([rep, code])
    group = np.cumsum(new) - 1
    last = np.zeros(len(t), dtype=bool)
    last[:-1] = new[1:]
    last[-1] = True
    processing = _state(ev, group, E["start"], E["finish"])
    failed = _state(ev, group, E["fail"], E["repair_end"])
    maint = _state(ev, group, E["pm_start"], E["pm_end"])
    setup = _state(ev, group, E["setup_start"], E["setup_end"])
    working = processing * (1 - failed) * (1 - maint) * (1 - setup)
    seg = np.zeros(len(t))
    seg[:-1] = t[1:] - t[:-1]
    seg[last] = 0.0
    contrib = working * seg
    cum = pd.Series(contrib).groupby(group).cumsum().to_numpy()
    clock = cum - contrib  # operating time at each row, from the node's first event
    end_rep = np.array([ends[int(r)] for r in rep[last]])
    clock_end = clock[last] + working[last] * (end_rep - t[last])
    group_code = code[last]

    machines: dict[str, MachineSamples] = {}
    machine_codes = [c for c, name in enumerate(names) if kinds.get(name) == "machine"]
    product = f["product"].to_numpy()[order] if f["product"].notna().any() else None

    def by_code(idx: np.ndarray, values: np.ndarray) -> dict[int, np.ndarray]:
        if len(idx) == 0:
            return {}
        s = pd.Series(values).groupby(code[idx])
        return {int(k): v.to_numpy() for k, v in s}

    # process times
    a, b, _ = _pairs(ev, group, E["start"], E["finish"])
    same_part = part_all[order][a] == part_all[order][b]
    a, b = a[same_part], b[same_part]
    proc = by_code(a, clock[b] - clock[a])
    proc_products: dict[int, dict[str, np.ndarray]] = {}
    if product is not None and len(a):
        frame = pd.DataFrame({"c": code[a], "p": product[a], "v": clock[b] - clock[a]})
        frame = frame[frame["p"].notna()]
        for (c, p), v in frame.groupby(["c", "p"])["v"]:
            proc_products.setdefault(int(c), {})[str(p)] = v.to_numpy()

    # lives: from a renewal (or the first event) to fail / pm_start, and the open one at the end
    life_ev = (ev == E["fail"]) | (ev == E["pm_start"]) | (ev == E["repair_end"]) \
        | (ev == E["pm_end"])
    idx = np.flatnonzero(life_ev)
    lives_c: list[np.ndarray] = []
    lives_v: list[np.ndarray] = []
    lives_o: list[np.ndarray] = []
    pm_age_c: list[np.ndarray] = []
    pm_age_v: list[np.ndarray] = []
    if len(idx):
        e, g = ev[idx], group[idx]
        ending = (e == E["fail"]) | (e == E["pm_start"])
        prev_same = np.zeros(len(idx), dtype=bool)
        prev_same[1:] = g[1:] == g[:-1]
        prev_renewal = np.zeros(len(idx), dtype=bool)
        prev_renewal[1:] = prev_same[1:] & ~ending[:-1]
        first = ending & ~prev_same
        chained = ending & prev_renewal
        start_clock = np.zeros(len(idx))
        start_clock[1:] = clock[idx[:-1]]
        start_clock[first] = 0.0
        keep = first | chained
        dur = clock[idx] - start_clock
        lives_c.append(code[idx][keep])
        lives_v.append(dur[keep])
        lives_o.append((e == E["fail"])[keep])
        pm_mask = keep & (e == E["pm_start"])
        pm_age_c.append(code[idx][pm_mask])
        pm_age_v.append(dur[pm_mask])
        # the open life at the end of each group: after its last renewal
        last_in_group = np.zeros(len(idx), dtype=bool)
        last_in_group[:-1] = g[1:] != g[:-1]
        last_in_group[-1] = True
        renewed_last = last_in_group & ~ending
        gid = g[renewed_last]
        lives_c.append(code[idx][renewed_last])
        lives_v.append(clock_end[gid] - clock[idx][renewed_last])
        lives_o.append(np.zeros(len(gid), dtype=bool))
        groups_with = set(np.unique(g).tolist())
    else:
        groups_with = set()
    # machines that never failed nor were maintained: one censored life per replication
    untouched = np.array([i for i in range(len(group_code)) if i not in groups_with
                          and int(group_code[i]) in machine_codes], dtype=np.int64)
    if len(untouched):
        lives_c.append(group_code[untouched])
        lives_v.append(clock_end[untouched])
        lives_o.append(np.zeros(len(untouched), dtype=bool))
    lc = np.concatenate(lives_c) if lives_c else np.zeros(0, dtype=np.int64)
    lv = np.concatenate(lives_v) if lives_v else np.zeros(0)
    lo = np.concatenate(lives_o) if lives_o else np.zeros(0, dtype=bool)

    def durations(first_ev: str, second_ev: str) -> dict[int, Durations]:
        a, b, open_ = _pairs(ev, group, E[first_ev], E[second_ev])
        c = np.concatenate([code[a], code[open_]])
        v = np.concatenate([t[b] - t[a], np.array([ends[int(r)] for r in rep[open_]]) - t[open_]
                            if len(open_) else np.zeros(0)])
        o = np.concatenate([np.ones(len(a), dtype=bool), np.zeros(len(open_), dtype=bool)])
        out = {}
        for k in np.unique(c):
            m = c == k
            out[int(k)] = Durations(v[m], o[m])
        return out

    repairs = durations("repair_start", "repair_end")
    pms = durations("pm_start", "pm_end")
    setups = durations("setup_start", "setup_end")
    wa, wb, _ = _pairs(ev, group, E["fail"], E["repair_start"])
    waits = by_code(wa, t[wb] - t[wa])
    ra, rb, _ = _pairs(ev, group, E["repair_start"], E["repair_end"])
    repair_intervals = [(int(r), float(x), float(y)) for r, x, y in zip(rep[ra], t[ra], t[rb],
                                                                       strict=True)]
    fail_times = [(int(r), float(x), float(y)) for r, x, y in zip(rep[wa], t[wa], t[wb],
                                                                 strict=True)]
    pa, pb, _ = _pairs(ev, group, E["pm_start"], E["pm_end"])
    pm_intervals = [(int(r), float(x), float(y)) for r, x, y in zip(rep[pa], t[pa], t[pb],
                                                                   strict=True)]

    # starts after waiting for work: the machine's last event other than an arrival came earlier
    not_arrive = ev != E["arrive"]
    prev_time = pd.Series(np.where(not_arrive, t, np.nan)).groupby(group).shift(1)
    prev_time = prev_time.groupby(group).ffill().to_numpy()
    is_start = ev == E["start"]
    counted = is_start & ~np.isnan(prev_time)
    starved = counted & (t - np.nan_to_num(prev_time) > STARVED_TOLERANCE)
    start_counts = pd.Series(counted).groupby(code).sum()
    starved_counts = pd.Series(starved).groupby(code).sum()
    setup_counts = pd.Series(ev == E["setup_start"]).groupby(code).sum()
    all_starts = pd.Series(is_start).groupby(code).sum()

    for c in machine_codes:
        m = lc == c
        n_setups = int(setup_counts.get(c, 0))
        machines[names[c]] = MachineSamples(
            process=proc.get(c, np.zeros(0)),
            process_by_product=proc_products.get(c, {}),
            lives=Durations(lv[m], lo[m]),
            repairs=repairs.get(c, Durations.empty()),
            waits=waits.get(c, np.zeros(0)),
            pm=pms.get(c, Durations.empty()),
            pm_ages=np.concatenate([v[k == c] for k, v in zip(pm_age_c, pm_age_v,
                                                              strict=True)])
            if pm_age_c else np.zeros(0),
            setups=setups.get(c, Durations.empty()),
            parts_per_setup=float(all_starts.get(c, 0)) / n_setups if n_setups else None,
            starts=int(start_counts.get(c, 0)),
            starved_starts=int(starved_counts.get(c, 0)),
        )

    # interarrival times per source
    rel = ev == E["release"]
    inter = pd.Series(t[rel]).groupby(group[rel]).diff().to_numpy()
    rel_code = code[rel]
    ok = ~np.isnan(inter)
    interarrivals = {names[int(k)]: v.to_numpy() for k, v in
                     pd.Series(inter[ok]).groupby(rel_code[ok])}
    shipped = {int(k): int(v) for k, v in pd.Series(ev == E["ship"]).groupby(rep).sum().items()}
    scrapped = {int(k): int(v) for k, v in pd.Series(ev == E["scrap"]).groupby(rep).sum().items()}

    moves, buffer_max = _flows(f, kinds, names)
    return Observations(reps, ends, begins, kinds, moves, machines, interarrivals, buffer_max,
                        shipped, scrapped, repair_intervals, fail_times, pm_intervals,
                        events=len(f))


def _flows(f: pd.DataFrame, kinds: dict[str, str], names: list[str]) -> tuple[
        dict[tuple[str, str], int], dict[str, int]]:
    """Moves between nodes (a part seen at X, next at Y) and each buffer's largest contents.
    A part's events at one instant are taken in file order."""
    where = f["event"].isin(PLACES).to_numpy() & f["part"].notna().to_numpy()
    sub = f[where]
    rep = sub["replication"].to_numpy()
    part = sub["part"].to_numpy()
    t = sub["time"].to_numpy()
    code = sub["node"].cat.codes.to_numpy().astype(np.int64)
    ev = sub["event"].cat.codes.to_numpy()
    order = np.lexsort((sub["row"].to_numpy(), t, part, rep))
    rep, part, t, code, ev = rep[order], part[order], t[order], code[order], ev[order]
    same = np.zeros(len(t), dtype=bool)
    same[1:] = (rep[1:] == rep[:-1]) & (part[1:] == part[:-1])
    moved = same.copy()
    moved[1:] &= code[1:] != code[:-1]
    n = len(names)
    pair = code[np.flatnonzero(moved) - 1] * n + code[moved]
    keys, counts = np.unique(pair, return_counts=True)
    moves = {(names[int(k) // n], names[int(k) % n]): int(c) for k, c in zip(keys, counts,
                                                                            strict=True)}
    # buffer contents: +1 when a part arrives, -1 at its next event elsewhere
    buffer_codes = [c for c, name in enumerate(names) if kinds.get(name) == "buffer"]
    buffer_max: dict[str, int] = {}
    if buffer_codes:
        at_buffer = np.isin(code, buffer_codes) & (ev == E["arrive"])
        i = np.flatnonzero(at_buffer)
        nxt = i + 1
        has_next = nxt < len(t)
        has_next[has_next] &= same[nxt[has_next]]
        leave_t = np.full(len(i), np.inf)
        leave_t[has_next] = t[nxt[has_next]]
        times = np.concatenate([t[i], leave_t])
        delta = np.concatenate([np.ones(len(i)), -np.ones(len(i))])
        bc = np.concatenate([code[i], code[i]])
        br = np.concatenate([rep[i], rep[i]])
        o = np.lexsort((delta, times, bc, br))  # departures before arrivals at equal times
        level = pd.Series(delta[o]).groupby([br[o], bc[o]]).cumsum()
        peak = level.groupby(bc[o]).max()
        buffer_max = {names[int(k)]: int(v) for k, v in peak.items()}
    return moves, buffer_max
