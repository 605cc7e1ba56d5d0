"""Schedules with risk against exact answers: Erlang completion times of orders queued on an
exponential machine, Johnson's two-machine flow shop, a deterministic plant whose risk is the
plan's verdict, work in progress of a saved state first, dispatching rules on common random
numbers, and bad input refused before anything runs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from tests.helpers import CHROMEDRIVER, CHROMIUM, chromium, exp
from twin.cli import main
from twin.engine.replication import simulate
from twin.engine.state import PlantState
from twin.language.loading import scenario_from_data
from twin.report.schedule import gantt_bars
from twin.study.executors import SerialExecutor
from twin.study.schedule import deterministic, load_orders, schedule, wilson

Z999 = 3.2905  # two-sided 99.9%: the tolerance of an estimated probability


def orders_file(path: Path, rows: list[tuple[str, str, int, float, float]]) -> Path:
    pd.DataFrame(rows, columns=["order", "product", "quantity", "release", "due"]).to_csv(
        path, index=False)
    return path


def one_machine(process: Any, buffer: str | None = None) -> dict[str, Any]:
    nodes: dict[str, Any] = {"src": {"kind": "source"},
                             "M": {"kind": "machine", "process_time": process},
                             "out": {"kind": "sink"}}
    edges = [["src", "M"], ["M", "out"]]
    if buffer is not None:
        nodes["B"] = {"kind": "buffer", "dispatch": buffer}
        edges = [["src", "B"], ["B", "M"], ["M", "out"]]
    return {"name": "one-machine", "horizon": 1000, "seed": 3,
            "plant": {"nodes": nodes, "edges": edges}, "products": {"P": {"route": ["M"]}}}


def erlang_cdf(k: int, t: float) -> float:
    return 1.0 - sum(math.exp(-t) * t ** i / math.factorial(i) for i in range(k))


def test_orders_queued_on_an_exponential_machine_are_on_time_with_erlang_odds(
        tmp_path: Path) -> None:
    # five orders of one part released at 0 in order, due at 6: order k is done after k
    # exponential(1) process times, an Erlang(k, 1) time
    scenario = scenario_from_data(one_machine(exp(1.0)))
    orders = load_orders(orders_file(tmp_path / "o.csv", [
        (f"O{k}", "P", 1, 0.0, 6.0) for k in range(1, 6)]), scenario)
    n = 4000
    result = schedule(scenario, orders, replications=n, executor=SerialExecutor())
    exact = [0.9975, 0.9826, 0.9380, 0.8488, 0.7149]
    assert [round(erlang_cdf(k, 6.0), 4) for k in range(1, 6)] == exact
    rows = result.doc["orders"]
    for k, (row, p) in enumerate(zip(rows, exact, strict=True), start=1):
        assert row["order"] == f"O{k}"
        assert row["planned_end"] == k  # the plan: every process time at its mean, 1
        assert row["planned_on_time"] is True
        estimate = row["on_time_probability"]
        assert abs(estimate - p) <= Z999 * math.sqrt(p * (1 - p) / n)
        low, high = row["on_time_ci95"]
        assert low <= estimate <= high and high - low < 0.04
        assert row["at_risk"] is (estimate < 0.8)
        median = row["completion_quantiles"]["50%"]  # Erlang(k, 1)'s median, within its noise
        assert erlang_cdf(k, median) == pytest.approx(0.5, abs=Z999 * 0.5 / math.sqrt(n))
    assert result.doc["at_risk"] == ["O5"]
    plan = result.plan
    assert list(plan["order"]) == [f"O{k}" for k in range(1, 6)]
    assert list(plan["start"]) == [0, 1, 2, 3, 4] and list(plan["end"]) == [1, 2, 3, 4, 5]
    assert set(plan["kind"]) == {"process"} and set(plan["operation"]) == {1}
    # the makespan is the last order's Erlang(5, 1) time: within the plan's 5 with P = 0.5595
    span = result.doc["makespan"]
    assert span["plan"] == 5
    assert abs(span["probability_within_plan"] - erlang_cdf(5, 5.0)) <= Z999 * math.sqrt(
        0.5595 * 0.4405 / n)
    assert span["mean"] == pytest.approx(5.0, abs=Z999 * math.sqrt(5 / n))


JOBS = {"J1": (3, 6), "J2": (5, 2), "J3": (1, 2), "J4": (6, 6), "J5": (7, 5), "J6": (2, 4)}
JOHNSON = ["J3", "J6", "J1", "J4", "J5", "J2"]  # a <= b by a ascending, then b descending


def flow_shop(law: Any = None) -> dict[str, Any]:
    """Two machines in series, unlimited buffer between them; process times ``law(mean)``
    (constants by default)."""
    law = law or (lambda mean: mean)
    return {
        "name": "flow-shop", "horizon": 1000, "seed": 11,
        "plant": {"nodes": {"src": {"kind": "source"}, "M1": {"kind": "machine",
                                                             "process_time": 1},
                            "B": {"kind": "buffer"}, "M2": {"kind": "machine", "process_time": 1},
                            "out": {"kind": "sink"}},
                  "edges": [["src", "M1"], ["M1", "B"], ["B", "M2"], ["M2", "out"]]},
        "products": {j: {"route": ["M1", "M2"], "process_time": {"M1": law(a), "M2": law(b)}}
                     for j, (a, b) in JOBS.items()},
    }


def johnson_times(sequence: list[str]) -> dict[str, tuple[float, float, float, float]]:
    """Each job's (start, end) on M1 and on M2: C1 = C1' + a; C2 = max(C1, C2') + b."""
    c1 = c2 = 0.0
    out = {}
    for job in sequence:
        a, b = JOBS[job]
        s1, c1 = c1, c1 + a
        s2 = max(c1, c2)
        c2 = s2 + b
        out[job] = (s1, c1, s2, c2)
    return out


@pytest.mark.parametrize("law", [None, exp], ids=["constant", "exponential"])
def test_the_plan_of_johnsons_flow_shop_has_johnsons_makespan(tmp_path: Path, law: Any) -> None:
    # the plan takes every time at its mean: random process times leave it unchanged
    scenario = scenario_from_data(flow_shop(law))
    orders = load_orders(orders_file(tmp_path / "o.csv", [(j, j, 1, 0.0, 25.0)
                                                          for j in JOHNSON]), scenario)
    result = schedule(scenario, orders, replications=20, executor=SerialExecutor())
    times = johnson_times(JOHNSON)
    assert result.doc["plan"]["makespan"] == 26 == max(t[3] for t in times.values())
    plan = result.plan.set_index(["order", "machine"])
    for job, (s1, e1, s2, e2) in times.items():
        assert tuple(plan.loc[(job, "M1"), ["start", "end", "operation"]]) == (s1, e1, 1)
        assert tuple(plan.loc[(job, "M2"), ["start", "end", "operation"]]) == (s2, e2, 2)
    reverse = load_orders(orders_file(tmp_path / "r.csv", [(j, j, 1, 0.0, 25.0)
                                                           for j in JOHNSON[::-1]]), scenario)
    assert schedule(scenario, reverse, replications=2,
                    executor=SerialExecutor()).doc["plan"]["makespan"] == 36


def test_a_deterministic_plant_is_on_time_with_probability_one_or_zero_as_planned(
        tmp_path: Path) -> None:
    scenario = scenario_from_data(flow_shop())
    orders = load_orders(orders_file(tmp_path / "o.csv", [(j, j, 1, 0.0, 25.0)
                                                          for j in JOHNSON]), scenario)
    result = schedule(scenario, orders, replications=30, executor=SerialExecutor())
    for row in result.doc["orders"]:
        planned = johnson_times(JOHNSON)[row["order"]][3]
        assert row["planned_end"] == planned
        assert row["on_time_probability"] == (1.0 if planned <= 25 else 0.0)
        assert row["completion_quantiles"] == {"5%": planned, "50%": planned, "95%": planned}
        assert row["expected_tardiness"] == max(0.0, planned - 25)
    assert result.doc["at_risk"] == ["J2"]  # done at 26, due at 25
    assert result.doc["makespan"]["probability_within_plan"] == 1.0
    low, high = result.doc["orders"][0]["on_time_ci95"]
    assert (low, high) == pytest.approx(wilson(30, 30)) and high == 1.0 and low > 0.88


def two_machines() -> dict[str, Any]:
    data = flow_shop(exp)
    data["products"] = {"A": {"route": ["M1", "M2"], "process_time": {"M1": 2, "M2": 3}},
                        "B": {"route": ["M1", "M2"], "process_time": {"M1": 1, "M2": 1}}}
    data["plant"]["nodes"]["M1"]["process_time"] = exp(1.0)
    return data


def test_the_plan_from_a_saved_state_finishes_its_work_in_progress_first(tmp_path: Path) -> None:
    # a run of orders A1..A6 stopped midway saves the state; the schedule of those still under
    # way and of new orders B1, B2 starts with the state's parts, each where it was
    data = two_machines()
    first = orders_file(tmp_path / "first.csv", [(f"A{k}", "A", 3, 0.0, 100.0)
                                                 for k in range(1, 7)])
    scenario = scenario_from_data({**data, "orders": {"file": str(first)}, "horizon": 17.5})
    saved = simulate(scenario, 0, save_state=True).end_state
    assert saved is not None
    state = PlantState.model_validate(yaml.safe_load(saved))
    assert state.time == 17.5
    held = state.machines["M2"]
    assert held.state == "working" and held.part is not None and held.remaining is not None
    waiting = {p.order for b in state.buffers.values() for p in b}  # type: ignore[union-attr]
    under_way = sorted(waiting | {held.part.order, state.machines["M1"].part.order})  # type: ignore[union-attr]
    plant = scenario_from_data(data)
    rows = [(o, "A", 3, 0.0, 100.0) for o in under_way]
    rows += [("B1", "B", 2, 17.5, 40.0), ("B2", "B", 2, 30.0, 60.0)]
    orders = load_orders(orders_file(tmp_path / "today.csv", rows), plant)
    result = schedule(plant, orders, state=state, replications=5, executor=SerialExecutor())
    plan = result.plan
    assert plan["start"].min() == 17.5
    # M2 finishes the part in hand first, in its remaining time
    m2 = plan[plan["machine"] == "M2"].sort_values("start")
    assert m2.iloc[0]["order"] == held.part.order
    assert m2.iloc[0]["start"] == 17.5 and m2.iloc[0]["end"] == pytest.approx(17.5
                                                                             + held.remaining)
    # every machine works off the state's parts before the new orders' (first come, first
    # served), and the parts waiting before M2 do only their last step there
    old = plan["order"].isin(under_way)
    for machine in ("M1", "M2"):
        on = plan[plan["machine"] == machine].sort_values("start")
        assert not on["order"].isin(under_way).iloc[on["order"].isin(under_way).sum():].any()
    assert set(plan.loc[old & (plan["machine"] == "M1"), "operation"]) <= {1}
    assert set(plan.loc[old & (plan["machine"] == "M2"), "operation"]) == {2}
    buffered = len(state.buffers["B"])  # type: ignore[arg-type]
    assert (plan.loc[old, "machine"] == "M2").sum() == buffered + 1 + 1
    # the orders under way release nothing more: their parts are the state's
    parts_in_state = sum(len(b) for b in state.buffers.values()) + 2  # type: ignore[arg-type]
    assert plan.loc[old & (plan["machine"] == "M2"), "part"].nunique() == parts_in_state
    assert plan.loc[plan["order"] == "B1", "start"].min() >= 17.5
    assert plan.loc[plan["order"] == "B2", "start"].min() >= 30.0
    ends = {o["order"]: o["planned_end"] for o in result.doc["orders"]}
    for order in under_way:
        assert ends[order] == plan.loc[plan["order"] == order, "end"].max()


def test_rules_on_common_random_numbers_ranked_by_tardiness(tmp_path: Path) -> None:
    # one machine, one time unit a part; three orders released at 0 due at 3, 2, 1: the free
    # machine takes O1 at once, then the rule chooses between O2 and O3
    scenario = scenario_from_data(one_machine(1, buffer="fifo"))
    orders = load_orders(orders_file(tmp_path / "o.csv", [
        ("O1", "P", 1, 0.0, 3.0), ("O2", "P", 1, 0.0, 2.0), ("O3", "P", 1, 0.0, 1.0)]),
        scenario)
    result = schedule(scenario, orders, replications=4, rules=["fifo", "edd"],
                      executor=SerialExecutor())
    by_rule = {r["rule"]: r for r in result.doc["rules"]}
    # fifo: O1 1, O2 2, O3 3 -> tardiness 0, 0, 2; edd: O1 1, O3 2, O2 3 -> 0, 1, 1 (the same
    # total), so the tie is broken by the orders at risk: one under fifo, two under edd
    assert by_rule["fifo"]["tardiness"]["mean"] == pytest.approx(2 / 3)
    assert by_rule["edd"]["tardiness"]["mean"] == pytest.approx(2 / 3)
    assert by_rule["fifo"]["orders_at_risk"] == 1 and by_rule["edd"]["orders_at_risk"] == 2
    assert [r["rule"] for r in result.doc["rules"]] == ["fifo", "edd"]
    assert by_rule["edd"]["rank_at_risk"] == 2
    assert by_rule["edd"]["difference"]["mean"] == pytest.approx(0.0)


def test_edd_beats_fifo_on_the_same_random_times(tmp_path: Path) -> None:
    # exponential times, ten orders due in the reverse of their order: earliest due date never
    # does worse, replication by replication (common random numbers)
    scenario = scenario_from_data(one_machine(exp(1.0), buffer="fifo"))
    orders = load_orders(orders_file(tmp_path / "o.csv", [
        (f"O{k}", "P", 1, 0.0, 12.0 - k) for k in range(1, 11)]), scenario)
    result = schedule(scenario, orders, replications=40, rules=["fifo", "edd"],
                      executor=SerialExecutor())
    ranked = result.doc["rules"]
    assert [r["rule"] for r in ranked] == ["edd", "fifo"]
    fifo, edd = (ranked[1]["tardiness"]["values"], ranked[0]["tardiness"]["values"])
    assert all(e <= f + 1e-12 for e, f in zip(edd, fifo, strict=True))
    assert ranked[1]["difference"]["ci95"][0] > 0


def test_the_plan_is_the_plant_at_its_means_without_failures(tmp_path: Path) -> None:
    data = flow_shop(exp)
    data["plant"]["nodes"]["M1"]["failures"] = {"ttf": exp(5.0), "ttr": exp(2.0)}
    scenario = scenario_from_data(data)
    plain = deterministic(scenario)
    m1 = plain.plant.nodes["M1"]
    assert m1.failures.ttf.value >= 1e29 and m1.failures.ttr.value == 2.0  # type: ignore[union-attr]
    assert plain.products["J1"].process_time["M1"].value == 3
    orders = load_orders(orders_file(tmp_path / "o.csv", [(j, j, 1, 0.0, 25.0)
                                                          for j in JOHNSON]), scenario)
    result = schedule(scenario, orders, replications=10, executor=SerialExecutor())
    assert result.doc["plan"]["makespan"] == 26 and set(result.plan["kind"]) == {"process"}
    failing = schedule(scenario, orders, replications=2, plan_failures=True,
                       executor=SerialExecutor())
    repairs = failing.plan[failing.plan["kind"] == "repair"]
    assert len(repairs) and (repairs["end"] - repairs["start"] == 2.0).all()
    # over replications with failures, the risk is real: J2 (due 25, planned at 26) is late
    probability = {o["order"]: o["on_time_probability"] for o in result.doc["orders"]}
    assert probability["J2"] < 0.5


def test_twin_schedule_writes_the_plan_the_risk_table_and_the_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(two_machines()))
    orders = orders_file(tmp_path / "o.csv", [("A1", "A", 3, 0.0, 12.0), ("B1", "B", 4, 1.0, 30.0),
                                              ("A2", "A", 2, 5.0, 40.0)])
    out = tmp_path / "out"
    assert main(["schedule", str(path), "--orders", str(orders), "--replications", "8",
                 "--workers", "1", "--out", str(out), "--rules", "fifo,edd,cr",
                 "--colour-by", "order"]) == 0
    printed = capsys.readouterr().out
    assert "A1" in printed and "dispatching rules" in printed
    plan = pd.read_parquet(out / "schedule.parquet")
    assert list(plan.columns) == ["order", "product", "operation", "machine", "start", "end",
                                  "kind", "part"]
    assert len(plan) == (3 + 4 + 2) * 2
    doc = json.loads((out / "schedule.json").read_text())
    assert [o["order"] for o in doc["orders"]] == ["A1", "B1", "A2"]
    for o in doc["orders"]:
        assert set(o) >= {"order", "planned_end", "on_time_probability", "on_time_ci95",
                          "completion_quantiles"}
        assert o["planned_end"] == plan.loc[plan["order"] == o["order"], "end"].max()
    assert {r["rule"] for r in doc["rules"]} == {"fifo", "edd", "cr"}
    assert doc["replications"] == 8 and doc["makespan"]["plan"] == plan["end"].max()
    page = (out / "report.html").read_text()
    assert 'id="gantt"' in page and 'id="risk-table"' in page
    bars = gantt_bars(plan)
    assert bars["parts"].sum() == len(plan) and len(bars) < len(plan)


