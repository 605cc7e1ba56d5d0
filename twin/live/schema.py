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
- ``session`` (optional, a string): the publisher's session; a publisher that starts again
  (numbering from 0 again) says so with a new one. Without it, a ``seq`` seen before with other
  content, or far behind the topic's latest, marks a new session.
- Times (``clock``, event and reading times, ``since``, ages) are at least 0 and at most
  ``MAX_TIME``; a machine's ``since`` is not after its message's ``clock``; a sensor is one the
  scenario declares on that machine; a payload is at most ``MAX_PAYLOAD`` bytes.

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
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.engine.states import STATES
from twin.records.events import EVENTS

VERSION = 1
ROOT = f"twin/v{VERSION}"
EVENT_NAMES = frozenset(EVENTS)
STATE_NAMES = frozenset(STATES)
MAX_PAYLOAD = 16 << 20
"""Bytes in one payload at most (16 MiB)."""
MAX_TIME = 1e12
"""Plant time, and operating age, at most (30,000 years in seconds)."""


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
    session: str | None = None
    """The publisher's session, where it says one."""
    digest: int = 0
    """A checksum of the payload: a message delivered twice has the same."""


@dataclass(frozen=True)
class Machines:
    """A ``machines`` message: its sequence number, the plant clock, and the machines' states."""

    seq: int
    clock: float
    machines: dict[str, tuple[str, float, float]]
    """name -> (state, since, age at since)."""
    session: str | None = None
    digest: int = 0


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
    session: str | None = None
    digest: int = 0

    def __len__(self) -> int:
        return sum(len(t) for t, _ in self.readings.values())


Message = Events | Machines | Readings


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Malformed(f"{what}: not a finite number ({_short(value)})")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise Malformed(f"{what}: not a finite number ({_short(value)})")
    return number


def _time(value: Any, what: str) -> float:
    """A plant time or an age: a number from 0 to ``MAX_TIME``."""
    number = _number(value, what)
    if not 0.0 <= number <= MAX_TIME:
        raise Malformed(f"{what}: {number!r} is not a time from 0 to {MAX_TIME:g}")
    return number


def _key(name: str, limit: int = 60) -> str:
    """A JSON object's key as a field path shows it, cut to ``limit`` characters."""
    return name if len(name) <= limit else name[:limit] + "..."


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters (a hostile payload is not echoed whole)."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit] + "..."




