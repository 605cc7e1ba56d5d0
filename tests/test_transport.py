"""Vehicles against exact answers: one vehicle serving Poisson calls between two points with
deterministic trips is an M/D/1 queue (Pollaczek-Khinchine); a saturated vehicle carries one part
per round trip; a battery and deterministic failures give exact shares of the vehicle's time;
places are reserved at the next node so a fleet serving both sides of a buffer never deadlocks;
the event log has each carried part's load, travel and unload; layouts by table, coordinates and
aisles agree; bad input exits 2 naming the file, the field and its line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.helpers import assert_matches, exp, simulate_plant
from twin.cli import main
from twin.engine.replication import simulate
from twin.language.loading import scenario_from_data

ROOT = Path(__file__).resolve().parent.parent


def carried(source: dict[str, Any], fleet: dict[str, Any], d: float = 3.0,
            **layout: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A source at A whose parts a fleet carries to a sink at B, ``d`` apart."""
    plant = {"nodes": {"A": source, "B": {"kind": "sink"}},
             "edges": [{"from": "A", "to": "B", "by": "agv"}]}
    transport = {"layout": layout or {"distances": [["A", "B", d]]},
                 "fleets": {"agv": {"size": 1, "speed": 1.0, "home": "B", **fleet}}}
    return plant, transport


def pk_wait(lam: float, service: float) -> float:
    """Mean wait in queue of M/D/1 (Pollaczek-Khinchine with a deterministic service)."""
    rho = lam * service
    return lam * service ** 2 / (2 * (1 - rho))


@pytest.mark.parametrize(("fleet", "before_load", "after_load"), [
    # parks where it unloaded (B): each call's service begins with the empty trip B -> A
    ({"home": "B", "park": "stay"}, 3.0, 3.0),
    # drives home to A after each delivery: the trip back ends each service instead
    ({"home": "A", "park": "home", "load_time": 0.5, "unload_time": 0.5}, 0.0, 4.0),
])
def test_one_vehicle_between_two_points_is_an_md1_queue(
        fleet: dict[str, Any], before_load: float, after_load: float) -> None:
    """Calls at A come at rate 0.1; the vehicle's service is a round trip of 2 x 3 plus loading
    and unloading, the same for every call: M/D/1. The wait for a vehicle (call to the start
    of loading) is the Pollaczek-Khinchine wait plus the empty trip where the vehicle parks at
    B; the lead time adds loading, the trip and unloading; the vehicle is busy rho of the time,
    and the calls waiting are the call rate times the wait (Little)."""
    plant, transport = carried({"kind": "source", "interarrival": exp(10.0)}, fleet)
    service = 6.0 + fleet.get("load_time", 0.0) + fleet.get("unload_time", 0.0)
    wq = pk_wait(0.1, service)
    summary = simulate_plant(plant, horizon=120000, warmup=2000, replications=8,
                             transport=transport)
    kpis = summary["kpis"]
    assert_matches(kpis["vehicle_wait"], wq + before_load, rel_precision=0.06)
    assert_matches(kpis["lead_time"], wq + before_load + after_load, rel_precision=0.05)
    assert_matches(kpis["vehicle_utilization"], 0.1 * service, rel_precision=0.02)
    agv = summary["fleets"]["agv"]
    for r in range(8):
        waiting, throughput, wait = (agv[s]["values"][r] for s in ("waiting", "throughput",
                                                                    "wait"))
        assert waiting == pytest.approx(throughput * wait, rel=0.02)  # Little
        shares = sum(agv[s]["values"][r] for s in ("idle", "empty", "loaded", "handling",
                                                   "blocked", "charging", "down"))
        assert shares == pytest.approx(1.0, abs=1e-9)


def test_a_saturated_vehicle_carries_one_part_per_round_trip() -> None:
    """An infinite supply at A: the vehicle drives empty 3, loads 0.5, carries 3, unloads 0.5,
    for ever: 1 / 7 parts per time unit, loaded 3/7 and empty 3/7 of the time."""
    plant, transport = carried({"kind": "source"}, {"load_time": 0.5, "unload_time": 0.5})
    result = simulate(scenario_from_data({"name": "t", "horizon": 7000, "warmup": 700,
                                          "plant": plant, "transport": transport}), 0)
    span = 6300
    assert result.kpis["throughput"] == pytest.approx(1 / 7, abs=1.01 / span)
    agv = result.fleets["agv"]
    assert agv["loaded"] == pytest.approx(3 / 7, abs=7 / span)
    assert agv["empty"] == pytest.approx(3 / 7, abs=7 / span)
    assert agv["handling"] == pytest.approx(1 / 7, abs=7 / span)
    assert agv["idle"] == pytest.approx(0.0, abs=7 / span)
    assert result.kpis["vehicle_utilization"] == pytest.approx(1.0, abs=7 / span)


