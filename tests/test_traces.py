"""Traces: a few lines of scenario with constant times, and the whole timeline of every machine
asserted, event by event (the way SimPy's own tests check resources)."""

from __future__ import annotations

from typing import Any

from twin.engine.replication import simulate
from twin.language.loading import scenario_from_data


def timelines(nodes: dict[str, Any], edges: list[list[str]], horizon: float,
              maintenance: dict[str, Any] | None = None) -> dict[str, list[tuple[float, str]]]:
    data: dict[str, Any] = {"name": "trace", "horizon": horizon,
                            "plant": {"nodes": nodes, "edges": edges}}
    if maintenance is not None:
        data["maintenance"] = maintenance
    result = simulate(scenario_from_data(data), 0, timeline=True)
    assert result.timelines is not None
    return result.timelines


def test_a_full_buffer_blocks_the_machine_before_it_until_room_is_made() -> None:
    # M1 takes 1, M2 takes 3, one place between them. Part 1 goes straight to M2 (1-4); part 2
    # waits in the buffer; part 3 is done at 3 and blocks M1 until M2 takes part 2 at 4; part 4
    # is done at 5 and blocks until 7; part 5 at 8.
    trace = timelines(
        {"raw": {"kind": "source"}, "M1": {"kind": "machine", "process_time": 1},
         "B": {"kind": "buffer", "capacity": 1}, "M2": {"kind": "machine", "process_time": 3},
         "out": {"kind": "sink"}},
        [["raw", "M1"], ["M1", "B"], ["B", "M2"], ["M2", "out"]], 10)
    assert trace == {
        "M1": [(0, "starved"), (0, "working"), (3, "blocked"), (4, "working"), (5, "blocked"),
               (7, "working"), (8, "blocked")],
        "M2": [(0, "starved"), (1, "working")],
    }


def test_without_a_buffer_the_hand_over_is_direct() -> None:
    # capacity 0: part 1 goes straight to M2; M1 holds each later part until M2 takes it
    trace = timelines(
        {"raw": {"kind": "source"}, "M1": {"kind": "machine", "process_time": 1},
         "M2": {"kind": "machine", "process_time": 3}, "out": {"kind": "sink"}},
        [["raw", "M1"], ["M1", "M2"], ["M2", "out"]], 8)
    assert trace == {
        "M1": [(0, "starved"), (0, "working"), (2, "blocked"), (4, "working"), (5, "blocked"),
               (7, "working")],
        "M2": [(0, "starved"), (1, "working")],
    }


def test_a_failure_interrupts_the_part_which_resumes_after_the_repair() -> None:
    # 5 of operating time to failure, 2 to repair, parts of 2: the third part is cut at 5,
    # repaired until 7, finished at 8; the next life fails at 12 exactly as the fifth part would
    # end, which then ends after the repair, at 14.
    trace = timelines(
        {"raw": {"kind": "source"},
         "M": {"kind": "machine", "process_time": 2, "failures": {"ttf": 5, "ttr": 2}},
         "out": {"kind": "sink"}},
        [["raw", "M"], ["M", "out"]], 15, {"crew": None})
    assert trace == {"M": [(0, "starved"), (0, "working"), (5, "down"), (5, "repair"),
                           (7, "working"), (12, "down"), (12, "repair"), (14, "working")]}


def test_the_crew_serves_waiting_repairs_by_priority_then_response_time() -> None:
    # Three machines fail at 3 with one technician. A asked first and is repaired at once;
    # of the two waiting, Bm (priority 0) goes before Z (priority 2) although Z asked first.
    nodes = {
        "raw": {"kind": "source"}, "raw2": {"kind": "source"}, "raw3": {"kind": "source"},
        "A": {"kind": "machine", "process_time": 10, "priority": 9,
              "failures": {"ttf": 3, "ttr": 2}},
        "Z": {"kind": "machine", "process_time": 10, "priority": 2,
              "failures": {"ttf": 3, "ttr": 2}},
        "Bm": {"kind": "machine", "process_time": 10, "failures": {"ttf": 3, "ttr": 2}},
        "out": {"kind": "sink"}}
    edges = [["raw", "A"], ["A", "out"], ["raw2", "Bm"], ["Bm", "out"], ["raw3", "Z"],
             ["Z", "out"]]
    assert timelines(nodes, edges, 8, {"crew": 1}) == {
        "A": [(0, "starved"), (0, "working"), (3, "down"), (3, "repair"), (5, "working")],
        "Z": [(0, "starved"), (0, "working"), (3, "down"), (7, "repair")],
        "Bm": [(0, "starved"), (0, "working"), (3, "down"), (5, "repair"), (7, "working")],
    }
    # a response time of 0.5 comes before each repair
    two = {k: v for k, v in nodes.items() if k not in ("Z", "raw3")}
    assert timelines(two, edges[:4], 9, {"crew": 1, "response_time": 0.5}) == {
        "A": [(0, "starved"), (0, "working"), (3, "down"), (3.5, "repair"), (5.5, "working"),
              (8.5, "down")],
        "Bm": [(0, "starved"), (0, "working"), (3, "down"), (6, "repair"), (8, "working")],
    }


def test_preventive_maintenance_at_the_operating_age_renews_the_machine() -> None:
    # maintenance every 4 of operating time, lasting 1; failures would come at 5 but never do
    trace = timelines(
        {"raw": {"kind": "source"},
         "M": {"kind": "machine", "process_time": 3, "failures": {"ttf": 5, "ttr": 2}},
         "out": {"kind": "sink"}},
        [["raw", "M"], ["M", "out"]], 12,
        {"crew": None, "policy": {"kind": "preventive", "every": 4, "duration": 1}})
    assert trace == {"M": [(0, "starved"), (0, "working"), (4, "maintenance"), (5, "working"),
                           (9, "maintenance"), (10, "working")]}
