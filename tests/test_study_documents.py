"""compare.json and sweep.json read back into typed models: the same document, field for field
and in order; and the report pages and tables, which read those models by field, show every
number of the document where it belongs."""

from __future__ import annotations

import copy
import html
import io
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from twin import load_scenario, run
from twin.kpis import KPI_TABLE, headline_kpis
from twin.report.console import print_compare, print_sweep
from twin.report.pages import compare_report, run_report, sweep_report
from twin.study.executors import SerialExecutor
from twin.study.results import Comparison, Stat, Summary, Sweep
from twin.study.variants import compare, sweep

ROOT = Path(__file__).resolve().parents[1]
LABELS = {k.name: k.label for k in KPI_TABLE}


def _scenario(name: str, *overrides: tuple[str, Any]) -> Any:
    return load_scenario(ROOT / "scenarios" / f"{name}.yaml", [("replications", 2), *overrides])


@pytest.fixture(scope="module")
def comparison() -> dict[str, Any]:
    return compare(_scenario("two-station", ("horizon", 5000)), executor=SerialExecutor())


@pytest.fixture(scope="module", params=["line", "supply-chain"])
def swept(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "line":
        scenario = _scenario("default", ("horizon", 2000), ("warmup", 200))
        factors = [("plant.nodes.B_saw.capacity", [2, 6]), ("maintenance.crew", [1, 2])]
    else:
        scenario = _scenario("supply-chain", ("horizon", 2000))
        factors = [("plant.nodes.raw-store.policy.r", [40, 60])]
    return sweep(scenario, factors, executor=SerialExecutor())[0]


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    scenario = _scenario("default", ("horizon", 2000), ("warmup", 200))
    return run(scenario, executor=SerialExecutor(), buckets=500.0).summary


def _num(value: float | None) -> str:
    """The pages' number: four significant digits, thousands separated; a dash for none."""
    if value is None:
        return "–"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    return f"{value:,.{max(0, 3 - magnitude)}f}"


def _ci(stat: dict[str, Any]) -> str:
    low, high = stat["ci95"]
    return "–" if low is None else f"{_num(low)} … {_num(high)}"


def _masked(page: str) -> str:
    """The page without what changes from one rendering to the next: the minute it was made
    and the ids plotly gives its figures."""
    page = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "STAMP", page)
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "ID", page)


def test_the_pages_number_is_four_significant_digits() -> None:
    assert [_num(v) for v in (0.7861, 12.3456, 1234.6, -0.012345, 0.0, None)] == \
        ["0.7861", "12.35", "1,235", "-0.01235", "0", "–"]


# --------------------------------------------------------------------------- round trips


def test_the_typed_comparison_gives_back_the_very_document(comparison: dict[str, Any]) -> None:
    typed = Comparison.model_validate(comparison)
    assert json.dumps(typed.to_json()) == json.dumps(comparison)  # keys, values and order
    assert Comparison.model_validate_json(json.dumps(typed.to_json())) == typed
    assert "difference_to_previous" not in typed.to_json()["ranking"][0]  # absent stays absent


def test_the_comparison_is_read_by_field(comparison: dict[str, Any]) -> None:
    typed = Comparison.model_validate(comparison)
    assert list(typed.policies) == list(comparison["policies"])
    for name, policy in typed.policies.items():
        assert isinstance(policy, Summary)
        raw = comparison["policies"][name]
        assert policy.overrides == raw["overrides"]
        for kpi, stat in policy.differences.items():
            assert isinstance(stat, Stat)
            assert stat.values == raw["differences"][kpi]["values"]
        assert policy.kpis["cost_rate"].mean == raw["kpis"]["cost_rate"]["mean"]
    # the baseline's differences to itself are all 0
    assert all(s.mean == 0 for s in typed.policies[typed.baseline].differences.values())
    first, *rest = typed.ranking
    assert first.rank == 1 and first.difference_to_previous is None
    assert [e.name for e in typed.ranking] == [e["name"] for e in comparison["ranking"]]
    for entry, raw in zip(rest, comparison["ranking"][1:], strict=True):
        assert entry.difference_to_previous is not None
        assert entry.difference_to_previous.ci95 == tuple(raw["difference_to_previous"]["ci95"])


