"""The plant's state: what a replication starts from (``twin run --state``) and what it ends in
(``--save-state``), in one format (YAML or JSON).

```yaml
time: 1440                      # the plant's clock (informational)
buffers:
  B_mill: [{product: housing, order: SO-3, age: 12.5}, {}]   # or a count: 4
machines:
  mill: {state: working, part: {product: housing}, remaining: 0.4, age: 200}
  saw:  {state: down, down_for: 12, age: 431}
  drill: {wear: 0.35}
warehouses:
  store: {on_hand: 40}
```

A machine's ``age`` is its operating time since its last renewal: its first life is drawn
conditional on having survived it. ``remaining`` is the process time left on the part in hand
(drawn afresh if not given). A ``down`` machine waits for a technician from the start. Parts'
``age`` is the time since their release.

A state saved by twin also carries ``replay``: the scenario's fingerprint, seed, replication and
time, and a digest of the state itself. Loaded unchanged with the same scenario, it continues
every replication exactly where the run that saved it was (each replication re-runs to that time
with statistics off, so the random streams are where they were): the continued run gives, number
for number, what the longer run gave after that time. A state without it (as an MES gives it), or
edited, starts fresh random streams from the state.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, ValidationError

from twin.errors import InputError, Loc
from twin.language.base import Fraction, Frozen

if TYPE_CHECKING:
    from twin.engine.context import BuildContext
    from twin.language.schema import Scenario

NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class PartState(Frozen):
    """A part of a plant state: its product, order and age (time since its release)."""

    product: str | None = None
    order: str | None = None
    age: NonNegative = 0.0
    """Time since the part's release."""


class MachineState(Frozen):
    """A machine of a plant state: what it is doing, the part in hand, its operating age and
    wear."""

    state: Literal["working", "starved", "blocked", "down", "repair", "maintenance",
                   "setup", "waiting_operator", "off"] = "starved"
    part: PartState | None = None
    """The part in hand (working or blocked)."""
    remaining: NonNegative | None = None
    """Process time left on the part in hand."""
    age: NonNegative = 0.0
    """Operating time since the last renewal."""
    wear: Fraction | None = None
    """Wear as a fraction of the failure threshold (machines with a degradation model)."""
    down_for: NonNegative | None = None
    """How long it has been down (informational)."""


class WarehouseState(Frozen):
    """A warehouse of a plant state: the stock on hand (parts)."""

    on_hand: Annotated[int, Field(ge=0)]


class Replay(Frozen):
    """What continues a saved replication exactly: the scenario's fingerprint, seed, replication,
    time and the digest of the state saved."""

    fingerprint: str
    seed: int
    replication: int
    time: NonNegative
    digest: str


class PlantState(Frozen):
    """The plant's state: the clock, the parts in each buffer (a list, or a count), every machine's
    state, every warehouse's stock, and ``replay`` when twin saved it."""

    time: NonNegative = 0.0
    buffers: dict[str, list[PartState] | Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict)
    machines: dict[str, MachineState] = Field(default_factory=dict)
    warehouses: dict[str, WarehouseState] = Field(default_factory=dict)
    replay: Replay | None = None

    def parts(self, buffer: str) -> list[PartState]:
        """The parts waiting in ``buffer`` (a count becomes that many parts of no product)."""
        content = self.buffers.get(buffer, [])
        return [PartState() for _ in range(content)] if isinstance(content, int) else content

    def digest(self) -> str:
        """A 16-hex-digit SHA-256 digest of the state, ``replay`` left out."""
        body = self.model_dump(mode="json", exclude={"replay"})
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]

    def continues(self, scenario: Scenario) -> bool:
        """Whether this is an unedited state twin saved for this very scenario."""
        replay = self.replay
        return (replay is not None and replay.digest == self.digest()
                and replay.fingerprint == fingerprint(scenario) and replay.seed == scenario.seed)


