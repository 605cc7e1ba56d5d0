"""One replication: build the SimPy model of the plant graph, run it, measure it.

``simulate(scenario, replication, options)`` is a pure function of the scenario, its seed, the
replication number and the run options (``twin.engine.options.RunOptions``: what it records
besides its statistics); it returns plain numbers (picklable, so replications can run anywhere).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import simpy

from twin.engine.context import BuildContext
from twin.engine.costs import period_costs
from twin.engine.crew import Crew
from twin.engine.events import EventLog, EventSink, ParquetEvents
from twin.engine.flow import Level, LogsItself
from twin.engine.kinds import node_kinds
from twin.engine.loop import Recorder
from twin.engine.options import RunOptions
from twin.engine.policies import maintenance_policy, quality_policy
from twin.engine.products import ProductBook, start_products
from twin.engine.rng import Streams
from twin.engine.sensors import ParquetSink, SensorSink, sensor_streams
from twin.engine.state import capture, dump_state
from twin.engine.states import (
    BLOCKED,
    DOWN,
    MAINTENANCE,
    OFF,
    REPAIR,
    SETUP,
    STARVED,
    STATES,
    WAITING_OPERATOR,
    WORKING,
)
from twin.engine.stations import Machine, Releaser
from twin.engine.warmup import Warmup
from twin.language.plant import line_constraint, plant_graph

if TYPE_CHECKING:
    from twin.engine.state import PlantState
    from twin.language.schema import Scenario


@dataclass
class ReplicationResult:
    """KPIs of one replication, measured from warmup to horizon."""

    replication: int
    kpis: dict[str, float]
    machines: dict[str, dict[str, float]]
    buffers: dict[str, dict[str, float]] = field(default_factory=dict)
    costs: dict[str, float] = field(default_factory=dict)
    timelines: dict[str, list[tuple[float, str]]] | None = None
    deadlock: tuple[float, list[str]] | None = None
    """When and which machines ended blocked by each other for good, if they did."""
    online: dict[str, float] = field(default_factory=dict)
    """Online metrics of the predictors in the loop (decision epochs, windows scored, ...)."""
    warehouses: dict[str, dict[str, float]] = field(default_factory=dict)
    customers: dict[str, dict[str, float]] = field(default_factory=dict)
    suppliers: dict[str, dict[str, float]] = field(default_factory=dict)
    inventory: dict[str, list[tuple[float, int, int]]] = field(default_factory=dict)
    """Per warehouse: (time, on hand, backordered) at every change."""
    profiles: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    """Per warehouse: mean on hand and backordered in each of equal periods of the window."""
    nodes: dict[str, dict[str, float]] = field(default_factory=dict)
    """Statistics of the nodes of plug-in kinds, by node name."""
    fleets: dict[str, dict[str, float]] = field(default_factory=dict)
    """Statistics of each fleet of vehicles (``twin.handling.transport``)."""
    learning: dict[str, Any] = field(default_factory=dict)
    """A predictive policy's cost rate per period, and its online learning (``twin.ml.online``)."""
    products: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per product: throughput, lead time, WIP."""
    orders: list[tuple[str, str, int, float, float, float]] = field(default_factory=list)
    """Every production order: id, product, quantity, release, due, completion (nan: open)."""
    end_state: str | None = None
    """The plant's state at the end (YAML), when asked for."""
    buckets: dict[str, list[float]] = field(default_factory=dict)
    """KPIs per time bucket from the warmup on (``throughput``), when asked for."""
    failure_modes: dict[str, dict[str, float]] = field(default_factory=dict)
    """Failures per mode, for machines with several."""
    energy: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per powered machine: kWh over the window, kg of CO2, kWh per time unit."""
    operators: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per operator pool: its utilization, the tasks it did, each operator's utilization."""


SECTIONS = ("warehouses", "customers", "suppliers", "inventory", "profiles", "fleets")
"""The result's sections a plant-wide extension may fill (``BuildContext.extension``)."""


