"""Quality: defects (also from wear), inspection with detection and false alarms, rework, scrap;
quality in OEE, costs and profit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import assert_matches, simulate_plant
from twin.cli import main


def inspected_line(check: dict, *, defects: dict, rework: float | None = None) -> dict:
    nodes = {
        "raw": {"kind": "source"},
        "M1": {"kind": "machine", "process_time": 1.0, "defects": defects},
        "QC": {"kind": "machine", "process_time": 0.5, "inspection": check},
        "done": {"kind": "sink"},
    }
    edges: list = [["raw", "M1"], ["M1", "QC"], ["QC", "done"]]
    if rework is None:
        nodes["scrap"] = {"kind": "sink", "scrap": True}
        edges.append({"from": "QC", "to": "scrap", "when": "rejected"})
    else:
        nodes["RB"] = {"kind": "buffer"}
        nodes["RW"] = {"kind": "machine", "process_time": 2.0, "fixes": rework}
        nodes["QB"] = {"kind": "buffer", "capacity": 5}
        edges = [["raw", "M1"], ["M1", "QB"], ["QB", "QC"], ["QC", "done"],
                 {"from": "QC", "to": "RB", "when": "rejected"}, ["RB", "RW"], ["RW", "QB"]]
    return {"nodes": nodes, "edges": edges}


def test_inspection_with_detection_and_false_alarms() -> None:
    p, detection, false_alarm = 0.1, 0.8, 0.05
    plant = inspected_line({"detection": detection, "false_alarm": false_alarm},
                           defects={"probability": p})
    summary = simulate_plant(plant, horizon=50_000, warmup=500, replications=8,
                             costs={"scrap": 3.0, "escaped_defect": 40.0, "revenue": 10.0})
    rate = 1.0  # M1 is the constraint, never starved or blocked (QC is faster)
    good = (1 - p) * (1 - false_alarm)
    escaped = p * (1 - detection)
    scrapped = (1 - p) * false_alarm + p * detection
    kpis = summary["kpis"]
    assert_matches(kpis["throughput"], rate * good, rel_precision=0.01)
    assert_matches(kpis["quality"], good, rel_precision=0.01)
    assert_matches(kpis["escaped_rate"], rate * escaped, rel_precision=0.05)
    assert_matches(kpis["scrap_rate"], rate * scrapped, rel_precision=0.03)
    assert_matches(kpis["cost_rate"], rate * (3.0 * scrapped + 40.0 * escaped), rel_precision=0.03)
    assert_matches(kpis["profit_rate"], rate * (10.0 * good - 3.0 * scrapped - 40.0 * escaped),
                   rel_precision=0.03)
    # OEE = availability x performance x quality: here 1 x 1 x good share
    assert_matches(kpis["oee"], good, rel_precision=0.01)
    assert summary["machines"]["QC"]["rejected"]["mean"] > 0


def test_rework_loop_fixes_every_rejected_part() -> None:
    p, fixes = 0.2, 0.5
    plant = inspected_line({"detection": 1.0}, defects={"probability": p}, rework=fixes)
    summary = simulate_plant(plant, horizon=30_000, warmup=500, replications=6)
    assert summary["kpis"]["quality"]["mean"] == 1.0
    assert summary["kpis"]["escaped_rate"]["mean"] == 0.0
    # each defective part needs 1/fixes rework passes on average
    processed = {m: summary["machines"][m]["processed"]["mean"] for m in ("M1", "RW")}
    assert processed["RW"] / processed["M1"] == pytest.approx(p / fixes, rel=0.05)


def test_defects_grow_with_wear() -> None:
    rate = 0.02
    plant = {"nodes": {
        "raw": {"kind": "source"},
        "M1": {"kind": "machine", "process_time": 1.0,
               "degradation": {"model": "markov", "rates": [rate, rate]},
               "failures": {"ttr": 1.0}, "defects": {"per_wear": 0.5}},
        "done": {"kind": "sink"}},
        "edges": [["raw", "M1"], ["M1", "done"]]}
    summary = simulate_plant(plant, horizon=100_000, warmup=500, replications=8)
    # wear is 0 for the first state and 0.5 for the second, each lasting 1/rate on average:
    # the parts see a time-average wear of 0.25, so a defect share of 0.5 * 0.25
    assert_matches(summary["kpis"]["escaped_rate"], 0.125 * summary["kpis"]["throughput"]["mean"]
                   / (1 - 0.125), rel_precision=0.05)
    assert summary["machines"]["M1"]["defects"]["mean"] > 0


@pytest.mark.parametrize(("edges", "words"), [
    ('[[raw, M1], [M1, QC], [QC, done]]', "exactly one edge with when: rejected"),
    ('[[raw, M1], [M1, QC], [QC, done], {from: M1, to: QC2, when: rejected}]', "unknown node"),
    ('[[raw, M1], [M1, QC], [QC, done], {from: M1, to: done, when: rejected}]',
     "does not inspect parts"),
])
def test_bad_quality_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   edges: str, words: str) -> None:
    path = tmp_path / "q.yaml"
    path.write_text("name: q\nhorizon: 100\nplant:\n  nodes:\n    raw: {kind: source}\n"
                    "    M1: {kind: machine, process_time: 1, defects: {probability: 0.1}}\n"
                    "    QC: {kind: machine, process_time: 1, inspection: {detection: 0.9}}\n"
                    "    done: {kind: sink}\n"
                    f"  edges: {edges}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
