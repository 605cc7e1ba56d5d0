"""The engine against exact results: queueing formulas, Markov chains and renewal theory.

Each estimate comes from independent replications; the exact value must lie in the 99% Student-t
interval, and the interval must be narrow enough that a wrong model would fall outside it.
"""

from __future__ import annotations

import math

import pytest

from tests.exact import age_replacement_cost_rate, mm1, mmc, tandem_throughput
from tests.helpers import assert_matches, exp, line, simulate_plant


def test_mm1_lead_time_wip_and_utilization() -> None:
    lam, mu = 0.5, 1.0
    summary = simulate_plant(line([1 / mu], [], interarrival=exp(1 / lam)),
                             horizon=60_000, warmup=2_000, replications=10)
    exact = mm1(lam, mu)
    assert_matches(summary["kpis"]["lead_time"], exact["lead_time"], rel_precision=0.03)
    assert_matches(summary["kpis"]["wip"], exact["wip"], rel_precision=0.04)
    assert_matches(summary["kpis"]["throughput"], lam, rel_precision=0.01)
    assert_matches(summary["machines"]["M1"]["utilization"], exact["utilization"],
                   rel_precision=0.01)


def test_mmc_shared_buffer_feeding_three_machines() -> None:
    lam, mu, c = 2.0, 1.0, 3
    nodes = {"raw": {"kind": "source", "interarrival": exp(1 / lam)},
             "queue": {"kind": "buffer", "capacity": None},
             "done": {"kind": "sink"}}
    edges = [["raw", "queue"]]
    for i in range(1, c + 1):
        nodes[f"M{i}"] = {"kind": "machine", "process_time": exp(1 / mu)}
        edges += [["queue", f"M{i}"], [f"M{i}", "done"]]
    summary = simulate_plant({"nodes": nodes, "edges": edges},
                             horizon=30_000, warmup=1_000, replications=10)
    exact = mmc(lam, mu, c)
    assert_matches(summary["kpis"]["lead_time"], exact["lead_time"], rel_precision=0.02)
    utilization = sum(summary["machines"][f"M{i}"]["utilization"]["mean"] for i in range(1, 4)) / 3
    assert utilization == pytest.approx(exact["utilization"], rel=0.01)


@pytest.mark.parametrize("capacity", [0, 1, 3])
def test_two_station_line_with_finite_buffer(capacity: int) -> None:
    mu = [1.0, 1.25]
    summary = simulate_plant(line([1 / m for m in mu], [capacity]),
                             horizon=40_000, warmup=1_000, replications=8)
    exact = tandem_throughput(mu, [capacity])
    assert_matches(summary["kpis"]["throughput"], exact, rel_precision=0.01)
    # Little's law ties the three line KPIs together
    kpis = summary["kpis"]
    assert kpis["wip"]["mean"] == pytest.approx(
        kpis["throughput"]["mean"] * kpis["lead_time"]["mean"], rel=0.01)


def test_five_station_line_with_blocking() -> None:
    mu = [1.0, 1.2, 0.9, 1.1, 1.0]
    capacities = [1, 0, 2, 1]
    summary = simulate_plant(line([1 / m for m in mu], capacities),
                             horizon=40_000, warmup=1_000, replications=8)
    exact = tandem_throughput(mu, capacities)
    assert_matches(summary["kpis"]["throughput"], exact, rel_precision=0.01)
    # the first machine never starves, the last never blocks
    assert summary["machines"]["M1"]["starved"]["mean"] == 0
    assert summary["machines"]["M5"]["blocked"]["mean"] == 0


def test_line_with_failures_and_repairs() -> None:
    mu = [1.0, 1.0, 1.0]
    ttf = [100.0, 50.0, 100.0]
    ttr = [10.0, 5.0, 10.0]
    failures = [{"ttf": exp(f), "ttr": exp(r)} for f, r in zip(ttf, ttr, strict=True)]
    summary = simulate_plant(line([1 / m for m in mu], [2, 2], failures=failures),
                             horizon=100_000, warmup=2_000, replications=10,
                             maintenance={"crew": None})
    exact = tandem_throughput(mu, [2, 2], [1 / f for f in ttf], [1 / r for r in ttr])
    assert_matches(summary["kpis"]["throughput"], exact, rel_precision=0.01)


def test_jackson_network_with_rework_loop() -> None:
    lam, mu1, mu2, rework = 0.5, 1 / 0.6, 1 / 0.75, 0.2
    plant = {
        "nodes": {
            "raw": {"kind": "source", "interarrival": exp(1 / lam)},
            "B1": {"kind": "buffer"},
            "M1": {"kind": "machine", "process_time": exp(1 / mu1)},
            "B2": {"kind": "buffer"},
            "M2": {"kind": "machine", "process_time": exp(1 / mu2)},
            "done": {"kind": "sink"},
        },
        "edges": [["raw", "B1"], ["B1", "M1"], ["M1", "B2"], ["B2", "M2"],
                  {"from": "M2", "to": "done", "p": 1 - rework},
                  {"from": "M2", "to": "B1", "p": rework}],
    }
    summary = simulate_plant(plant, horizon=60_000, warmup=2_000, replications=10)
    arrival = lam / (1 - rework)  # traffic equations
    rho1, rho2 = arrival / mu1, arrival / mu2
    wip = rho1 / (1 - rho1) + rho2 / (1 - rho2)  # product form
    assert_matches(summary["kpis"]["wip"], wip, rel_precision=0.04)
    assert_matches(summary["kpis"]["lead_time"], wip / lam, rel_precision=0.04)
    assert_matches(summary["machines"]["M1"]["utilization"], rho1, rel_precision=0.02)
    assert_matches(summary["machines"]["M2"]["utilization"], rho2, rel_precision=0.02)


@pytest.mark.parametrize("ttf", [
    exp(100.0),
    {"dist": "weibull", "shape": 2.0, "scale": 100.0},
])
def test_single_machine_availability(ttf: dict) -> None:
    from twin.language.distributions import Exponential, Weibull

    mtbf = (Weibull(**ttf) if ttf["dist"] == "weibull" else Exponential(**ttf)).mean()
    mttr = 10.0
    plant = line([1.0], [], failures=[{"ttf": ttf, "ttr": exp(mttr)}])
    summary = simulate_plant(plant, horizon=200_000, warmup=1_000, replications=10)
    exact = mtbf / (mtbf + mttr)
    assert_matches(summary["machines"]["M1"]["availability"], exact, rel_precision=0.005)
    # operation-dependent failures: one failure per mtbf of processing time
    per_time = summary["machines"]["M1"]["failures"]["mean"] / 199_000
    assert per_time == pytest.approx(1 / (mtbf + mttr), rel=0.03)


@pytest.mark.parametrize("age", [30.0, 60.0, 120.0, None])
def test_age_replacement_cost_rate(age: float | None) -> None:
    shape, scale, cp, cf, repair, pm = 2.5, 100.0, 100.0, 1000.0, 5.0, 2.0
    failures = {"ttf": {"dist": "weibull", "shape": shape, "scale": scale}, "ttr": repair}
    policy = ({"kind": "preventive", "every": age, "duration": pm} if age is not None
              else {"kind": "reactive"})
    summary = simulate_plant(line([1.0], [], failures=[failures]),
                             horizon=200_000, warmup=1_000, replications=10,
                             maintenance={"crew": 1, "policy": policy},
                             costs={"preventive": cp, "corrective": cf})
    exact = age_replacement_cost_rate(shape, scale, age if age is not None else math.inf, cp, cf,
                                      repair, pm)
    assert_matches(summary["kpis"]["cost_rate"], exact, rel_precision=0.03)
