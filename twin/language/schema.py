"""The scenario: a validated, frozen description of a plant and an experiment.

``load_scenario`` is the one way in: it reads YAML safely, applies ``--set`` overrides, validates
with pydantic (unknown keys rejected, every parameter checked) and checks the plant graph, so
that everything downstream works from a trusted object. Problems are reported as
``InputError`` naming the file, the field path and the line.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from twin.errors import InputError, Loc
from twin.language.distributions import Constant, Distribution
from twin.language.yamlio import line_of, load_yaml, parse_yaml


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- plant nodes


class Failures(Frozen):
    """Operation-dependent failures: ``ttf`` counts processing time since the last renewal.

    With a ``degradation`` model, ``ttf`` may be left out (failures come from wear) or given
    (random failures that compete with wear)."""

    ttf: Distribution | None = None
    ttr: Distribution


Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
PositiveNumber = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class _Degradation(Frozen):
    threshold: PositiveNumber = 1.0
    """Wear at which the machine fails."""
    shocks: PositiveNumber | None = None
    """Rate of random shock failures per unit of operating time, competing with wear."""
    repair_restores: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 1.0
    """Share of the wear a repair removes (1: as good as new)."""
    maintenance_restores: Fraction = 1.0
    """Share of the wear a maintenance removes."""


class WienerDegradation(_Degradation):
    model: Literal["wiener"]
    drift: Distribution
    """Wear per unit of operating time, drawn once per life (unit-to-unit variation)."""
    volatility: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    step: PositiveNumber = 1.0
    """Operating time between points of the simulated path."""


class GammaDegradation(_Degradation):
    model: Literal["gamma"]
    rate: PositiveNumber
    """Gamma shape per unit of operating time."""
    scale: PositiveNumber
    step: PositiveNumber = 1.0


class MarkovDegradation(_Degradation):
    model: Literal["markov"]
    rates: Annotated[list[PositiveNumber], Field(min_length=1)]
    """Rate of leaving state k for k + 1 (per operating time); the last state is failure."""


Degradation = Annotated[WienerDegradation | GammaDegradation | MarkovDegradation,
                        Field(discriminator="model")]


class Sensor(Frozen):
    """A reading of wear: ``base + gain * wear**power`` plus Gaussian noise, every ``period``.

    Wear is the fraction of the failure threshold reached. While the machine is on but not
    working (starved or blocked) the signal part is scaled by ``idle``; while it is down, in
    repair or in maintenance it is off and emits nothing."""

    period: PositiveNumber
    base: Annotated[float, Field(allow_inf_nan=False)] = 0.0
    gain: Annotated[float, Field(allow_inf_nan=False)] = 1.0
    power: PositiveNumber = 1.0
    noise: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    idle: Fraction = 0.5
    unit: str = ""


class SourceNode(Frozen):
    kind: Literal["source"]
    interarrival: Distribution | None = None
    """Time between releases; none means an infinite supply."""


class Defects(Frozen):
    """Chance that a part this machine finishes is defective: ``probability + per_wear * wear``
    (wear as a fraction of the failure threshold; 0 without a degradation model)."""

    probability: Fraction = 0.0
    per_wear: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0


class QualityCheck(Frozen):
    """The machine inspects the parts it finishes: a share ``sampling`` of them; a defective part
    inspected is rejected with probability ``detection``, a good one with ``false_alarm``.
    Rejected parts take the machine's edge marked ``when: rejected``."""

    sampling: Fraction = 1.0
    detection: Fraction = 1.0
    false_alarm: Fraction = 0.0


class Setup(Frozen):
    """A changeover of ``duration`` before every batch of ``batch`` parts (the first included)."""

    batch: Annotated[int, Field(ge=1)]
    duration: Distribution


class MachineNode(Frozen):
    kind: Literal["machine"]
    process_time: Distribution
    failures: Failures | None = None
    degradation: Degradation | None = None
    sensors: dict[str, Sensor] = Field(default_factory=dict)
    defects: Defects | None = None
    inspection: QualityCheck | None = None
    fixes: Fraction | None = None
    """A rework machine: chance that it turns a defective part into a good one."""
    setup: Setup | None = None
    priority: Annotated[int, Field(ge=0, le=999)] = 0
    """Order of its jobs among those waiting for the crew (lower first; repairs before
    preventive work whatever the priority)."""

    @model_validator(mode="after")
    def _failure_model(self) -> MachineNode:
        if self.degradation is not None and self.failures is None:
            raise ValueError("a machine with degradation needs failures: {ttr: ...} for its "
                             "repairs")
        if self.failures is not None and self.failures.ttf is None and self.degradation is None:
            raise ValueError("failures.ttf is required unless the machine has a degradation "
                             "model")
        return self


