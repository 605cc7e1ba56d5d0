"""summary.json read back into the typed model: the same document, field for field and in
order, for plants with every kind of section; and the command's tables read it by field."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from twin import load_scenario, run
from twin.report.console import print_summary
from twin.study.executors import SerialExecutor
from twin.study.results import Stat, Summary

ROOT = Path(__file__).resolve().parents[1]
CASES = {"default": [("horizon", 3000), ("warmup", 300)],
         "supply-chain": [("horizon", 3000)],
         "assembly": [("horizon", 3000)],
         "cell-orders": [("horizon", 3000)]}


@pytest.fixture(scope="module", params=list(CASES))
def summary(request: pytest.FixtureRequest) -> dict:
    scenario = load_scenario(ROOT / "scenarios" / f"{request.param}.yaml",
                             [("replications", 2), *CASES[request.param]])
    return run(scenario, executor=SerialExecutor(), buckets=500.0).summary


def test_the_typed_summary_gives_back_the_very_document(summary: dict) -> None:
    typed = Summary.model_validate(summary)
    assert json.dumps(typed.to_json()) == json.dumps(summary)  # same keys, values and order
    assert typed.to_json()["buckets"] == summary["buckets"]  # a study's extra section kept
    again = Summary.model_validate_json(json.dumps(typed.to_json()))
    assert again == typed


def test_fields_are_read_by_name(summary: dict) -> None:
    typed = Summary.model_validate(summary)
    assert typed.kpis["throughput"].mean == summary["kpis"]["throughput"]["mean"]
    assert isinstance(typed.kpis["throughput"], Stat)
    for name, stats in typed.machines.items():
        assert stats["utilization"].values == summary["machines"][name]["utilization"]["values"]
    has_supply = "warehouses" in summary
    assert (typed.warehouses is not None) == has_supply
    assert (typed.customers is not None) == ("customers" in summary)


def test_the_summary_tables_read_the_typed_model_as_the_document(summary: dict) -> None:
    def printed(doc: object) -> str:
        out = io.StringIO()
        print_summary(Console(file=out, width=150), doc)  # type: ignore[arg-type]
        return out.getvalue()

    text = printed(Summary.model_validate(summary))
    assert text == printed(summary)
    mean = summary["kpis"]["throughput"]["mean"]
    assert "throughput" in text and f"{mean:.3f}"[:4] in text


def test_a_stat_refuses_an_unknown_key() -> None:
    with pytest.raises(ValueError):
        Stat.model_validate({"mean": 1.0, "ci95": [0.5, 1.5], "values": [1.0], "sd": 2.0})