def _optional_text(value: Any, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise Malformed(f"{what}: not a string ({_short(value)})")
    return value


def decode(topic: str, payload: bytes, plant: str, nodes: dict[str, str],
           sensors: dict[str, frozenset[str]] | None = None) -> Message:
    """The message on ``topic``, checked against the scenario's ``nodes`` (name -> kind) and,
    where given, its machines' ``sensors`` (machine -> sensor names; a machine not in it has
    none). Raises ``Malformed`` or ``Unknown`` saying what is wrong, and nothing else."""
    prefix = f"{ROOT}/{plant}/plant/"
    if not topic.startswith(prefix):
        raise Unknown("not a topic of this plant")
    kind = topic[len(prefix):]
    if kind not in ("events", "machines") and not kind.startswith("sensors/"):
        raise Unknown(f"unknown topic kind {_short(kind)}")
    if len(payload) > MAX_PAYLOAD:
        raise Malformed(f"payload of {len(payload):,} bytes (at most {MAX_PAYLOAD:,})")
    try:
        data = json.loads(payload)
    except RecursionError:
        raise Malformed("not JSON this twin reads: nested too deep") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed(f"not JSON: {_short(str(exc), 120)}") from None
    if not isinstance(data, dict):
        raise Malformed("the payload is not a JSON object")
    if data.get("v") != VERSION:
        raise Unknown(f"payload version {_short(data.get('v'))} (this twin reads {VERSION})")
    seq = data.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 1 << 63:
        raise Malformed(f"seq: not a count ({_short(seq)})")
    clock = _time(data.get("clock"), "clock")
    session = data.get("session")
    if session is not None and (not isinstance(session, str) or not 0 < len(session) <= 64):
        raise Malformed(f"session: not a string of 1 to 64 characters ({_short(session)})")
    digest = zlib.crc32(payload)
    if kind == "events":
        return Events(seq, clock, _events(data.get("events"), nodes), session, digest)
    if kind == "machines":
        return Machines(seq, clock, _machines(data.get("machines"), nodes, clock), session,
                        digest)
    machine = kind[len("sensors/"):]
    if nodes.get(machine) != "machine":
        raise Unknown(f"no machine {_short(machine)} in the scenario")
    readings, ages = _readings(data.get("readings"))
    if sensors is not None:
        known = sensors.get(machine, frozenset())
        strange = [name for name in readings if name not in known]
        if strange:
            raise Unknown(f"no sensor {_short(strange[0])} on machine {machine!r} in the "
                          "scenario")
    return Readings(seq, clock, machine, readings, ages, session, digest)


def _events(rows: Any, nodes: dict[str, str]
            ) -> list[tuple[float, str, str, int | None, str | None, str | None]]:
    if not isinstance(rows, list):
        raise Malformed("events: not a list")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != 6:
            raise Malformed(f"events[{i}]: not [time, node, event, part, product, order]")
        time, node, event, part, product, order = row
        time = _time(time, f"events[{i}].time")
        if not isinstance(node, str) or node not in nodes:
            raise Malformed(f"events[{i}].node: no node {_short(node)} in the scenario")
        if not isinstance(event, str) or event not in EVENT_NAMES:
            raise Malformed(f"events[{i}].event: unknown event {_short(event)}")
        if part is not None and (isinstance(part, bool) or not isinstance(part, int)
                                 or not 0 <= part < 1 << 63):
            raise Malformed(f"events[{i}].part: not a part number ({_short(part)})")
        out.append((time, node, event, part, _optional_text(product, f"events[{i}].product"),
                    _optional_text(order, f"events[{i}].order")))
    return out


def _machines(machines: Any, nodes: dict[str, str], clock: float
              ) -> dict[str, tuple[str, float, float]]:
    if not isinstance(machines, dict):
        raise Malformed("machines: not an object")
    out = {}
    for name, entry in machines.items():
        if nodes.get(name) != "machine":
            raise Malformed(f"machines.{_key(name)}: no machine {_short(name)} in the scenario")
        state = entry.get("state") if isinstance(entry, dict) else None
        if not isinstance(state, str) or state not in STATE_NAMES:
            raise Malformed(f"machines.{name}.state: not one of {', '.join(STATES)}")
        since = _time(entry.get("since"), f"machines.{name}.since")
        if since > clock:
            raise Malformed(f"machines.{name}.since: {since!r} is after the message's clock "
                            f"{clock!r}")
        age = _time(entry.get("age"), f"machines.{name}.age")
        out[name] = (state, since, age)
    return out


def _readings(readings: Any) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]],
                                      dict[str, np.ndarray]]:
    if not isinstance(readings, dict):
        raise Malformed("readings: not an object")
    out = {}
    ages = {}
    for sensor, entry in readings.items():
        if not isinstance(entry, dict):
            raise Malformed(f"readings.{_key(sensor)}: not an object")
        try:
            times = np.asarray(entry.get("time"), dtype=float)
            values = np.asarray(entry.get("value"), dtype=float)
        except (TypeError, ValueError, OverflowError):
            raise Malformed(f"readings.{_key(sensor)}: time and value are lists of "
                            "numbers") from None
        if times.ndim != 1 or times.shape != values.shape:
            raise Malformed(f"readings.{_key(sensor)}: time and value differ in length")
        if not (np.isfinite(times).all() and np.isfinite(values).all()):
            raise Malformed(f"readings.{_key(sensor)}: a number is not finite")
        if len(times) and not (times.min() >= 0 and times.max() <= MAX_TIME):
            raise Malformed(f"readings.{_key(sensor)}.time: not times from 0 to {MAX_TIME:g}")
        out[sensor] = (times, values)
        if entry.get("age") is not None:
            try:
                age = np.asarray(entry["age"], dtype=float)
            except (TypeError, ValueError, OverflowError):
                raise Malformed(f"readings.{_key(sensor)}.age: not a list of numbers") from None
            if age.shape != times.shape or not np.isfinite(age).all() or (age < 0).any() \
                    or (age > MAX_TIME).any():
                raise Malformed(f"readings.{_key(sensor)}.age: not one age from 0 to "
                                f"{MAX_TIME:g} per reading")
            ages[sensor] = age
    return out, ages
