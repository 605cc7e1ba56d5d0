"""``twin live``: subscribe to a plant's topics, keep the mirror of its state, forecast from it
every so often in a worker process, score the scenario's predictive model on the live sensor
windows (``twin.live.alarms``), and keep ``status.json`` and the report page; with ``record``,
write what it receives to Parquet (``twin.live.record``).

The loop drains the connector's queue in batches and never waits for a forecast: it submits
one when it is due and the last has finished, and publishes each when it comes back. A message
that is malformed or unknown is counted, logged with its topic, and dropped; it never stops the
twin. An interrupt (Ctrl-C, SIGTERM) ends the loop after the batch in hand; the status is
written a last time (``stopped``), each write atomic."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.live.alarms import PredictiveAlarms
from twin.live.connector import Connector
from twin.live.emulator import unit_seconds
from twin.live.forecast import Forecaster
from twin.live.mirror import Mirror
from twin.live.record import Record
from twin.live.schedules import LiveScheduler
from twin.live.schema import (
    ROOT,
    Events,
    Malformed,
    Readings,
    Unknown,
    decode,
    encode,
    twin_topic,
)
from twin.live.status import write_status

if TYPE_CHECKING:
    from twin.language.schema import Scenario

log = logging.getLogger("twin.live")


class LiveTwin:
    """The live twin of ``scenario``'s plant on ``broker``."""

    def __init__(self, scenario: Scenario, broker: str, *, out: str | Path = "live",
                 forecast_every: float = 60.0, horizon: float | None = None,
                 replications: int = 10, buckets: float | None = None,
                 tolerance: float = 5.0, client_id: str | None = None,
                 status_every: float = 1.0, forecasts: bool = True, record: bool = False,
                 record_rows: int = 1 << 20, schedule: str | Path | None = None,
                 schedule_every: float = 300.0) -> None:
        self.scenario = scenario
        self.plant = scenario.name
        self.out = Path(out)
        self.mirror = Mirror(scenario, tolerance)
        self.forecast_every = forecast_every
        self.status_every = status_every
        self.horizon = horizon if horizon is not None else 8 * 3600 / unit_seconds(
            scenario.time_unit)
        self.buckets = buckets if buckets is not None else self.horizon / 8
        self.forecaster = (Forecaster(scenario, self.horizon, replications, self.buckets)
                           if forecasts else None)
        self.forecast: dict[str, Any] | None = None
        self.forecasts = 0
        self.rejected = {"malformed": 0, "unknown": 0}
        self.problems: deque[dict[str, str]] = deque(maxlen=20)
        self.alarms: deque[dict[str, Any]] = deque(maxlen=50)
        self.watch = self._watched()
        self.armed: dict[str, float] = {}
        self.predictive = PredictiveAlarms.of(scenario)
        """The scenario's predictive model scored on the live windows, if it has one."""
        self.record = Record(self.out / "record", record_rows) if record else None
        """The events and readings received, written to Parquet (``twin.live.record``)."""
        self.scheduler = (LiveScheduler(scenario, schedule, replications)
                          if schedule is not None else None)
        """Re-plans the open orders of ``schedule`` every ``schedule_every`` seconds
        (``twin.live.schedules``)."""
        self.schedule_every = schedule_every
        self.schedule: dict[str, Any] | None = None
        self.connector = Connector(broker, client_id or f"twin-live-{self.plant}",
                                   (f"{ROOT}/{self.plant}/plant/#",))
        self.started = time.monotonic()
        self.next_forecast = self.started
        self.next_status = self.started
        self.next_schedule = self.started
        self.stopped = False

    def _watched(self) -> dict[str, tuple[str, float]]:
        """Machines whose condition the scenario's policy watches: (indicator, threshold)."""
        policy = self.scenario.maintenance.policy
        indicator = getattr(policy, "indicator", None)
        threshold = getattr(policy, "threshold", None)
        if not isinstance(indicator, str) or not isinstance(threshold, int | float):
            return {}
        return {name: (indicator, float(threshold))
                for name, spec in self.scenario.plant.nodes.items()
                if indicator in (getattr(spec, "sensors", None) or {})}

    # -- one message
    def handle(self, topic: str, payload: bytes) -> None:
        """Handle one message: decode it (counting and logging a bad one), mirror it, record it, and
        check the watched sensors and predictive alarms."""
        try:
            message = decode(topic, payload, self.plant, self.mirror.nodes)
        except (Malformed, Unknown) as exc:
            kind = "malformed" if isinstance(exc, Malformed) else "unknown"
            self.rejected[kind] += 1
            self.problems.append({"topic": topic, "why": f"{kind}: {exc}"})
            log.warning("%s message on %s: %s", kind, topic, exc)
            return
        stream = topic.rsplit("/plant/", 1)[1]
        fresh = message.seq not in self.mirror.seen.get(stream, ())
        self.mirror.take(stream, message)
        if self.record is not None and fresh:
            if isinstance(message, Events):
                self.record.take_events(message.rows)
            elif isinstance(message, Readings):
                self.record.take_readings(message.machine, message.readings, message.ages)
            else:
                self.record.take_machines(message.machines)
        if self.scheduler is not None and fresh and isinstance(message, Events):
            self.scheduler.take_events(message.rows)
        if self.watch and stream.startswith("sensors/"):
            self._check(stream[len("sensors/"):])
        if self.predictive is not None and fresh:
            if isinstance(message, Events):
                self.predictive.take_events(message.rows, message.clock)
            elif isinstance(message, Readings):
                self.predictive.take_readings(message.machine, message.clock,
                                              message.readings, message.ages)
            self._predict()

    def _predict(self) -> None:
        """Score the epochs now due; publish the predictions and any alarm."""
        assert self.predictive is not None
        predictions, raised = self.predictive.due()
        if predictions:
            self.connector.publish(twin_topic(self.plant, "predictions"), encode(
                {"kind": self.predictive.kind, "threshold": self.predictive.threshold,
                 "predictions": predictions}))
        for alarm in raised:
            self.alarms.append(alarm)
            self.connector.publish(twin_topic(self.plant, f"alarms/{alarm['machine']}"),
                                   encode(alarm))
        self.predictive.save_learned(self.out / "learned")

    def _check(self, machine: str) -> None:
        """A condition alarm when the watched indicator reads at or above its threshold, once
        per life of the machine (re-armed when its age falls: a renewal)."""
        if machine not in self.watch:
            return
        indicator, threshold = self.watch[machine]
        readings = self.mirror.sensors.get((machine, indicator))
        state = self.mirror.machines.get(machine)
        age = state[2] if state is not None else 0.0
        if machine in self.armed and age < self.armed[machine]:
            del self.armed[machine]  # renewed since the last alarm
        if readings is None or not len(readings[1]) or machine in self.armed:
            return
        value = float(readings[1][-1])
        if value >= threshold:
            self.armed[machine] = age
            alarm = {"time": float(readings[0][-1]), "machine": machine, "kind": indicator,
                     "value": value, "threshold": threshold}
            self.alarms.append(alarm)
            self.connector.publish(twin_topic(self.plant, f"alarms/{machine}"), encode(alarm))

    # -- the loop
    def step(self, timeout: float = 0.05) -> int:
        """Drain one batch of messages, then forecast and write the status when due."""
        batch = self.connector.drain(timeout=timeout)
        for topic, payload in batch:
            self.handle(topic, payload)
        now = time.monotonic()
        if self.forecaster is not None:
            done = self.forecaster.poll()
            if done is not None:
                self.forecast = done
                self.forecasts += 1
                self.connector.publish(twin_topic(self.plant, "forecast"), encode(done))
            if now >= self.next_forecast and not self.forecaster.busy() \
                    and self.mirror.machines:
                self.next_forecast = now + self.forecast_every
                self.forecaster.submit(self.mirror.state())
        if self.scheduler is not None:
            self._reschedule(now)
        if now >= self.next_status:
            self.next_status = now + self.status_every
            self.write_status()
        return len(batch)

    def _reschedule(self, now: float) -> None:
        """Publish a re-plan that came back; submit the next when due."""
        assert self.scheduler is not None
        done = self.scheduler.poll()
        if done is not None:
            self.schedule = done
            self.connector.publish(twin_topic(self.plant, "schedule"), encode(done))
        if now >= self.next_schedule and not self.scheduler.busy() and self.mirror.machines:
            self.next_schedule = now + self.schedule_every
            self.scheduler.submit(self.mirror)

    def run(self, stop: threading.Event | None = None) -> None:
        """Until ``stop`` is set (or an interrupt); the status is consistent however it ends."""
        try:
            while stop is None or not stop.is_set():
                self.step()
        finally:
            self.close()

    def status(self) -> dict[str, Any]:
        """The status document: clock, connection, counts, problems, mirrored state, forecast and
        alarms."""
        counts = {**self.mirror.counts, **self.rejected, "forecasts": self.forecasts,
                  "connects": self.connector.connects,
                  "disconnects": self.connector.disconnects}
        return {"v": 1, "plant": self.plant, "time_unit": self.scenario.time_unit,
                "clock": self.mirror.clock,
                "updated": datetime.now(UTC).isoformat(timespec="seconds"),
                "connected": self.connector.connected.is_set(), "stopped": self.stopped,
                "counts": counts, "problems": list(self.problems),
                "state": self.mirror.state().model_dump(mode="json", exclude_none=True),
                "forecast": self.forecast, "alarms": list(self.alarms),
                **({"predictive": self.predictive.status()} if self.predictive else {}),
                **({"recorded": self.record.status()} if self.record else {})}

    def write_status(self) -> None:
        """Write the status files and publish the status, retained."""
        status = self.status()
        write_status(self.out, status, self.scenario)
        self.connector.publish(twin_topic(self.plant, "status"),
                               json.dumps(status).encode(), retain=True)

    def close(self) -> None:
        """Stop once: stop forecasting, close the record, write the last status and disconnect."""
        if self.stopped:
            return
        self.stopped = True
        if self.forecaster is not None:
            self.forecaster.close()
        if self.scheduler is not None:
            self.scheduler.close()
        try:
            if self.record is not None:
                self.record.close()
            self.write_status()
        finally:
            self.connector.close()