class BufferNode(Frozen):
    kind: Literal["buffer"]
    capacity: Annotated[int, Field(ge=0)] | None = None
    """Parts it can hold; null means unbounded."""


class SinkNode(Frozen):
    kind: Literal["sink"]
    scrap: bool = False
    """Parts reaching a scrap sink are scrapped, not shipped."""


# --------------------------------------------------------------------------- supply chain

NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Units = Annotated[int, Field(ge=0)]


class SupplierNode(Frozen):
    """Fills the replenishment orders of the warehouses it feeds: each order is prepared for
    ``lead_time`` (at most ``capacity`` orders at once; null: no limit), then shipped whole. With
    probability ``reliability`` it ships on time, otherwise ``delay`` later."""

    kind: Literal["supplier"]
    lead_time: Distribution
    reliability: Fraction = 1.0
    delay: Distribution | None = None
    capacity: Annotated[int, Field(ge=1)] | None = None
    price: NonNegative = 0.0
    """Per unit bought."""

    @model_validator(mode="after")
    def _late_needs_delay(self) -> SupplierNode:
        if self.reliability < 1 and self.delay is None:
            raise ValueError("a supplier with reliability below 1 needs delay: the time a late "
                             "shipment comes after its lead time")
        return self


class BaseStock(Frozen):
    """Order up to ``level`` whenever the inventory position falls below it."""

    kind: Literal["base-stock"]
    level: Units


class MinMax(Frozen):
    """(s, S): when the inventory position is at or below ``s``, order up to ``S``."""

    kind: Literal["sS"]
    s: Units
    S: Annotated[int, Field(ge=1)]

    @model_validator(mode="after")
    def _order(self) -> MinMax:
        if self.s >= self.S:
            raise ValueError(f"S ({self.S}) must be greater than s ({self.s})")
        return self


class ReorderPoint(Frozen):
    """(r, Q): when the inventory position is at or below ``r``, order ``Q`` (as many times as
    it takes to rise above ``r``)."""

    kind: Literal["rQ"]
    r: Units
    Q: Annotated[int, Field(ge=1)]


StockPolicy = Annotated[BaseStock | MinMax | ReorderPoint, Field(discriminator="kind")]


class WarehouseNode(Frozen):
    """Stock of parts. It is replenished by its suppliers or upstream warehouses (orders placed
    by ``policy``) or by the line that feeds it (the policy then releases production orders into
    that line; without a policy the line pushes parts into it). It fills customer orders first
    come, first served and feeds the machines it is joined to. The inventory position is on hand
    + on order - backordered; ``review`` null means continuous review, a number a periodic one."""

    kind: Literal["warehouse"]
    policy: StockPolicy | None = None
    initial: Units | None = None
    """Units on hand at the start; by default the policy's order-up-to level (r + Q for rQ)."""
    review: PositiveNumber | None = None
    holding_cost: NonNegative = 0.0
    """Per unit on hand per time unit."""
    order_cost: NonNegative = 0.0
    """Per replenishment order placed."""

    def start_stock(self) -> int:
        if self.initial is not None:
            return self.initial
        policy = self.policy
        if isinstance(policy, BaseStock):
            return policy.level
        if isinstance(policy, MinMax):
            return policy.S
        if isinstance(policy, ReorderPoint):
            return policy.r + policy.Q
        return 0


class Season(Frozen):
    """A demand pattern repeating every ``period``: the period is cut into as many equal parts as
    there are ``factors``, and in each part orders come ``factor`` times as often."""

    period: PositiveNumber
    factors: Annotated[list[NonNegative], Field(min_length=1)]

    @model_validator(mode="after")
    def _some_demand(self) -> Season:
        if not any(self.factors):
            raise ValueError("at least one factor must be above 0")
        return self


class Demand(Frozen):
    """Orders arrive ``interarrival`` apart, each for ``quantity`` units (rounded up to whole
    units, at least 1), due ``due`` after they are placed. With a ``season``, the interarrival
    times run on a clock that goes ``factor`` times as fast as calendar time (Poisson orders
    become a non-homogeneous Poisson process with that rate profile)."""

    interarrival: Distribution
    quantity: Distribution = Constant(value=1)
    due: Distribution | None = None
    season: Season | None = None