def load_state(path: str | Path, scenario: Scenario) -> PlantState:
    """Read and check a state file against the scenario (every node it names exists, with the
    right kind, and every product)."""
    from twin.language.messages import validation_problems
    from twin.language.yamlio import line_of, load_yaml
    from twin.registry import did_you_mean

    data, lines = load_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(str(path), [((), "a state is a mapping of buffers, machines, "
                                          "warehouses", line_of(lines, ()))])
    try:
        state = PlantState.model_validate(data)
    except ValidationError as exc:
        raise InputError(str(path), validation_problems(exc, data, lines, root=PlantState)
                         ) from None
    nodes = scenario.plant.nodes
    problems: list[tuple[Loc, str, int | None]] = []
    for section, kind in (("buffers", "buffer"), ("machines", "machine"),
                          ("warehouses", "warehouse")):
        names = [n for n, s in nodes.items() if s.kind == kind]
        for name in getattr(state, section):
            if name not in names:
                loc: Loc = (section, name)
                problems.append((loc, f"no {kind} {name!r} in scenario {scenario.name!r}"
                                      f"{did_you_mean(name, names)}", line_of(lines, loc)))
    from twin.language.resources import products_reaching

    products = list(scenario.products) or sorted(set().union(
        *products_reaching(scenario).values()))  # the labels of sources and assemblies
    for name in state.buffers:
        for i, part in enumerate(state.parts(name)):
            if part.product is not None and part.product not in products:
                loc = ("buffers", name, i, "product")
                problems.append((loc, f"unknown product {part.product!r}"
                                      f"{did_you_mean(part.product, products)}",
                                 line_of(lines, loc)))
    for name, machine in state.machines.items():
        if machine.part is not None and machine.part.product is not None \
                and machine.part.product not in products:
            loc = ("machines", name, "part", "product")
            problems.append((loc, f"unknown product {machine.part.product!r}"
                                  f"{did_you_mean(machine.part.product, products)}",
                             line_of(lines, loc)))
        if machine.state in ("working", "blocked") and machine.part is None:
            problems.append((("machines", name, "part"), f"a {machine.state} machine holds a "
                                                          "part: give it (part: {})",
                             line_of(lines, ("machines", name))))
    if products:
        for name in state.buffers:
            if any(p.product is None for p in state.parts(name)):
                problems.append((("buffers", name), "the plant makes products: give each "
                                                     "part its product", line_of(
                                                         lines, ("buffers", name))))
    if problems:
        raise InputError(str(path), problems)
    return state


def part_record(part: Any, now: float) -> dict[str, Any]:
    """A part as a state file holds it: its age (time since release), product and order."""
    out: dict[str, Any] = {"age": max(0.0, now - part.release)}
    if part.product is not None:
        out["product"] = part.product
    if part.order is not None:
        out["order"] = part.order
    return out


def capture(ctx: BuildContext, scenario: Scenario, replication: int) -> PlantState:
    """The state of a replication now (at its end): what ``--save-state`` writes."""
    from twin.engine.states import STATES

    now = ctx.env.now

    def part_state(part: Any) -> dict[str, Any]:
        return part_record(part, now)

    buffers: dict[str, Any] = {}
    for name, channel in ctx.channels.items():
        if ctx.graph.nodes[name]["kind"] != "buffer":
            continue
        waiting = list(channel.items) + [p for _, p in channel.putters if _ is None]
        buffers[name] = [part_state(p) for p in waiting]
    machines: dict[str, Any] = {}
    for name, m in ctx.machines.items():
        now_in = STATES[m.clock.state]
        entry: dict[str, Any] = {"state": now_in, "age": m.current_age()}
        if m.holding is not None:
            entry["part"] = part_state(m.holding)
            if now_in == "working":
                entry["remaining"] = m.work_left()
        if now_in in ("down", "repair"):
            entry["down_for"] = now - m.clock.since
        if m.path is not None:
            entry["wear"] = min(1.0, float(m.path.at(m.current_age())))
        machines[name] = entry
    warehouses = {name: {"on_hand": len(w.items)} for name, w in ctx.warehouses.items()}
    plant = PlantState.model_validate({"time": now, "buffers": buffers, "machines": machines,
                                       "warehouses": warehouses})
    replay = Replay(fingerprint=fingerprint(scenario), seed=scenario.seed,
                    replication=replication, time=now, digest=plant.digest())
    return plant.model_copy(update={"replay": replay})


