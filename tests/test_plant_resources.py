"""Assembly, batch machines, operators, machine calendars and failures on elapsed time: against
exact throughputs, the batch-forming wait, Erlang C and availability with two failure modes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import assert_matches, exp, simulate_plant
from twin.cli import main
from twin.engine.replication import simulate
from twin.language.loading import scenario_from_data


def const(value: float) -> dict[str, Any]:
    return {"dist": "constant", "value": value}


def one_run(plant: dict[str, Any], horizon: float, **extra: Any) -> Any:
    return simulate(scenario_from_data({"name": "t", "horizon": horizon, "plant": plant,
                                        **extra}), 0)


def test_assembly_of_one_a_and_two_b_is_paced_by_b() -> None:
    # B comes at 1.5 a minute and two go into each assembly: 0.75 a minute, A's feeder blocks
    plant = {"nodes": {"srcA": {"kind": "source", "product": "A"},
                       "srcB": {"kind": "source", "product": "B"},
                       "FA": {"kind": "machine", "process_time": const(1.0)},
                       "FB": {"kind": "machine", "process_time": const(1 / 1.5)},
                       "BA": {"kind": "buffer", "capacity": 5},
                       "BB": {"kind": "buffer", "capacity": 5},
                       "ASM": {"kind": "machine", "process_time": const(0.5),
                               "assembly": {"A": 1, "B": 2}, "makes": "AB"},
                       "out": {"kind": "sink"}},
             "edges": [["srcA", "FA"], ["srcB", "FB"], ["FA", "BA"], ["FB", "BB"],
                       ["BA", "ASM"], ["BB", "ASM"], ["ASM", "out"]]}
    horizon = 12_000
    result = one_run(plant, horizon)
    assert abs(result.kpis["throughput"] - 0.75) <= 2 / horizon
    assert result.machines["FA"]["blocked"] > 0.2 and result.machines["FB"]["blocked"] == 0
    assert result.deadlock is None
    # WIP: A and B parts waiting and in hand, each assembly counted once it is joined
    assert result.kpis["wip"] < 5 + 5 + 3 + 1


def test_disassembly_splits_along_its_edges() -> None:
    plant = {"nodes": {"src": {"kind": "source"},
                       "D": {"kind": "machine", "process_time": const(1.0),
                             "disassembly": {"left": 1, "right": 3}},
                       "left": {"kind": "sink"}, "right": {"kind": "sink"}},
             "edges": [["src", "D"], ["D", "left"], ["D", "right"]]}
    result = one_run(plant, 100.5)
    assert result.kpis["throughput"] * 100.5 == 400  # 100 parts, each into 1 + 3
    assert result.kpis["wip"] < 1.01


def test_oven_kept_full_makes_a_third_of_a_part_a_minute() -> None:
    plant = {"nodes": {"src": {"kind": "source"},
                       "oven": {"kind": "machine", "process_time": const(30),
                                "batch": {"max": 10}},
                       "out": {"kind": "sink"}},
             "edges": [["src", "oven"], ["oven", "out"]]}
    result = one_run(plant, 3000.5)
    assert result.kpis["throughput"] * 3000.5 == 1000
    assert result.machines["oven"]["oee"] == pytest.approx(3 * 1000 / 3000.5)


def test_full_batch_wait_is_k_minus_one_over_two_lambda() -> None:
    # Poisson arrivals at 0.2, batches of exactly 10, a 5-minute cycle: the oven is free when
    # a batch forms (but for a chance of ~1e-7), so a part waits (K - 1) / (2 lambda) = 22.5
    plant = {"nodes": {"src": {"kind": "source", "interarrival": exp(5)},
                       "oven": {"kind": "machine", "process_time": const(5),
                                "batch": {"min": 10, "max": 10}},
                       "out": {"kind": "sink"}},
             "edges": [["src", "oven"], ["oven", "out"]]}
    summary = simulate_plant(plant, horizon=60_000, warmup=500, replications=8)
    assert_matches(summary["kpis"]["lead_time"], 22.5 + 5, rel_precision=0.02)


def test_a_batch_starts_with_min_parts_once_the_oldest_has_waited() -> None:
    # a part every 10 minutes; min 3, max 5, wait 25: each batch starts 25 after its first
    # part arrives, with the three parts that came by then
    plant = {"nodes": {"src": {"kind": "source", "interarrival": const(10)},
                       "oven": {"kind": "machine", "process_time": const(1),
                                "batch": {"min": 3, "max": 5, "wait": 25}},
                       "out": {"kind": "sink"}},
             "edges": [["src", "oven"], ["oven", "out"]]}
    result = one_run(plant, 1000)
    # parts at 10, 20, 30 start at 35 (the third came at 30 < 35): waits 25, 15, 5 (+1)
    assert result.kpis["lead_time"] == pytest.approx(16.0)


def test_two_operators_for_four_machines_is_erlang_c() -> None:
    lam, mu, c = 0.8, 0.5, 2
    a = lam / mu
    rho = a / c
    p0 = 1 / (sum(a**k / math.factorial(k) for k in range(c))
              + a**c / math.factorial(c) / (1 - rho))
    wq = a**c / math.factorial(c) / (1 - rho) * p0 / (c * mu - lam)  # Erlang C: 3.556
    nodes: dict[str, Any] = {"src": {"kind": "source", "interarrival": exp(1 / lam)},
                             "queue": {"kind": "buffer"}, "out": {"kind": "sink"}}
    edges = [["src", "queue"]]
    for k in range(1, 5):
        nodes[f"M{k}"] = {"kind": "machine", "process_time": exp(1 / mu),
                          "operators": {"process": "crew"}}
        edges += [["queue", f"M{k}"], [f"M{k}", "out"]]
    summary = simulate_plant({"nodes": nodes, "edges": edges}, horizon=40_000, warmup=1_000,
                             replications=8, operators={"crew": {"size": 2}})
    assert_matches(summary["kpis"]["lead_time"], wq + 1 / mu, rel_precision=0.05)
    pool = summary["operators"]["crew"]
    assert_matches(pool["utilization"], rho, rel_precision=0.02)
    assert_matches(pool["operator_1"], rho, rel_precision=0.03)
    waiting = sum(summary["machines"][f"M{k}"]["waiting_operator"]["mean"] for k in range(1, 5))
    # machines waiting for an operator hold the parts queued for one: L_q of M/M/2 less the
    # parts still in the buffer, so at most L_q = lambda W_q
    assert 0 < waiting < lam * wq


def test_walking_operator_and_a_loading_task() -> None:
    # one operator loads two saturated machines (load 1, then 3 minutes on its own) and walks
    # 0.5 between them: each cycle of the pair takes 2 loads + 2 walks = 3 minutes of the
    # operator, less than a machine's 4, so each machine makes a part every 4.5 minutes
    plant = {"nodes": {"src": {"kind": "source", "interarrival": const(0.01)},
                       "q": {"kind": "buffer"},
                       "M1": {"kind": "machine", "process_time": const(3),
                              "operators": {"load": "loaders", "load_time": const(1)}},
                       "M2": {"kind": "machine", "process_time": const(3),
                              "operators": {"load": "loaders", "load_time": const(1)}},
                       "out": {"kind": "sink"}},
             "edges": [["src", "q"], ["q", "M1"], ["q", "M2"], ["M1", "out"], ["M2", "out"]]}
    result = one_run(plant, 9000, operators={"loaders": {"size": 1, "walk": const(0.5)}})
    assert result.kpis["throughput"] == pytest.approx(2 / 4.5, abs=2 / 9000)
    assert result.operators["loaders"]["utilization"] == pytest.approx(3 / 4.5, abs=1e-3)


@pytest.mark.parametrize(("working", "expected"), [
    ([[0, 960]], 960 / 1440),
    ([[0, 480], [510, 960]], 930 / 1440),
])
def test_calendar_limits_a_saturated_machine(working: list[list[float]],
                                             expected: float) -> None:
    plant = {"nodes": {"src": {"kind": "source"},
                       "M": {"kind": "machine", "process_time": const(1),
                             "calendar": "two-shift"},
                       "out": {"kind": "sink"}},
             "edges": [["src", "M"], ["M", "out"]]}
    result = one_run(plant, 10 * 1440,
                     calendars={"two-shift": {"period": 1440, "working": working}})
    assert result.kpis["throughput"] == pytest.approx(expected, rel=1e-12)
    assert result.machines["M"]["off"] == pytest.approx(1 - expected)
    assert result.kpis["oee"] == pytest.approx(1.0)  # OEE on planned production time
    assert result.machines["M"]["availability"] == pytest.approx(1.0)


def test_a_part_under_way_resumes_after_the_break() -> None:
    # 0.7-minute parts, work [0, 10) of every 20: a part cut by the end of the shift finishes
    # when work starts again, so every working minute is used
    plant = {"nodes": {"src": {"kind": "source"},
                       "M": {"kind": "machine", "process_time": const(0.7),
                             "calendar": {"period": 20, "working": [[0, 10]],
                                          "shutdowns": [[40, 80]]}},
                       "out": {"kind": "sink"}},
             "edges": [["src", "M"], ["M", "out"]]}
    result = one_run(plant, 200)
    working = 200 / 2 - 20  # ten shifts of 10, two lost to the shutdown
    assert result.kpis["throughput"] * 200 == pytest.approx(math.floor(working / 0.7))
    assert result.machines["M"]["utilization"] * 200 == pytest.approx(working)
    assert result.machines["M"]["off"] * 200 == pytest.approx(200 - working)


def test_two_calendar_time_failure_modes() -> None:
    l1, r1, l2, r2 = 1 / 100, 5.0, 1 / 400, 40.0
    plant = {"nodes": {"src": {"kind": "source", "interarrival": exp(4.0)},
                       "M": {"kind": "machine", "process_time": exp(1.0), "failures": [
                           {"name": "jam", "basis": "calendar", "ttf": exp(1 / l1),
                            "ttr": exp(r1)},
                           {"name": "motor", "basis": "calendar", "ttf": exp(1 / l2),
                            "ttr": exp(r2)}]},
                       "out": {"kind": "sink"}},
             "edges": [["src", "M"], ["M", "out"]]}
    summary = simulate_plant(plant, horizon=150_000, warmup=0, replications=8,
                             maintenance={"crew": None})
    # lives run in elapsed time, idle or not: availability 1 / (1 + l1 r1 + l2 r2)
    assert_matches(summary["machines"]["M"]["availability"], 1 / (1 + l1 * r1 + l2 * r2),
                   rel_precision=0.015)
    modes = summary["failure_modes"]["M"]
    assert modes["jam"]["mean"] / modes["motor"]["mean"] == pytest.approx(l1 / l2, rel=0.08)
    assert summary["machines"]["M"]["starved"]["mean"] > 0.5  # it failed while idle too


BAD = {  # what is changed, into what, the line and the message
    "assembly": ("assembly: {A: 1, B: 2}", "assembly: {A: 1, C: 2}", 11,
                 "plant.nodes.ASM.assembly.C: no input of machine 'ASM' can supply product "
                 "'C' (its inputs supply A, B)"),
    "pool": ("operators: {process: setters}", "operators: {process: setter}", 12,
             "plant.nodes.ASM.operators.process: no operator pool named 'setter' in operators; "
             "did you mean 'setters'?"),
    "calendar": ("working: [[0, 480], [510, 960]]", "working: [[0, 480], [470, 960]]", 4,
                 "calendars.day: working: the intervals [0, 480] and [470, 960] overlap"),
}
GOOD = """\
name: bad
horizon: 100
calendars:
  day: {period: 1440, working: [[0, 480], [510, 960]]}