class CustomerNode(Frozen):
    """Places orders with the warehouse that feeds it. What the warehouse cannot fill at once is
    backordered (filled later, oldest first) or, with ``unmet: lost``, lost."""

    kind: Literal["customer"]
    demand: Demand
    unmet: Literal["backorder", "lost"] = "backorder"
    price: NonNegative = 0.0
    """Revenue per unit delivered."""
    backorder_cost: NonNegative = 0.0
    """Per unit backordered per time unit."""
    lost_sale_cost: NonNegative = 0.0
    """Per unit of demand lost."""


SUPPLY_KINDS = ("supplier", "warehouse", "customer")

Node = Annotated[SourceNode | MachineNode | BufferNode | SinkNode | SupplierNode | WarehouseNode
                 | CustomerNode, Field(discriminator="kind")]


def _edge_form(value: Any) -> Any:
    """``[a, b]`` and ``[a, b, p]`` are short for ``{from: a, to: b, p: p}``."""
    if isinstance(value, list | tuple):
        if len(value) not in (2, 3):
            raise ValueError("an edge is [from, to], [from, to, p] or {from, to, p}")
        out = {"from": value[0], "to": value[1]}
        if len(value) == 3:
            out["p"] = value[2]
        return out
    return value


class _EdgeModel(Frozen):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: str = Field(alias="from")
    target: str = Field(alias="to")
    p: Annotated[float, Field(gt=0, le=1)] | None = None
    when: Literal["rejected", "suspect"] | None = None
    """``rejected``: the route of the parts an inspecting machine rejects; ``suspect``: the route
    of the parts made while a predictive quality policy judges the machine's defect risk high."""
    transit: Distribution | None = None
    """Transport time along the edge (into a warehouse or to a customer)."""
    capacity: Annotated[int, Field(ge=1)] | None = None
    """Shipments on the way at once (vehicles); null: no limit."""
    batch: Annotated[int, Field(ge=1)] | None = None
    """From a machine to a warehouse: parts are shipped in batches of this size."""
    share: Annotated[float, Field(gt=0, le=1)] | None = None
    """From a supplier or warehouse to a warehouse: the share of the warehouse's orders placed
    with this source."""
    cost: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    """Per shipment."""


Edge = Annotated[_EdgeModel, BeforeValidator(_edge_form)]


class PlantSpec(Frozen):
    nodes: Annotated[dict[str, Node], Field(min_length=1)]
    edges: list[Edge] = Field(default_factory=list)

    @field_validator("nodes")
    @classmethod
    def _names(cls, nodes: dict[str, Any]) -> dict[str, Any]:
        for name in nodes:
            if not name or name != name.strip():
                raise ValueError(f"node name {name!r} must be non-empty without surrounding spaces")
        return nodes


# --------------------------------------------------------------------------- maintenance


class Reactive(Frozen):
    kind: Literal["reactive"]


class Preventive(Frozen):
    """Maintain each machine with failures when its operating age reaches ``every`` (``basis:
    age``, the default), or every ``every`` of calendar time (``basis: calendar``: at once if the
    machine is idle, else after the part in hand)."""

    kind: Literal["preventive"]
    every: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    duration: Distribution
    basis: Literal["age", "calendar"] = "age"


class ConditionBased(Frozen):
    """Inspect every ``inspect_every`` of operating time; maintain when the ``indicator``
    (``health``: the wear fraction, or the name of a sensor, read by the inspection with that
    sensor's noise) reaches ``threshold``."""

    kind: Literal["condition"]
    indicator: str = "health"
    threshold: Annotated[float, Field(allow_inf_nan=False)]
    inspect_every: PositiveNumber
    duration: Distribution


class Opportunistic(Frozen):
    """Preventive at operating age ``every``; besides, when a machine fails, the machines next to
    it (within two edges) whose age is within ``window`` of ``every`` are maintained too, at
    their next part, while the line stands."""

    kind: Literal["opportunistic"]
    every: PositiveNumber
    window: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    duration: Distribution


class Predictive(Frozen):
    """Every ``every`` of calendar time, score every watched machine's latest sensor window with
    the saved ``model`` (made by ``twin train``) in one batch; maintain a machine whose predicted
    remaining life is at most ``threshold`` (an RUL model), or whose predicted risk is at least
    ``threshold`` (a failure model)."""

    kind: Literal["predictive"]
    model: Annotated[str, Field(min_length=1)]
    threshold: Annotated[float, Field(allow_inf_nan=False)]
    every: PositiveNumber
    duration: Distribution