def fingerprint(scenario: Scenario) -> str:
    """The scenario as run, hashed: a replayed state continues only the scenario it came from
    (the experiment's own settings, seed and replications, left out)."""
    from twin.language.loading import to_data

    data = to_data(scenario)
    for key in ("replications", "horizon", "warmup", "policies", "description"):
        data.pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def dump_state(state: PlantState) -> str:
    """The state as YAML text (unset fields left out)."""
    import yaml

    return yaml.safe_dump(state.model_dump(mode="json", exclude_none=True), sort_keys=False)


def residual_life(dist: Any, rng: Any, age: float) -> float:
    """A life drawn conditional on having lasted ``age``, minus ``age``: exact for the
    exponential (memoryless) and the Weibull (by inversion), by rejection otherwise."""
    if age <= 0:
        return float(dist.sample(rng, 1)[0])
    kind = getattr(dist, "dist", None)
    if kind == "exponential":
        return float(rng.exponential(dist.mean()))
    if kind == "weibull":
        k, scale = dist.shape, dist.scale
        u = float(rng.random())
        return float(scale * ((age / scale) ** k - math.log(1.0 - u)) ** (1.0 / k) - age)
    if kind == "constant":
        return max(0.0, dist.value - age)
    for _ in range(200):
        draws = dist.sample(rng, 4096)
        beyond = draws[draws > age]
        if beyond.size:
            return float(beyond[0] - age)
    return 0.0  # practically never survives that long: fails at once


def as_mapping(state: PlantState) -> Mapping[str, Any]:
    """The state as plain JSON-ready data (unset fields left out)."""
    return state.model_dump(mode="json", exclude_none=True)


def machine_start(ctx: BuildContext, name: str, spec: Any) -> Any:
    """The ``Start`` of machine ``name`` from the initial state, if it has one."""
    from twin.engine.stations import Start

    state = ctx.initial.machines.get(name) if ctx.initial is not None else None
    if state is None:
        return None
    residual = None
    if spec.failures is not None and not isinstance(spec.failures, list) \
            and spec.failures.ttf is not None and state.age > 0:
        rng = ctx.streams.rng(f"{name}/ttf/start")
        law = spec.failures.ttf
        residual = lambda age: residual_life(law, rng, age)  # noqa: E731
    part = new_part(ctx, name, state.part) if state.part is not None else None
    return Start(part=part, remaining=state.remaining, blocked=state.state == "blocked",
                 age=state.age, wear=state.wear, down=state.state in ("down", "repair"),
                 residual=residual)


def new_part(ctx: BuildContext, where: str, state: PartState) -> Any:
    """A part of the initial state: released ``age`` ago, counted into the WIP."""
    from twin.engine.flow import Part

    part = ctx.releaser.admit(Part(0, 0.0), where)
    part.release = ctx.env.now - state.age
    if state.product is not None and ctx.stamp is not None:
        ctx.stamp(part, state.product)
        part.step = route_step(ctx, where, state.product)
    elif state.product is not None:  # a label (the source's product, an assembly's)
        part.product = state.product
    part.order = state.order
    return part


def route_step(ctx: BuildContext, where: str, product: str) -> int:
    """The step of ``product``'s route a part of the initial state is at: the machine holding
    it, or the machine the buffer it waits in feeds (the first step of its route otherwise)."""
    route = ctx.scenario.products[product].route
    if where in route:
        return route.index(where)
    fed = set(ctx.graph.successors(where)) if where in ctx.graph else set()
    return next((k for k, machine in enumerate(route) if machine in fed), 0)
