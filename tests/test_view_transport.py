"""Material handling in the drawings and the run report: edges a fleet serves drawn dashed and
labelled with the fleet, the fleets listed under the plant (with their utilization and wait
after a run), conveyors drawn as belts with their length and speed (and their load and stops
after a run), the time-by-state chart with a bar per fleet and per conveyor, the report's
vehicles table, and the replay moving a carried part along its edge from ``travel`` to
``unload``."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from twin.cli import main
from twin.language.loading import load_scenario
from twin.view.replay import _part_moves, replay_data
from twin.view.sketch import sketch_of, sketch_of_data

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"
AGV = ROOT / "scenarios" / "agv-cell.yaml"
CONVEYORS = ROOT / "scenarios" / "conveyor-line.yaml"


def groups(root: ET.Element, attribute: str) -> dict[str, ET.Element]:
    return {g.get(attribute, ""): g for g in root.iter(f"{SVG}g") if g.get(attribute)}


def test_show_draws_fleet_edges_dashed_and_labelled_and_lists_the_fleets(
        tmp_path: Path) -> None:
    out = tmp_path / "plant.svg"
    assert main(["show", str(AGV), "--out", str(out)]) == 0
    root = ET.fromstring(out.read_text())
    edges = groups(root, "data-edge")
    carried = {k for k, g in edges.items() if "by" in g.get("class", "").split()}
    assert carried == {"dock->B_mill", "mill->B_wash", "wash->ship"}
    for key in carried:
        labels = [t.text for t in edges[key].iter(f"{SVG}text") if t.get("class") == "fleet"]
        assert labels == ["agv"]
        assert edges[key].findtext(f"{SVG}title", "").endswith("by agv")
    assert "by" not in edges["B_mill->mill"].get("class", "").split()
    box = [g for g in root.iter(f"{SVG}g") if g.get("class") == "fleets"]
    assert len(box) == 1
    fleet = groups(box[0], "data-fleet")["agv"]
    text = " ".join(t.text or "" for t in fleet.iter(f"{SVG}text"))
    assert "1 vehicle, speed 50, load 0.3, unload 0.3, home dock" in text
    # the box lies within the drawing
    height = float(root.get("height", "0"))
    y = float(re.search(r"translate\([\d.]+,([\d.]+)\)", box[0].get("transform", "")).group(1))
    assert 0 < y < height


def test_show_draws_conveyors_as_belts_with_length_and_speed(tmp_path: Path) -> None:
    out = tmp_path / "plant.svg"
    assert main(["show", str(CONVEYORS), "--out", str(out)]) == 0
    nodes = groups(ET.fromstring(out.read_text()), "data-node")
    for name, detail in (("roller", "12 long, speed 6"),
                         ("belt", "6 long, speed 3, stops when blocked")):
        g = nodes[name]
        assert "shape-conveyor" in g.get("class", "").split()
        assert len([c for c in g.iter(f"{SVG}circle") if c.get("class") == "roller"]) == 2
        assert detail in [t.text for t in g.iter(f"{SVG}text")]


def test_a_scenario_that_does_not_validate_still_draws_its_fleets() -> None:
    from twin.language.yamlio import load_yaml

    data = load_yaml(AGV)[0]
    data["transport"]["fleets"]["agv"]["speed"] = -1  # invalid, drawn all the same
    sketch = sketch_of_data(data)
    assert sketch is not None
    assert sketch.fleets["agv"].size == 1
    assert {e.key for e in sketch.edges if e.by == "agv"} == {"dock->B_mill", "mill->B_wash",
                                                            "wash->ship"}


@pytest.fixture(scope="module")
def agv_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("agv")
    assert main(["run", str(AGV), "--out", str(out), "--no-sensors", "--replications", "2",
                 "--horizon", "2000", "--workers", "1", "--replay-window", "500:700"]) == 0
    return out


def test_run_report_shows_fleets_in_the_drawing_chart_and_table(agv_run: Path) -> None:
    text = (agv_run / "report.html").read_text()
    summary = json.loads((agv_run / "summary.json").read_text())
    agv = summary["fleets"]["agv"]
    svg = text[text.index('<svg id="plant-diagram"'):]
    svg = svg[:svg.index("</svg>") + 6]
    fleet = groups(ET.fromstring(svg), "data-fleet")["agv"]
    line = " ".join(t.text or "" for t in fleet.iter(f"{SVG}text"))
    assert f"utilization {agv['utilization']['mean']:.0%}" in line
    assert "mean wait" in line
    states = [r.get("data-state") for r in fleet.iter(f"{SVG}rect") if r.get("data-state")]
    assert states and set(states) <= {"loaded", "empty", "handling", "blocked", "idle",
                                      "charging", "down"}
    assert "<h2>Time by state</h2>" in text and "agv (fleet)" in text
    assert "vehicles: loaded" in text and "vehicles: charging" in text
    assert "<h2>Vehicles</h2>" in text


def test_replay_moves_a_carried_part_from_travel_to_unload(agv_run: Path) -> None:
    scenario = load_scenario(agv_run / "scenario.yaml")
    sketch = sketch_of(scenario)
    events = pd.read_parquet(agv_run / "events.parquet")
    first = events[events["replication"] == 0]
    _, times, edges, durations = _part_moves(sketch, first, 2000.0)
    assert times == sorted(times)
    keys = [e.key for e in sketch.edges]
    carried = {"dock->B_mill": 20 + 10, "mill->B_wash": 4 + 10 + 20, "wash->ship": 20}
    took_by: dict[str, list[float]] = {}
    for edge, took in zip(edges, durations, strict=True):
        if keys[edge] in carried:
            took_by.setdefault(keys[edge], []).append(took)
        else:
            assert took == 0.0
    # the aisles' shortest way at speed 50, longer only where the vehicle failed on the way
    assert set(took_by) == set(carried)
    for key, took in took_by.items():
        assert min(took) == pytest.approx(carried[key] / 50, rel=1e-9)
        assert pd.Series(took).median() == pytest.approx(carried[key] / 50, rel=1e-9)
    def trips(event: str) -> pd.Series:  # a part's k-th trip (a part rides up to three)
        rows = first[first["event"] == event]
        return rows.set_index(["part", rows.groupby("part").cumcount()])["time"]

    both = pd.DataFrame({"travel": trips("travel"), "unload": trips("unload")}).dropna()
    # every trip but one the vehicle was still unloading at the end
    trip = both["unload"] - both["travel"]
    handed = both[both["unload"] < float(first["time"].max()) - 0.3].index
    assert sorted(d for d in durations if d > 0) == pytest.approx(
        sorted(trip.loc[handed].tolist()), rel=1e-9)
    replay = replay_data(sketch, pd.read_parquet(agv_run / "timeline.parquet"), events,
                         500.0, 700.0, "min")
    moves = replay.data["moves"]
    assert len(moves) == 3 and len(moves[2]) == len(moves[0])
    assert replay.data["longest"] >= max(moves[2])


def test_run_report_charts_each_conveyor_moving_and_stopped(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["run", str(CONVEYORS), "--out", str(out), "--no-sensors", "--replications",
                 "2", "--horizon", "3000", "--workers", "1"]) == 0
    text = (out / "report.html").read_text()
    assert "<h2>Time by state</h2>" in text
    for name in ("roller (conveyor)", "belt (conveyor)", "conveyor: head part stopped",
                 "conveyor: load (share of places)"):
        assert name in text, name
    svg = text[text.index('<svg id="plant-diagram"'):]
    nodes = groups(ET.fromstring(svg[:svg.index("</svg>") + 6]), "data-node")
    stopped = json.loads((out / "summary.json").read_text())["nodes"]["roller"]["stopped"]
    values = [t.text or "" for t in nodes["roller"].iter(f"{SVG}text")]
    assert any(f"stopped {stopped['mean']:.0%}" in v for v in values), values


def test_compare_and_sweep_reports_with_a_fleet(tmp_path: Path) -> None:
    scenario = tmp_path / "agv.yaml"
    scenario.write_text(AGV.read_text().replace("../docs/", str(ROOT / "docs") + "/")
                        + "policies:\n  one: {}\n  two: {transport.fleets.agv.size: 2}\n")
    common = ["--replications", "2", "--horizon", "1500", "--workers", "1"]
    assert main(["compare", str(scenario), "--out", str(tmp_path / "c"), *common]) == 0
    text = (tmp_path / "c" / "report.html").read_text()
    assert "Time by state: one" in text and "Time by state: two" in text
    assert "agv (fleet)" in text
    assert main(["sweep", str(AGV), "--param", "transport.fleets.agv.size", "--values", "1,2",
                 "--out", str(tmp_path / "s"), *common]) == 0
    text = (tmp_path / "s" / "report.html").read_text()
    assert "Vehicle utilization" in text


def test_a_fleet_busier_than_every_machine_is_marked_the_bottleneck(agv_run: Path) -> None:
    """One vehicle for the cell: busy (neither idle nor blocked) a longer share of the time
    than any machine is active, it is the bottleneck, not a machine; a fleet idle most of the
    time is not."""
    from twin.view.results import fleet_active, plant_bottleneck

    summary = json.loads((agv_run / "summary.json").read_text())
    neck, by_fleet = plant_bottleneck(summary)
    assert (neck, by_fleet) == ("agv", True)
    assert fleet_active(summary["fleets"]["agv"]) > max(
        1 - m["blocked"]["mean"] - m["starved"]["mean"] for m in summary["machines"].values())
    text = (agv_run / "report.html").read_text()
    svg = text[text.index('<svg id="plant-diagram"'):]
    svg = svg[:svg.index("</svg>") + 6]
    root = ET.fromstring(svg)
    assert groups(root, "data-fleet")["agv"].get("class") == "bottleneck"
    assert not any("bottleneck" in g.get("class", "").split()
                   for g in groups(root, "data-node").values())
    assert "the bottleneck is the fleet <b>agv</b>" in text
    many = summary | {"fleets": {"agv": {s: {"mean": v} for s, v in
                                         {"idle": 0.7, "empty": 0.1, "loaded": 0.1,
                                          "handling": 0.1}.items()}}}
    assert plant_bottleneck(many)[1] is False