def test_the_typed_sweep_gives_back_the_very_document(swept: dict[str, Any]) -> None:
    typed = Sweep.model_validate(swept)
    assert json.dumps(typed.to_json()) == json.dumps(swept)
    assert list(typed.to_json()["best"]) == list(swept["best"])  # the KPI's name in its place
    assert Sweep.model_validate_json(json.dumps(typed.to_json())) == typed


def test_the_sweep_is_read_by_field(swept: dict[str, Any]) -> None:
    typed = Sweep.model_validate(swept)
    assert [f.param for f in typed.factors] == [f["param"] for f in swept["factors"]]
    assert len(typed.points) == len(swept["points"])
    best = typed.best
    assert best.kpi == typed.rank_by == "cost_rate"
    by_run = {p.run: p for p in typed.points}
    assert best.stat == by_run[best.run].kpis["cost_rate"]  # the best point's own statistic
    assert by_run[best.run].rank == 1
    assert all(p.rank is not None and p.rank >= 1 for p in typed.points)
    assert (typed.points[0].warehouses is not None) == ("warehouses" in swept["points"][0])


def test_documents_of_other_versions_keep_their_extra_keys(swept: dict[str, Any],
                                                           comparison: dict[str, Any]) -> None:
    old = copy.deepcopy(swept)
    old["note"] = "from a later version"
    old["points"][0]["seconds"] = 1.5
    old["best"]["why"] = "lowest mean"
    typed = Sweep.model_validate(old)
    assert typed.to_json() == old
    assert (typed.model_extra or {})["note"] == "from a later version"
    old = copy.deepcopy(comparison)
    del old["rank_rule"]  # a document from before the rule was stated
    old["ranking"][0]["p_value"] = 0.5
    typed_c = Comparison.model_validate(old)
    assert typed_c.rank_rule == ""
    assert typed_c.to_json() == old


# --------------------------------------------------------------------------- pages


def _kpi_row(label: str, stat: dict[str, Any]) -> str:
    return (f"<tr><td>{html.escape(label)}</td><td>{_num(stat['mean'])}</td>"
            f"<td class=\"ci\">{html.escape(_ci(stat))}</td></tr>")


def test_the_run_page_shows_every_headline_kpi(summary: dict[str, Any]) -> None:
    page = run_report(summary)
    assert _masked(page) == _masked(run_report(Summary.model_validate(summary)))
    shown = headline_kpis(summary["kpis"])
    assert "throughput" in shown and "cost_rate" in shown
    for kpi in shown:
        label = LABELS[kpi]
        rows = [r for r in re.findall(r"<tr><td>[^<]*</td><td>[^<]*</td><td class=\"ci\">[^<]*"
                                      r"</td></tr>", page) if r.startswith(f"<tr><td>{label}")]
        assert len(rows) == 1, kpi
        assert f"<td>{_num(summary['kpis'][kpi]['mean'])}</td>" in rows[0]
        assert html.escape(_ci(summary["kpis"][kpi])) in rows[0]
    machines = summary["machines"]
    busiest = max(machines, key=lambda m: machines[m]["utilization"]["mean"])
    assert f"The busiest machine is <b>{busiest}</b>" in page
    assert summary["buckets"]["width"] == 500.0 and "Throughput per 500 min" in page


def test_the_compare_page_shows_every_policy_number(comparison: dict[str, Any]) -> None:
    page = compare_report(comparison)
    assert _masked(page) == _masked(compare_report(Comparison.model_validate(comparison)))
    policies = comparison["policies"]
    baseline = comparison["baseline"]
    # the ranking, best first, in the document's order
    places = [page.index(f"<tr><td>{e['rank']}</td><td>{e['name']}</td>"
                         f"<td>{_num(e['mean'])}</td>") for e in comparison["ranking"]]
    assert places == sorted(places)
    for kpi in headline_kpis(policies[baseline]["kpis"]):
        for name, policy in policies.items():
            stat = policy["kpis"][kpi]
            assert html.escape(f"{_num(stat['mean'])} [{_ci(stat)}]") in page, (name, kpi)
            if name != baseline:
                assert html.escape(_ci(policy["differences"][kpi])) in page
    assert f"Paired differences against {baseline}" in page
    assert html.escape(comparison["rank_rule"]) in page


