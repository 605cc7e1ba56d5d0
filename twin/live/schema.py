"""Topics and payloads of the live twin, version 1.

Every payload is a JSON object with ``"v": 1``; times are in the plant's time unit (the
scenario's ``time_unit``), on the plant's own clock. ``{plant}`` is the scenario's name.

What the plant publishes (``twin emulate`` does, as a plant's MES or gateway would), QoS 1:

- ``twin/v1/{plant}/plant/events``:
  ``{"v", "seq", "clock", "events": [[time, node, event, part, product, order], ...]}``
- ``twin/v1/{plant}/plant/machines``:
  ``{"v", "seq", "clock", "machines": {name: {"state", "since", "age"}}}``
- ``twin/v1/{plant}/plant/sensors/{machine}``:
  ``{"v", "seq", "clock", "readings": {sensor: {"time": [...], "value": [...], "age": [...]}}}``
  (``age``, optional: the machine's operating age at each reading; a policy that learns in the
  loop labels remaining life with it, and counts time since the life's start where it is absent)

- ``events`` rows are the event log's columns (``twin.engine.events``) without the replication:
  the event names and their meaning are the event log's; ``part`` is null for a machine's own.
- ``machines`` gives each machine whose state changed: its state (``working``, ``starved``,
  ``blocked``, ``down``, ``repair``, ``maintenance``, ``setup``), since when, and its operating
  age (time worked since its last renewal) at that moment.
- ``seq`` numbers the messages of each topic from 0; a message seen twice (QoS 1 delivers at
  least once) is counted once. ``clock`` is the plant's time when it was sent: everything up to
  it has been published.

What the live twin publishes:

- ``twin/v1/{plant}/twin/forecast``: ``{"v", "time", "horizon", "replications", "elapsed_s",
  "latency_s", "kpis": {kpi: {"mean", "ci95"}}, "buckets": {"width", "end", "throughput":
  [{"mean", "ci95"}, ...], "unplanned_downtime": [...], "orders_due": [...], "late_orders":
  [...]}}`` (the orders' where the plant has orders; ``twin.kpis.BUCKET_KPIS``)
- ``twin/v1/{plant}/twin/predictions``: ``{"v", "kind", "threshold", "predictions": [[time,
  machine, value], ...]}``: where the scenario's policy is predictive with a saved model, its
  scores of the machines' windows at each decision epoch (``kind``: ``rul``, or ``failure`` for
  a risk), in time order (``twin.live.alarms``).
- ``twin/v1/{plant}/twin/alarms/{machine}``: ``{"v", "time", "machine", "kind", "value",
  "threshold"}``: once per life of the machine; ``kind`` is the watched sensor (a reading at or
  above the policy's threshold) or the predictive model's ``rul`` (at most the threshold) or
  ``failure`` (a risk at least the threshold).
- ``twin/v1/{plant}/twin/status``: the status document (``twin.live.twin``), retained.
- ``twin/v1/{plant}/twin/schedule``: with ``--schedule ORDERS``, each re-plan of the open
  orders from the mirrored state: ``{"v", "time", "replications", "horizon",
  "risk_threshold", "plan": {"makespan", "late", "open"}, "makespan": {"plan", "mean", "ci95",
  "quantiles", ...}, "at_risk": [order, ...], "orders": [{"order", "product", "quantity",
  "release", "due", "planned_end", "on_time_probability", "on_time_ci95",
  "completion_quantiles", "expected_tardiness", "at_risk"}, ...], "elapsed_s", "latency_s"}``
  (``schedule.json``'s, the makespan without its values).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.engine.states import STATES
from twin.records.events import EVENTS

VERSION = 1
ROOT = f"twin/v{VERSION}"
EVENT_NAMES = frozenset(EVENTS)
STATE_NAMES = frozenset(STATES)


class Malformed(ValueError):
    """A payload that is not what its topic says (bad JSON, a missing or bad field)."""


class Unknown(ValueError):
    """A topic or a payload version this twin does not know, or a node not in the scenario."""


def plant_topic(plant: str, kind: str) -> str:
    """The topic on which ``plant`` publishes ``kind`` (events, machines, sensors/<machine>)."""
    return f"{ROOT}/{plant}/plant/{kind}"


def twin_topic(plant: str, kind: str) -> str:
    """The topic on which the twin of ``plant`` publishes ``kind`` (forecast, predictions, alarms,
    status)."""
    return f"{ROOT}/{plant}/twin/{kind}"


def encode(payload: dict[str, Any]) -> bytes:
    """A payload as compact JSON bytes with the version (NaN refused)."""
    return json.dumps({"v": VERSION, **payload}, separators=(",", ":"),
                      allow_nan=False).encode()


@dataclass(frozen=True)
class Events:
    """An ``events`` message: its sequence number, the plant clock, and the event rows."""

    seq: int
    clock: float
    rows: list[tuple[float, str, str, int | None, str | None, str | None]]


@dataclass(frozen=True)
class Machines:
    """A ``machines`` message: its sequence number, the plant clock, and the machines' states."""

    seq: int
    clock: float
    machines: dict[str, tuple[str, float, float]]
    """name -> (state, since, age at since)."""