@pytest.mark.parametrize(("what", "words"), [
    ("product", "row 3, column 'product': unknown product 'C'"),
    ("due", "row 2, column 'due': due at 3, before its release at 5"),
    ("state", "machines.M9: no machine 'M9' in scenario 'flow-shop'"),
    ("state product", "buffers.B[0].product: unknown product 'Z'"),
    ("rule", "unknown dispatching rule 'eed'; did you mean 'edd'?"),
    ("risk", "--risk: must be a probability in (0, 1], got 1.5"),
])
def test_bad_input_exits_2_before_anything_runs(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str],
                                                what: str, words: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(two_machines()))
    rows = [("A1", "A", 1, 0.0, 10.0), ("A2", "C" if what == "product" else "A", 1, 0.0, 10.0)]
    if what == "due":
        rows[0] = ("A1", "A", 1, 5.0, 3.0)
    orders = orders_file(tmp_path / "o.csv", rows)
    args = ["schedule", str(path), "--orders", str(orders), "--out", str(tmp_path / "out"),
            "--workers", "1"]
    if what.startswith("state"):
        state = tmp_path / "state.yaml"
        state.write_text("machines: {M9: {state: starved}}\n" if what == "state"
                         else "buffers: {B: [{product: Z}]}\n")
        args += ["--state", str(state)]
    if what == "rule":
        args += ["--rules", "fifo,eed"]
    if what == "risk":
        args += ["--risk", "1.5"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="headless Chromium is not installed")
