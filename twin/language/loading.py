"""Loading scenarios: the one way in.

``load_scenario`` reads YAML safely, applies ``--set`` overrides, validates with pydantic
(unknown keys rejected, every parameter checked), checks the plant graph and each policy's own
conditions, so that everything downstream works from a trusted object. Problems are reported as
``InputError`` naming the file, the field path and the line.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from twin.errors import InputError, Loc
from twin.language.messages import validation_problems
from twin.language.nodes import DISPATCHING
from twin.language.overrides import apply_override
from twin.language.products import product_problems, read_orders
from twin.language.resources import resource_problems
from twin.language.schema import Scenario
from twin.language.transport import transport_problems
from twin.language.yamlio import line_of, load_yaml
from twin.registry import DISPATCHING as DISPATCHING_GROUP
from twin.registry import Registry, did_you_mean


def scenario_from_data(
    data: Any,
    source: str = "<scenario>",
    lines: Mapping[Loc, int] | None = None,
    overrides: Iterable[tuple[str, Any]] = (),
    check_policies: bool = True,
    folder: str | Path | None = None,
) -> Scenario:
    """Validate plain data (as read from YAML) into a frozen, checked ``Scenario``. Relative
    file paths in it name files in ``folder`` (the scenario file's) where they exist there."""
    from twin.language.plant import check_plant

    lines = dict(lines or {})
    if data is None:
        raise InputError(source, [((), "the file is empty", None)])
    if not isinstance(data, dict):
        raise InputError(source, [((), f"expected a mapping at the top level, got "
                                        f"{type(data).__name__}", line_of(lines, ()))])
    fields = {f.alias or name for name, f in Scenario.model_fields.items()}
    if data and not any(isinstance(key, str) and key in fields for key in data):
        # not a scenario at all (a file named by mistake, or one that is not the user's to
        # show): say so without quoting its keys
        raise InputError(source, [((), f"not a scenario file: none of its {len(data)} top-level "
                                        f"keys is a scenario field (a scenario has name, "
                                        f"horizon and plant)", line_of(lines, ()))])
    data = copy.deepcopy(data)
    overridden: list[tuple[str, ...]] = []
    for path, value in overrides:
        apply_override(data, path, value)
        overridden.append(tuple(path.split(".")))

    def located(loc: Loc, msg: str) -> tuple[Loc, str, int | None]:
        keys = tuple(str(k) for k in loc)
        for path in overridden:
            n = min(len(path), len(keys))
            if path[:n] == keys[:n]:
                return loc, f"{msg} (set on the command line: {'.'.join(path)})", None
        for path in overridden:  # another field's check that names one set on the command line
            dotted = ".".join(path)
            if re.search(rf"(?<![\w.]){re.escape(dotted)}(?![\w.])", msg):
                return loc, f"{msg} ({dotted} set on the command line)", line_of(lines, loc)
        return loc, msg, line_of(lines, loc)

    folder = str(folder) if folder is not None else None
    try:
        scenario = Scenario.model_validate(data, context={"base": folder})
    except ValidationError as exc:
        raise InputError(source, [located(loc, msg) for loc, msg, _ in
                                  validation_problems(exc, data, lines)]) from None
    scenario._folder = folder
    problems = check_plant(scenario)
    problems += transport_problems(scenario)
    problems += _dispatching_problems(scenario)
    if scenario.products and not problems:  # routes are read on a sound graph
        problems += product_problems(scenario)
    if not problems:
        problems += resource_problems(scenario)
    problems += scenario.maintenance.policy.problems(scenario, ("maintenance", "policy"))
    if scenario.quality.policy is not None:
        problems += scenario.quality.policy.problems(scenario, ("quality", "policy"))
    if problems:
        raise InputError(source, [located(loc, msg) for loc, msg in problems])
    if scenario.orders is not None:
        try:
            read_orders(scenario.orders.file, scenario.products)
        except InputError as exc:  # the order list's own rows and columns, under the scenario
            raise InputError(source, [located(("orders", "file"), f"{exc.source}: {msg}")
                                      for _, msg, _ in exc.problems]) from None
    if check_policies:
        for name in scenario.policies:
            policy_scenario(scenario, name, source=source, lines=lines)
    return scenario


def _dispatching_problems(scenario: Scenario) -> list[tuple[Loc, str]]:
    if all(spec.dispatch in DISPATCHING for spec in scenario.plant.nodes.values()
           if spec.kind == "buffer"):
        return []  # built-in rules only: no need to read the installed plug-ins
    rules = Registry(DISPATCHING_GROUP, "dispatching rule", dict.fromkeys(DISPATCHING, "")).names()
    return [(("plant", "nodes", name, "dispatch"),
             f"unknown dispatching rule {spec.dispatch!r}{did_you_mean(spec.dispatch, rules)} "
             f"(one of: {', '.join(rules)})")
            for name, spec in scenario.plant.nodes.items()
            if spec.kind == "buffer" and spec.dispatch not in rules]


def load_scenario(path: str | Path, overrides: Iterable[tuple[str, Any]] = ()) -> Scenario:
    """Read, override, validate and check a scenario file."""
    data, lines = load_yaml(path)
    return scenario_from_data(data, str(path), lines, overrides, folder=Path(path).parent)


def to_data(scenario: Scenario) -> dict[str, Any]:
    """The scenario as plain data, with the field names of the file."""
    return scenario.model_dump(mode="json", by_alias=True, exclude_none=False)


def policy_scenario(
    scenario: Scenario, name: str, source: str = "<scenario>",
    lines: Mapping[Loc, int] | None = None,
) -> Scenario:
    """The scenario with the overrides of policy ``name`` applied."""
    if name not in scenario.policies:
        did = did_you_mean(name, list(scenario.policies))
        raise InputError(source, [(("policies",), f"no policy {name!r}{did}", None)])
    lines = dict(lines or {})
    data = to_data(scenario)
    data["policies"] = {}
    prefix: Loc = ("policies", name)
    for path, value in scenario.policies[name].items():
        try:
            apply_override(data, str(path), copy.deepcopy(value), source)
        except InputError as exc:
            loc = (*prefix, str(path))
            raise InputError(source, [(loc, msg, line_of(lines, loc))
                                      for _, msg, _ in exc.problems]) from None
    try:
        out = scenario_from_data(data, source, {}, check_policies=False,
                                 folder=scenario._folder)
    except InputError as exc:
        raise InputError(source, [((*prefix, *loc), msg, line_of(lines, prefix))
                                  for loc, msg, _ in exc.problems]) from None
    variant = out.model_copy(update={"policies": scenario.policies, "name": scenario.name})
    variant._folder = scenario._folder
    return variant


def dump_yaml(scenario: Scenario) -> str:
    """The scenario as YAML text, in the form it loads from."""
    return yaml.safe_dump(to_data(scenario), sort_keys=False)
