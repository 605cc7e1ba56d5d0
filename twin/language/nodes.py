"""Schemas of the built-in node kinds: the line (source, machine, buffer, sink) and the supply
chain (supplier, warehouse, customer). Each has ``kind: Literal[name]``; a plug-in node kind
declares its own the same way (see ``twin.engine.kinds``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from twin.language.base import FilePath, Fraction, Frozen, NonNegative, PositiveNumber, Units
from twin.language.camera import Camera
from twin.language.distributions import Constant, Distribution

# --------------------------------------------------------------------------- line

Basis = Literal["operation", "calendar"]
"""What a time to failure counts: processing time since the last renewal (``operation``) or
time since the last renewal whatever the machine does (``calendar``)."""


class Failures(Frozen):
    """Failures of one kind: ``ttf`` counts processing time since the last renewal (``basis:
    operation``, the default) or elapsed time (``basis: calendar``).

    With a ``degradation`` model, ``ttf`` may be left out (failures come from wear) or given
    (random failures that compete with wear)."""

    ttf: Distribution | None = None
    ttr: Distribution
    basis: Basis = "operation"


class FailureMode(Frozen):
    """One of several ways a machine fails: its own operating time to failure, repair time and
    cost per failure (by default ``costs.corrective``)."""

    name: Annotated[str, Field(min_length=1)]
    ttf: Distribution
    ttr: Distribution
    cost: NonNegative | None = None
    basis: Basis = "operation"


class Power(Frozen):
    """Electric power drawn in each state (kW): ``idle`` stands for starved and blocked,
    ``down`` for down and in repair; setup draws ``working`` and maintenance ``down`` unless
    given."""

    working: NonNegative = 0.0
    idle: NonNegative = 0.0
    down: NonNegative = 0.0
    setup: NonNegative | None = None
    maintenance: NonNegative | None = None
    off: NonNegative = 0.0
    """Outside the machine's calendar (planned downtime)."""

    def by_state(self) -> dict[str, float]:
        """Power drawn (kW) in each machine state, unset states falling back on their kin."""
        return {"working": self.working, "starved": self.idle, "blocked": self.idle,
                "down": self.down, "repair": self.down,
                "maintenance": self.down if self.maintenance is None else self.maintenance,
                "setup": self.working if self.setup is None else self.setup,
                "waiting_operator": self.idle, "off": self.off}


Interval = tuple[NonNegative, NonNegative]


class Calendar(Frozen):
    """When a machine (or an operator pool) works: the ``working`` intervals of every
    ``period`` (e.g. ``[[0, 480], [510, 960]]`` of 1440 minutes: two shifts, a break between
    them), shifted by ``offset``, less the planned ``shutdowns`` (absolute [start, end]
    intervals). Outside it a machine is ``off``: it finishes no part (a part under way waits, to
    be resumed when work starts again) and the time is not planned production time."""

    period: PositiveNumber
    working: Annotated[list[Interval], Field(min_length=1)]
    offset: NonNegative = 0.0
    shutdowns: list[Interval] = Field(default_factory=list)

    @model_validator(mode="after")
    def _intervals(self) -> Calendar:
        for field in ("working", "shutdowns"):
            spans = getattr(self, field)
            for start, end in spans:
                if end <= start:
                    raise ValueError(f"{field}: the interval [{start:g}, {end:g}] ends before "
                                     "it starts")
                if field == "working" and end > self.period:
                    raise ValueError(f"working: the interval [{start:g}, {end:g}] runs past the "
                                     f"period ({self.period:g})")
            ordered = sorted(spans)
            for (a0, a1), (b0, b1) in zip(ordered, ordered[1:], strict=False):
                if b0 < a1:
                    raise ValueError(f"{field}: the intervals [{a0:g}, {a1:g}] and "
                                     f"[{b0:g}, {b1:g}] overlap")
        return self