def test_the_schedule_report_draws_the_gantt_chart_in_a_browser(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from twin.report.schedule import save_schedule

    scenario = scenario_from_data(flow_shop(exp))
    orders = load_orders(orders_file(tmp_path / "o.csv", [(j, j, 1, 0.0, 25.0)
                                                          for j in JOHNSON]), scenario)
    report = save_schedule(schedule(scenario, orders, replications=20,
                                    executor=SerialExecutor()), tmp_path / "out")
    with chromium() as driver:
        driver.get(report.as_uri())
        state = WebDriverWait(driver, 30).until(
            lambda d: d.execute_script("return document.body.dataset.plots"))
        assert state == "ready"
        gantt = driver.find_element(By.ID, "gantt").find_element(
            By.XPATH, "following-sibling::div[1]")
        # one bar per operation (the two machines' 12), the hatched ones at risk among them
        assert len(gantt.find_elements(By.CSS_SELECTOR, ".bars path")) == 12
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert errors == []


def test_the_live_twin_replans_the_open_orders_from_the_mirrored_state(tmp_path: Path) -> None:
    # the machining cell emulated to Tuesday evening over a real Mosquitto; the live twin,
    # given the week's whole order list, re-plans the orders still open from what it mirrored
    import threading
    from collections import Counter

    from twin.language.loading import load_scenario
    from twin.live.broker import Broker, mosquitto
    from twin.live.connector import Connector
    from twin.live.emulator import emulate
    from twin.live.schedules import placed_state
    from twin.live.schema import twin_topic
    from twin.live.twin import LiveTwin

    if mosquitto() is None:
        pytest.skip("Eclipse Mosquitto is not installed")
    root = Path(__file__).resolve().parents[1]
    scenario = load_scenario(root / "scenarios" / "cell-orders.yaml")
    week = pd.read_csv(root / "scenarios" / "cell-orders.csv")
    with Broker(tmp_path / "broker") as broker:
        listener = Connector(broker.url, "schedule-listener",
                             (twin_topic(scenario.name, "schedule"),))
        twin = LiveTwin(scenario, broker.url, out=tmp_path / "live", forecasts=False,
                        replications=3, schedule=root / "scenarios" / "cell-orders.csv",
                        schedule_every=3600, client_id="live-schedule")
        stop = threading.Event()
        try:
            assert listener.wait_connected(10) and twin.connector.wait_connected(10)
            thread = threading.Thread(target=twin.run, args=(stop,), daemon=True)
            thread.start()
            emulation = emulate(scenario, broker.url, speed=100_000, until=2880,
                                client_id="emulate-schedule")
            mirror = twin.mirror
            assert wait(lambda: mirror.counts["events"] >= emulation.events
                        and mirror.clock >= emulation.clock and not twin.scheduler.busy())  # type: ignore[union-attr]
            twin.next_schedule = 0.0  # re-plan now, from the state caught up
            payloads: list[dict[str, Any]] = []

            def replanned() -> bool:
                payloads.extend(json.loads(p) for _, p in listener.drain(timeout=0.05))
                return any(p["time"] == pytest.approx(emulation.clock) for p in payloads)

            assert wait(replanned, 60)
        finally:
            stop.set()
            listener.close()
        thread.join(20)
    true = emulation.end
    assert true is not None
    # the mirrored state, parts waiting at the stock put in their first buffer, is the plant's
    placed = placed_state(mirror, scenario)
    for name in true.buffers:
        assert Counter(p.order for p in placed.parts(name)) == Counter(
            p.order for p in true.parts(name)), name
    # the orders open: those with parts in the plant, and those not released yet
    in_plant = {p.order for b in true.buffers for p in true.parts(b)}
    in_plant |= {m.part.order for m in true.machines.values() if m.part is not None}
    expected = in_plant | set(week.loc[week["release"] > emulation.clock, "order"])
    assert len(in_plant) == 13 and len(expected) == 73
    payload = next(p for p in payloads if p["time"] == pytest.approx(emulation.clock))
    assert {o["order"] for o in payload["orders"]} == expected
    assert payload["replications"] == 3 and payload["v"] == 1
    for o in payload["orders"]:
        low, high = o["on_time_ci95"]
        assert low <= o["on_time_probability"] <= high
        assert o["at_risk"] == (o["on_time_probability"] < payload["risk_threshold"])
    assert twin.schedule is not None


def wait(condition: Any, timeout: float = 30.0) -> bool:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())
