"""Plant-wide resources in the scenario language: named calendars and operator pools, and the
checks that tie machines to them and assemblies to the products their inputs supply."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from twin.errors import Loc
from twin.language.base import Frozen
from twin.language.distributions import Distribution
from twin.language.nodes import Calendar

if TYPE_CHECKING:
    from twin.language.schema import Scenario


class OperatorPool(Frozen):
    """A labour pool: ``size`` operators with the pool's ``skills`` (none listed: any machine's
    work), working by ``calendar`` (a calendar or the name of one; none: always). An operator
    sent to another machine than the one they are at first walks there (``walk``)."""

    size: Annotated[int, Field(ge=1)]
    skills: list[str] = Field(default_factory=list)
    walk: Distribution | None = None
    calendar: Calendar | str | None = None


def resource_problems(scenario: Scenario) -> list[tuple[Loc, str]]:
    """Calendars and operator pools named but not defined, skills a pool lacks, and bills of
    materials naming products no input of the machine can supply."""
    from twin.registry import did_you_mean

    problems: list[tuple[Loc, str]] = []
    calendars = scenario.calendars
    pools = scenario.operators

    def calendar(value: object, loc: Loc) -> None:
        if isinstance(value, str) and value not in calendars:
            problems.append((loc, f"no calendar named {value!r} in calendars"
                                  f"{did_you_mean(value, list(calendars))}"))

    for name, pool in pools.items():
        calendar(pool.calendar, ("operators", name, "calendar"))
    nodes = scenario.plant.nodes
    supplied = products_reaching(scenario)
    for name, spec in nodes.items():
        if spec.kind == "source" and spec.product is not None and scenario.products:
            problems.append((("plant", "nodes", name, "product"), "a source's product is for "
                             "plants without a products section (with one, give mix or "
                             "sequence)"))
        if spec.kind != "machine":
            continue
        loc: Loc = ("plant", "nodes", name)
        calendar(spec.calendar, (*loc, "calendar"))
        staffing = spec.operators
        if staffing is not None:
            for task in ("setup", "load", "process"):
                wanted = getattr(staffing, task)
                if wanted is None:
                    continue
                if wanted not in pools:
                    problems.append(((*loc, "operators", task), f"no operator pool named "
                                     f"{wanted!r} in operators{did_you_mean(wanted, list(pools))}"))
                elif (staffing.skill is not None and pools[wanted].skills
                      and staffing.skill not in pools[wanted].skills):
                    problems.append(((*loc, "operators", "skill"), f"pool {wanted!r} has no "
                                     f"operator with skill {staffing.skill!r} (skills: "
                                     f"{', '.join(pools[wanted].skills)})"))
            if staffing.setup is not None and spec.setup is None:
                problems.append(((*loc, "operators", "setup"), f"machine {name!r} has no setup "
                                 "for an operator to do"))
        if spec.assembly is not None:
            inputs = {p: supplied.get(p, set()) for p in scenario.plant.nodes
                      if (p, name) in _edges(scenario)}
            offered = set().union(*inputs.values()) if inputs else set()
            for product in spec.assembly:
                if product not in offered:
                    problems.append(((*loc, "assembly", product), f"no input of machine {name!r} "
                                     f"can supply product {product!r} (its inputs supply "
                                     f"{', '.join(sorted(offered)) or 'unlabelled parts'})"
                                     f"{did_you_mean(product, sorted(offered))}"))
        if spec.disassembly is not None:
            outs = [t for s, t in _edges(scenario) if s == name]
            for target in spec.disassembly:
                if target not in outs:
                    problems.append(((*loc, "disassembly", target), f"machine {name!r} has no "
                                     f"edge to {target!r}{did_you_mean(target, outs)}"))
            for target in outs:
                if target not in spec.disassembly:
                    problems.append(((*loc, "disassembly"), f"machine {name!r} has an edge to "
                                     f"{target!r}: say how many parts go there"))
    if scenario.products and any(getattr(s, "assembly", None) or getattr(s, "disassembly", None)
                                 for s in nodes.values()):
        problems.append((("products",), "assembly and disassembly label parts by the sources' "
                                        "product; they are not combined with a products section"))
    return problems


def _edges(scenario: Scenario) -> set[tuple[str, str]]:
    return {(e.source, e.target) for e in scenario.plant.edges if e.when is None}


def products_reaching(scenario: Scenario) -> dict[str, set[str]]:
    """The products whose parts can be at each node: from the sources' ``product`` along the
    edges; an assembly's parts are of the product it ``makes``."""
    nodes = scenario.plant.nodes
    succ: dict[str, list[str]] = {}
    for source, target in _edges(scenario):
        succ.setdefault(source, []).append(target)
    out: dict[str, set[str]] = {n: set() for n in nodes}
    todo = []
    for name, spec in nodes.items():
        made = (getattr(spec, "product", None) if spec.kind == "source"
                else getattr(spec, "makes", None) if getattr(spec, "assembly", None) else None)
        if made is not None:
            out[name].add(made)
            todo.append(name)
    while todo:
        name = todo.pop()
        for target in succ.get(name, []):
            node = nodes.get(target)
            if node is None or getattr(node, "assembly", None):
                continue  # an assembly's parts are its own product
            new = out[name] - out[target]
            if new:
                out[target] |= new
                todo.append(target)
    return out
