"""Fuzzing the scenario loader: the bundled scenarios mutated thousands of times (fields dropped,
retyped, duplicated, nested and renamed; extreme numbers; wrong node references; lines of the
file duplicated or dropped). Every one must load, or be refused with an InputError (exit 2 and a
message); never another exception (exit 1).

Most cases go to the library loader (the data as YAML would give it, which `twin validate` runs
after parsing); a share go through `twin validate FILE` itself, YAML parsing and messages
included (its pure-Python YAML parser, which keeps line numbers, is the slow part)."""

from __future__ import annotations

import contextlib
import copy
import io
import math
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.cli import main
from twin.errors import InputError
from twin.language.loading import scenario_from_data
from twin.language.plant import plant_graph

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = {p.name: p.read_text() for p in sorted((ROOT / "scenarios").glob("*.yaml"))}
DATA = {name: yaml.safe_load(text) for name, text in SCENARIOS.items()}
CASES = 2000
CLI_CASES = 300

EXTREMES = [0, -1, -0.0, 1e308, -1e308, 5e-324, 2**63, -(2**63), 10**30, math.inf, -math.inf,
            math.nan, 0.5, 1.0000001]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from(EXTREMES),
    st.sampled_from(["raw", "M1", "done", "press", "machine", "buffer", "sink", "source",
                     "exponential", "weibull", "preventive", "predictive", "1,2", "[a, b]"]),
    st.lists(st.one_of(st.integers(-5, 5), st.text(max_size=3)), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(-3, 3), max_size=2),
)
KINDS = ["drop", "retype", "duplicate", "nest", "rename", "extreme", "reference", "line"]
OPERATIONS = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 10**6),
                                st.integers(0, 10**6), VALUES), min_size=1, max_size=4)


def locations(tree: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) pair in the tree: dict keys and list indices."""
    out: list[tuple[Any, Any]] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        items = (list(node.items()) if isinstance(node, dict)
                 else list(enumerate(node)) if isinstance(node, list) else [])
        for key, value in items:
            out.append((node, key))
            stack.append(value)
    return out


def node_names(data: Any) -> list[str]:
    try:
        return [str(n) for n in data["plant"]["nodes"]]
    except (KeyError, TypeError):
        return ["raw"]


def mutate(data: Any, operations: list[tuple[str, int, int, Any]]) -> Any:
    data = copy.deepcopy(data)
    for kind, i, j, value in operations:
        where = locations(data)
        if not where:
            return value
        parent, key = where[i % len(where)]
        if kind == "drop":
            del parent[key]
        elif kind == "retype":
            parent[key] = value
        elif kind == "duplicate":  # a copy of another field under this key's name, or beside it
            other_parent, other_key = where[j % len(where)]
            if isinstance(parent, dict):
                parent[f"{key}"] = copy.deepcopy(other_parent[other_key])
            else:
                parent.insert(key, copy.deepcopy(other_parent[other_key]))
        elif kind == "nest":
            parent[key] = {"value": parent[key]} if j % 2 else [parent[key]]
        elif kind == "rename" and isinstance(parent, dict):
            text = str(key)
            cut = j % (len(text) + 1)
            new = (text[:cut] + text[cut + 1:] + text[cut:cut + 1]) if j % 3 else text.upper()
            parent[new if new != text else text + "_"] = parent.pop(key)
        elif kind == "extreme":
            parent[key] = EXTREMES[j % len(EXTREMES)]
        elif kind == "reference":  # an edge endpoint or node name pointing somewhere wrong
            names = node_names(data)
            parent[key] = (names[j % len(names)] if j % 3 else
                           names[j % len(names)] + "x")
    return data


def to_text(data: Any, operations: list[tuple[str, int, int, Any]]) -> str:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    lines = text.splitlines(keepends=True)
    for kind, i, j, _ in operations:
        if kind == "line" and lines:  # text-level: a line duplicated or dropped
            k = i % len(lines)
            if j % 2:
                lines.insert(k, lines[k])
            else:
                del lines[k]
    return "".join(lines)


seen = {"cases": 0, "valid": 0, "cli": 0}
FUZZ = dict(deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                   HealthCheck.data_too_large])


@settings(max_examples=CASES, **FUZZ)  # type: ignore[arg-type]
@given(name=st.sampled_from(sorted(SCENARIOS)), operations=OPERATIONS)
def check_loader(name: str, operations: list[tuple[str, int, int, Any]]) -> None:
    data = mutate(DATA[name], operations)
    seen["cases"] += 1
    try:
        scenario = scenario_from_data(data, f"fuzzed {name}", folder=ROOT / "scenarios")
        plant_graph(scenario)
    except InputError as exc:
        message = exc.render()
        assert message.startswith(f"fuzzed {name}") and exc.problems, message
        return
    seen["valid"] += 1


@settings(max_examples=CLI_CASES, **FUZZ)  # type: ignore[arg-type]
@given(name=st.sampled_from(sorted(SCENARIOS)), operations=OPERATIONS)
def check_command(tmp_path: Path, name: str, operations: list[tuple[str, int, int, Any]]
                  ) -> None:
    path = tmp_path / "fuzzed.yaml"
    path.write_text(to_text(mutate(DATA[name], operations), operations), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["validate", str(path)])
    seen["cli"] += 1
    assert status in (0, 2), f"exit {status} for {name} after {operations}:\n{err.getvalue()}"
    if status == 2:
        message = err.getvalue()
        assert message.startswith("error: ") and str(path) in message, message
        assert "Traceback" not in message
    else:
        assert "ok: scenario" in out.getvalue()


def test_mutated_scenarios_load_or_are_refused_with_a_message(tmp_path: Path) -> None:
    check_loader()
    check_command(tmp_path)
    print(f"\nfuzz: {seen['cases']} mutated scenarios through the loader ({seen['valid']} still "
          f"valid, {seen['cases'] - seen['valid']} refused with a message), {seen['cli']} "
          "through `twin validate`")
    assert seen["cases"] >= CASES and seen["cli"] >= CLI_CASES
