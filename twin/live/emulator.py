"""``twin emulate``: a scenario run in scaled real time, publishing what the plant's machines
would (``twin.live.schema``): part and machine events in the event log's columns, machine
states with their operating age, and sensor readings, in batches.

The model runs in SimPy's ``RealtimeEnvironment`` (not strict: a slow publisher lags, it does
not stop); one time unit of the scenario lasts ``unit_seconds(time_unit) / speed`` seconds.
Every ``tick`` seconds of wall time it sends what happened since the last batch. Nothing in the
model changes: the event log is a ``PublishingLog`` that keeps the rows until they are sent,
and the states and readings are read off the machines at each batch."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import simpy.rt

from twin.engine.events import EventLog
from twin.engine.loop import advance
from twin.engine.replication import build
from twin.engine.state import PlantState, capture
from twin.engine.states import STATES, WORKING
from twin.live.connector import Connector
from twin.live.schema import encode, plant_topic

if TYPE_CHECKING:
    from twin.engine.context import BuildContext
    from twin.engine.flow import Part
    from twin.language.schema import Scenario

UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "min": 60.0, "minute": 60.0,
         "minutes": 60.0, "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0,
         "d": 86400.0, "day": 86400.0, "days": 86400.0}
BATCH = 2000
"""Most events or readings in one message."""


def unit_seconds(time_unit: str | None) -> float:
    """Seconds in one time unit of the scenario (its ``time_unit`` label; unknown: 1)."""
    return UNITS.get((time_unit or "").strip().lower(), 1.0)


class PublishingLog(EventLog):
    """An event log that keeps its rows until ``take()`` hands them over."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[Any]] = []

    def __call__(self, time: float, node: str, event: str, part: Part | None = None) -> None:
        if part is None:
            self.rows.append([time, node, event, None, None, None])
        else:
            self.rows.append([time, node, event, part.id, part.product, part.order])

    def __len__(self) -> int:
        return len(self.rows)

    def take(self) -> list[list[Any]]:
        """The rows logged since the last call, handed over and forgotten."""
        rows, self.rows = self.rows, []
        return rows


@dataclass
class Emulation:
    """What an emulation published, and the plant's true state at its end."""

    events: int = 0
    readings: int = 0
    messages: dict[str, int] = field(default_factory=dict)
    end: PlantState | None = None
    clock: float = 0.0
    connects: int = 0
    """Connections made to the broker (more than one: it reconnected)."""


class Emulator:
    """One replication of ``scenario`` in real time, publishing on ``connector``."""

    def __init__(self, scenario: Scenario, connector: Connector, *, speed: float = 1.0,
                 replication: int = 0, tick: float = 0.1) -> None:
        self.scenario = scenario
        self.connector = connector
        self.factor = unit_seconds(scenario.time_unit) / speed
        self.env = simpy.rt.RealtimeEnvironment(factor=self.factor, strict=False)
        self.log = PublishingLog()
        self.ctx: BuildContext = build(scenario, replication, env=self.env, log=self.log)
        self.replication = replication
        self.tick = max(tick / self.factor, 1e-9)
        """Plant time between batches."""
        self.plant = scenario.name
        self.result = Emulation()
        self.seq: dict[str, int] = {}
        self.states: dict[str, tuple[str, float]] = {}
        self.sent_blocks = {name: 0 for name in self.ctx.sensors}
        self.sent_until = 0.0
        """Plant time up to which every batch has been sent."""

    def _send(self, kind: str, payload: dict[str, Any], clock: float | None = None) -> None:
        seq = self.seq.get(kind, 0)
        self.seq[kind] = seq + 1
        self.connector.publish(plant_topic(self.plant, kind), encode(
            {"seq": seq, "clock": self.env.now if clock is None else clock, **payload}))
        self.result.messages[kind] = self.result.messages.get(kind, 0) + 1

    def publish(self) -> None:
        """Send what happened since the last batch: events, changed states, readings."""
        now = self.env.now
        rows = self.log.take()
        for i in range(0, max(len(rows), 1), BATCH):  # an empty batch still moves the clock
            # only the batch's last message says everything up to now is sent
            last = i + BATCH >= len(rows)
            self._send("events", {"events": rows[i:i + BATCH]},
                       None if last else self.sent_until)
        self.result.events += len(rows)
        changed = {}
        for name, m in self.ctx.machines.items():
            state, since = m.clock.state, m.clock.since
            key = (STATES[state], since)
            if self.states.get(name) != key:
                self.states[name] = key
                age = m.current_age() - (now - since if state == WORKING else 0.0)
                changed[name] = {"state": STATES[state], "since": since, "age": max(0.0, age)}
        if changed:
            self._send("machines", {"machines": changed})
        for name, stream in self.ctx.sensors.items():
            stream.advance(now)
            blocks = stream.blocks[self.sent_blocks[name]:]
            self.sent_blocks[name] = len(stream.blocks)
            readings: dict[str, dict[str, list[float]]] = {}
            for table in blocks:
                if table.num_rows == 0:
                    continue
                sensor = str(table.column("sensor")[0])
                entry = readings.setdefault(sensor, {"time": [], "value": [], "age": []})
                entry["time"].extend(table.column("time").to_pylist())
                entry["value"].extend(table.column("value").to_pylist())
                entry["age"].extend(table.column("age").to_pylist())
            if readings:
                self._send(f"sensors/{name}", {"readings": readings})
                self.result.readings += sum(len(e["time"]) for e in readings.values())
        self.sent_until = now

    def run(self, until: float, stop: threading.Event | None = None) -> Emulation:
        """Run to plant time ``until`` (or until ``stop`` is set), publishing as it goes; the
        result holds the counts and the true state at the end."""
        env = self.env
        try:
            advance(env, until, stretch=self.tick, between=lambda end: self.publish(),
                    stop=stop.is_set if stop is not None else None)
        finally:
            self.result.clock = env.now
            self.result.end = capture(self.ctx, self.scenario, self.replication)
        return self.result


def emulate(scenario: Scenario, broker: str, *, speed: float = 1.0, until: float | None = None,
            replication: int = 0, client_id: str | None = None,
            stop: threading.Event | None = None, flush_timeout: float = 30.0) -> Emulation:
    """Run ``scenario`` in real time ``speed`` times faster, publishing to ``broker`` until plant
    time ``until`` (the scenario's horizon by default); waits for the broker to acknowledge
    everything sent before returning."""
    connector = Connector(broker, client_id or f"twin-emulate-{scenario.name}")
    try:
        connector.wait_connected(10.0)
        result = Emulator(scenario, connector, speed=speed, replication=replication).run(
            scenario.horizon if until is None else until, stop)
        connector.flush(flush_timeout)
        result.connects = connector.connects
        return result
    finally:
        connector.close()