def test_a_battery_sends_the_vehicle_to_charge_every_fifth_part() -> None:
    """Capacity 100, trips of 10, charging under 30, the charger at A. From full at A: the first
    part costs 10 (it is loaded where the vehicle stands), the next four 20 each: 10 left after
    the fifth, under 30, so the vehicle drives 10 back to A and charges from empty (50). A cycle
    is 5 parts in 100 of driving and 50 of charging: 1/30 parts per time unit; a third of the
    time charging, a third loaded, a third driving empty."""
    plant, transport = carried({"kind": "source"}, {
        "home": "A", "battery": {"capacity": 100, "charge_time": 50, "charger": "A",
                                 "low": 0.3}}, d=10.0)
    result = simulate(scenario_from_data({"name": "t", "horizon": 30000, "plant": plant,
                                          "transport": transport}), 0)
    tolerance = 150 / 30000  # one cycle
    assert result.kpis["throughput"] == pytest.approx(1 / 30, abs=5 / 30000)
    agv = result.fleets["agv"]
    for state in ("charging", "loaded", "empty"):
        assert agv[state] == pytest.approx(1 / 3, abs=tolerance)
    assert agv["distance_loaded"] == pytest.approx(1 / 3, abs=tolerance)


def test_a_vehicle_fails_on_its_operating_time_and_stands_for_its_repair() -> None:
    """Round trips of 20 (no loading time), a failure every 35 of operating time (wherever the
    vehicle is), 5 of repair: it is down 5 in every 40, and carries 35/40 of 1/20."""
    plant, transport = carried({"kind": "source"}, {
        "failures": {"ttf": {"dist": "constant", "value": 35},
                     "repair": {"dist": "constant", "value": 5}}}, d=10.0)
    result = simulate(scenario_from_data({"name": "t", "horizon": 40000, "plant": plant,
                                          "transport": transport}), 0)
    agv = result.fleets["agv"]
    assert agv["down"] == pytest.approx(0.125, abs=40 / 40000)
    assert agv["failures"] == pytest.approx(1000, abs=1)
    assert result.kpis["throughput"] == pytest.approx(0.04375, abs=2 / 40000)


def test_places_are_reserved_so_one_vehicle_serves_both_sides_of_a_buffer() -> None:
    """One vehicle brings parts to a buffer of 2 and takes the machine's parts away. Were it to
    load a part for the full buffer, it would stand before it for ever while the machine waits
    for it to take its finished part: it takes a part only where its next node has room, so
    parts keep flowing to the end, at the vehicle's pace (three trips of 2 x 2 per part at
    most: at least 1/12 per time unit)."""
    plant = {"nodes": {"A": {"kind": "source"}, "B": {"kind": "buffer", "capacity": 2},
                       "M": {"kind": "machine", "process_time": 1.0}, "C": {"kind": "sink"}},
             "edges": [{"from": "A", "to": "B", "by": "agv"}, ["B", "M"],
                       {"from": "M", "to": "C", "by": "agv"}]}
    transport = {"layout": {"points": {"A": [0, 0], "B": [2, 0], "M": [2, 0], "C": [4, 0]},
                            "metric": "manhattan"},
                 "fleets": {"agv": {"size": 1, "speed": 1, "home": "A"}}}
    result = simulate(scenario_from_data({"name": "t", "horizon": 20000, "warmup": 1000,
                                          "plant": plant, "transport": transport}), 0)
    assert result.deadlock is None
    assert result.kpis["throughput"] >= 1 / 12
    assert result.fleets["agv"]["blocked"] == 0.0  # never stood loaded before a full node
    assert result.buffers["B"]["max_level"] <= 2