class Staffing(Frozen):
    """The operator pools a machine needs: for its ``setup``, to ``load`` each part (for
    ``load_time``, before the machine runs on its own), or for the whole ``process`` (the
    operator stays with the part). An operator with the ``skill`` is needed where the pool
    lists skills."""

    setup: str | None = None
    load: str | None = None
    process: str | None = None
    load_time: Distribution | None = None
    skill: str | None = None

    @model_validator(mode="after")
    def _load_time(self) -> Staffing:
        if (self.load is None) != (self.load_time is None):
            raise ValueError("load and load_time go together: the pool that loads parts and "
                             "how long loading takes")
        if self.load is not None and self.process is not None:
            raise ValueError("an operator either loads the part (load) or stays with it "
                             "(process), not both")
        return self


class Batch(Frozen):
    """A batch machine (oven, washer): it loads up to ``max`` parts and processes them together
    in one cycle, starting when ``max`` are waiting, or when ``min`` are and the oldest has
    waited ``wait``."""

    min: Annotated[int, Field(ge=1)] = 1
    max: Annotated[int, Field(ge=1)]
    wait: NonNegative = 0.0

    @model_validator(mode="after")
    def _order(self) -> Batch:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


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
    """Wear as a Wiener process: a drift drawn once per life plus Brownian noise of ``volatility``,
    simulated every ``step`` of operating time."""

    model: Literal["wiener"]
    drift: Distribution
    """Wear per unit of operating time, drawn once per life (unit-to-unit variation)."""
    volatility: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    step: PositiveNumber = 1.0
    """Operating time between points of the simulated path."""


class GammaDegradation(_Degradation):
    """Wear as a gamma process: independent gamma increments of shape ``rate * step`` and scale
    ``scale`` every ``step`` of operating time."""

    model: Literal["gamma"]
    rate: PositiveNumber
    """Gamma shape per unit of operating time."""
    scale: PositiveNumber
    step: PositiveNumber = 1.0


class MarkovDegradation(_Degradation):
    """Wear as a continuous-time Markov chain through discrete states, the last being failure."""

    model: Literal["markov"]
    rates: Annotated[list[PositiveNumber], Field(min_length=1)]
    """Rate of leaving state k for k + 1 (per operating time); the last state is failure."""


class ReplayDegradation(_Degradation):
    """Each new life replays a recorded one: a unit drawn at random from the lives file, its
    readings the machine's sensor readings (one per recorded cycle, when the operating age
    reaches the end of that cycle), its failure half a cycle after its last reading. A recorded
    time unit (cycle) lasts ``time_per_cycle`` of operating time."""

    model: Literal["replay"]
    lives: FilePath
    """A lives file (see ``twin train --data``)."""
    format: Literal["long", "cmapss"] = "long"
    time_per_cycle: PositiveNumber = 1.0
    units: Annotated[list[int | str], Field(min_length=1)] | None = None
    """The units to draw from; by default every life that ended in a failure."""
    holdout_of: FilePath | None = None
    """A saved model (``twin train --data``): draw only the lives it held out."""
    shared: bool = False
    """Allow lives a predictive policy's model was trained on (otherwise refused)."""

    @model_validator(mode="after")
    def _lives_exist(self) -> ReplayDegradation:
        from twin.records.lives import replay_units

        replay_units(self)  # the file reads, and the units are in it (ValueError otherwise)
        return self


Degradation = Annotated[WienerDegradation | GammaDegradation | MarkovDegradation
                        | ReplayDegradation, Field(discriminator="model")]


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
    """Where parts enter the plant: at timed interarrivals, or as an infinite supply."""

    kind: Literal["source"]
    interarrival: Distribution | None = None
    """Time between releases; none means an infinite supply."""
    product: str | None = None
    """In a plant without a products section: the product its parts are (what a bill of
    materials names)."""
    mix: dict[str, Annotated[float, Field(gt=0, le=1)]] | None = None
    """With products: the share of each product among the parts it releases."""
    sequence: Annotated[list[str], Field(min_length=1)] | None = None
    """With products: the products of the parts it releases, in this repeating order."""

    @model_validator(mode="after")
    def _one_mix(self) -> SourceNode:
        if self.mix is not None and self.sequence is not None:
            raise ValueError("give a mix or a sequence, not both")
        if self.mix is not None and abs(sum(self.mix.values()) - 1) > 1e-9:
            raise ValueError(f"the shares of mix sum to {sum(self.mix.values()):g}, not 1")
        return self


