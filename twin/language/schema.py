"""The scenario: a validated, frozen description of a plant and an experiment.

The node kinds and the maintenance and quality policies a scenario may name come from the
registries: the built-ins (``twin.language.nodes``, ``twin.language.policies``) and the plug-ins
of the ``twin.node_kinds`` and ``twin.policies`` entry-point groups, loaded when this module is
first imported. ``twin.language.loading`` reads and validates files into a ``Scenario``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from twin.language.base import Frozen, PositiveNumber
from twin.language.distributions import Distribution
from twin.language.nodes import (  # noqa: F401 - the schema's public names
    LINE_NODES,
    SUPPLY_NODES,
    BaseStock,
    Batch,
    BufferNode,
    Calendar,
    CustomerNode,
    Defects,
    Degradation,
    Demand,
    Failures,
    GammaDegradation,
    MachineNode,
    MarkovDegradation,
    MinMax,
    QualityCheck,
    ReorderPoint,
    Season,
    Sensor,
    Setup,
    SinkNode,
    SourceNode,
    Staffing,
    StockPolicy,
    SupplierNode,
    WarehouseNode,
    WienerDegradation,
)
from twin.language.policies import (  # noqa: F401 - the schema's public names
    MAINTENANCE_POLICIES,
    QUALITY_POLICIES,
    ConditionBased,
    Opportunistic,
    PolicySpec,
    Predictive,
    PredictiveQuality,
    Preventive,
    Reactive,
)
from twin.language.products import OrderList, Product
from twin.language.resources import OperatorPool
from twin.registry import NODE_KINDS, POLICIES, plugins

SUPPLY_KINDS = ("supplier", "warehouse", "customer")


def node_schemas() -> dict[str, type[Frozen]]:
    """Every node kind's schema by kind name: the built-ins, then the plug-ins."""
    out: dict[str, type[Frozen]] = {_tag(cls): cls for cls in (*LINE_NODES, *SUPPLY_NODES)}
    for name, kind in plugins(NODE_KINDS).items():
        out.setdefault(name, kind.schema)
    return out


def policy_schemas(scope: str) -> dict[str, type[PolicySpec]]:
    """Every policy schema of ``scope`` (``maintenance`` or ``quality``) by kind name."""
    builtin = MAINTENANCE_POLICIES if scope == "maintenance" else QUALITY_POLICIES
    out: dict[str, type[PolicySpec]] = {_tag(cls): cls for cls in builtin}
    for name, policy in plugins(POLICIES).items():
        if getattr(policy, "scope", "maintenance") == scope:
            out.setdefault(name, policy.schema)
    return out


def _tag(cls: type[Any]) -> str:
    return str(cls.model_fields["kind"].annotation.__args__[0])


def _union(models: dict[str, Any]) -> Any:
    alternatives = tuple(models.values())
    return Union[alternatives] if len(alternatives) > 1 else alternatives[0]  # noqa: UP007


if TYPE_CHECKING:  # what the type checker knows: the built-ins
    Node = (SourceNode | MachineNode | BufferNode | SinkNode | SupplierNode | WarehouseNode
            | CustomerNode)
    MaintenancePolicy = PolicySpec
    QualityPolicy = PolicySpec
else:  # what validation knows: the built-ins and the plug-ins
    Node = Annotated[_union(node_schemas()), Field(discriminator="kind")]
    MaintenancePolicy = Annotated[_union(policy_schemas("maintenance")),
                                  Field(discriminator="kind")]
    QualityPolicy = Annotated[_union(policy_schemas("quality")), Field(discriminator="kind")]


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


class QualityControl(Frozen):
    policy: QualityPolicy | None = None


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
    energy: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    """Per kWh drawn by the machines (see their ``power``)."""


HOURS = {"s": 1 / 3600, "sec": 1 / 3600, "min": 1 / 60, "h": 1.0, "hour": 1.0, "hr": 1.0,
         "day": 24.0, "d": 24.0}


class Energy(Frozen):
    """How machine power turns into energy: hours per time unit of the scenario (read from
    ``time_unit`` when it is s, min, h or day), and kg of CO2 per kWh."""

    hours_per_time_unit: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    co2_per_kwh: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0


# --------------------------------------------------------------------------- scenario

NAME_FORBIDDEN = re.compile(r"[/\\+#\x00-\x1f\x7f]")
"""What a scenario's name may not hold: it is one folder name (no ``/`` or ``\\``) and one MQTT
topic level (no ``+``, ``#`` or ``/``), and is printed (no control characters)."""


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
    energy: Energy = Energy()
    products: dict[str, Product] = Field(default_factory=dict)
    orders: OrderList | None = None
    calendars: dict[str, Calendar] = Field(default_factory=dict)
    """Named calendars machines and operator pools refer to (per area, say)."""
    operators: dict[str, OperatorPool] = Field(default_factory=dict)
    """Labour pools by name."""
    policies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    _folder: str | None = PrivateAttr(default=None)
    """The folder of the scenario file, against which the paths it names resolve."""

    def hours_per_time_unit(self) -> float | None:
        return self.energy.hours_per_time_unit or HOURS.get(self.time_unit.strip().lower())

    def has_supply_chain(self) -> bool:
        return any(node.kind in SUPPLY_KINDS for node in self.plant.nodes.values())

    @model_validator(mode="after")
    def _energy_needs_hours(self) -> Scenario:
        powered = [n for n, s in self.plant.nodes.items() if getattr(s, "power", None)]
        if powered and self.hours_per_time_unit() is None:
            raise ValueError(f"machines {', '.join(powered)} draw power but time_unit "
                             f"{self.time_unit!r} is not s, min, h or day: give "
                             "energy.hours_per_time_unit")
        return self

    @field_validator("name")
    @classmethod
    def _name_fits_paths_and_topics(cls, name: str) -> str:
        if (NAME_FORBIDDEN.search(name) or name in (".", "..") or name != name.strip()
                or len(name) > 100):
            shown = name if len(name) <= 40 else name[:40] + "..."
            raise ValueError(f"the name {shown!r} names the results folder and the plant's MQTT "
                             "topics: at most 100 characters, without '/', '\\', '+', '#', "
                             "control characters or spaces at either end, and not '.' or '..'")
        return name

    @field_validator("warmup")
    @classmethod
    def _warmup_before_horizon(cls, warmup: float, info: ValidationInfo) -> float:
        horizon = info.data.get("horizon")
        if horizon is not None and warmup >= horizon:
            raise ValueError(f"warmup ({warmup:g}) must be less than horizon ({horizon:g})")
        return warmup