def test_the_event_log_has_each_carried_parts_load_travel_and_unload(tmp_path: Path) -> None:
    """Every part shipped was loaded at A, left A load_time later, reached B exactly d / speed
    after it left, and shipped unload_time after that (a sink always has room)."""
    plant, transport = carried({"kind": "source", "interarrival": exp(8.0)},
                               {"load_time": 0.25, "unload_time": 0.5, "speed": 2.0}, d=3.0)
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps({"name": "ev", "horizon": 2000, "plant": plant,
                                "transport": transport}))
    out = tmp_path / "out"
    assert main(["run", str(path), "--events", "--out", str(out), "--no-sensors"]) == 0
    log = pd.read_parquet(out / "events.parquet")
    times = log.pivot_table(index="part", columns="event", values="time", aggfunc="first")
    nodes = log.pivot_table(index="part", columns="event", values="node", aggfunc="first")
    shipped = times.dropna(subset=["ship"])
    assert len(shipped) > 100
    assert (nodes.loc[shipped.index, ["load", "travel"]] == "A").all().all()
    assert (nodes.loc[shipped.index, "unload"] == "B").all()
    assert (shipped["travel"] - shipped["load"]).to_numpy() == pytest.approx(0.25, abs=1e-9)
    assert (shipped["unload"] - shipped["travel"]).to_numpy() == pytest.approx(1.5, abs=1e-9)
    assert (shipped["ship"] - shipped["unload"]).to_numpy() == pytest.approx(0.5, abs=1e-9)
    assert (shipped["load"] >= shipped["release"]).all()
    assert "arrive" not in set(log[log["node"] == "A"]["event"])  # A is the sender, not a stop


def test_layouts_by_table_coordinates_and_aisles_give_the_same_distances() -> None:
    """A right triangle 3-4-5: the table, the coordinates (euclidean) and straight aisles
    between the three points agree; manhattan gives 7 for the diagonal; aisles around the
    corner C give 3 + 4 for A-B (a vehicle keeps to the aisles)."""
    from twin.language.transport import Layout

    among = ("A", "B", "C")
    table = Layout(distances=[("A", "B", 5), ("A", "C", 3), ("B", "C", 4)])
    points = Layout(points={"A": (0, 0), "C": (3, 0), "B": (3, 4)})
    aisles = Layout(points={"A": (0, 0), "C": (3, 0), "B": (3, 4)},
                    aisles=[("A", "C"), ("C", "B"), ("A", "B")])
    around = Layout(aisles=[("A", "C", 3), ("C", "B", 4)])
    manhattan = Layout(points={"A": (0, 0), "C": (3, 0), "B": (3, 4)}, metric="manhattan")
    for layout in (table, points, aisles):
        distances, problems = layout.distance_table(among)
        assert not problems
        assert distances["A", "B"] == distances["B", "A"] == pytest.approx(5.0)
        assert distances["B", "C"] == pytest.approx(4.0)
    assert around.distance_table(among)[0]["A", "B"] == pytest.approx(7.0)
    assert manhattan.distance_table(among)[0]["A", "B"] == pytest.approx(7.0)


def test_the_nearest_idle_vehicle_takes_a_call_or_the_one_idle_longest() -> None:
    """Two vehicles at home H, 9 from the caller A; a call every 100 (100 calls). The first
    call brings vehicle 1 from H (a wait of 9); it parks at B, 1 from A. With nearest, it takes
    every later call (waits of 1): mean (9 + 99) / 100. With fcfs the second call goes to
    vehicle 2, idle at H since the start (9 again), and from then on the two, both at B, take
    turns (1): mean (9 + 9 + 98) / 100."""
    plant = {"nodes": {"A": {"kind": "source", "interarrival": {"dist": "constant",
                                                                  "value": 100}},
                       "B": {"kind": "sink"}},
             "edges": [{"from": "A", "to": "B", "by": "agv"}]}
    waits = {}
    for rule in ("nearest", "fcfs"):
        transport = {"layout": {"points": {"A": [0, 0], "B": [1, 0], "H": [9, 0]}},
                     "fleets": {"agv": {"size": 2, "speed": 1, "home": "H", "dispatch": rule}}}
        result = simulate(scenario_from_data({"name": "t", "horizon": 10050, "plant": plant,
                                              "transport": transport}), 0)
        waits[rule] = result.kpis["vehicle_wait"]
    assert waits["nearest"] == pytest.approx(1.08)
    assert waits["fcfs"] == pytest.approx(1.16)


BAD = """name: bad
horizon: 100
plant:
  nodes:
    A: {kind: source, interarrival: 5}
    M: {kind: machine, process_time: 1}
    B: {kind: sink}
  edges:
    - {from: A, to: M, by: agv}
    - {from: M, to: B, by: %(by)s}
transport:
  layout:
    distances: [[A, M, 3], %(rows)s]
  fleets:
    agv: {size: 1, speed: %(speed)s, home: A%(extra)s}
"""