def build(scenario: Scenario, replication: int, *, timeline: bool = False,
          events: bool = False, initial: PlantState | None = None,
          buckets: float = 0.0, env: simpy.Environment | None = None,
          log: EventLog | None = None) -> BuildContext:
    """The SimPy model of one replication, ready to run: each node's kind builds it, phase by
    phase (see ``twin.engine.kinds``), then the policies start. ``env`` runs it in another
    environment (a real-time one, say); ``log`` is the event log to keep (a subclass that
    publishes each event, say)."""
    env = env if env is not None else simpy.Environment()
    warmup = Warmup(env, scenario.warmup)  # first: its reset comes first at the warmup's end
    graph = plant_graph(scenario)
    streams = Streams(scenario.seed, replication)
    wip = Level(env, warmup)
    upkeep = scenario.maintenance
    crew = Crew(env, upkeep.crew,
                upkeep.response_time.stream(streams.rng("crew/response"))
                if upkeep.response_time is not None else None,
                (upkeep.shifts.period, upkeep.shifts.working) if upkeep.shifts else None)
    registered = node_kinds()
    kinds = {name: registered[kind] for name, kind in graph.nodes(data="kind")}
    if log is None and events:
        log = EventLog()
    ctx = BuildContext(env, scenario, graph, streams, warmup, wip, Releaser(env, wip, log), crew,
                       kinds, timeline=timeline, events=log)
    ctx.initial = initial
    ctx.buckets = buckets
    ctx.maintenance = maintenance_policy(upkeep.policy, ctx)
    ctx.quality = quality_policy(scenario.quality.policy, ctx)
    if scenario.products:
        ctx.book = ProductBook(env, warmup, list(scenario.products))
    for phase in ("place", "connect", "prepare", "build"):
        if phase == "build" and scenario.products:
            start_products(ctx)
        for name, kind in kinds.items():
            getattr(kind, phase)(ctx, name, ctx.spec(name))
    ctx.sensors = sensor_streams(ctx.machines, {n: ctx.spec(n) for n in ctx.machines},
                                 streams.rng, replication)
    ctx.maintenance.start(ctx)
    if ctx.quality is not None:
        ctx.quality.start(ctx)
    for extension in ctx.extensions.values():
        extension.start()
    return ctx


def simulate(
    scenario: Scenario,
    replication: int,
    options: RunOptions | None = None,
    *,
    sensor_sink: SensorSink | None = None,
    event_sink: EventSink | None = None,
    **settings: Any,
) -> ReplicationResult:
    """Run replication ``replication`` of ``scenario`` and measure it, recording what
    ``options`` asks for (``twin.engine.options.RunOptions``; its fields may also be given by
    name, ``simulate(scenario, 0, timeline=True)``). Sensor readings, if the plant has sensors,
    go to ``sensor_sink``, or else to the options' ``sensor_dir``; the event log to
    ``event_sink``, or else to the options' ``event_dir``."""
    options = RunOptions.of(options, **settings)
    if sensor_sink is None and options.sensor_dir is not None:
        sensor_sink = ParquetSink(options.sensor_dir, replication)
    if event_sink is None and options.event_dir is not None:
        event_sink = ParquetEvents(options.event_dir, replication)
    timeline, state, buckets = options.timeline, options.state, options.buckets
    initial = state
    if state is not None and state.continues(scenario):
        # an unedited state twin saved: re-run to its time with statistics off, then go on
        scenario = scenario.model_copy(update={"horizon": state.time + scenario.horizon,
                                               "warmup": state.time + scenario.warmup})
        initial = None
    model = build(scenario, replication, timeline=timeline, events=event_sink is not None,
                  initial=initial, buckets=buckets)
    n = math.ceil((scenario.horizon - scenario.warmup) / buckets - 1e-9) if buckets else 0
    if buckets:
        for machine in model.machines.values():
            machine.clock.count_down(scenario.warmup, buckets, n)
    # runs to the horizon, writing readings and events as it goes
    Recorder(model, replication, sensor_sink, event_sink, timeline=timeline).run(
        scenario.horizon)
    result = measure(scenario, model, replication)
    if not timeline:
        result.timelines = None
    if options.save_state and replication == 0:
        result.end_state = dump_state(capture(model, scenario, replication))
    if buckets:
        good = [0] * n
        for sink in model.sinks.values():
            for k, count in enumerate(sink.by_bucket[:n]):
                good[k] += count
        down = [0.0] * n
        for machine in model.machines.values():
            for k, spent in enumerate(machine.clock.down_by_bucket or ()):
                down[k] += spent
        result.buckets = {"throughput": [g / buckets for g in good],
                          "unplanned_downtime": [d / buckets for d in down]}
        if result.orders:  # by due date: the orders due, and those late (or open past due)
            due, late = [0] * n, [0] * n
            for _, _, _, _, when, done in result.orders:
                k = math.floor((when - scenario.warmup) / buckets)
                if 0 <= k < n:
                    due[k] += 1
                    late[k] += int(not done <= when)  # open (NaN) or done after its due date
            result.buckets.update({"orders_due": [float(d) for d in due],
                                   "late_orders": [float(x) for x in late]})
    if not options.inventory:
        result.inventory = {}
        result.orders = []
    return result