operators:
  setters: {size: 1}
plant:
  nodes:
    srcA: {kind: source, product: A}
    srcB: {kind: source, product: B}
    ASM: {kind: machine, process_time: 1, assembly: {A: 1, B: 2}, makes: AB, calendar: day,
          operators: {process: setters}}
    out: {kind: sink}
  edges: [[srcA, ASM], [srcB, ASM], [ASM, out]]
"""


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_resources_exit_2_with_field_and_line(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  case: str) -> None:
    old, new, line, message = BAD[case]
    path = tmp_path / "bad.yaml"
    assert old in GOOD
    path.write_text(GOOD.replace(old, new))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line}: {message}" in err, err
    assert "Traceback" not in err


def test_the_good_file_passes(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    assert main(["validate", str(path)]) == 0


def test_operators_work_by_their_calendar() -> None:
    # the only operator works [0, 50) of every 100; the machine, always on, needs them for the
    # whole process: 50 parts a period, the operator busy all their working time
    plant = {"nodes": {"src": {"kind": "source"},
                       "M": {"kind": "machine", "process_time": const(1),
                             "operators": {"process": "crew"}},
                       "out": {"kind": "sink"}},
             "edges": [["src", "M"], ["M", "out"]]}
    result = one_run(plant, 1000, operators={
        "crew": {"size": 1, "calendar": {"period": 100, "working": [[0, 50]]}}})
    assert result.kpis["throughput"] == pytest.approx(0.5)
    assert result.operators["crew"]["utilization"] == pytest.approx(1.0)
    assert result.machines["M"]["waiting_operator"] == pytest.approx(0.5)
