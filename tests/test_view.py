"""The plant drawings (twin.view): `twin show` on every bundled scenario, the layout along the
flow, the results drawn from a real run (flows that balance, buffer contents rebuilt from the
event log equal to the engine's own statistics), the replay's data, and the live page's files."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twin.cli import main
from twin.language.loading import load_scenario
from twin.live.status import write_status
from twin.view.layout import layout
from twin.view.replay import _part_moves, parse_window, replay_data
from twin.view.results import bottleneck, edge_flows
from twin.view.sketch import sketch_of

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted(p for p in (ROOT / "scenarios").glob("*.yaml"))
SVG = "{http://www.w3.org/2000/svg}"


def drawn(svg_text: str) -> ET.Element:
    return ET.fromstring(svg_text)


def sample_times(timeline: pd.DataFrame, start: float, end: float, n: int) -> list[float]:
    """``n`` times spread over ``start`` to ``end``, each moved off any state change by more
    than the replay's precision (its times are kept to 3 decimals)."""
    changes = np.sort(timeline["time"].to_numpy())
    out = []
    for t in np.linspace(start + 1, end - 1, n):
        while True:
            i = np.searchsorted(changes, t)
            near = changes[max(0, i - 1):i + 1]
            if not len(near) or np.abs(near - t).min() > 2e-3:
                break
            t += 1e-2
        out.append(round(float(t), 3))
    return out


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_show_draws_every_bundled_scenario_one_element_per_node_and_edge(
        path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from twin.language.yamlio import load_yaml

    plant = load_yaml(path)[0]["plant"]
    # fd001 reads a model its comments say to train first: drawn all the same, then named
    expected = 2 if path.stem == "fd001" else 0
    out = tmp_path / "plant.svg"
    assert main(["show", str(path), "--out", str(out)]) == expected
    printed = capsys.readouterr()
    if expected:  # the model it reads (or, without the C-MAPSS data beside, its lives) is named
        assert ("no saved model" in printed.err or "no lives file" in printed.err) \
            and "Traceback" not in printed.err
    else:
        assert f"plant: {out}" in printed.out
    root = drawn(out.read_text())
    assert root.get("id") == "plant-diagram"
    nodes = [g.get("data-node") for g in root.iter(f"{SVG}g") if g.get("data-node")]
    edges = [g.get("data-edge") for g in root.iter(f"{SVG}g") if g.get("data-edge")]
    assert nodes == list(plant["nodes"])
    assert edges == [f"{e[0]}->{e[1]}" if isinstance(e, list) else f"{e['from']}->{e['to']}"
                     for e in plant["edges"]]
    page = tmp_path / "plant.html"
    assert main(["show", str(path), "--out", str(page)]) == expected
    text = page.read_text()
    assert text.count('id="plant-diagram"') == 1 and "<script" not in text


def test_layout_runs_along_the_flow_and_draws_the_rework_loop_back() -> None:
    sketch = sketch_of(load_scenario(ROOT / "scenarios" / "default.yaml"))
    lay = layout(sketch)
    assert lay.back == {"rework->B_wash"}
    for edge in sketch.edges:
        if edge.key not in lay.back:
            assert lay.x[edge.source] < lay.x[edge.target], edge.key
    assert lay.layer["bar_stock"] == 0
    last = max(lay.layer.values())
    assert lay.layer["shipped"] == lay.layer["scrapped"] == last
    line = ["bar_stock", "saw", "B_saw", "mill", "B_mill", "drill", "B_drill", "deburr", "wash",
            "B_wash", "inspect"]
    assert [lay.layer[n] for n in line] == list(range(len(line)))
    assert len({lay.y[n] for n in line}) == 1  # the main line drawn straight
    # positions never overlap
    spots = {(lay.x[n], lay.y[n]) for n in sketch.nodes}
    assert len(spots) == len(sketch.nodes)


def test_supply_chain_and_assembly_layouts() -> None:
    chain = layout(sketch_of(load_scenario(ROOT / "scenarios" / "supply-chain.yaml")))
    assert chain.layer["foundry-north"] == chain.layer["foundry-south"] == 0
    assert chain.layer["raw-store"] == 1
    assert chain.layer["oem"] == chain.layer["distributor"] == max(chain.layer.values())
    assert chain.back == frozenset()
    sketch = sketch_of(load_scenario(ROOT / "scenarios" / "assembly.yaml"))
    cell = layout(sketch)
    assert cell.layer["castings"] == cell.layer["wire"] == 0
    assert {cell.layer[n] for n in ("assembly", "assembly2", "assembly3")} == {3}
    shapes = {n.name: n.shape for n in sketch.nodes.values()}
    assert shapes["assembly"] == "assembly" and shapes["oven"] == "oven"
    assert shapes["B_motor"] == "buffer" and shapes["castings"] == "source"
    assert sketch.nodes["assembly"].components == 3


def test_show_draws_a_scenario_that_does_not_validate_and_names_what_is_wrong(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nhorizon: 100\nplant:\n  nodes:\n    raw: {kind: source}\n"
                   "    M1: {kind: machine, process_time: 1}\n"
                   "    M2: {kind: machine, process_time: 1}\n"
                   "    done: {kind: sink}\n"
                   "  edges:\n    - [raw, M1]\n    - [M1, done]\n    - [M2, done]\n")
    out = tmp_path / "bad.html"
    assert main(["show", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:7: plant.nodes.M2: machine 'M2' has no incoming edge" in err
    assert "Traceback" not in err
    text = out.read_text()
    assert "(does not validate)" in text and "has no incoming edge" in text
    root = drawn(re.search(r"<svg.*</svg>", text, re.S).group(0))  # type: ignore[union-attr]
    marked = [g.get("data-node") for g in root.iter(f"{SVG}g")
              if "problem" in (g.get("class") or "").split()]
    assert marked == ["M2"]
    # not even the YAML: nothing to draw, the usual message
    (tmp_path / "worse.yaml").write_text("name: [unclosed\n")
    assert main(["show", str(tmp_path / "worse.yaml")]) == 2
    assert "worse.yaml" in capsys.readouterr().err


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    assert main(["run", str(ROOT / "scenarios" / "default.yaml"), "--horizon", "4000",
                 "--replications", "2", "--workers", "1", "--replay", "--out", str(out)]) == 0
    return out


def test_buffer_contents_rebuilt_from_the_event_log_equal_the_engines_statistics(
        default_run: Path) -> None:
    """Following each part from node to node gives each buffer's contents: their time average
    and peak from warm-up to horizon are the engine's own, to the last bit."""
    summary = json.loads((default_run / "summary.json").read_text())
    sketch = sketch_of(load_scenario(default_run / "scenario.yaml"))
    events = pd.read_parquet(default_run / "events.parquet")
    warmup, horizon = summary["warmup"], summary["horizon"]
    for rep in (0, 1):
        changes, moves_t, moves_e, _ = _part_moves(
            sketch, events[events["replication"] == rep], horizon)
        assert len(moves_t) == len(moves_e) > 1000
        assert moves_t == sorted(moves_t)
        for name, (times, levels) in changes.items():
            t = np.clip(np.array([*times, horizon]), warmup, horizon)
            mean = float((np.diff(t) * np.array(levels)).sum() / (horizon - warmup))
            stats = summary["buffers"][name]
            assert mean == pytest.approx(stats["level"]["values"][rep], rel=1e-12), name
            inside = [lv for tt, lv in zip(times, levels, strict=True) if tt >= warmup]
            assert min(levels) >= 0
            capacity = sketch.nodes[name].capacity
            assert capacity is None or max(levels) <= capacity
            assert max(inside) <= stats["max_level"]["values"][rep]


def test_flows_balance_and_match_the_kpis(default_run: Path) -> None:
    summary = json.loads((default_run / "summary.json").read_text())
    sketch = sketch_of(load_scenario(default_run / "scenario.yaml"))
    flows = edge_flows(sketch, summary)
    assert set(flows) == {e.key for e in sketch.edges}
    span = summary["horizon"] - summary["warmup"]
    machines = summary["machines"]
    kpis = summary["kpis"]
    one = 1.0 / span  # one part, at most, in a machine between two counts
    assert flows["inspect->B_rework"] == pytest.approx(machines["inspect"]["rejected"]["mean"]
                                                       / span)
    rework = machines["rework"]["processed"]["mean"] / span
    assert flows["rework->B_wash"] == pytest.approx(0.9 * rework)
    assert flows["rework->scrapped"] == pytest.approx(0.1 * rework)
    # what reaches the sinks: the KPIs (shipped: good parts and escaped defects)
    shipped = kpis["throughput"]["mean"] + kpis["escaped_rate"]["mean"]
    assert abs(flows["pack->shipped"] - shipped) <= one
    # balance at each buffer, to a few parts in the buffer at either end
    for name, node in sketch.nodes.items():
        if node.shape != "buffer":
            continue
        into = sum(v for k, v in flows.items() if k.endswith(f"->{name}"))
        out = sum(v for k, v in flows.items() if k.startswith(f"{name}->"))
        assert abs(into - out) <= (summary["buffers"][name]["max_level"]["mean"] + 2) * one
    assert bottleneck(machines) == "mill"


def test_supply_chain_flows(tmp_path: Path) -> None:
    out = tmp_path / "chain"
    assert main(["run", str(ROOT / "scenarios" / "supply-chain.yaml"), "--horizon", "3000",
                 "--replications", "2", "--workers", "1", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    sketch = sketch_of(load_scenario(out / "scenario.yaml"))
    flows = edge_flows(sketch, summary)
    assert set(flows) == {e.key for e in sketch.edges}
    oem = summary["customers"]["oem"]
    assert flows["finished-goods->oem"] == pytest.approx(oem["demand"]["mean"]
                                                         * oem["fill_rate"]["mean"])
    into_store = flows["foundry-north->raw-store"] + flows["foundry-south->raw-store"]
    assert into_store == pytest.approx(flows["raw-store->lathe"])
    assert flows["foundry-north->raw-store"] == pytest.approx(flows["foundry-south->raw-store"])
    page = (out / "report.html").read_text()
    assert page.count('id="plant-diagram"') == 1 and 'id="plant-replay"' not in page
    assert (out / "report.html").stat().st_size < 3_000_000
    stock = summary["warehouses"]["finished-goods"]
    assert (f"stock {stock['inventory']['mean']:.0f} · fill "
            f"{stock['fill_rate']['mean']:.0%}") in page
    # the replay shows each warehouse's stock on hand as the run recorded it
    inventory = pd.read_parquet(out / "inventory.parquet")
    timeline = pd.DataFrame({"replication": [0], "machine": ["lathe"], "time": [0.0],
                             "state": ["working"]})
    replay = replay_data(sketch, timeline, None, 800.0, 2000.0, "h", inventory=inventory)
    first = inventory[inventory["replication"] == 0]
    for name, (times, levels) in replay.data["stocks"].items():
        rows = first[first["warehouse"] == name]
        for t in np.linspace(800.0, 2000.0, 9):
            i = int(np.searchsorted(np.array(times), t, side="right")) - 1
            assert levels[i] == rows[rows["time"] <= t]["on_hand"].iloc[-1], (name, t)
    assert set(replay.data["stocks"]) == {"raw-store", "finished-goods"}


def test_replay_states_equal_the_timeline_and_the_window_is_kept(default_run: Path) -> None:
    sketch = sketch_of(load_scenario(default_run / "scenario.yaml"))
    timeline = pd.read_parquet(default_run / "timeline.parquet")
    events = pd.read_parquet(default_run / "events.parquet")
    replay = replay_data(sketch, timeline, events, 2000.0, 2600.0, "min")
    data = replay.data
    assert replay.cut is None and data["t0"] == 2000.0 and data["t1"] == 2600.0
    first = timeline[timeline["replication"] == 0]
    for t in sample_times(first, 2000.0, 2600.0, 7):
        for name, (times, codes) in data["machines"].items():
            rows = first[(first["machine"] == name) & (first["time"] <= t)]
            expected = rows["state"].iloc[-1]
            i = int(np.searchsorted(np.array(times), t, side="right")) - 1
            assert data["states"][codes[i]] == expected, (name, t)
    assert set(data["buffers"]) == {"B_saw", "B_mill", "B_drill", "B_wash", "B_rework"}
    assert all(2000.0 < t <= 2600.0 for t in data["moves"][0])
    # a window too long for the page is cut where it reaches the most the page may hold
    small = replay_data(sketch, timeline, events, 1440.0, 4000.0, "min", max_changes=5000)
    assert small.cut == 4000.0 and 1440.0 < small.end < 4000.0
    stamps = [t for v in small.data["machines"].values() for t in v[0][1:]] + [
        t for v in small.data["buffers"].values() for t in v[0][1:]] + small.data["moves"][0]
    assert max(stamps) == small.data["t1"]
    # held: the first 5000 changes, and those at the very time of the 5000th
    assert sum(t < small.data["t1"] for t in stamps) < 5000 <= len(stamps)


def test_run_report_has_the_coloured_plant_and_the_replay(default_run: Path) -> None:
    page = (default_run / "report.html").read_text()
    for element in ('id="plant-diagram"', 'id="plant-replay"', 'id="replay-slider"'):
        assert page.count(element) == 1, element
    assert "bottleneck" in page and "<script src=" not in page
    assert (default_run / "report.html").stat().st_size < 5_000_000


def test_replay_window_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_window("10:20.5") == (10.0, 20.5)
    for bad in ("20:10", "x:1", "5", "-1:3"):
        with pytest.raises(ValueError):
            parse_window(bad)
    args = ["run", str(ROOT / "scenarios" / "mm1.yaml"), "--out", str(tmp_path / "r"),
            "--horizon", "3000", "--replications", "1"]
    assert main([*args, "--replay-window", "2300:2100"]) == 2
    assert "--replay-window" in capsys.readouterr().err
    assert main([*args, "--replay-window", "3000:4000"]) == 2
    assert ("--replay-window: starts at 3000, at or after the end of the run (3000)"
            in capsys.readouterr().err)
    assert not (tmp_path / "r").exists()  # refused before anything ran
    assert main([*args, "--replay-window", "2100:2300"]) == 0
    page = (tmp_path / "r" / "report.html").read_text()
    assert 'data-start="2100" data-end="2300"' in page


def test_live_status_writes_the_drawing_and_its_script(tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "default.yaml")
    status = {"plant": scenario.name, "clock": 12.5, "time_unit": "min",
              "state": {"machines": {"saw": {"state": "down", "age": 3.0}},
                        "buffers": {"B_saw": 4}},
              "alarms": [{"time": 12.0, "machine": "mill", "kind": "wear", "value": 0.9}]}
    write_status(tmp_path, status, scenario)
    page = (tmp_path / "index.html").read_text()
    assert page.count('id="plant-diagram"') == 1
    assert "<noscript><meta http-equiv='refresh'" in page and "id='live-tables'" in page
    script = (tmp_path / "status.js").read_text()
    assert script.startswith("twinLive.apply(null, ")
    payload = json.loads(script[len("twinLive.apply(null, "):-3])
    assert payload[0] == status and "<h2>Machines</h2>" in payload[1]
    write_status(tmp_path / "plain", status)  # without the scenario: the page as it was
    assert "<meta http-equiv='refresh'" in (tmp_path / "plain" / "index.html").read_text()
    assert not (tmp_path / "plain" / "status.js").exists()