def emit_readings(scenario: Scenario, model: BuildContext, replication: int,
                  sink: SensorSink) -> None:
    """Send every machine's sensor readings of the replication to ``sink``."""
    for name, stream in model.sensors.items():
        stream.advance(scenario.horizon)
        sink.write(name, stream.table())


def measure(scenario: Scenario, model: BuildContext, replication: int) -> ReplicationResult:
    """The replication's result: KPIs over the measured span (horizon less warmup), per machine,
    buffer, product and node statistics, and any deadlock found. Each concern is its own unit:
    the machines' statistics, the parts that left the line, the costs, then the KPIs."""
    span = scenario.horizon - scenario.warmup
    deadlock = find_deadlock(model)  # before the clocks close
    machines, planned = machine_stats(model, span)
    parts = part_counts(model)
    energy = _energy(scenario, model, machines, span)
    costs = maintenance_costs(scenario, model, parts, span)
    if energy:
        costs["energy"] = sum(energy.values()) * scenario.costs.energy / span
    measured = [extra for e in model.extensions.values()
                if (extra := e.measure(span, scenario.horizon)) is not None]
    # customers pay their own price
    revenue = sum(s.count for s in model.sinks.values()) * scenario.costs.revenue / span
    for extra in measured:
        costs.update(extra["costs"])
        revenue += extra["revenue"]
    kpis = line_kpis(scenario, model, parts, machines, planned, costs, revenue, span)
    if energy:
        kpis["energy_per_part"] = sum(energy.values()) / parts.good if parts.good else math.nan
    for extra in measured:
        kpis.update(extra["kpis"])
    if model.book is not None:
        kpis.update(model.book.kpis())
    buffers = {
        name: {"level": ch.level.mean(scenario.horizon), "max_level": float(ch.level.max)}
        for name, ch in model.channels.items() if model.graph.nodes[name]["kind"] == "buffer"
    }
    timelines = None
    if any(m.clock.timeline is not None for m in model.machines.values()):
        timelines = {name: [(t, STATES[s]) for t, s in m.clock.timeline or []]
                     for name, m in model.machines.items()}
    online = model.maintenance.online() if model.maintenance is not None else {}
    nodes = {}
    for name, kind in model.kinds.items():
        stats = kind.measure(model, name, span)
        if stats is not None:
            nodes[name] = stats
    result = ReplicationResult(replication, kpis, machines, buffers, costs, timelines,
                               deadlock, online, nodes=nodes)
    learning = getattr(model.maintenance, "learning", None)
    result.learning = learning(model) if learning is not None else period_costs(scenario, model)
    result.energy = {name: {"energy": kwh, "co2": kwh * scenario.energy.co2_per_kwh,
                            "energy_rate": kwh / span} for name, kwh in energy.items()}
    result.operators = {name: pool.measure(scenario.horizon)
                        for name, pool in model.pools.items()}
    result.failure_modes = {
        name: {mode: float(n) for (mode, _, _), n in zip(m.modes, m.mode_failures, strict=True)}
        for name, m in model.machines.items() if m.modes is not None}
    if model.book is not None:
        result.products = model.book.measure(span, scenario.horizon)
        result.orders = model.book.rows()
    for extra in measured:
        for section in SECTIONS:
            if section in extra:
                setattr(result, section, extra[section])
    return result


