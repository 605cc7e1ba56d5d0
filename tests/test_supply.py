"""Supply chain: warehouses against exact inventory results, the line feeding a warehouse, and
bad supply-chain input.

Exact results (Poisson demand of rate lam, one unit per order, lead time L):
- base-stock S with backorders: the inventory level is S - D with D ~ Poisson(lam L) (the orders
  outstanding), so the fill rate (PASTA) is P(D <= S - 1), the mean on hand E[(S - D)+], the mean
  backorders E[(D - S)+] and, by Little's law, the mean wait of an order E[(D - S)+] / lam;
- base-stock S with lost sales: the orders outstanding are the busy servers of an M/G/S/S loss
  system, so the fill rate is 1 - ErlangB(S, lam L) and the mean on hand S - lam L (1 - B), for any
  lead-time distribution;
- (r, Q) with backorders (the same as (s, S) with s = r, S = r + Q for unit demand): the inventory
  position is uniform on r + 1 .. r + Q and independent of D;
- a machine making to stock for a base-stock warehouse (make-to-stock queue): the orders
  outstanding are the customers of an M/M/1 queue with rho = lam / mu, so the fill rate is
  1 - rho^S and the mean on hand S - rho (1 - rho^S) / (1 - rho).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import poisson

from tests.helpers import assert_matches, exp, simulate_plant
from twin.cli import main

ROOT = Path(__file__).resolve().parents[1]
LAM = 1.0
LEAD = 5.0


def chain(policy: dict[str, Any], *, unmet: str = "backorder", lead: Any = LEAD,
          **warehouse: Any) -> dict[str, Any]:
    return {
        "nodes": {
            "vendor": {"kind": "supplier", "lead_time": lead},
            "store": {"kind": "warehouse", "policy": policy, **warehouse},
            "market": {"kind": "customer", "unmet": unmet,
                       "demand": {"interarrival": exp(1 / LAM)}},
        },
        "edges": [["vendor", "store"], ["store", "market"]],
    }


def poisson_lead_demand() -> tuple[np.ndarray, np.ndarray]:
    d = np.arange(0, 200)
    return d, poisson.pmf(d, LAM * LEAD)


def erlang_b(servers: int, load: float) -> float:
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return b


def test_base_stock_with_backorders_matches_poisson_lead_time_demand() -> None:
    s = 7
    summary = simulate_plant(chain({"kind": "base-stock", "level": s}), horizon=40_000,
                             warmup=500, replications=6)
    kpis = summary["kpis"]
    d, p = poisson_lead_demand()
    backorders = float((np.maximum(d - s, 0) * p).sum())
    fill = float(poisson.cdf(s - 1, LAM * LEAD))
    assert_matches(kpis["fill_rate"], fill, rel_precision=0.03)
    # out of stock: the time-average of what arriving demand sees (PASTA)
    assert_matches(summary["warehouses"]["store"]["stockout_time"], 1 - fill, rel_precision=0.1)
    assert_matches(kpis["inventory"], float((np.maximum(s - d, 0) * p).sum()),
                   rel_precision=0.05)
    assert_matches(kpis["backorders"], backorders, rel_precision=0.15)
    assert_matches(kpis["order_lead_time"], backorders / LAM, rel_precision=0.15)


def test_base_stock_with_lost_sales_matches_erlang_loss_for_any_lead_time() -> None:
    s = 7
    b = erlang_b(s, LAM * LEAD)
    for lead in (LEAD, exp(LEAD)):  # insensitive to the lead-time distribution
        summary = simulate_plant(chain({"kind": "base-stock", "level": s}, unmet="lost",
                                       lead=lead), horizon=40_000, warmup=500, replications=6)
        kpis = summary["kpis"]
        assert_matches(kpis["fill_rate"], 1 - b, rel_precision=0.02)
        assert_matches(kpis["inventory"], s - LAM * LEAD * (1 - b), rel_precision=0.04)
        assert_matches(kpis["lost_sales"], LAM * b, rel_precision=0.15)
        assert kpis["backorders"]["mean"] == 0


@pytest.mark.parametrize("policy", [{"kind": "rQ", "r": 3, "Q": 4},
                                    {"kind": "sS", "s": 3, "S": 7}], ids=["rQ", "sS"])
def test_reorder_point_policies_match_uniform_inventory_position(policy: dict[str, Any]) -> None:
    r, q = 3, 4
    summary = simulate_plant(chain(policy, order_cost=10.0, holding_cost=0.5), horizon=40_000,
                             warmup=500, replications=6)
    kpis = summary["kpis"]
    d, p = poisson_lead_demand()
    positions = range(r + 1, r + q + 1)
    fill = np.mean([poisson.cdf(j - 1, LAM * LEAD) for j in positions])
    on_hand = np.mean([(np.maximum(j - d, 0) * p).sum() for j in positions])
    assert_matches(kpis["fill_rate"], float(fill), rel_precision=0.04)
    assert_matches(kpis["inventory"], float(on_hand), rel_precision=0.06)
    # one order per Q units of demand; costs follow from the measured quantities
    store = summary["warehouses"]["store"]
    span = 40_000 - 500
    assert_matches({"values": [v / span for v in store["orders"]["values"]]}, LAM / q,
                   rel_precision=0.03)
    costs = summary["costs"]
    assert costs["ordering"]["values"] == pytest.approx(
        [10.0 * n / span for n in store["orders"]["values"]])
    assert costs["holding"]["values"] == pytest.approx(
        [0.5 * v for v in store["inventory"]["values"]])
    assert store["replenishment_lead_time"]["mean"] == pytest.approx(LEAD)
    # inventory over time: period means that average to the mean inventory
    profile = store["over_time"]
    assert len(profile["on_hand"]) == len(profile["period_end"]) == 50
    assert profile["period_end"][-1] == pytest.approx(40_000)
    assert np.mean(profile["on_hand"]) == pytest.approx(store["inventory"]["mean"])


def test_periodic_review_base_stock_matches_demand_over_lead_time_plus_review() -> None:
    # reviews every R: the level at a random time is S - D(L + U), U uniform on (0, R)
    s, review = 9, 2.0
    kpis = simulate_plant(chain({"kind": "base-stock", "level": s}, review=review),
                          horizon=40_000, warmup=500, replications=6)["kpis"]
    d = np.arange(0, 200)
    spans = LEAD + (np.arange(2000) + 0.5) / 2000 * review
    fill = float(np.mean([poisson.cdf(s - 1, LAM * t) for t in spans]))
    on_hand = float(np.mean([(np.maximum(s - d, 0) * poisson.pmf(d, LAM * t)).sum()
                             for t in spans]))
    assert_matches(kpis["fill_rate"], fill, rel_precision=0.03)
    assert_matches(kpis["inventory"], on_hand, rel_precision=0.05)


@pytest.mark.parametrize(("central", "lead"), [(60, 2.0), (0, 3.0 + 2.0)],
                         ids=["central always in stock", "central holds nothing"])
def test_two_echelons_match_a_single_stage_at_the_extremes(central: int, lead: float) -> None:
    # a regional warehouse replenished from a central one (transit 2) that buys from a supplier
    # (lead time 3): with ample central stock the region sees the transit alone; with none, each
    # of its orders waits for the supplier too, so its lead time is 3 + 2
    s = 6
    plant = {
        "nodes": {
            "vendor": {"kind": "supplier", "lead_time": 3.0},
            "central": {"kind": "warehouse", "policy": {"kind": "base-stock", "level": central}},
            "region": {"kind": "warehouse", "policy": {"kind": "base-stock", "level": s}},
            "market": {"kind": "customer", "demand": {"interarrival": exp(1 / LAM)}},
        },
        "edges": [["vendor", "central"], {"from": "central", "to": "region", "transit": 2.0},
                  ["region", "market"]],
    }
    summary = simulate_plant(plant, horizon=40_000, warmup=500, replications=6)
    d = np.arange(0, 200)
    p = poisson.pmf(d, LAM * lead)
    region = summary["warehouses"]["region"]
    assert_matches(region["fill_rate"], float(poisson.cdf(s - 1, LAM * lead)), rel_precision=0.03)
    assert_matches(region["inventory"], float((np.maximum(s - d, 0) * p).sum()),
                   rel_precision=0.05)
    assert_matches(region["replenishment_lead_time"], lead, rel_precision=0.02)


def test_line_making_to_stock_matches_the_make_to_stock_queue() -> None:
    mu, s = 1 / 0.65, 5
    rho = LAM / mu
    plant = {
        "nodes": {
            "raw": {"kind": "source"},
            "M": {"kind": "machine", "process_time": exp(1 / mu)},
            "fg": {"kind": "warehouse", "policy": {"kind": "base-stock", "level": s}},
            "market": {"kind": "customer", "demand": {"interarrival": exp(1 / LAM)}},
        },
        "edges": [["raw", "M"], ["M", "fg"], ["fg", "market"]],
    }
    summary = simulate_plant(plant, horizon=80_000, warmup=500, replications=6)
    kpis = summary["kpis"]
    assert_matches(kpis["fill_rate"], 1 - rho**s, rel_precision=0.03)
    assert_matches(kpis["inventory"], s - rho * (1 - rho**s) / (1 - rho), rel_precision=0.05)
    assert_matches(kpis["backorders"], rho ** (s + 1) / (1 - rho), rel_precision=0.2)
    # the line's own KPIs still hold: it makes what is demanded, one part in the machine at most
    assert_matches(kpis["throughput"], LAM, rel_precision=0.02)
    assert_matches(kpis["wip"], rho, rel_precision=0.03)


def test_base_stock_zero_makes_to_order_with_the_m_m_1_sojourn_time() -> None:
    # nothing in stock: each order releases one part into the line and waits for it, so the
    # order lead time is the M/M/1 time in system 1 / (mu - lam)
    mu = 1 / 0.65
    plant = {
        "nodes": {
            "raw": {"kind": "source"},
            "M": {"kind": "machine", "process_time": exp(1 / mu)},
            "fg": {"kind": "warehouse", "policy": {"kind": "base-stock", "level": 0}},
            "market": {"kind": "customer", "demand": {"interarrival": exp(1 / LAM)}},
        },
        "edges": [["raw", "M"], ["M", "fg"], ["fg", "market"]],
    }
    summary = simulate_plant(plant, horizon=80_000, warmup=500, replications=6)
    kpis = summary["kpis"]
    assert kpis["fill_rate"]["mean"] == 0
    assert kpis["inventory"]["mean"] == 0
    assert_matches(kpis["order_lead_time"], 1 / (mu - LAM), rel_precision=0.05)


def test_scrapped_parts_of_a_production_order_are_made_again() -> None:
    plant = {
        "nodes": {
            "raw": {"kind": "source"},
            "M": {"kind": "machine", "process_time": exp(0.5),
                  "defects": {"probability": 0.2},
                  "inspection": {"sampling": 1.0, "detection": 1.0}},
            "scrap": {"kind": "sink", "scrap": True},
            "fg": {"kind": "warehouse", "policy": {"kind": "base-stock", "level": 4}},
            "market": {"kind": "customer", "demand": {"interarrival": exp(1.0)}},
        },
        "edges": [["raw", "M"], ["M", "fg"], {"from": "M", "to": "scrap", "when": "rejected"},
                  ["fg", "market"]],
    }
    summary = simulate_plant(plant, horizon=20_000, warmup=500, replications=5)
    kpis = summary["kpis"]
    # every demand is met in the end: good output equals demand, and the scrap is the extra work
    # (a fifth of what is made: 0.25 per unit of demand)
    assert_matches(kpis["throughput"], 1.0, rel_precision=0.03)
    assert_matches(kpis["scrap_rate"], 0.25, rel_precision=0.06)
    assert kpis["fill_rate"]["mean"] > 0.5


def test_transport_batches_and_supplier_reliability_show_in_the_numbers() -> None:
    plant = chain({"kind": "rQ", "r": 10, "Q": 20})
    plant["nodes"]["vendor"].update(reliability=0.5, delay=4.0, price=2.0)
    plant["edges"] = [{"from": "vendor", "to": "store", "transit": 1.0, "cost": 30.0},
                      {"from": "store", "to": "market", "transit": 2.0}]
    summary = simulate_plant(plant, horizon=20_000, warmup=500, replications=3)
    store = summary["warehouses"]["store"]
    # lead time: 5 to prepare, late by 4 half the time, 1 in transit
    assert_matches(store["replenishment_lead_time"], LEAD + 0.5 * 4.0 + 1.0, rel_precision=0.05)
    supplier = summary["suppliers"]["vendor"]
    late_share = [a / b for a, b in zip(supplier["late"]["values"], supplier["orders"]["values"],
                                        strict=True)]
    assert abs(float(np.mean(late_share)) - 0.5) < 0.05
    span = 20_000 - 500
    costs = summary["costs"]
    assert costs["purchase"]["values"] == pytest.approx(
        [2.0 * u / span for u in supplier["units"]["values"]])
    # deliveries to the customer take the transit time at least
    assert summary["customers"]["market"]["order_lead_time"]["mean"] >= 2.0


# --------------------------------------------------------------------------- the bundled scenario


def test_bundled_multi_site_scenario_runs_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code = main(["run", str(ROOT / "scenarios" / "supply-chain.yaml"), "--out", str(out),
                 "--replications", "2", "--horizon", "3000"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    kpis = summary["kpis"]
    for kpi in ("throughput", "oee", "fill_rate", "backorders", "inventory", "stockouts",
                "order_lead_time", "supply_chain_cost_rate"):
        assert kpi in kpis
    assert 0 < kpis["fill_rate"]["mean"] <= 1
    assert kpis["throughput"]["mean"] > 0
    assert set(summary["warehouses"]) == {"raw-store", "finished-goods"}
    assert len(summary["suppliers"]) == 2
    assert kpis["cost_rate"]["mean"] >= kpis["supply_chain_cost_rate"]["mean"] > 0
    inventory = (out / "inventory.parquet")
    assert inventory.exists()
    report = (out / "report.html").read_text()
    assert "Supply chain" in report and "Inventory on hand over time" in report


def test_sweep_prints_the_chosen_kpis_and_refuses_unknown_ones(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = str(ROOT / "scenarios" / "supply-chain.yaml")
    args = ["--horizon", "2000", "--replications", "2", "--param",
            "plant.nodes.raw-store.policy.r", "--values", "40,120"]
    assert main(["sweep", scenario, *args, "--out", str(tmp_path / "a"), "--rank-by",
                 "fill_rate", "--kpis", "inventory,backorders"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "raw-store.policy.r" in line)
    assert [c.strip() for c in header.split("┃") if c.strip()] == [
        "raw-store.policy.r", "fill_rate", "inventory", "backorders"]
    sweep = json.loads((tmp_path / "a" / "sweep.json").read_text())
    assert sweep["better"] == "higher"
    assert "warehouses" in sweep["points"][0]
    assert main(["sweep", scenario, *args, "--kpis", "fill_rat"]) == 2
    assert "unknown KPI 'fill_rat'" in capsys.readouterr().err
    line = str(ROOT / "scenarios" / "two-station.yaml")
    assert main(["sweep", line, "--param", "plant.nodes.B1.capacity", "--values", "1,2",
                 "--rank-by", "fill_rate", "--out", str(tmp_path / "b")]) == 2
    assert "supply-chain KPI" in capsys.readouterr().err


# --------------------------------------------------------------------------- bad input

GOOD = """\
name: chain
horizon: 1000
plant:
  nodes:
    vendor: {kind: supplier, lead_time: 5}
    other:  {kind: supplier, lead_time: 8}
    store:  {kind: warehouse, policy: {kind: rQ, r: 5, Q: 10}}
    market: {kind: customer, demand: {interarrival: {dist: exponential, mean: 1}}}
  edges:
    - {from: vendor, to: store, share: 0.6}
    - {from: other, to: store, share: 0.4}
    - [store, market]