class Defects(Frozen):
    """Chance that a part this machine finishes is defective: ``probability + per_wear * wear``
    (wear as a fraction of the failure threshold; 0 without a degradation model)."""

    probability: Fraction = 0.0
    per_wear: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0


class QualityCheck(Frozen):
    """The machine inspects the parts it finishes: a share ``sampling`` of them; a defective part
    inspected is rejected with probability ``detection``, a good one with ``false_alarm``.
    Rejected parts take the machine's edge marked ``when: rejected``. With a ``camera``
    (``twin.language.camera``) an image model judges each inspected part instead of the given
    rates."""

    sampling: Fraction = 1.0
    detection: Fraction = 1.0
    false_alarm: Fraction = 0.0
    camera: Camera | None = None

    @model_validator(mode="after")
    def _rates_or_camera(self) -> QualityCheck:
        if self.camera is not None and (self.detection != 1.0 or self.false_alarm != 0.0):
            raise ValueError("with a camera the detection and false-alarm rates come from its "
                             "model: leave detection and false_alarm out")
        return self


class Setup(Frozen):
    """A changeover of ``duration`` before every batch of ``batch`` parts (the first included),
    or, with ``matrix``, a changeover whenever the product changes: ``matrix[from][to]`` (no
    entry: none)."""

    batch: Annotated[int, Field(ge=1)] | None = None
    duration: Distribution | None = None
    matrix: dict[str, dict[str, Distribution]] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Setup:
        if self.matrix is None and (self.batch is None or self.duration is None):
            raise ValueError("a setup is {batch, duration} or {matrix: {from: {to: time}}}")
        if self.matrix is not None and (self.batch is not None or self.duration is not None):
            raise ValueError("give batch and duration, or a matrix, not both")
        return self


class MachineNode(Frozen):
    """A machine: its process time, failures, power, degradation, sensors, quality, operators,
    calendar and setups."""

    kind: Literal["machine"]
    process_time: Distribution
    failures: Failures | Annotated[list[FailureMode], Field(min_length=1)] | None = None
    """Failures of one kind (``{ttf, ttr}``), or several modes (a list), each with its own
    lives, repairs and costs."""
    power: Power | None = None
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
    calendar: Calendar | str | None = None
    """When the machine works: a calendar, or the name of one in the scenario's
    ``calendars``; none: always."""
    operators: Staffing | None = None
    batch: Batch | None = None
    assembly: dict[str, Annotated[int, Field(ge=1)]] | None = None
    """Bill of materials: the parts of each product it joins into one (``{A: 1, B: 2}``); it
    starts when its inputs can supply them all."""
    makes: str | None = None
    """The product of the parts it assembles (none: unlabelled)."""
    disassembly: dict[str, Annotated[int, Field(ge=1)]] | None = None
    """It splits each part into this many parts along each of its edges (by the next node)."""

    @model_validator(mode="after")
    def _forms(self) -> MachineNode:
        if self.assembly is not None and self.disassembly is not None:
            raise ValueError("a machine assembles or disassembles, not both")
        if self.batch is not None and (self.assembly is not None
                                       or self.disassembly is not None):
            raise ValueError("a batch machine neither assembles nor disassembles")
        if self.makes is not None and self.assembly is None:
            raise ValueError("makes is the product an assembly makes: give assembly too")
        failures = self.failures
        modes = failures if isinstance(failures, list) else [failures] if failures else []
        if len({m.basis for m in modes}) > 1:
            raise ValueError("failure modes of one machine share a basis (operation or "
                             "calendar)")
        if modes and modes[0].basis == "calendar" and self.degradation is not None:
            raise ValueError("wear grows with operation: a machine with degradation has "
                             "operation-based failures")
        return self

    @model_validator(mode="after")
    def _failure_model(self) -> MachineNode:
        if self.degradation is not None and self.failures is None:
            raise ValueError("a machine with degradation needs failures: {ttr: ...} for its "
                             "repairs")
        if isinstance(self.failures, list):
            if self.degradation is not None:
                raise ValueError("a machine with degradation has one failure mode: wear "
                                 "(failures: {ttr: ...})")
            names = [m.name for m in self.failures]
            if len(set(names)) != len(names):
                raise ValueError("failure modes need distinct names")
            return self
        if self.failures is not None and self.failures.ttf is None and self.degradation is None:
            raise ValueError("failures.ttf is required unless the machine has a degradation "
                             "model")
        return self