@dataclass
class PartCounts:
    """The parts that left the line over the window: good ones (at sinks and into stock),
    escaped defects, scrapped, all arrivals, and the sum of their lead times."""

    good: int
    escaped: int
    scrapped: int
    arrivals: int
    lead: float


def part_counts(model: BuildContext) -> PartCounts:
    """What the sinks and the stores (warehouses a line makes to) received."""
    sinks, stores = model.sinks.values(), model.warehouses.values()
    return PartCounts(
        good=sum(s.count for s in sinks) + sum(w.made for w in stores),
        escaped=sum(s.escaped for s in sinks) + sum(w.escaped for w in stores),
        scrapped=sum(s.scrapped for s in sinks),
        arrivals=sum(s.arrivals for s in sinks) + sum(w.arrivals for w in stores),
        lead=sum(s.lead_sum for s in sinks) + sum(w.lead_sum for w in stores))


def machine_stats(model: BuildContext, span: float
                  ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Each machine's statistics (twin.kpis' machine table: shares of time by state, counts,
    its OEE), and its planned share of time (within its calendar)."""
    machines: dict[str, dict[str, float]] = {}
    planned: dict[str, float] = {}
    for name, m in model.machines.items():
        frac = [t / span for t in m.clock.close()]
        down = frac[DOWN] + frac[REPAIR] + frac[MAINTENANCE]
        # OEE's planned production time: the time within the machine's calendar
        plan = planned[name] = 1.0 - frac[OFF]
        ideal = _ideal(model.graph.nodes[name]["spec"])
        machines[name] = {
            "utilization": frac[WORKING],
            "availability": max(0.0, 1.0 - down / plan) if plan > 0 else math.nan,
            "blocked": frac[BLOCKED],
            "starved": frac[STARVED],
            "failures": float(m.failures),
            "shocks": float(m.shocks),
            "preventive": float(m.preventive),
            "down": frac[DOWN],
            "repair": frac[REPAIR],
            "maintenance": frac[MAINTENANCE],
            "setup": frac[SETUP],
            "waiting_operator": frac[WAITING_OPERATOR],
            "off": frac[OFF],
            "setups": float(m.setups),
            "setup_share": (frac[SETUP] / (frac[SETUP] + frac[WORKING])
                            if frac[SETUP] + frac[WORKING] > 0 else 0.0),
            "alarms": model.maintenance.alarms(name) if model.maintenance else 0.0,
            "diverted": float(m.diverted),
            "processed": float(m.processed),
            "defects": float(m.defects_made),
            "rejected": float(m.rejected),
            "oee": (ideal * (m.processed - m.defects_made) / (span * plan)
                    if plan > 0 else math.nan),
        }
    return machines, planned


def maintenance_costs(scenario: Scenario, model: BuildContext, parts: PartCounts,
                      span: float) -> dict[str, float]:
    """The line's costs per time unit by cause: corrective (each failure mode at its own cost
    where it has one), preventive, scrap and escaped defects."""
    prices = scenario.costs
    corrective = 0.0
    for name, m in model.machines.items():
        failures_spec = model.graph.nodes[name]["spec"].failures
        if m.modes is not None:
            corrective += sum(n * (mode.cost if mode.cost is not None else prices.corrective)
                              for n, mode in zip(m.mode_failures, failures_spec, strict=True))
        else:
            corrective += m.failures * prices.corrective
    preventive = sum(m.preventive for m in model.machines.values())
    return {
        "corrective": corrective / span,
        "preventive": preventive * prices.preventive / span,
        "scrap": parts.scrapped * prices.scrap / span,
        "escaped_defect": parts.escaped * prices.escaped_defect / span,
    }


def line_kpis(scenario: Scenario, model: BuildContext, parts: PartCounts,
              machines: dict[str, dict[str, float]], planned: dict[str, float],
              costs: dict[str, float], revenue: float, span: float) -> dict[str, float]:
    """The line's KPIs: throughput, lead time (Little's law's), WIP, the line's OEE (the
    constraint's availability x performance, times the share of good parts), costs and profit,
    scrap and escapes, unplanned downtime."""
    quality = parts.good / parts.arrivals if parts.arrivals else math.nan
    constraint = line_constraint(model.graph)
    oee = math.nan
    if constraint and planned[constraint.machine] > 0:
        oee = (_ideal(model.graph.nodes[constraint.machine]["spec"])
               * model.machines[constraint.machine].processed
               / (span * planned[constraint.machine]) * (quality if parts.arrivals else 1.0))
    return {
        "throughput": parts.good / span,
        "lead_time": parts.lead / parts.arrivals if parts.arrivals else math.nan,
        "wip": model.wip.mean(scenario.horizon),
        "oee": oee,
        "cost_rate": sum(costs.values()),
        "quality": quality,
        "scrap_rate": parts.scrapped / span,
        "escaped_rate": parts.escaped / span,
        "profit_rate": revenue - sum(costs.values()),
        "unplanned_downtime": sum(m["down"] + m["repair"] for m in machines.values()),
    }


def _energy(scenario: Scenario, model: BuildContext, machines: dict[str, dict[str, float]],
            span: float) -> dict[str, float]:
    """kWh each powered machine drew over the window: power by state times time in it."""
    hours = scenario.hours_per_time_unit()
    out = {}
    for name in model.machines:
        power = model.graph.nodes[name]["spec"].power
        if power is not None and hours is not None:
            out[name] = sum(kw * machines[name]["utilization" if state == "working" else state]
                            * span for state, kw in power.by_state().items()) * hours
    return out


def _ideal(spec: Any) -> float:
    """Ideal time per part (OEE's performance): a batch machine's cycle over its places."""
    batch = getattr(spec, "batch", None)
    return float(spec.process_time.mean()) / (batch.max if batch is not None else 1)


def find_deadlock(model: BuildContext) -> tuple[float, list[str]] | None:
    """Machines blocked at the end whose parts can never move: each waits for room in a channel
    that only other such machines could empty (a loop of full buffers, say). A machine waiting on
    a plug-in node (a conveyor) or for a vehicle is not counted: they move the parts
    themselves."""
    moving = {id(node) for node in model.nodes.values()}
    stuck = {m for m in model.machines.values()
             if m.clock.state == BLOCKED and id(m.waiting_on) not in moving
             and not isinstance(m.waiting_on, LogsItself)}  # a vehicle comes for its part
    consumers: dict[int, list[Machine]] = {}
    for m in model.machines.values():
        for inbox in m.inbox.channels() if hasattr(m.inbox, "channels") else [m.inbox]:
            consumers.setdefault(id(inbox), []).append(m)
    changed = True
    while changed:
        changed = False
        for m in list(stuck):
            if any(c not in stuck for c in consumers.get(id(m.waiting_on), [])):
                stuck.discard(m)
                changed = True
    if not stuck:
        return None
    since = max(m.clock.since for m in stuck)
    return since, sorted(m.name for m in stuck)