"""


def edit(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


NO_SUPPLIER = edit("    - {from: vendor, to: store, share: 0.6}\n    - {from: other, to: store, "
                   "share: 0.4}\n", "").replace("    vendor: {kind: supplier, lead_time: 5}\n"
                                                "    other:  {kind: supplier, lead_time: 8}\n",
                                                "")
NEGATIVE_R = edit("r: 5", "r: -5")

CASES = [
    ("warehouse with no supplier", NO_SUPPLIER, "plant.nodes.store", 5, "has no supplier"),
    ("negative reorder point", NEGATIVE_R, "plant.nodes.store.policy.r", 7,
     "greater than or equal to 0"),
    ("s not below S", edit("{kind: rQ, r: 5, Q: 10}", "{kind: sS, s: 9, S: 9}"),
     "plant.nodes.store.policy", 7, "S (9) must be greater than s (9)"),
    ("policy kind misspelt", edit("kind: rQ", "kind: rq"), "plant.nodes.store.policy.kind", 7,
     "did you mean 'rQ'"),
    ("policy field in the wrong case", edit("Q: 10", "q: 10"), "plant.nodes.store.policy.q", 7,
     "did you mean 'Q'"),
    ("shares not summing to 1", edit("share: 0.4", "share: 0.3"), "plant.nodes.store", 7,
     "sum to 0.9"),
    ("share missing", edit(", share: 0.4}", "}"), "plant.edges[1]", 11, "needs a share"),
    ("late supplier without delay", edit("lead_time: 5}", "lead_time: 5, reliability: 0.9}"),
     "plant.nodes.vendor", 5, "needs delay"),
    ("batch on a supplier edge", edit("share: 0.6}", "share: 0.6, batch: 5}"),
     "plant.edges[0].batch", 10, "batch is for edges from a machine"),
    ("customer fed by a supplier", edit("    - [store, market]", "    - [store, market]\n"
                                        "    - [other, market]"),
     "plant.edges[3]", 13, "a supplier feeds warehouses only"),
    ("warehouse fed by suppliers without a policy",
     edit(", policy: {kind: rQ, r: 5, Q: 10}", ""), "plant.nodes.store.policy", 7,
     "has no policy to order with"),
    ("negative holding cost", edit("Q: 10}}", "Q: 10}, holding_cost: -1}"),
     "plant.nodes.store.holding_cost", 7, "greater than or equal to 0"),
    ("unknown customer field", edit("demand: {", "unmet: lost, demnd: {"),
     "plant.nodes.market.demnd", 8, "did you mean 'demand'"),
    ("season without demand", edit("mean: 1}}", "mean: 1}, season: {period: 10, factors: [0, 0]}}"),
     "plant.nodes.market.demand.season", 8, "at least one factor must be above 0"),
]


@pytest.mark.parametrize(("case", "text", "field", "line", "words"), CASES,
                         ids=[c[0] for c in CASES])
def test_bad_supply_chain_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, text: str, field: str,
    line: int, words: str,
) -> None:
    path = tmp_path / "chain.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line}: {field}" in err, err
    assert words in err, err


def test_good_supply_chain_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "chain.yaml"
    path.write_text(GOOD)
    assert main(["validate", str(path)]) == 0
    assert "2 suppliers" in capsys.readouterr().out


@pytest.mark.parametrize("text", [NO_SUPPLIER, NEGATIVE_R], ids=["no supplier", "negative r"])
def test_bad_supply_chain_from_the_shell(tmp_path: Path, text: str) -> None:
    path = tmp_path / "chain.yaml"
    path.write_text(text)
    done = subprocess.run([sys.executable, "-m", "twin.cli", "run", str(path), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "plant.nodes.store" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_two_plants_in_series_each_make_to_stock_for_their_own_warehouse() -> None:
    machine = {"kind": "machine", "process_time": exp(0.5)}
    plant = {
        "nodes": {
            "ore": {"kind": "source"},
            "A": machine,
            "hub": {"kind": "warehouse", "policy": {"kind": "base-stock", "level": 4}},
            "B": machine,
            "dc": {"kind": "warehouse", "policy": {"kind": "base-stock", "level": 4}},
            "market": {"kind": "customer", "demand": {"interarrival": exp(1.0)}},
        },
        "edges": [["ore", "A"], ["A", "hub"], ["hub", "B"], ["B", "dc"], ["dc", "market"]],
    }
    summary = simulate_plant(plant, horizon=20_000, warmup=500, replications=4)
    kpis = summary["kpis"]
    # each unit demanded is made twice, once by each plant; the hub only feeds plant B
    assert_matches(kpis["throughput"], 2.0, rel_precision=0.03)
    for store in ("hub", "dc"):  # each plant's output is in its warehouse's numbers
        assert_matches(summary["warehouses"][store]["production"], 1.0, rel_precision=0.03)
    assert summary["warehouses"]["hub"]["orders"]["mean"] > 0
    assert summary["warehouses"]["hub"]["fill_rate"]["mean"] is None
    assert 0.8 < kpis["fill_rate"]["mean"] < 1


def test_a_supply_chain_without_a_line_reports_no_machines(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    path = tmp_path / "store.yaml"
    path.write_text(yaml.safe_dump({"name": "store", "horizon": 2000, "replications": 2,
                                    "plant": chain({"kind": "rQ", "r": 3, "Q": 4},
                                                   holding_cost=1.0)}))
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "fill_rate" in out and "machines" not in out and "throughput" not in out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["machines"] == {}
    assert summary["kpis"]["cost_rate"]["mean"] == pytest.approx(
        summary["warehouses"]["store"]["inventory"]["mean"])
    report = (tmp_path / "out" / "report.html").read_text()
    assert "Supply chain" in report and "Bottleneck view" not in report


def test_seasonal_demand_follows_its_rate_profile() -> None:
    from twin import scenario_from_data
    from twin.engine.replication import build

    factors = [0.5, 2.0, 0.0, 1.5]
    plant = chain({"kind": "base-stock", "level": 0}, lead=1e9)  # nothing ever arrives
    plant["nodes"]["market"]["demand"]["season"] = {"period": 100.0, "factors": factors}
    scenario = scenario_from_data({"name": "season", "horizon": 40_000, "plant": plant})
    model = build(scenario, 0)
    model.env.run(until=scenario.horizon)
    assert "supply" in model.extensions
    # every order is backordered, so each rise of the backorders is an order, at its time
    timeline = np.asarray(model.extensions["supply"].warehouses["store"].timeline)
    times = timeline[1:, 0][np.diff(timeline[:, 2]) > 0]
    part = np.floor((times % 100.0) / 25.0).astype(int)
    cycles = 40_000 / 100.0
    for k, factor in enumerate(factors):
        count = int((part == k).sum())
        expected = factor * LAM * 25.0 * cycles
        assert abs(count - expected) <= 4 * np.sqrt(max(expected, 1.0)), (k, count, expected)
    assert (part == 2).sum() == 0