MaintenancePolicy = Annotated[Reactive | Preventive | ConditionBased | Opportunistic | Predictive,
                              Field(discriminator="kind")]


class Shifts(Frozen):
    """Technicians work the first ``working`` of every ``period`` (e.g. 960 of 1440 minutes)."""

    period: PositiveNumber
    working: PositiveNumber

    @model_validator(mode="after")
    def _within(self) -> Shifts:
        if self.working > self.period:
            raise ValueError("working must not exceed period")
        return self


class Maintenance(Frozen):
    crew: Annotated[int, Field(ge=1)] | None = 1
    """Technicians shared by all machines; null means unlimited."""
    policy: MaintenancePolicy = Reactive(kind="reactive")
    response_time: Distribution | None = None
    """Time a technician needs to reach the machine before working on it."""
    shifts: Shifts | None = None

    @model_validator(mode="after")
    def _shifts_need_a_crew(self) -> Maintenance:
        if self.shifts is not None and self.crew is None:
            raise ValueError("shifts need a crew of a given size (crew: null is unlimited)")
        return self


class PredictiveQuality(Frozen):
    """Every ``every`` of calendar time, score the sensor windows of the machines that have a
    ``when: suspect`` edge with the saved defect ``model``; while a machine's predicted defect
    risk is at least ``threshold``, the parts it finishes take that edge (to inspection)."""

    kind: Literal["predictive"]
    model: Annotated[str, Field(min_length=1)]
    threshold: Fraction
    every: PositiveNumber


class QualityControl(Frozen):
    policy: PredictiveQuality | None = None


class Costs(Frozen):
    preventive: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    """Per preventive (or condition-based) maintenance."""
    corrective: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    """Per failure."""
    scrap: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    """Per part scrapped."""
    escaped_defect: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    """Per defective part shipped (warranty, returns)."""
    revenue: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    """Per good part reaching a sink; gives the ``profit_rate`` KPI (customers pay their own
    ``price`` per unit delivered)."""


# --------------------------------------------------------------------------- scenario


class Scenario(Frozen):
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    time_unit: str = "min"
    horizon: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    warmup: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    replications: Annotated[int, Field(ge=1)] = 1
    seed: Annotated[int, Field(ge=0)] = 0
    plant: PlantSpec
    maintenance: Maintenance = Maintenance()
    quality: QualityControl = QualityControl()
    costs: Costs = Costs()
    policies: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def has_supply_chain(self) -> bool:
        return any(node.kind in SUPPLY_KINDS for node in self.plant.nodes.values())

    @model_validator(mode="after")
    def _condition_indicator(self) -> Scenario:
        policy = self.maintenance.policy
        if isinstance(policy, ConditionBased) and policy.indicator != "health":
            watched = [n for n, s in self.plant.nodes.items()
                       if isinstance(s, MachineNode) and s.degradation is not None]
            missing = [n for n in watched
                       if policy.indicator not in self.plant.nodes[n].sensors]  # type: ignore[union-attr]
            if missing:
                raise ValueError(f"maintenance.policy.indicator: sensor {policy.indicator!r} is "
                                 f"missing on "
                                 f"machine(s) {', '.join(missing)}")
        return self

    @field_validator("warmup")
    @classmethod
    def _warmup_before_horizon(cls, warmup: float, info: ValidationInfo) -> float:
        horizon = info.data.get("horizon")
        if horizon is not None and warmup >= horizon:
            raise ValueError(f"warmup ({warmup:g}) must be less than horizon ({horizon:g})")
        return warmup


# --------------------------------------------------------------------------- overrides


def parse_assignment(text: str) -> tuple[str, Any]:
    """``'a.b=1.5'`` -> ``('a.b', 1.5)``; the value is parsed as YAML."""
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise InputError("--set", [((), f"expected PATH=VALUE, got {text!r}", None)])
    try:
        value = parse_yaml(raw, f"--set {path}")[0] if raw.strip() else None
    except InputError as exc:
        raise InputError("--set", [((), f"{path}: {exc.problems[0][1]}", None)]) from None
    return path, value