@dataclass(frozen=True)
class Readings:
    """A ``sensors/<machine>`` message: its sequence number, the plant clock, the machine, and each
    sensor's readings."""

    seq: int
    clock: float
    machine: str
    readings: dict[str, tuple[np.ndarray, np.ndarray]]
    """sensor -> (times, values)."""
    ages: dict[str, np.ndarray] = field(default_factory=dict)
    """sensor -> the operating age at each reading, where the plant says it."""

    def __len__(self) -> int:
        return sum(len(t) for t, _ in self.readings.values())


Message = Events | Machines | Readings


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Malformed(f"{what}: not a finite number ({value!r})")
    return float(value)


def _optional_text(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise Malformed(f"{what}: not a string ({value!r})")
    return value


def decode(topic: str, payload: bytes, plant: str, nodes: dict[str, str]) -> Message:
    """The message on ``topic``, checked against the scenario's ``nodes`` (name -> kind).
    Raises ``Malformed`` or ``Unknown`` saying what is wrong."""
    prefix = f"{ROOT}/{plant}/plant/"
    if not topic.startswith(prefix):
        raise Unknown("not a topic of this plant")
    kind = topic[len(prefix):]
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Malformed("the payload is not a JSON object")
    if data.get("v") != VERSION:
        raise Unknown(f"payload version {data.get('v')!r} (this twin reads {VERSION})")
    seq = data.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise Malformed(f"seq: not a count ({seq!r})")
    clock = _number(data.get("clock"), "clock")
    if kind == "events":
        return Events(seq, clock, _events(data.get("events"), nodes))
    if kind == "machines":
        return Machines(seq, clock, _machines(data.get("machines"), nodes))
    if kind.startswith("sensors/"):
        machine = kind[len("sensors/"):]
        if nodes.get(machine) != "machine":
            raise Unknown(f"no machine {machine!r} in the scenario")
        return Readings(seq, clock, machine, *_readings(data.get("readings")))
    raise Unknown(f"unknown topic kind {kind!r}")


def _events(rows: Any, nodes: dict[str, str]
            ) -> list[tuple[float, str, str, int | None, str | None, str | None]]:
    if not isinstance(rows, list):
        raise Malformed("events: not a list")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != 6:
            raise Malformed(f"events[{i}]: not [time, node, event, part, product, order]")
        time, node, event, part, product, order = row
        time = _number(time, f"events[{i}].time")
        if not isinstance(node, str) or node not in nodes:
            raise Malformed(f"events[{i}].node: no node {node!r} in the scenario")
        if event not in EVENT_NAMES:
            raise Malformed(f"events[{i}].event: unknown event {event!r}")
        if part is not None and (isinstance(part, bool) or not isinstance(part, int)):
            raise Malformed(f"events[{i}].part: not a part number ({part!r})")
        out.append((time, node, event, part, _optional_text(product, f"events[{i}].product"),
                    _optional_text(order, f"events[{i}].order")))
    return out


def _machines(machines: Any, nodes: dict[str, str]) -> dict[str, tuple[str, float, float]]:
    if not isinstance(machines, dict):
        raise Malformed("machines: not an object")
    out = {}
    for name, entry in machines.items():
        if nodes.get(name) != "machine":
            raise Malformed(f"machines.{name}: no machine {name!r} in the scenario")
        if not isinstance(entry, dict) or entry.get("state") not in STATE_NAMES:
            raise Malformed(f"machines.{name}.state: not one of {', '.join(STATES)}")
        since = _number(entry.get("since"), f"machines.{name}.since")
        age = _number(entry.get("age"), f"machines.{name}.age")
        if age < 0:
            raise Malformed(f"machines.{name}.age: negative")
        out[name] = (entry["state"], since, age)
    return out


def _readings(readings: Any) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]],
                                      dict[str, np.ndarray]]:
    if not isinstance(readings, dict):
        raise Malformed("readings: not an object")
    out = {}
    ages = {}
    for sensor, entry in readings.items():
        if not isinstance(entry, dict):
            raise Malformed(f"readings.{sensor}: not an object")
        try:
            times = np.asarray(entry.get("time"), dtype=float)
            values = np.asarray(entry.get("value"), dtype=float)
        except (TypeError, ValueError):
            raise Malformed(f"readings.{sensor}: time and value are lists of numbers") from None
        if times.ndim != 1 or times.shape != values.shape:
            raise Malformed(f"readings.{sensor}: time and value differ in length")
        if not (np.isfinite(times).all() and np.isfinite(values).all()):
            raise Malformed(f"readings.{sensor}: a number is not finite")
        out[sensor] = (times, values)
        if entry.get("age") is not None:
            try:
                age = np.asarray(entry["age"], dtype=float)
            except (TypeError, ValueError):
                raise Malformed(f"readings.{sensor}.age: not a list of numbers") from None
            if age.shape != times.shape or not np.isfinite(age).all() or (age < 0).any():
                raise Malformed(f"readings.{sensor}.age: not one finite age, at least 0, "
                                "per reading")
            ages[sensor] = age
    return out, ages
