"""The documentation and editor support: ``twin schema`` is the JSON Schema of what the loader
accepts (the bundled scenarios pass it, the hidden mistakes the loader refuses fail it), the
shipped schema file is its output, the reference pages are made from the code, and the outputs
the docs quote are what the commands print."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.test_plugins import SCENARIO as PLUGIN_SCENARIO
from tests.test_plugins import plugin_path  # noqa: F401 - the fixture
from twin.cli import main
from twin.errors import InputError
from twin.language.jsonschema import field_docstrings, scenario_json_schema
from twin.language.loading import scenario_from_data

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "docs" / "scenario.schema.json"
BUNDLED = sorted(p for p in [*ROOT.glob("scenarios/*.yaml"), *ROOT.glob("benchmarks/*.yaml")]
                 if "plant" in (yaml.safe_load(p.read_text()) or {}))
"""The bundled scenario files (plant states live in scenarios/states/)."""


def module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    out = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = out
    spec.loader.exec_module(out)
    return out


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = scenario_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_shipped_schema_is_what_twin_schema_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = capsys.readouterr().out
    assert printed == SHIPPED.read_text(), "run: twin schema > docs/scenario.schema.json"
    assert json.loads(printed)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_bundled_scenario_carries_the_schema_and_passes_it(path: Path, validator: Any) -> None:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    target = (path.parent / first.split("$schema=", 1)[1]).resolve()
    assert target == SHIPPED
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


BASE = {
    "name": "line", "horizon": 1000,
    "plant": {"nodes": {"raw": {"kind": "source"},
                        "M1": {"kind": "machine", "process_time": 1.5},
                        "B1": {"kind": "buffer", "capacity": 2},
                        "M2": {"kind": "machine",
                               "process_time": {"dist": "exponential", "mean": 1}},
                        "done": {"kind": "sink"}},
              "edges": [["raw", "M1"], {"from": "M1", "to": "B1"}, ["B1", "M2"],
                        ["M2", "done", 1.0]]},
    "maintenance": {"policy": {"kind": "preventive", "every": 40, "duration": 2}},
}


def _with(path: str, value: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(BASE))
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    node[last] = value
    return data


def test_short_forms_pass_both(validator: Any) -> None:
    """A bare number for a distribution, ``[from, to]`` and ``[from, to, p]`` for an edge."""
    assert list(validator.iter_errors(BASE)) == []
    scenario_from_data(BASE)


@pytest.mark.parametrize(("path", "value", "where"), [
    ("plant.nodes.M1.proces_time", 1, ["plant", "nodes", "M1"]),           # unknown field
    ("costs", {"corective": 1000}, ["costs"]),
    ("maintenance.policy.evry", 40, ["maintenance", "policy"]),
    ("plant.nodes.B1.capacity", "two", ["plant", "nodes", "B1", "capacity"]),  # wrong type
    ("horizon", "long", ["horizon"]),
    ("maintenance.crew", 1.5, ["maintenance", "crew"]),
    ("replications", 0, ["replications"]),                                  # out of range
    ("plant.nodes.M1.process_time", {"dist": "exponential", "mean": -1},
     ["plant", "nodes", "M1", "process_time"]),
    ("plant.nodes.M1.kind", "machin", ["plant", "nodes", "M1"]),           # unknown kind
    ("plant.edges", [["raw", "M1", "done", "x"]], ["plant", "edges", 0]),
])
def test_schema_refuses_what_the_loader_refuses(validator: Any, path: str, value: Any,
                                                where: list[Any]) -> None:
    data = _with(path, value)
    if path.endswith(("proces_time", "evry")):  # a misspelling replaces the field
        del _parent(data, path)[("process_time" if "proces" in path else "every")]
    with pytest.raises(InputError):
        scenario_from_data(data)
    errors = list(validator.iter_errors(data))
    assert errors, f"the schema accepts {path}={value!r}"
    paths = [list(e.absolute_path) for e in errors]
    nested = [list(s.absolute_path) for e in errors for s in e.context or ()]
    assert any(p[:len(where)] == where for p in paths + nested), paths


def _parent(data: dict[str, Any], path: str) -> dict[str, Any]:
    node = data
    for key in path.split(".")[:-1]:
        node = node[key]
    return node


def test_field_descriptions_come_from_the_docstrings() -> None:
    from twin.language.schema import Costs, Maintenance

    schema = scenario_json_schema()
    costs = schema["$defs"]["Costs"]["properties"]
    for name, doc in field_docstrings(Costs).items():
        assert costs[name]["description"] == doc
    assert schema["$defs"]["Maintenance"]["properties"]["crew"]["description"] == \
        field_docstrings(Maintenance)["crew"]
    assert schema["properties"]["horizon"]["description"] == "Simulated time of one replication."


def test_plugins_are_in_the_schema(plugin_path: Path, tmp_path: Path) -> None:  # noqa: F811
    env = {**os.environ, "PYTHONPATH": str(plugin_path)}
    out = subprocess.run([sys.executable, "-m", "twin.cli", "schema"], env=env, text=True,
                         capture_output=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    schema = json.loads(out.stdout)
    assert schema["$defs"]["DelayNode"]["properties"]["kind"]["const"] == "delay"
    assert "Every part waits" in schema["$defs"]["DelayNode"]["description"]
    assert "Shifted" in schema["$defs"] and "KFailures" in json.dumps(schema["$defs"])
    data = yaml.safe_load(PLUGIN_SCENARIO)
    valid = jsonschema.Draft202012Validator(schema)
    assert list(valid.iter_errors(data)) == []
    data["plant"]["nodes"]["rack"]["wiat"] = data["plant"]["nodes"]["rack"].pop("wait")
    assert list(valid.iter_errors(data))
    # without the plug-ins, their kinds are not in the schema
    assert not list(jsonschema.Draft202012Validator(scenario_json_schema()).iter_errors(
        BASE)) and "DelayNode" not in scenario_json_schema()["$defs"]


# --------------------------------------------------------------------------- the site


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    return module(ROOT / "docs" / "gen" / "reference.py")


def test_scenario_reference_is_the_schema(reference: ModuleType) -> None:
    """Every field of every model, with its description as written in the code: a changed
    docstring changes the page."""
    schema = scenario_json_schema()
    page = reference.scenario_page(schema)
    for name, model in schema["$defs"].items():
        assert f"{{#{reference._anchor(name)}}}" in page
        for field, sub in model.get("properties", {}).items():
            assert f"| `{field}` |" in page
            if sub.get("description"):
                assert reference._cell(sub["description"]) in page
    schema["$defs"]["Costs"]["properties"]["scrap"]["description"] = "A new description."
    assert "| A new description. |" in reference.scenario_page(schema)


def test_command_reference_is_the_parser(reference: ModuleType) -> None:
    import argparse

    from twin.cli import build_parser

    page = reference.cli_page()
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        assert f"## twin {name} " in page
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for flag in action.option_strings:
                assert f"`{flag}`" in page


def test_kpi_reference_is_the_table(reference: ModuleType) -> None:
    from twin.kpis import KPI_TABLE, MACHINE_TABLE

    page = reference.kpi_page()
    for k in (*KPI_TABLE, *MACHINE_TABLE):
        assert f"| `{k.name}` |" in page and reference._cell(k.description) in page


def test_mqtt_reference_names_every_topic(reference: ModuleType) -> None:
    page = reference.mqtt_page()
    for topic in ("plant/events", "plant/machines", "plant/sensors/{machine}", "twin/forecast",
                  "twin/predictions", "twin/alarms/{machine}", "twin/status",
                  "twin/schedule"):
        assert f"twin/v1/{{plant}}/{topic}" in page


def test_readme_is_short_and_points_into_the_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 250
    example = readme.split("## A five-line example")[1].split("```yaml\n")[1].split("```")[0]
    assert len(example.splitlines()) == 5
    assert scenario_from_data(yaml.safe_load(example)).name == "two-machines"
    for link in ("docs/tutorial/first-plant.md", "docs/how-to/scenarios.md",
                 "docs/background/validation.md"):
        assert f"({link})" in readme and (ROOT / link).exists()


# --------------------------------------------------------------------------- quoted outputs


def test_docs_check_compares_words_exactly_and_numbers_by_precision() -> None:
    check = module(ROOT / "docs" / "check.py")
    quoted = "$ twin run x\n│ throughput (parts/min) │ 0.7877 │ 0.7858 .. 0.7896 │\nn 1,234"
    assert check.differences(quoted, quoted.replace("0.7877", "0.7880"), 1e-3) == []
    assert check.differences(quoted, quoted.replace("0.7877", "0.7900"), 1e-3)
    assert check.differences(quoted, quoted.replace("1,234", "1,235"), 0.0)
    assert check.differences(quoted, quoted.replace("throughput", "thruput"), 1e-3)
    assert check.differences(quoted, quoted + "\nmore", 1e-3)


def test_quoted_outputs_are_what_the_commands_print() -> None:
    check = module(ROOT / "docs" / "check.py")
    quick = tuple(o for o in check.QUOTED if o.quick)
    assert quick
    pages = "".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    for output in check.QUOTED:
        assert (ROOT / "docs" / "outputs" / f"{output.name}.txt").exists()
        assert f'--8<-- "outputs/{output.name}.txt"' in pages, f"{output.name} is quoted nowhere"
    assert check.check(quick) == {}


def test_predictor_reference_is_the_registry(reference: ModuleType) -> None:
    from twin.ml.registry import available, builtin_names

    names = available()
    if not builtin_names():
        pytest.skip("twin's own entry points are not installed here (pip install -e .)")
    page = reference.predictors_page()
    assert "linear" in names
    for name, where in names.items():
        assert f"| `{name}` |" in page and f"`{where}`" in page
