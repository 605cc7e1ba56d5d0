"""The maintenance crew: response times, priorities among waiting jobs, shifts, and the
opportunistic policy."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import assert_matches, exp, simulate_plant
from twin import scenario_from_data, simulate
from twin.study.variants import paired_difference


def single(ttf: dict, ttr: float, **maintenance: object) -> dict:
    return {"plant": {"nodes": {"raw": {"kind": "source"},
                                "M1": {"kind": "machine", "process_time": 1.0,
                                       "failures": {"ttf": ttf, "ttr": ttr}},
                                "done": {"kind": "sink"}},
                      "edges": [["raw", "M1"], ["M1", "done"]]},
            "maintenance": {"crew": 1, **maintenance}}


def test_response_time_adds_to_the_downtime() -> None:
    data = single(exp(50.0), 5.0, response_time=3.0)
    summary = simulate_plant(data["plant"], horizon=100_000, warmup=1_000, replications=8,
                             maintenance=data["maintenance"])
    m1 = summary["machines"]["M1"]
    assert_matches(m1["availability"], 50 / (50 + 5 + 3), rel_precision=0.01)
    # waiting for the technician to arrive counts as down, the work itself as repair
    assert_matches(m1["down"], 3 / 58, rel_precision=0.05)


def three_lines(priority_b: int) -> dict:
    nodes: dict = {"done": {"kind": "sink"}}
    edges = []
    for name, priority in (("A", 0), ("B", priority_b), ("C", 0)):
        nodes[f"src{name}"] = {"kind": "source"}
        nodes[name] = {"kind": "machine", "process_time": 1.0, "priority": priority,
                       "failures": {"ttf": exp(30.0), "ttr": exp(20.0)}}
        edges += [[f"src{name}", name], [name, "done"]]
    return {"nodes": nodes, "edges": edges}


def test_priorities_order_the_waiting_repairs() -> None:
    summary = simulate_plant(three_lines(5), horizon=50_000, warmup=1_000, replications=6,
                             maintenance={"crew": 1})
    a, b = summary["machines"]["A"]["down"], summary["machines"]["B"]["down"]
    waiting = paired_difference(b["values"], a["values"])
    assert waiting["ci95"][0] > 0  # B waits longer for the technician than A (or C)
    even = simulate_plant(three_lines(0), horizon=50_000, warmup=1_000, replications=6,
                          maintenance={"crew": 1})
    assert even["machines"]["B"]["down"]["mean"] == pytest.approx(
        even["machines"]["A"]["down"]["mean"], rel=0.1)


def test_no_repair_starts_outside_the_shifts() -> None:
    data = single(exp(20.0), 2.0, shifts={"period": 100, "working": 50})
    scenario = scenario_from_data({"name": "shifts", "horizon": 20_000, **data})
    timeline = simulate(scenario, 0, timeline=True).timelines["M1"]  # type: ignore[index]
    starts = np.array([t for t, state in timeline if state == "repair"])
    assert len(starts) > 50
    phase = starts % 100
    assert np.all((phase <= 50 + 1e-9) | (phase >= 100 - 1e-9))
    # a repair begun before the shift ends is finished after it: some repairs end off shift
    ends = np.array([nxt for (_, s), (nxt, _) in zip(timeline, timeline[1:], strict=False)
                     if s == "repair"])
    assert np.any((ends % 100 > 50 + 1e-9) & (ends % 100 < 100 - 1e-9))


def opportunistic_line(policy: dict) -> dict:
    return {
        "name": "opportunistic", "horizon": 50_000, "warmup": 1_000, "seed": 4,
        "plant": {"nodes": {
            "raw": {"kind": "source"},
            "M1": {"kind": "machine", "process_time": 1.0,
                   "failures": {"ttf": exp(150.0), "ttr": 30.0}},
            "M2": {"kind": "machine", "process_time": 1.0,
                   "failures": {"ttf": {"dist": "weibull", "shape": 3, "scale": 400},
                                "ttr": 30.0}},
            "done": {"kind": "sink"}},
            "edges": [["raw", "M1"], ["M1", "M2"], ["M2", "done"]]},
        "maintenance": {"crew": 2, "policy": policy},
    }


def test_opportunistic_maintenance_uses_the_neighbours_stops() -> None:
    opportunistic = scenario_from_data(opportunistic_line(
        {"kind": "opportunistic", "every": 300, "window": 150, "duration": 10}))
    result = simulate(opportunistic, 0, timeline=True)
    timeline = result.timelines
    assert timeline is not None
    m1_down = [(t, nxt_t) for (t, s), (nxt_t, _) in zip(timeline["M1"], timeline["M1"][1:],
                                                         strict=False) if s == "down"]
    m2_pm = [t for t, s in timeline["M2"] if s == "maintenance"]
    # some of M2's maintenance starts while M1 stands still (the opportunity)
    during = sum(any(a <= t <= b + 30 for a, b in m1_down) for t in m2_pm)
    assert during >= 0.3 * len(m2_pm) > 0
    preventive = scenario_from_data(opportunistic_line(
        {"kind": "preventive", "every": 300, "duration": 10}))
    plain = simulate(preventive, 0)
    # maintained earlier, M2 fails less and is maintained more often
    assert result.machines["M2"]["preventive"] > plain.machines["M2"]["preventive"]
    assert result.machines["M2"]["failures"] <= plain.machines["M2"]["failures"]


def test_setups_before_every_batch() -> None:
    plant = {"nodes": {"raw": {"kind": "source"},
                       "M1": {"kind": "machine", "process_time": 1.0,
                              "setup": {"batch": 10, "duration": 5.0}},
                       "done": {"kind": "sink"}},
             "edges": [["raw", "M1"], ["M1", "done"]]}
    summary = simulate_plant(plant, horizon=15_000, warmup=0, replications=2)
    assert summary["kpis"]["throughput"]["mean"] == pytest.approx(10 / 15, rel=1e-3)
    m1 = summary["machines"]["M1"]
    assert m1["setup"]["mean"] == pytest.approx(1 / 3, rel=1e-3)
    assert m1["setups"]["mean"] == pytest.approx(1000, abs=1)
    assert m1["availability"]["mean"] == 1.0  # a setup is planned: it lowers performance


def test_calendar_preventive_maintenance_counts_calendar_time() -> None:
    # the machine is starved half of the time, so its operating age grows at half the clock
    plant = {"nodes": {"raw": {"kind": "source", "interarrival": 2.0},
                       "M1": {"kind": "machine", "process_time": 1.0,
                              "failures": {"ttf": exp(1e9), "ttr": 1.0}},
                       "done": {"kind": "sink"}},
             "edges": [["raw", "M1"], ["M1", "done"]]}
    counts = {}
    for basis in ("calendar", "age"):
        policy = {"kind": "preventive", "every": 100, "duration": 1.0, "basis": basis}
        summary = simulate_plant(plant, horizon=10_000, warmup=0, replications=1,
                                 maintenance={"crew": 1, "policy": policy})
        counts[basis] = summary["machines"]["M1"]["preventive"]["mean"]
    assert counts["calendar"] == pytest.approx(100, abs=1)
    assert counts["age"] == pytest.approx(50, abs=2)
