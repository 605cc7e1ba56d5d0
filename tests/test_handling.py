"""Conveyors against analytic answers: the ride adds exactly length/speed to the lead time when
the conveyor is not full; a faster feed is capped at speed/spacing; a non-accumulating conveyor
before a slower machine gives that machine's throughput, standing still while it works; Little's
law holds on the conveyor's load; bad input exits 2 naming the field and its line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.cli import main
from twin.engine.flow import Channel, Part
from twin.engine.replication import ReplicationResult, simulate
from twin.engine.warmup import Warmup
from twin.handling.conveyor import Conveyor
from twin.language.loading import scenario_from_data
from twin.language.nodes import ConveyorNode

ROOT = Path(__file__).resolve().parent.parent


def line(nodes: dict[str, Any], horizon: float = 2000.0, warmup: float = 100.0) -> dict[str, Any]:
    """A serial line of ``nodes`` (in order), ready to validate."""
    names = list(nodes)
    edges = [[a, b] for a, b in zip(names, names[1:], strict=False)]
    return {"name": "conveyor-test", "horizon": horizon, "warmup": warmup, "replications": 1,
            "seed": 3, "plant": {"nodes": nodes, "edges": edges}}


def run(data: dict[str, Any]) -> ReplicationResult:
    """One replication of the scenario ``data``."""
    return simulate(scenario_from_data(data), 0)


def conveyor(**fields: Any) -> dict[str, Any]:
    return {"kind": "conveyor", **fields}


def machine(mean: float | None = None, value: float | None = None) -> dict[str, Any]:
    time = {"dist": "constant", "value": value} if value is not None else \
        {"dist": "exponential", "mean": mean}
    return {"kind": "machine", "process_time": time}


@pytest.mark.parametrize(("accumulating", "trace", "stopped"), [
    (True, [("in", 0, 0), ("in", 1, 1), ("in", 2, 2), ("in", 3, 5),  # enters behind the stop
            ("out", 0, 10), ("out", 1, 10.5), ("out", 2, 11), ("out", 3, 11.5)], 6),
    (False, [("in", 0, 0), ("in", 1, 1), ("in", 2, 2), ("in", 3, 5),  # onto the stopped belt
             ("out", 0, 10), ("out", 1, 11), ("out", 2, 12), ("out", 3, 14)], 6),
])
def test_a_stopped_head_part_queues_the_rest_or_stops_the_belt(
        accumulating: bool, trace: list[tuple[str, int, float]], stopped: float) -> None:
    """A 4 m conveyor at 1 m per time unit, spacing 0.5. Parts come at 0, 1, 2 and 5; the next
    node takes none until 10. The head part reaches the end at 4 and stands there until 10.
    Accumulating: the parts behind ride on and close up to 0.5 m (one every 0.5 after 10), and
    the part at 5 enters at once. Non-accumulating: the belt stands 4..10 with the parts on it at
    3 m and 2 m (they reach the end at 11 and 12); the part at 5 is put on the standing belt (the
    last part is 2 m from the entrance) and rides only when it moves again: 4 after 10."""
    env = simpy.Environment()
    warmup = Warmup(env, 0)
    belt = Conveyor(env, "C", ConveyorNode(kind="conveyor", length=4, speed=1, spacing=0.5,
                                           accumulating=accumulating), warmup)
    after = Channel(env, "M", 0, warmup)
    belt.start(lambda: after)
    log: list[tuple[str, int, float]] = []

    def feed(at: float, part: Part) -> Any:
        yield env.timeout(at)
        if not belt.try_put(part):
            yield belt.put(part)
        log.append(("in", part.id, env.now))

    def take() -> Any:
        yield env.timeout(10)
        while True:
            part = after.try_get()
            if part is None:
                part = yield after.get()
            log.append(("out", part.id, env.now))

    for i, at in enumerate([0, 1, 2, 5]):
        env.process(feed(at, Part(i, at)))
    env.process(take())
    env.run(until=20)
    assert sorted(log, key=lambda e: (e[0], e[1])) == trace
    stats = belt.measure(20)
    assert stats["stopped"] == pytest.approx(stopped / 20)
    assert stats["carried"] == 4 and stats["max_load"] == 4


def ride(length: float, speed: float, spacing: float, accumulating: bool,
         gaps: list[float], services: list[float]) -> tuple[list[float], list[float], Conveyor]:
    """Parts come ``gaps`` apart to a conveyor; the next node takes one, works ``services[i]`` on
    it, then takes the next. When each part got on and when it left, and the conveyor."""
    env = simpy.Environment()
    warmup = Warmup(env, 0)
    belt = Conveyor(env, "C", ConveyorNode(kind="conveyor", length=length, speed=speed,
                                           spacing=spacing, accumulating=accumulating), warmup)
    after = Channel(env, "M", 0, warmup)
    belt.start(lambda: after)
    on: list[float] = []
    off: list[float] = []

    def feed() -> Any:
        for i, gap in enumerate(gaps):
            yield env.timeout(gap)
            part = Part(i, env.now)
            if not belt.try_put(part):
                yield belt.put(part)
            assert part.id == len(on)
            on.append(env.now)

    def take() -> Any:
        for service in services:
            part = after.try_get()
            if part is None:
                part = yield after.get()
            assert part.id == len(off)  # first in, first out
            off.append(env.now)
            yield env.timeout(service)

    env.process(feed())
    env.process(take())
    env.run()
    return on, off, belt


PARTS = st.integers(min_value=1, max_value=12)


@settings(max_examples=60, deadline=None)
@given(length=st.floats(1, 20), speed=st.floats(0.5, 5), share=st.floats(0.05, 1),
       accumulating=st.booleans(), data=st.data(), n=PARTS)
def test_every_part_rides_spaced_in_order_within_the_places(
        length: float, speed: float, share: float, accumulating: bool, data: Any,
        n: int) -> None:
    """Whatever the arrivals and the next node's pace: every part leaves, in the order it came;
    none rides faster than length / speed; entries and exits are at least spacing / speed apart;
    never more than floor(length / spacing) parts ride. On an accumulating conveyor the exits
    follow the recursion exit_i = max(entry_i + ride, exit_{i-1} + gap, exit_{i-1} +
    service_{i-1}) exactly."""
    spacing = share * length
    gaps = data.draw(st.lists(st.floats(0, 3), min_size=n, max_size=n))
    services = data.draw(st.lists(st.floats(0, 5), min_size=n, max_size=n))
    on, off, belt = ride(length, speed, spacing, accumulating, gaps, services)
    trip, gap, tol = length / speed, spacing / speed, 1e-7
    assert len(on) == len(off) == n
    assert all(b - a >= trip - tol for a, b in zip(on, off, strict=True))
    assert all(b - a >= gap - tol for a, b in zip(on, on[1:], strict=False))
    assert all(b - a >= gap - tol for a, b in zip(off, off[1:], strict=False))
    assert belt.load.max <= int(length // spacing + 1e-9)
    assert off[0] == pytest.approx(on[0] + trip, abs=1e-7)  # the next node waits for the first
    if accumulating:
        for i in range(1, n):
            expected = max(on[i] + trip, off[i - 1] + gap, off[i - 1] + services[i - 1])
            assert off[i] == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize("accumulating", [True, False])
def test_ride_adds_length_over_speed_to_the_lead_time(accumulating: bool) -> None:
    """Parts every 2 time units, machines of 0.5: a 10 m conveyor at 5 m per time unit adds 2.0
    to the lead time, exactly, and its load is one part (Little: 0.5 parts per time unit x 2)."""
    arrivals = {"kind": "source", "interarrival": {"dist": "constant", "value": 2.0}}
    plain = run(line({"raw": arrivals, "M1": machine(value=0.5), "M2": machine(value=0.5),
                      "done": {"kind": "sink"}}))
    carried = run(line({"raw": arrivals, "M1": machine(value=0.5),
                        "C": conveyor(length=10, speed=5, spacing=1, accumulating=accumulating),
                        "M2": machine(value=0.5), "done": {"kind": "sink"}}))
    assert plain.kpis["lead_time"] == pytest.approx(1.0, abs=1e-9)
    assert carried.kpis["lead_time"] == pytest.approx(1.0 + 10 / 5, abs=1e-9)
    stats = carried.nodes["C"]
    assert stats["ride_time"] == pytest.approx(2.0, abs=1e-9)
    assert stats["load"] == pytest.approx(1.0, abs=1e-9)
    assert stats["max_load"] == 1.0
    assert stats["stopped"] == 0.0
    assert stats["carried"] == pytest.approx(1900 / 2, abs=1)


@pytest.mark.parametrize("accumulating", [True, False])
@pytest.mark.parametrize(("sizing", "rate"), [({"spacing": 0.5}, 4.0),
                                              ({"capacity": 8}, 2 * 8 / 10)])
def test_a_faster_feed_is_capped_at_speed_over_spacing(sizing: dict[str, float], rate: float,
                                                       accumulating: bool) -> None:
    """A machine making a part every 0.1 feeds a 10 m conveyor at 2 m per time unit: parts leave
    at speed / spacing (capacity 8: spacing 10/8), the conveyor full, the machine blocked the rest
    of the time."""
    result = run(line({"raw": {"kind": "source"}, "M1": machine(value=0.1),
                       "C": conveyor(length=10, speed=2, accumulating=accumulating, **sizing),
                       "done": {"kind": "sink"}}))
    span = 1900
    assert result.kpis["throughput"] == pytest.approx(rate, abs=1.5 / span)
    assert result.machines["M1"]["blocked"] == pytest.approx(1 - 0.1 * rate, abs=1e-3)
    stats = result.nodes["C"]
    places = 10 / sizing["spacing"] if "spacing" in sizing else sizing["capacity"]
    assert stats["load"] == pytest.approx(places, abs=1e-3)  # Little: rate x ride 10/2
    assert stats["max_load"] == places
    assert stats["stopped"] == 0.0


def test_a_non_accumulating_conveyor_before_a_slower_machine_gives_its_throughput() -> None:
    """A saturated line: M1 (0.5) feeds a belt (4 m at 1 m per time unit, spacing 1) that stops
    whole while M2 (2.0, the slower) works. M2 is never starved: the line makes 1/2.0 parts per
    time unit and the belt, moving one spacing (1.0) per part, stands still half the time."""
    result = run(line({"raw": {"kind": "source"}, "M1": machine(value=0.5),
                       "C": conveyor(length=4, speed=1, spacing=1, accumulating=False),
                       "M2": machine(value=2.0), "done": {"kind": "sink"}}))
    assert result.kpis["throughput"] == pytest.approx(0.5, abs=1.5 / 1900)
    assert result.machines["M2"]["utilization"] == pytest.approx(1.0, abs=1e-9)
    assert result.machines["M2"]["starved"] == pytest.approx(0.0, abs=1e-9)
    assert result.nodes["C"]["stopped"] == pytest.approx(0.5, abs=2 / 1900)
    assert result.nodes["C"]["max_load"] == 4.0
    assert result.machines["M1"]["blocked"] == pytest.approx(0.75, abs=2 / 1900)


@pytest.mark.parametrize("accumulating", [True, False])
def test_littles_law_on_the_conveyor_load(accumulating: bool) -> None:
    """Random arrivals and machines: the conveyor's mean load is its throughput times the mean
    time a part spends on it (Little), and no part rides faster than length / speed."""
    result = run(line({"raw": {"kind": "source", "interarrival": {"dist": "exponential",
                                                                   "mean": 1.0}},
                       "M1": machine(mean=0.6),
                       "C": conveyor(length=6, speed=2, spacing=0.5, accumulating=accumulating),
                       "M2": machine(mean=0.8), "done": {"kind": "sink"}},
                      horizon=40000, warmup=1000))
    stats = result.nodes["C"]
    assert stats["load"] == pytest.approx(stats["throughput"] * stats["ride_time"], rel=0.01)
    assert stats["ride_time"] > 3.0
    assert 0 < stats["stopped"] < 1
    assert stats["max_load"] <= 12


@pytest.mark.parametrize(("fields", "field"), [
    ("{kind: conveyor, length: 10, speed: 0, spacing: 1}", "speed"),
    ("{kind: conveyor, length: 2, speed: 1, spacing: 3}", "spacing"),
    ("{kind: conveyor, length: 2, speed: 1}", "spacing"),
])
def test_bad_conveyor_exits_2_naming_the_field_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: str, field: str) -> None:
    """A speed of 0 or a spacing longer than the conveyor is refused before anything runs."""
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nhorizon: 100\nplant:\n  nodes:\n    raw: {kind: source}\n"
                    "    M1: {kind: machine, process_time: 1}\n"
                    f"    C: {fields}\n"
                    "    done: {kind: sink}\n"
                    "  edges: [[raw, M1], [M1, C], [C, done]]\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "plant.nodes.C" in err and field in err
    assert "bad.yaml:7:" in err
    assert "Traceback" not in err


def test_the_conveyor_line_scenario_runs_and_reports_its_conveyors(tmp_path: Path) -> None:
    """The example scenario validates and its conveyors are measured in summary.json."""
    import json

    import pandas as pd

    out = tmp_path / "out"
    assert main(["run", str(ROOT / "scenarios" / "conveyor-line.yaml"), "--out", str(out),
                 "--replications", "2", "--horizon", "3000", "--events"]) == 0
    nodes = json.loads((out / "summary.json").read_text())["nodes"]
    assert set(nodes) == {"roller", "belt"}
    for stats in nodes.values():
        assert {"carried", "load", "max_load", "stopped", "ride_time"} <= set(stats)
        assert stats["max_load"]["mean"] <= 15
    events = pd.read_parquet(out / "events.parquet")
    for conveyor, station in (("roller", "wash"), ("belt", "inspect")):
        onto = events[(events.node == conveyor) & (events.event == "arrive")]
        off = events[(events.node == station) & (events.event == "arrive")]
        started = events[(events.node == station) & (events.event == "start")]
        assert len(onto) >= len(off) >= len(started) > 0  # handed over, then taken in
        assert set(started.part) <= set(off.part) <= set(onto.part)


def test_the_conveyor_load_kpi_is_the_parts_riding_every_conveyor() -> None:
    """Two conveyors in a line: the plant's conveyor_load is the sum of their mean loads, and
    each is its throughput times its mean ride (Little)."""
    result = run(line({"raw": {"kind": "source", "interarrival": {"dist": "exponential",
                                                                   "mean": 1.0}},
                       "C1": conveyor(length=4, speed=2, spacing=0.5),
                       "M1": machine(mean=0.5),
                       "C2": conveyor(length=9, speed=3, capacity=6, accumulating=False),
                       "done": {"kind": "sink"}}, horizon=20000, warmup=500))
    loads = [result.nodes[c]["load"] for c in ("C1", "C2")]
    assert result.kpis["conveyor_load"] == pytest.approx(sum(loads), rel=1e-12)
    for c in ("C1", "C2"):
        stats = result.nodes[c]
        assert stats["load"] == pytest.approx(stats["throughput"] * stats["ride_time"], rel=0.01)
