"""twin optimize: Optuna's search, then Kim-Nelson's selection, against exact optima.

- base stock under Poisson demand and a constant lead time L, holding h and backorder b per unit
  and time: the cost rate h E[(S - D)+] + b E[(D - S)+], D ~ Poisson(lam L), is least at the
  smallest S with P(D <= S) >= b / (b + h) (the newsvendor's critical ratio);
- age replacement under Weibull lives: the renewal-reward cost rate (tests/exact.py), minimized
  over the age numerically;
- a constrained case: the same warehouse, most profitable with the fill rate P(D <= S - 1) at
  least 0.95, where the unconstrained optimum's fill rate is far below.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from scipy import optimize as scipy_optimize
from scipy.stats import poisson

from tests.exact import age_replacement_cost_rate
from tests.helpers import line
from twin import Param, optimize, scenario_from_data
from twin.cli import main
from twin.study.executors import LocalExecutor, SerialExecutor
from twin.study.optimize import parse_constraint
from twin.study.selection import kim_nelson, kn_constants

LAM, LEAD = 1.0, 5.0
LEVEL = "plant.nodes.store.policy.level"


def warehouse(holding: float, backorder: float, *, price: float = 0.0, horizon: float = 3000,
              replications: int = 4) -> dict[str, Any]:
    return {
        "name": "base-stock", "horizon": horizon, "warmup": 200, "replications": replications,
        "seed": 3,
        "plant": {
            "nodes": {
                "vendor": {"kind": "supplier", "lead_time": LEAD},
                "store": {"kind": "warehouse", "policy": {"kind": "base-stock", "level": 5},
                          "holding_cost": holding},
                "market": {"kind": "customer", "backorder_cost": backorder, "price": price,
                           "demand": {"interarrival": {"dist": "exponential", "mean": 1 / LAM}}},
            },
            "edges": [["vendor", "store"], ["store", "market"]],
        },
    }


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_base_stock_level_is_the_newsvendor_fractile(tmp_path: Path) -> None:
    h, b = 1.0, 9.0
    best = int(poisson.ppf(b / (b + h), LAM * LEAD))  # smallest S with P(D <= S) >= b/(b+h)
    assert poisson.cdf(best, LAM * LEAD) >= b / (b + h) > poisson.cdf(best - 1, LAM * LEAD)
    out = tmp_path / "out"
    code = main(["optimize", str(write(tmp_path, warehouse(h, b))), "--param", LEVEL,
                 "--range", "0:20:int", "--objective", "supply_chain_cost_rate",
                 "--budget", "30", "--workers", "1", "--out", str(out)])
    assert code == 0
    doc = json.loads((out / "optimize.json").read_text())
    assert doc["direction"] == "minimize" and len(doc["trials"]) == 30
    selection = doc["selection"]
    assert selection["selected"]["params"] == {LEVEL: best}
    assert selection["guaranteed"] and selection["pcs"] == 0.95
    assert doc["importance"] == {LEVEL: 1.0}
    report = (out / "report.html").read_text()
    for part in ("Search history", "Parameter importance", "Selection (Kim-Nelson"):
        assert part in report


def test_age_replacement_age_is_within_two_percent_of_the_optimum() -> None:
    shape, scale, cp, cf, repair, pm = 2.5, 100.0, 100.0, 1000.0, 5.0, 2.0

    def cost(age: float) -> float:
        return age_replacement_cost_rate(shape, scale, age, cp, cf, repair, pm)

    exact = scipy_optimize.minimize_scalar(cost, bounds=(5, 300), method="bounded")
    # a long process time: the same renewal process in few events (the machine never waits)
    plant = line([{"dist": "constant", "value": 25.0}], [],
                 failures=[{"ttf": {"dist": "weibull", "shape": shape, "scale": scale},
                            "ttr": repair}])
    scenario = scenario_from_data({
        "name": "age-replacement", "horizon": 50_000, "warmup": 500, "replications": 6,
        "seed": 6, "plant": plant,
        "maintenance": {"crew": 1, "policy": {"kind": "preventive", "every": 50, "duration": pm}},
        "costs": {"preventive": cp, "corrective": cf}})
    delta = 0.02 * exact.fun  # candidates within 2% of the best are as good
    doc = optimize(scenario, [Param("maintenance.policy.every", 10, 150)], "cost_rate",
                   budget=15, delta=delta, executor=SerialExecutor())
    selection = doc["selection"]
    assert selection["guaranteed"] and selection["delta"] == delta
    age = selection["selected"]["params"]["maintenance.policy.every"]
    assert cost(age) <= 1.02 * exact.fun, (age, exact.x)


def test_constrained_optimum_meets_the_fill_rate_the_unconstrained_one_misses(
        tmp_path: Path) -> None:
    h, b, price = 1.0, 2.0, 10.0
    mean = LAM * LEAD

    def fill(s: int) -> float:  # PASTA: an order is filled at once when D < S
        return float(poisson.cdf(s - 1, mean))

    unconstrained = int(poisson.ppf(b / (b + h), mean))
    constrained = next(s for s in range(100) if fill(s) >= 0.95)
    assert fill(unconstrained) < 0.95 and constrained > unconstrained
    out = tmp_path / "out"
    code = main(["optimize", str(write(tmp_path, warehouse(h, b, price=price))),
                 "--param", LEVEL, "--range", "0:20:int", "--objective", "profit_rate",
                 "--maximize", "--constraint", "fill_rate>=0.95", "--budget", "30",
                 "--workers", "1", "--out", str(out)])
    assert code == 0
    doc = json.loads((out / "optimize.json").read_text())
    assert doc["direction"] == "maximize"
    selected = doc["selection"]["selected"]
    assert fill(selected["params"][LEVEL]) >= 0.95
    assert selected["params"][LEVEL] == constrained
    assert selected["constraints"][0]["satisfied"] == "yes"
    # the search's most profitable trial ignores the constraint: it violates it
    free = doc["best_trial_unconstrained"]
    assert free["params"][LEVEL] == unconstrained and not free["feasible"]
    assert free["constraints"][0]["satisfied"] == "no"


def test_interrupted_optimisation_resumes_without_repeating_finished_trials(
        tmp_path: Path) -> None:
    scenario = scenario_from_data(warehouse(1.0, 9.0, horizon=1500, replications=3))
    params = [Param(LEVEL, 0, 15, integer=True)]
    whole = optimize(scenario, params, "supply_chain_cost_rate", budget=8, delta=1.0,
                     executor=LocalExecutor(2), out=tmp_path / "whole")

    class Stop(KeyboardInterrupt):
        pass

    def stop_in_trial_five(done: int, total: int) -> None:
        if done == 4 * 3 + 1:  # four trials finished, the fifth under way
            raise Stop

    out = tmp_path / "cut"
    with pytest.raises(Stop):
        optimize(scenario, params, "supply_chain_cost_rate", budget=8, delta=1.0,
                 executor=SerialExecutor(), out=out, progress=stop_in_trial_five)
    saved = sorted(out.glob("points/*/replication-*.json"))
    doc = optimize(scenario, params, "supply_chain_cost_rate", budget=8, delta=1.0,
                   executor=SerialExecutor(), out=out)
    this_call = doc["this_call"]
    assert this_call["trials_reused"] == 4 and this_call["replications_loaded"] == len(saved)
    # the replications saved before the stop are not run again
    distinct = {t["point"] for t in doc["trials"]}
    assert this_call["replications_search"] == 3 * len(distinct) - len(saved)
    # the trial cut short is run again; the search goes on as if never stopped
    assert [t["params"] for t in doc["trials"]] == [t["params"] for t in whole["trials"]]
    assert doc["selection"]["selected"]["params"] == whole["selection"]["selected"]["params"]
    assert [t["number"] for t in doc["trials"]] == [0, 1, 2, 3, 5, 6, 7, 8]


@pytest.mark.parametrize(("args", "message"), [
    (["--range", "20:5:int", "--objective", "cost_rate"], "LOW 20 is above HIGH 5"),
    (["--range", "0:20:int", "--objective", "fill_rat"], "did you mean 'fill_rate'?"),
    (["--range", "0:20:int", "--objective", "cost_rate", "--constraint", "fill_rate=>0.9"],
     "cannot read 'fill_rate=>0.9'"),
    (["--range", "0:20:int", "--objective", "cost_rate", "--constraint", "fil_rate>=0.9"],
     "did you mean 'fill_rate'?"),
    (["--range", "0:x", "--objective", "cost_rate"], "LOW and HIGH must be numbers"),
    (["--range", "0:20:int", "--objective", "cost_rate", "--replications", "1"],
     "at least 2 replications"),
])
def test_bad_input_exits_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          args: list[str], message: str) -> None:
    path = write(tmp_path, warehouse(1.0, 9.0))
    code = main(["optimize", str(path), "--param", LEVEL, *args, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o" / "optimize.json").exists()


def test_constraints_are_judged_on_their_intervals() -> None:
    c = parse_constraint("fill_rate >= 0.95")
    assert (c.kpi, c.op, c.bound) == ("fill_rate", ">=", 0.95)
    assert c.judge(0.96, 0.99) == "yes"
    assert c.judge(0.94, 0.97) == "unsure"
    assert c.judge(0.90, 0.94) == "no"
    assert parse_constraint("cost_rate<2").judge(1.5, 1.9) == "yes"


def test_kim_nelson_picks_the_best_of_normal_systems_with_the_stated_probability() -> None:
    import numpy as np

    # five systems, the best 0.5 (= delta) above the others; 200 macro-replications
    means = {"a": 1.0, "b": 0.5, "c": 0.5, "d": 0.5, "e": 0.5}
    correct = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        draws = {s: list(rng.normal(m, 1.0, 10)) for s, m in means.items()}

        def more(survivors: list[str], upto: int, draws: dict[str, list[float]] = draws,
                 rng: np.random.Generator = rng) -> dict[str, list[float]]:
            new = {}
            for s in survivors:
                extra = list(rng.normal(means[s], 1.0, upto - len(draws[s])))
                draws[s] += extra
                new[s] = extra
            return new

        result = kim_nelson(list(means), {s: v[:10] for s, v in draws.items()}, more,
                            delta=0.5, pcs=0.9)
        correct += result.best == "a"
    assert correct >= 0.9 * 200 - 2 * (200 * 0.9 * 0.1) ** 0.5  # 0.9 less two standard errors
    eta, h2 = kn_constants(5, 10, 0.9)
    assert h2 == pytest.approx(2 * eta * 9)
