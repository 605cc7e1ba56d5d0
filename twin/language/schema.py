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
    HANDLING_NODES,
    LINE_NODES,
    SUPPLY_NODES,
    BaseStock,
    Batch,
    BufferNode,
    Calendar,
    ConveyorNode,
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
    ConditionBased,
    Opportunistic,
    PolicySpec,
    Predictive,
    PredictiveQuality,
    Preventive,
    Reactive,
)
from twin.language.policies import (
    QUALITY_POLICIES as QUALITY_POLICY_SPECS,
)
from twin.language.products import OrderList, Product
from twin.language.resources import OperatorPool
from twin.language.transport import Transport
from twin.registry import NODE_KINDS, POLICIES, QUALITY_POLICIES, Registry

SUPPLY_KINDS = ("supplier", "warehouse", "customer")


def node_schemas() -> dict[str, type[Frozen]]:
    """Every node kind's schema by kind name: the built-ins, then the plug-ins."""
    out: dict[str, type[Frozen]] = {_tag(cls): cls for cls in (*LINE_NODES, *SUPPLY_NODES,
                                                                  *HANDLING_NODES)}
    registry: Registry[Any] = Registry(NODE_KINDS, "node kind", dict.fromkeys(out, ""))
    for name in registry.plugin_names():  # kinds whose schema the language does not know
        out[name] = registry.load(name).schema
    return out


def policy_schemas(scope: str) -> dict[str, type[PolicySpec]]:
    """Every policy schema of ``scope`` (``maintenance`` or ``quality``) by kind name."""
    maintenance = scope == "maintenance"
    builtin = MAINTENANCE_POLICIES if maintenance else QUALITY_POLICY_SPECS
    out: dict[str, type[PolicySpec]] = {_tag(cls): cls for cls in builtin}
    registry: Registry[Any] = Registry(POLICIES if maintenance else QUALITY_POLICIES,
                                       f"{scope} policy", dict.fromkeys(out, ""))
    for name in registry.plugin_names():  # policies whose schema the language does not know
        out[name] = registry.load(name).schema
    return out


def _tag(cls: type[Any]) -> str:
    return str(cls.model_fields["kind"].annotation.__args__[0])


def _union(models: dict[str, Any]) -> Any:
    alternatives = tuple(models.values())
    return Union[alternatives] if len(alternatives) > 1 else alternatives[0]  # noqa: UP007


if TYPE_CHECKING:  # what the type checker knows: the built-ins
    Node = (SourceNode | MachineNode | BufferNode | SinkNode | SupplierNode | WarehouseNode
            | CustomerNode | ConveyorNode)
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
    by: Annotated[str, Field(min_length=1)] | None = None
    """The fleet of ``transport`` whose vehicles carry the parts along this edge."""


Edge = Annotated[_EdgeModel, BeforeValidator(_edge_form)]


class PlantSpec(Frozen):
    """The plant graph: its nodes by name (at least one) and the edges between them."""

    nodes: Annotated[dict[str, Node], Field(min_length=1)]
    """Every node by its name; ``kind`` says what it is (machine, buffer, source, sink, ...)."""
    edges: list[Edge] = Field(default_factory=list)
    """Where parts go: ``[from, to]``, ``[from, to, p]`` or ``{from, to, ...}``; the ``p`` of
    one node's out-edges sum to 1."""

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
    """Maintenance of the plant: the crew size, its policy, response time and shifts.

    Raises ValueError for shifts without a crew size.
    """

    crew: Annotated[int, Field(ge=1)] | None = 1
    """Technicians shared by all machines; null means unlimited."""
    policy: MaintenancePolicy = Reactive(kind="reactive")
    """When machines are maintained: ``reactive`` (only repairs), ``preventive``,
    ``condition``, ``opportunistic``, ``predictive``, ``agent`` or a plug-in's."""
    response_time: Distribution | None = None
    """Time a technician needs to reach the machine before working on it."""
    shifts: Shifts | None = None
    """The crew's working hours; null: around the clock."""

    @model_validator(mode="after")
    def _shifts_need_a_crew(self) -> Maintenance:
        if self.shifts is not None and self.crew is None:
            raise ValueError("shifts need a crew of a given size (crew: null is unlimited)")
        return self


class QualityControl(Frozen):
    """Quality control of the plant: its quality policy, if any."""

    policy: QualityPolicy | None = None
    """A quality policy (``predictive``: divert the parts of machines at risk), or none."""


class Costs(Frozen):
    """Unit costs and revenue, in the scenario's currency, that the cost KPIs are made of."""

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
    """A whole scenario: the experiment (horizon and warmup in ``time_unit``, replications, seed),
    the plant, maintenance, quality, costs, energy, products, orders, calendars and operators."""

    name: Annotated[str, Field(min_length=1)]
    """Names the results folder (``results/<name>/``) and the report."""
    description: str = ""
    """Free text for the report."""
    time_unit: str = "min"
    """A label for reports; ``s``, ``min``, ``h`` or ``day`` also set the hours per time unit
    for energy and the real-time speed of ``twin emulate``."""
    horizon: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    """Simulated time of one replication."""
    warmup: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    """Statistics start here (less than ``horizon``)."""
    replications: Annotated[int, Field(ge=1)] = 1
    """Independent replications; the intervals are over them."""
    seed: Annotated[int, Field(ge=0)] = 0
    """Root random seed: the same seed and replications give the same numbers."""
    plant: PlantSpec
    """The plant graph."""
    maintenance: Maintenance = Maintenance()
    """The crew and the maintenance policy."""
    quality: QualityControl = QualityControl()
    """The quality policy."""
    costs: Costs = Costs()
    """Prices of maintenance, scrap, defects shipped, energy, and revenue per good part."""
    energy: Energy = Energy()
    """How machine power turns into kWh and CO2."""
    products: dict[str, Product] = Field(default_factory=dict)
    """Products by name, each with its route through the plant."""
    orders: OrderList | None = None
    """An order list file releasing production orders."""
    calendars: dict[str, Calendar] = Field(default_factory=dict)
    """Named calendars machines and operator pools refer to (per area, say)."""
    operators: dict[str, OperatorPool] = Field(default_factory=dict)
    """Labour pools by name."""
    transport: Transport | None = None
    """Vehicles carrying parts along the edges that name their fleet (``by``)."""
    policies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Named sets of overrides (dotted path to value, applied like ``--set``), for ``twin
    compare``."""
    _folder: str | None = PrivateAttr(default=None)
    """The folder of the scenario file, against which the paths it names resolve."""

    def hours_per_time_unit(self) -> float | None:
        """Hours in one time unit: the energy setting, else read from ``time_unit`` (None if
        unknown)."""
        return self.energy.hours_per_time_unit or HOURS.get(self.time_unit.strip().lower())

    def has_supply_chain(self) -> bool:
        """Whether the plant has supplier, warehouse or customer nodes."""
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