def test_the_compare_page_lists_each_policys_warnings(comparison: dict[str, Any]) -> None:
    doc = copy.deepcopy(comparison)
    name = list(doc["policies"])[-1]
    doc["policies"][name]["warnings"] = ["deadlock at t = 12"]
    page = compare_report(doc)
    assert f"<li class=\"warning\">{name}: deadlock at t = 12</li>" in page


def test_the_sweep_page_shows_every_point(swept: dict[str, Any]) -> None:
    page = sweep_report(swept)
    assert _masked(page) == _masked(sweep_report(Sweep.model_validate(swept)))
    best = swept["best"]
    params = ", ".join(f"{k}={v}" for k, v in best["params"].items())
    stat = best["cost_rate"]
    assert html.escape(f"<b>{params}</b>: {_num(stat['mean'])} (95% CI {_ci(stat)})") \
        .replace("&lt;b&gt;", "<b>").replace("&lt;/b&gt;", "</b>") in page
    for point in swept["points"]:
        attr = ' class="best"' if point["run"] == best["run"] else ""
        cells = "".join(f"<td{attr}>{point['params'][f['param']]}</td>"
                        for f in swept["factors"])
        assert f"<tr>{cells}" in page, point["run"]
        stat = point["kpis"]["cost_rate"]
        assert html.escape(f"{_num(stat['mean'])} [{_ci(stat)}]") in page
    if "fill_rate" in swept["points"][0]["kpis"]:
        assert "All points: supply chain" in page


def test_the_tables_read_the_typed_models_as_the_documents(comparison: dict[str, Any],
                                                           swept: dict[str, Any]) -> None:
    def printed(show: Any, doc: Any) -> str:
        out = io.StringIO()
        show(Console(file=out, width=200), doc)
        return out.getvalue()

    text = printed(print_compare, comparison)
    assert text == printed(print_compare, Comparison.model_validate(comparison))
    assert all(name in text for name in comparison["policies"])
    text = printed(print_sweep, swept)
    assert text == printed(print_sweep, Sweep.model_validate(swept))
    assert f"best by cost_rate ({swept['better']} is better)" in text


def test_the_learning_section_is_read_by_field(summary: dict[str, Any]) -> None:
    from twin.study.summary import learning_summary

    def record(switched: float | None, rates: list[float]) -> dict[str, Any]:
        return {"period": 525600, "period_label": "year", "cost_rate_by_period": rates,
                "switched_at": switched, "ends": [[100.0, 1.0]],
                "updates": [[500.0, 10, 10, 400, None], [900.0, 12, 11, 480, 3.5]]}

    learning = learning_summary([record(1000.0, [0.5, 0.4]), record(None, [0.7, 0.2])])
    keys = list(summary)
    at = keys.index("predictor") + 1  # where summarize puts it
    doc = {k: summary[k] for k in keys[:at]} | {"learning": learning} \
        | {k: summary[k] for k in keys[at:]}
    typed = Summary.model_validate(doc)
    assert json.dumps(typed.to_json()) == json.dumps(doc)  # the period stays an integer
    assert typed.learning is not None and typed.learning.period == 525600
    assert typed.learning.never_switched == 1
    assert typed.learning.switched_at is not None and typed.learning.switched_at.mean == 1000.0
    assert [s.mean for s in typed.learning.cost_rate_by_period] == pytest.approx([0.6, 0.3])
    page = run_report(doc)
    assert _masked(page) == _masked(run_report(typed))
    first, second = learning["cost_rate_by_period"]
    row = (f"<tr><td>{summary['scenario']}</td>"
           f"<td class=\"ci\">{_num(first['mean'])} [{html.escape(_ci(first))}]</td>"
           f"<td class=\"ci\">{_num(second['mean'])} [{html.escape(_ci(second))}]</td></tr>")
    assert "<th>year 1</th><th>year 2</th>" in page and row in page
    assert (f"{summary['scenario']}: its model took over at 1,000 min on average "
            "(1 replications never).") in page
    assert "Learning in the loop" in page  # the error figure: one update with an error each