def apply_override(data: dict[str, Any], path: str, value: Any, source: str = "--set") -> None:
    """Set ``data[a][b]...`` for the dotted ``path`` (list items by index), in place."""
    keys = path.split(".")
    node: Any = data
    for depth, key in enumerate(keys[:-1]):
        here = tuple(keys[: depth + 1])
        if isinstance(node, list):
            node = _list_item(node, key, here, source)
        elif isinstance(node, dict):
            if key not in node or node[key] is None:
                node[key] = {}
            node = node[key]
        else:
            raise InputError(
                source,
                [(tuple(keys[:depth]), f"cannot set {path!r}: {node!r} has no fields", None)],
            )
    last = keys[-1]
    if isinstance(node, list):
        index = _index(node, last, tuple(keys), source)
        node[index] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        hint = " (write the whole distribution, e.g. {dist: exponential, mean: 2})" \
            if isinstance(node, int | float) else ""
        raise InputError(
            source, [(tuple(keys[:-1]), f"cannot set {path!r}: {node!r} has no fields{hint}", None)]
        )


def _index(node: list[Any], key: str, loc: tuple[str, ...], source: str) -> int:
    try:
        index = int(key)
        node[index]  # noqa: B018 - bounds check
    except (ValueError, IndexError):
        raise InputError(source, [(loc, f"no list item {key!r}", None)]) from None
    return index


def _list_item(node: list[Any], key: str, loc: tuple[str, ...], source: str) -> Any:
    return node[_index(node, key, loc, source)]


# --------------------------------------------------------------------------- loading


def _clean_loc(data: Any, loc: Sequence[str | int]) -> Loc:
    """Drop the union tags pydantic puts in error paths, keeping only real keys of ``data``."""
    out: list[str | int] = []
    node = data
    for part in loc:
        present = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node))
        if present:
            out.append(part)
            node = node[part]
        elif isinstance(node, dict | list) and part not in ("function-before", "function-after"):
            # a tag of a discriminated union ('exponential', 'machine'), or a missing field
            if isinstance(node, dict) and isinstance(part, str) and _is_tag(node, part):
                continue
            out.append(part)
            node = None
        else:
            continue
    return tuple(out)


def _is_tag(node: dict[str, Any], part: str) -> bool:
    return part in (node.get("dist"), node.get("kind")) or part in ("_EdgeModel",)


def _message(err: Mapping[str, Any], data: Any, loc: Loc) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        field = loc[-1] if loc else "?"
        allowed = _allowed_fields(data, loc[:-1])
        lower = {a.lower(): a for a in allowed}
        hint = [lower[h] for h in difflib.get_close_matches(str(field).lower(), list(lower), n=1)]
        suffix = f"; did you mean {hint[0]!r}?" if hint else (
            f"; allowed: {', '.join(sorted(allowed))}" if allowed else "")
        return f"unknown field{suffix}"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        tag = ctx.get("tag")
        expected = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        lower = {e.lower(): e for e in expected}
        hint = difflib.get_close_matches(str(tag).lower(), list(lower), n=1)
        did = f"; did you mean {lower[hint[0]]!r}?" if hint else ""
        return f"unknown {ctx.get('discriminator', 'tag').strip(chr(39))} {tag!r}{did} " \
               f"(expected one of: {', '.join(expected)})"
    if kind == "union_tag_not_found":
        ctx = err.get("ctx", {})
        return f"missing {ctx.get('discriminator', 'tag').strip(chr(39))!s}"
    if kind == "missing":
        return "required field is missing"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def _allowed_fields(data: Any, loc: Loc) -> list[str]:
    """Field names the model at ``loc`` accepts (best effort, for 'did you mean')."""
    model = _model_at(loc, data)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(loc: Loc, data: Any) -> type[BaseModel] | None:
    from twin.language import distributions

    node: Any = data
    model: Any = Scenario
    for part in loc:
        node = node.get(part) if isinstance(node, dict) else (
            node[part] if isinstance(node, list) and isinstance(part, int) else None)
        if model is Scenario and part == "plant":
            model = PlantSpec
        elif model is PlantSpec and part == "nodes":
            model = "nodes"
        elif model == "nodes":
            kinds = {"source": SourceNode, "machine": MachineNode, "buffer": BufferNode,
                     "sink": SinkNode, "supplier": SupplierNode, "warehouse": WarehouseNode,
                     "customer": CustomerNode}
            model = kinds.get(str(node.get("kind"))) if isinstance(node, dict) else None
        elif model is PlantSpec and part == "edges":
            model = "edges"
        elif model == "edges":
            model = _EdgeModel
        elif isinstance(model, type) and issubclass(model, BaseModel):
            field = model.model_fields.get(str(part))
            sub = {"maintenance": Maintenance, "costs": Costs, "failures": Failures,
                   "quality": QualityControl,
                   "defects": Defects, "inspection": QualityCheck}.get(str(part))
            if sub is not None and field is not None:
                model = sub
            elif part == "policy" and model is WarehouseNode and isinstance(node, dict):
                model = {"base-stock": BaseStock, "sS": MinMax,
                         "rQ": ReorderPoint}.get(str(node.get("kind")))
            elif part == "demand" and model is CustomerNode:
                model = Demand
            elif part == "season" and model is Demand:
                model = Season
            elif part == "policy" and isinstance(node, dict):
                model = {"reactive": Reactive, "preventive": Preventive,
                         "condition": ConditionBased,
                         "opportunistic": Opportunistic,
                         "predictive": Predictive}.get(str(node.get("kind")))
            elif isinstance(node, dict) and "dist" in node:
                model = getattr(distributions, str(node["dist"]).capitalize(), None)
            else:
                return None
        else:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def validation_problems(
    exc: ValidationError, data: Any, lines: Mapping[Loc, int], prefix: Loc = ()
) -> list[tuple[Loc, str, int | None]]:
    problems = []
    seen = set()
    for err in exc.errors():
        loc = _clean_loc(data, err["loc"])
        msg = _message(err, data, loc)
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, str(err.get("ctx", {}).get("discriminator", "kind")).strip("'"))
        if (loc, msg) in seen:
            continue
        seen.add((loc, msg))
        problems.append(((*prefix, *loc), msg, line_of(dict(lines), (*prefix, *loc))))
    return problems