@pytest.mark.parametrize(("fields", "where", "says"), [
    ({"rows": "[M, B, 2]", "speed": "0"}, "bad.yaml:15: transport.fleets.agv.speed",
     "greater than 0"),
    ({"rows": "[M, B, 2]", "by": "agw"}, "bad.yaml:10: plant.edges[1].by",
     "no fleet 'agw'; did you mean 'agv'?"),
    ({"rows": "[M, B, 2], [A, B, 4]"}, None, None),
    ({"rows": "[A, B, 4]"}, "bad.yaml:13: transport.layout.distances",
     "no distance between 'B' and 'M'"),
    ({"rows": "[M, B, 2], [A, B, 4]", "extra": ", dispatch: closest"},
     "bad.yaml:15: transport.fleets.agv.dispatch", "unknown vehicle dispatching rule"),
    ({"rows": "[M, B, 2], [A, B, 4]",
      "extra": ", battery: {capacity: 20, charge_time: 5, charger: A, low: 0.5}"},
     "transport.fleets.agv.battery.low", "could run flat"),
])
def test_bad_transport_exits_2_naming_the_file_field_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: dict[str, str],
        where: str | None, says: str | None) -> None:
    """A speed of 0, an edge by a fleet that does not exist, a missing distance, an unknown
    rule, a battery too small for its trips: refused before anything runs."""
    values = {"by": "agv", "speed": "1", "extra": "", **fields}
    path = tmp_path / "bad.yaml"
    path.write_text(BAD % values)
    code = main(["validate", str(path)])
    err = capsys.readouterr().err
    if where is None:
        assert code == 0, err
        return
    assert code == 2
    assert "Traceback" not in err
    assert where in err and says in err, err


def test_the_agv_cell_scenario_runs_and_reports_its_fleet(tmp_path: Path) -> None:
    """The bundled scenario validates, runs, and reports its fleet and vehicle KPIs."""
    out = tmp_path / "out"
    assert main(["run", str(ROOT / "scenarios" / "agv-cell.yaml"), "--out", str(out),
                 "--replications", "2", "--horizon", "3000", "--no-sensors"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    agv = summary["fleets"]["agv"]
    assert agv["vehicles"]["mean"] == 1.0 and agv["carried"]["mean"] > 0
    assert 0 < summary["kpis"]["vehicle_utilization"]["mean"] <= 1
    assert summary["costs"]["vehicles"]["mean"] == pytest.approx(0.5)


FARTHEST = '''
class Farthest:
    """The idle vehicle farthest from the call takes it; a free vehicle takes the oldest."""

    def vehicle(self, fleet, request, idle):
        return max(idle, key=lambda v: (fleet.distance[v.at, request.origin], -v.number))

    def request(self, fleet, vehicle, waiting):
        return waiting[0]
'''


def test_a_registered_vehicle_rule_is_found_and_used(tmp_path: Path) -> None:
    """A package registers a rule under twin.vehicle_dispatching: a scenario names it, twin
    validates and runs it. With the farthest idle vehicle taking each call, the second call
    brings the vehicle from H (9), as fcfs does: mean wait (9 + 9 + 98) / 100."""
    import os
    import subprocess
    import sys

    (tmp_path / "acme_rules.py").write_text(FARTHEST)
    info = tmp_path / "acme_rules-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-rules\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[twin.vehicle_dispatching]\nfarthest = acme_rules:Farthest\n")
    scenario = {"name": "t", "horizon": 10050, "plant": {
        "nodes": {"A": {"kind": "source", "interarrival": {"dist": "constant", "value": 100}},
                  "B": {"kind": "sink"}},
        "edges": [{"from": "A", "to": "B", "by": "agv"}]},
        "transport": {"layout": {"points": {"A": [0, 0], "B": [1, 0], "H": [9, 0]}},
                      "fleets": {"agv": {"size": 2, "speed": 1, "home": "H",
                                         "dispatch": "farthest"}}}}
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(scenario))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "twin.cli", "run", str(path), "--out",
                           str(tmp_path / "out"), "--no-sensors"], env=env, text=True,
                          capture_output=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["kpis"]["vehicle_wait"]["mean"] == pytest.approx(1.16)
