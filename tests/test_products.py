"""Products, production orders and dispatching, against exact results: non-preemptive priority
(Cobham) and Kleinrock's conservation law, Johnson's flow shop, sequence-dependent setups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.helpers import assert_matches, exp, simulate_plant
from twin.cli import main
from twin.engine.replication import simulate
from twin.language.loading import scenario_from_data

ROOT = Path(__file__).resolve().parents[1]


def one_machine(rule: str) -> dict[str, Any]:
    return {
        "plant": {"nodes": {"src": {"kind": "source"},
                            "B": {"kind": "buffer", "dispatch": rule},
                            "M": {"kind": "machine", "process_time": exp(1.0)},
                            "out": {"kind": "sink"}},
                  "edges": [["src", "B"], ["B", "M"], ["M", "out"]]},
        "products": {"short": {"route": ["M"], "process_time": {"M": exp(0.5)}, "priority": 0,
                               "interarrival": exp(2.5)},
                     "long": {"route": ["M"], "priority": 1, "interarrival": exp(2.5)}},
    }


@pytest.mark.parametrize(("rule", "wq_short", "wq_long"), [
    ("fifo", 1.25, 1.25),           # M/G/1: lambda E[S^2] / (2 (1 - rho)) = 0.8 * 1.25 / 0.8
    ("priority", 0.625, 1.5625),    # Cobham: W0 / (1 - rho1), W0 / ((1 - rho1)(1 - rho))
    ("spt", 0.625, 1.5625),         # the short product is the one of shorter mean time
])
def test_one_machine_two_products_waits_by_dispatching_rule(rule: str, wq_short: float,
                                                            wq_long: float) -> None:
    plant = one_machine(rule)
    summary = simulate_plant(plant.pop("plant"), horizon=60_000, warmup=1000, replications=6,
                             **plant)
    products = summary["products"]
    # time in system = wait + own mean process time
    assert_matches(products["short"]["lead_time"], wq_short + 0.5, rel_precision=0.05)
    assert_matches(products["long"]["lead_time"], wq_long + 1.0, rel_precision=0.05)
    # Kleinrock: the work-weighted wait is the same under any non-preemptive rule
    rho = {"short": 0.2, "long": 0.4}
    conserved = sum(rho[p] * (products[p]["lead_time"]["mean"] - s)
                    for p, s in (("short", 0.5), ("long", 1.0)))
    assert conserved == pytest.approx(0.75, rel=0.04)
    for p in ("short", "long"):
        assert_matches(products[p]["throughput"], 0.4, rel_precision=0.02)


JOBS = {"J1": (3, 6), "J2": (5, 2), "J3": (1, 2), "J4": (6, 6), "J5": (7, 5), "J6": (2, 4)}


def makespan(sequence: list[str]) -> float:
    """Two machines in series, unlimited buffer: C1 = C1' + a; C2 = max(C1, C2') + b."""
    c1 = c2 = 0.0
    for job in sequence:
        a, b = JOBS[job]
        c1 += a
        c2 = max(c1, c2) + b
    return c2


def flow_shop(tmp_path: Path, sequence: list[str]) -> dict[str, Any]:
    orders = tmp_path / "orders.csv"
    pd.DataFrame({"order": sequence, "product": sequence, "quantity": 1, "release": 0,
                  "due": 25}).to_csv(orders, index=False)
    return {
        "name": "flow-shop", "horizon": 1000,
        "plant": {"nodes": {"src": {"kind": "source"}, "M1": {"kind": "machine",
                                                             "process_time": 1},
                            "B": {"kind": "buffer"}, "M2": {"kind": "machine", "process_time": 1},
                            "out": {"kind": "sink"}},
                  "edges": [["src", "M1"], ["M1", "B"], ["B", "M2"], ["M2", "out"]]},
        "products": {j: {"route": ["M1", "M2"], "process_time": {"M1": a, "M2": b}}
                     for j, (a, b) in JOBS.items()},
        "orders": {"file": str(orders)},
    }


def test_flow_shop_makespan_in_johnsons_sequence_and_reversed(tmp_path: Path) -> None:
    johnson = ["J3", "J6", "J1", "J4", "J5", "J2"]  # a <= b by a ascending, then b descending
    assert makespan(johnson) == 26
    result = simulate(scenario_from_data(flow_shop(tmp_path, johnson)), 0)
    assert result.kpis["makespan"] == 26
    assert [done for *_, done in result.orders] == [3, 7, 13, 19, 24, 26]
    # late: J2 (26 > 25) only
    assert result.kpis["late_share"] == pytest.approx(1 / 6)
    assert result.kpis["tardiness"] == pytest.approx(1 / 6)
    reverse = johnson[::-1]
    result = simulate(scenario_from_data(flow_shop(tmp_path, reverse)), 0)
    assert result.kpis["makespan"] == makespan(reverse) == 36


def test_sequence_dependent_setups_of_a_saturated_machine() -> None:
    scenario = scenario_from_data({
        "name": "changeovers", "horizon": 70_000,
        "plant": {"nodes": {"src": {"kind": "source", "sequence": ["A", "B"]},
                            "M": {"kind": "machine", "process_time": 1,
                                  "setup": {"matrix": {"A": {"B": 2}, "B": {"A": 3}}}},
                            "out": {"kind": "sink"}},
                  "edges": [["src", "M"], ["M", "out"]]},
        "products": {"A": {"route": ["M"]}, "B": {"route": ["M"]}}})
    result = simulate(scenario, 0)
    assert result.kpis["throughput"] == pytest.approx(2 / 7, abs=1e-4)
    assert result.machines["M"]["setup_share"] == pytest.approx(5 / 7, abs=1e-4)
    assert result.products["A"]["throughput"] == pytest.approx(1 / 7, abs=1e-4)


def test_run_writes_orders_and_products(tmp_path: Path) -> None:
    out = tmp_path / "run"
    path = tmp_path / "s.yaml"
    import yaml

    path.write_text(yaml.safe_dump(flow_shop(tmp_path, list(JOBS))))
    assert main(["run", str(path), "--out", str(out), "--replications", "2", "--workers",
                 "1"]) == 0
    orders = pd.read_parquet(out / "orders.parquet")
    assert len(orders) == 12 and set(orders["replication"]) == {0, 1}
    assert (orders["tardiness"] == (orders["completion"] - orders["due"]).clip(lower=0)).all()
    assert (orders["flow_time"] == orders["completion"]).all()  # released at 0


@pytest.mark.parametrize(("change", "words"), [
    (lambda s: s["products"]["J1"].update(route=["M2", "M1"]),
     "products.J1.route[1]: product 'J1', step 2: no edge from 'M2' to 'M1'"),
    (lambda s: s["plant"]["nodes"]["B"].update(dispatch="eed"),
     "unknown dispatching rule 'eed'; did you mean 'edd'?"),
    (lambda s: s["products"]["J1"]["process_time"].update(M3=2),
     "products.J1.process_time.M3: 'M3' is not on the route of product 'J1'"),
])
def test_bad_product_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   change: Any, words: str) -> None:
    import yaml

    data = flow_shop(tmp_path, list(JOBS))
    change(data)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("rows", "words"), [
    ("order,product,quantity,release,due\nA1,J1,1,0,5\nA2,J7,1,0,5\n",
     "row 3, column 'product': unknown product 'J7'"),
    ("order,product,quantity,release,due\nA1,J1,-2,0,5\n",
     "row 2, column 'quantity': must be a whole number of at least 1"),
    ("order,product,quantity,release,due\nA1,J1,1,soon,5\n",
     "row 2, column 'release': not a number"),
    ("order,product,release,due\nA1,J1,0,5\n", "the order list has no column 'quantity'"),
])
def test_bad_order_list_exits_2_naming_row_and_column(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      rows: str, words: str) -> None:
    import yaml

    data = flow_shop(tmp_path, list(JOBS))
    (tmp_path / "orders.csv").write_text(rows)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "orders.csv" in err and words in err and "Traceback" not in err


@pytest.mark.parametrize(("lot", "makespan"), [(1, 11), (3, 13), (5, 15), (10, 20)])
def test_transfer_batches_between_two_machines(tmp_path: Path, lot: int, makespan: float) -> None:
    # ten parts of one order, one time unit each on two machines: the second machine starts
    # when the first batch arrives; the last batch ends the order
    orders = tmp_path / "orders.csv"
    pd.DataFrame({"order": ["O1"], "product": ["P"], "quantity": [10], "release": [0],
                  "due": [100]}).to_csv(orders, index=False)
    scenario = scenario_from_data({
        "name": "lots", "horizon": 100, "orders": {"file": str(orders)},
        "products": {"P": {"route": ["M1", "M2"], "lot": lot}},
        "plant": {"nodes": {"src": {"kind": "source"},
                            "M1": {"kind": "machine", "process_time": 1},
                            "B": {"kind": "buffer"},
                            "M2": {"kind": "machine", "process_time": 1},
                            "out": {"kind": "sink"}},
                  "edges": [["src", "M1"], ["M1", "B"], ["B", "M2"], ["M2", "out"]]}})
    assert simulate(scenario, 0).kpis["makespan"] == makespan