def scenario_from_data(
    data: Any,
    source: str = "<scenario>",
    lines: Mapping[Loc, int] | None = None,
    overrides: Iterable[tuple[str, Any]] = (),
    check_policies: bool = True,
) -> Scenario:
    """Validate plain data (as read from YAML) into a frozen, checked ``Scenario``."""
    from twin.language.plant import check_plant

    lines = dict(lines or {})
    if data is None:
        raise InputError(source, [((), "the file is empty", None)])
    if not isinstance(data, dict):
        raise InputError(source, [((), f"expected a mapping at the top level, got "
                                        f"{type(data).__name__}", line_of(lines, ()))])
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
        return loc, msg, line_of(lines, loc)

    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise InputError(source, [located(loc, msg) for loc, msg, _ in
                                  validation_problems(exc, data, lines)]) from None
    problems = check_plant(scenario)
    policy = scenario.maintenance.policy
    if isinstance(policy, Predictive) and not Path(policy.model).with_suffix(".json").exists():
        problems.append((("maintenance", "policy", "model"),
                         f"no saved model at {policy.model!r} (make one with twin train)"))
    qc = scenario.quality.policy
    if qc is not None and not Path(qc.model).with_suffix(".json").exists():
        problems.append((("quality", "policy", "model"),
                         f"no saved model at {qc.model!r} (make one with twin train)"))
    if problems:
        raise InputError(source, [located(loc, msg) for loc, msg in problems])
    if check_policies:
        for name in scenario.policies:
            policy_scenario(scenario, name, source=source, lines=lines)
    return scenario


def load_scenario(path: str | Path, overrides: Iterable[tuple[str, Any]] = ()) -> Scenario:
    """Read, override, validate and check a scenario file."""
    data, lines = load_yaml(path)
    return scenario_from_data(data, str(path), lines, overrides)


def to_data(scenario: Scenario) -> dict[str, Any]:
    """The scenario as plain data, with the field names of the file."""
    return scenario.model_dump(mode="json", by_alias=True, exclude_none=False)


def policy_scenario(
    scenario: Scenario, name: str, source: str = "<scenario>",
    lines: Mapping[Loc, int] | None = None,
) -> Scenario:
    """The scenario with the overrides of policy ``name`` applied."""
    if name not in scenario.policies:
        hint = difflib.get_close_matches(name, list(scenario.policies), n=1)
        did = f"; did you mean {hint[0]!r}?" if hint else ""
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
        out = scenario_from_data(data, source, {}, check_policies=False)
    except InputError as exc:
        raise InputError(source, [((*prefix, *loc), msg, line_of(lines, prefix))
                                  for loc, msg, _ in exc.problems]) from None
    return out.model_copy(update={"policies": scenario.policies, "name": scenario.name})


def dump_yaml(scenario: Scenario) -> str:
    return yaml.safe_dump(to_data(scenario), sort_keys=False)