class BufferNode(Frozen):
    """A buffer between machines: its capacity (parts) and dispatching rule."""

    kind: Literal["buffer"]
    capacity: Annotated[int, Field(ge=0)] | None = None
    """Parts it can hold; null means unbounded."""
    dispatch: str = "fifo"
    """Which waiting part the next free machine takes: fifo, priority, spt, lpt, edd, cr (or a
    registered rule)."""


DISPATCHING = ("fifo", "priority", "spt", "lpt", "edd", "cr")
"""Built-in dispatching rules; plug-ins add theirs in the ``twin.dispatching`` group."""


class SinkNode(Frozen):
    """Where parts leave the plant: shipped, or scrapped if ``scrap``."""

    kind: Literal["sink"]
    scrap: bool = False
    """Parts reaching a scrap sink are scrapped, not shipped."""


# --------------------------------------------------------------------------- supply chain

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
        """The stock on hand at the start (parts): ``initial``, else the policy's order-up-to
        level."""
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


# --------------------------------------------------------------------------- material handling

class ConveyorNode(Frozen):
    """A conveyor between nodes of the line: a part rides ``length / speed``; at most
    ``floor(length / spacing)`` parts (or ``capacity``) ride at once, entering at least
    ``spacing / speed`` apart. An ``accumulating`` conveyor keeps moving the parts behind a
    stopped head part (they queue at its end, closing up to ``spacing``); a non-accumulating one
    stops whole while its head part cannot leave. Built by ``twin.handling``."""

    kind: Literal["conveyor"]
    length: PositiveNumber
    """Length of the belt (any unit of length, the same as ``spacing``)."""
    speed: PositiveNumber
    """Length per time unit."""
    spacing: PositiveNumber | None = None
    """Least distance between two parts (give it or ``capacity``)."""
    capacity: Annotated[int, Field(ge=1)] | None = None
    """Most parts riding at once (instead of ``spacing``: then ``spacing = length / capacity``)."""
    accumulating: bool = True

    @model_validator(mode="after")
    def _spacing_fits(self) -> ConveyorNode:
        if (self.spacing is None) == (self.capacity is None):
            raise ValueError("a conveyor needs exactly one of spacing and capacity")
        if self.spacing is not None and self.spacing > self.length:
            raise ValueError(f"spacing ({self.spacing:g}) is longer than length "
                             f"({self.length:g}): no part fits on the conveyor")
        return self

    @property
    def places(self) -> int:
        """Most parts riding at once."""
        if self.capacity is not None:
            return self.capacity
        assert self.spacing is not None
        return int(self.length // self.spacing)

    @property
    def gap(self) -> float:
        """Least time between two parts entering (or reaching the end): ``spacing / speed``."""
        spacing = self.spacing if self.spacing is not None else self.length / self.places
        return spacing / self.speed


LINE_NODES = (SourceNode, MachineNode, BufferNode, SinkNode)
SUPPLY_NODES = (SupplierNode, WarehouseNode, CustomerNode)
HANDLING_NODES = (ConveyorNode,)
