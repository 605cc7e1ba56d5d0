"""The KPI table: every KPI the engine measures is in it, and everything that names KPIs reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin import load_scenario, simulate
from twin.cli import build_parser
from twin.kpis import (
    BY_NAME,
    KPI_TABLE,
    KPIS,
    MACHINE_STATS,
    SUPPLY_KPIS,
    headline_kpis,
    kpi_units,
)
from twin.study.variants import better

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("name", "scopes"), [("two-station", ("line",)),
                                              ("supply-chain", ("line", "supply")),
                                              ("cell-orders", ("line", "orders"))])
def test_the_table_names_every_kpi_the_engine_measures(name: str, scopes: tuple[str, ...]
                                                       ) -> None:
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml", [("horizon", 3000),
                                                                   ("warmup", 100)])
    result = simulate(scenario, 0)
    expected = [k.name for k in KPI_TABLE if k.scope in scopes]
    assert list(result.kpis) == expected
    for values in result.machines.values():
        assert set(values) == set(MACHINE_STATS)
    for k in KPI_TABLE:  # every value lies in its KPI's range
        value = result.kpis.get(k.name)
        if value is None or value != value:  # not measured, or undefined (nan)
            continue
        assert k.low is None or value >= k.low, k.name
        assert k.high is None or value <= k.high, k.name


def test_table_fields() -> None:
    assert KPIS[:5] == ("throughput", "lead_time", "wip", "oee", "cost_rate")
    assert kpi_units("min")["throughput"] == "parts/min"
    assert kpi_units("h")["cost_rate"] == "per h"
    assert kpi_units("h")["oee"] == ""
    assert BY_NAME["profit_rate"].range == (None, None)
    assert BY_NAME["fill_rate"].range == (0.0, 1.0)
    assert BY_NAME["backorders"].range == (0.0, None)
    assert set(SUPPLY_KPIS) == {k.name for k in KPI_TABLE if k.scope == "supply"}
    for k in KPI_TABLE:
        assert better(k.name) == k.better
        assert k.description and k.label
    assert len({k.headline for k in KPI_TABLE}) == len(KPI_TABLE)


def test_headline_order_and_rules() -> None:
    def stat(mean: float | None) -> dict[str, object]:
        return {"mean": mean, "ci95": [mean, mean], "values": [mean]}

    line = {k: stat(0.0) for k in KPIS if BY_NAME[k].scope == "line"}
    line.update(throughput=stat(1.0), wip=stat(2.0), quality=stat(1.0), cost_rate=stat(0.5),
                profit_rate=stat(-0.5))
    assert headline_kpis(line) == ["throughput", "lead_time", "wip", "oee", "cost_rate"]
    line.update(unplanned_downtime=stat(0.1), quality=stat(0.9), profit_rate=stat(3.0))
    assert headline_kpis(line) == ["throughput", "lead_time", "wip", "oee", "cost_rate",
                                   "unplanned_downtime", "quality", "scrap_rate",
                                   "escaped_rate", "profit_rate"]


def test_command_options_follow_the_table() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for command in ("compare", "sweep"):
        rank_by = next(a for a in sub.choices[command]._actions if a.dest == "rank_by")
        assert tuple(rank_by.choices) == KPIS


def test_interval_of_a_kpi_that_cannot_be_negative_is_clipped_at_0() -> None:
    from twin.study.stats import statistic

    values = [0.0, 0.0, 0.0, 0.001]
    plain = statistic(values)
    assert plain["ci95"][0] < 0  # the bare t interval reaches below 0
    stat = statistic(values, bounds=BY_NAME["unplanned_downtime"].range)
    assert stat["ci95"][0] == 0.0
    assert stat["ci95"][1] == plain["ci95"][1]
    assert stat["mean"] == plain["mean"]
    fraction = statistic([1.0, 1.0, 0.99, 1.0], bounds=BY_NAME["fill_rate"].range)
    assert fraction["ci95"][1] == 1.0 and fraction["ci95"][0] < 1.0
    profit = statistic([-1.0, 0.5, 2.0], bounds=BY_NAME["profit_rate"].range)
    assert profit["ci95"] == statistic([-1.0, 0.5, 2.0])["ci95"]


def test_summaries_keep_fractions_and_counts_in_range(tmp_path: Path) -> None:
    from twin import run
    from twin.study.executors import SerialExecutor

    scenario = load_scenario(ROOT / "scenarios" / "supply-chain.yaml",
                             [("horizon", 3000), ("warmup", 100), ("replications", 3)])
    summary = run(scenario, executor=SerialExecutor()).summary
    checked = 0
    for name, stat in summary["kpis"].items():
        low, high = BY_NAME[name].range
        if stat["ci95"][0] is None:
            continue
        checked += 1
        assert low is None or stat["ci95"][0] >= low, name
        assert high is None or stat["ci95"][1] <= high, name
    for stats in summary["machines"].values():
        for name, stat in stats.items():
            if stat["ci95"][0] is not None:
                assert stat["ci95"][0] >= 0, name
                if name in ("utilization", "blocked", "starved", "availability", "oee"):
                    assert stat["ci95"][1] <= 1, name
    for stats in summary["suppliers"].values():
        assert all(s["ci95"][0] is None or s["ci95"][0] >= 0 for s in stats.values())
    assert checked > 10


def test_compare_table_marks_clipped_intervals() -> None:
    import io

    from rich.console import Console

    from twin.report.console import print_compare

    def stat(values: list[float]) -> dict[str, object]:
        from twin.study.stats import statistic
        return statistic(values, bounds=(0.0, None))

    kpis = {"throughput": stat([1.0, 1.1, 0.9]), "cost_rate": stat([0.0, 0.0, 0.0, 0.003])}
    header = {"scenario": "s", "seed": 1, "replications": 4, "horizon": 100.0, "warmup": 0.0,
              "time_unit": "min"}
    doc = {**header, "baseline": "a", "rank_by": "cost_rate", "better": "lower",
           "rank_rule": "",
           "policies": {"a": {**header, "kpis": kpis, "machines": {}, "differences": kpis}},
           "ranking": [{"name": "a", "rank": 1, "mean": 0.00075,
                        "not_distinguishable_from": []}]}
    out = io.StringIO()
    print_compare(Console(file=out, width=200), doc)
    text = out.getvalue()
    assert "0.0008 +0.0024/-0.0008" in text  # not "± 0.0016", which would reach below 0
    assert "interval clipped to the" in text
