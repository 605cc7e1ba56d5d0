"""Which OPC UA nodes say what about the plant: the mapping file of ``twin live --opcua --map``,
and twin's own address space (``twin emulate --opcua`` serves it) as the same mapping.

A mapping names, for each of the scenario's machines, the variable of its state (with the
values that stand for each of twin's states: a numeric code, a string), optionally the
variable of its operating age, a counter whose increments are its finished parts, and its
sensor variables; and, for the whole plant, optionally OPC UA events (an event notifier, the
event field that names the machine, the one that names what happened) and the clock::

    namespace: urn:acme:line1          # browse names and node ids without an index use it
    origin: 2026-03-02T06:00:00Z       # plant time 0 (default: when the twin first connects)
    time_unit_seconds: 60              # seconds in one time unit (default: the scenario's)
    machines:
      saw:
        state: {node: "ns=2;s=L1.Saw.Mode", values: {0: starved, 1: working, 3: down}}
        age: {node: "Objects/L1/Saw/Hours", scale: 60}   # hours -> minutes
        finished: "nsu=urn:acme:line1;s=L1.Saw.GoodCount"
        sensors: {vibration: "ns=2;s=L1.Saw.Vib"}
    events:
      notifier: "i=2253"               # the Server object (the default)
      source_field: SourceName
      kind_field: Message
      sources: {L1.Saw: saw}
      kinds: {Fault: fail, Repaired: repair_end}

A node is a node id (``ns=2;s=...``, ``nsu=URI;i=...``, ``i=2253``) or a browse path from the
Objects folder (``Objects/2:Line/Saw``: a name without an index is in ``namespace``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from twin.engine.stations import STATES
from twin.errors import InputError
from twin.language.messages import validation_problems
from twin.language.yamlio import line_of, load_yaml
from twin.records.events import EVENTS

if TYPE_CHECKING:
    from twin.language.schema import Scenario

NAMESPACE = "urn:twin:plant"
"""The namespace of twin's own address space."""
Node = Annotated[str, Field(min_length=1)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StateMap(_Frozen):
    """A machine's state variable; ``values``: the variable's value for each of twin's states
    (absent: the value is the state's own name)."""

    node: Node
    values: dict[str, str] | None = None

    @field_validator("values", mode="before")
    @classmethod
    def _keys_as_text(cls, values: Any) -> Any:
        if isinstance(values, dict):
            return {str(k): v for k, v in values.items()}
        return values

    @field_validator("values")
    @classmethod
    def _known_states(cls, values: dict[str, str] | None) -> dict[str, str] | None:
        for code, state in (values or {}).items():
            if state not in STATES:
                raise ValueError(f"{code}: {state!r} is not one of {', '.join(STATES)}")
        return values


class Scaled(_Frozen):
    """A numeric variable, times ``scale`` in the plant's time unit."""

    node: Node
    scale: float = Field(default=1.0, gt=0, allow_inf_nan=False)


class MachineMap(_Frozen):
    """What a machine's variables are."""

    state: StateMap | None = None
    age: Scaled | None = None
    finished: Node | None = None
    """A counter of finished parts: each increment is a ``finish`` event."""
    sensors: dict[str, Node] = Field(default_factory=dict)

    @field_validator("state", "age", mode="before")
    @classmethod
    def _bare_node(cls, value: Any) -> Any:
        return {"node": value} if isinstance(value, str) else value


class EventsMap(_Frozen):
    """OPC UA events, subscribed to on ``notifier``: ``sources`` maps the value of
    ``source_field`` to a machine, ``kinds`` the value of ``kind_field`` to an event name."""

    notifier: Node = "i=2253"
    source_field: str = "SourceName"
    kind_field: str = "Message"
    time_field: str = "Time"
    sources: dict[str, str]
    kinds: dict[str, str]

    @field_validator("kinds")
    @classmethod
    def _known_events(cls, kinds: dict[str, str]) -> dict[str, str]:
        for value, event in kinds.items():
            if event not in EVENTS:
                raise ValueError(f"{value}: {event!r} is not one of {', '.join(EVENTS)}")
        return kinds


class Mapping(_Frozen):
    """A plant's OPC UA nodes and what twin reads from them."""

    namespace: str | None = None
    origin: datetime | None = None
    """Plant time 0 (a source timestamp then); None: read ``origin_node``, or the first
    connection's time."""
    origin_node: Node | None = None
    time_unit_seconds: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    clock: Node | None = None
    """A variable holding the plant's clock (plant time); else the latest source timestamp."""
    log: Node | None = None
    """A string variable whose values are twin's event messages (twin's own layout)."""
    log_since: Node | None = None
    """A method ``(seq) -> [messages]`` giving the log's messages from ``seq`` on."""
    machines: dict[str, MachineMap] = Field(default_factory=dict)
    buffers: dict[str, Node] = Field(default_factory=dict)
    """Each buffer's contents variable (a count of parts), read as its level (the connector's
    ``buffers``)."""
    events: EventsMap | None = None


OPCUA_ONLY = ("map", "user", "server_cert", "security_mode")
"""The command-line options that go with ``--opcua`` only."""


def mqtt_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` without OPC UA's (none may be given with ``--broker``: ``InputError``)."""
    given = [k for k in OPCUA_ONLY if options.get(k) is not None]
    if given:
        option = "--" + given[0].replace("_", "-")
        raise InputError(option, [((), "goes with --opcua, not --broker", None)])
    return {k: v for k, v in options.items() if k not in OPCUA_ONLY}


def check_names(mapping: Mapping, nodes: dict[str, str]) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems of a mapping against the scenario's nodes (name -> kind)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for name in mapping.machines:
        if nodes.get(name) != "machine":
            problems.append((("machines", name), f"no machine {name!r} in the scenario"))
    for name in mapping.buffers:
        if nodes.get(name) != "buffer":
            problems.append((("buffers", name), f"no buffer {name!r} in the scenario"))
    if mapping.events is not None:
        for value, name in mapping.events.sources.items():
            if nodes.get(name) is None:
                problems.append((("events", "sources", value), f"no node {name!r} in the "
                                                               "scenario"))
    return problems


def load_mapping(path: str | Path, nodes: dict[str, str]) -> Mapping:
    """The mapping file at ``path``, checked against the scenario's ``nodes``; errors name the
    file, the field path and the line (``InputError``)."""
    data, lines = load_yaml(path)
    source = str(path)
    if not isinstance(data, dict):
        raise InputError(source, [((), "a mapping file is a YAML mapping (machines: ...)",
                                   None)])
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        raise InputError(source, validation_problems(exc, data, lines, root=Mapping)) from None
    problems = check_names(mapping, nodes)
    if problems:
        raise InputError(source, [(loc, msg, line_of(lines, loc)) for loc, msg in problems])
    return mapping


def path(plant: str, *parts: str) -> str:
    """The browse path (and string node id) of a node of twin's layout."""
    return "/".join(("Plant", plant, *parts))


def twin_node(plant: str, *parts: str) -> str:
    """The node id of a node of twin's layout, in twin's namespace."""
    return f"nsu={NAMESPACE};s={path(plant, *parts)}"


def twin_layout(scenario: Scenario) -> Mapping:
    """Twin's own address space as a mapping: what ``twin live --opcua`` reads without ``--map``.

    ``Plant/<plant>/{Clock, Origin, EventLog, EventLogSince()}``,
    ``Plant/<plant>/Machines/<machine>/{State, OperatingAge, PartsMade, Sensors/<sensor>}``,
    ``Plant/<plant>/Buffers/<buffer>/Contents``."""
    plant = scenario.name
    machines = {}
    buffers = {}
    for name, spec in scenario.plant.nodes.items():
        kind = getattr(spec, "kind", None)
        if kind == "machine":
            sensors = getattr(spec, "sensors", None) or {}
            machines[name] = MachineMap(
                state=StateMap(node=twin_node(plant, "Machines", name, "State")),
                age=Scaled(node=twin_node(plant, "Machines", name, "OperatingAge")),
                sensors={s: twin_node(plant, "Machines", name, "Sensors", s) for s in sensors})
        elif kind == "buffer":
            buffers[name] = twin_node(plant, "Buffers", name, "Contents")
    return Mapping(namespace=NAMESPACE, origin_node=twin_node(plant, "Origin"),
                   clock=twin_node(plant, "Clock"), log=twin_node(plant, "EventLog"),
                   log_since=twin_node(plant, "EventLogSince"), machines=machines,
                   buffers=buffers)
