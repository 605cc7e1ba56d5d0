"""``twin live``: subscribe to a plant's topics, keep the mirror of its state, forecast from it
every so often in a worker process, score the scenario's predictive model on the live sensor
windows (``twin.live.alarms``), and keep ``status.json`` and the report page; with ``record``,
write what it receives to Parquet (``twin.live.record``).

The loop drains the connector's queue in batches and never waits for a forecast: it submits
one when it is due and the last has finished, and publishes each when it comes back. Each
message is acknowledged to the broker once processed (and, with ``record``, written through to
the record's staged parts), so a twin that dies before gets it again. A message that is
malformed or unknown is counted, logged with its topic (the first few of each kind per 10 s,
then how many more: ``twin.live.health``), and dropped; one the schema passes that the twin
still cannot take, and a forecast that fails, are counted and shown too: neither stops the twin.
The status says how far behind the twin is (``newest``: the plant time and the wall time of the
newest message, ``lag_s``, ``backlog``), whether it is connected (and why not, within seconds),
and until when it holds (``expires``: a twin that died says nothing more, and its page then
says so; on MQTT its will marks the retained status not connected). An interrupt (Ctrl-C,
SIGTERM) ends the loop after the batch in hand; the forecast worker is ended at once and the
status written a last time (``stopped``), each write atomic."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.live.alarms import PredictiveAlarms
from twin.live.connector import TLS, Connector, Received
from twin.live.emulator import unit_seconds
from twin.live.forecast import Forecaster, ForecastFailed
from twin.live.health import ConnectionWatch, LogLimiter
from twin.live.mirror import Mirror
from twin.live.record import Record
from twin.live.schedules import LiveScheduler
from twin.live.schema import (
    ROOT,
    Events,
    Machines,
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
                 schedule_every: float = 300.0, tls: TLS | None = None,
                 forecast_limit: float | None = None, connector: Any = None) -> None:
        self.scenario = scenario
        self.plant = scenario.name
        self.out = Path(out)
        self.mirror = Mirror(scenario, tolerance)
        will = {"v": 1, "plant": self.plant, "connected": False, "stopped": True,
                "why": "the twin vanished without a goodbye (killed, or its network lost)"}
        # first: a broker URL or TLS file that is wrong starts nothing
        self.connector = connector if connector is not None else Connector(
            broker, client_id or f"twin-live-{self.plant}", (f"{ROOT}/{self.plant}/plant/#",),
            tls=tls, manual_ack=True,
            will=(twin_topic(self.plant, "status"), json.dumps(will).encode()))
        """The MQTT ``Connector``, or another with its calls (``twin.live.opcua_client``)."""
        self.watch_connection = ConnectionWatch(self.connector, log)
        self.forecast_every = forecast_every
        self.status_every = status_every
        self.horizon = horizon if horizon is not None else 8 * 3600 / unit_seconds(
            scenario.time_unit)
        self.buckets = buckets if buckets is not None else self.horizon / 8
        self.forecaster = (Forecaster(scenario, self.horizon, replications, self.buckets,
                                      forecast_limit) if forecasts else None)
        self.forecast: dict[str, Any] | None = None
        self.forecasts = 0
        self.forecast_errors = 0
        self.forecast_error: str | None = None
        """The last forecast's error, if it failed."""
        self.rejected = {"malformed": 0, "unknown": 0, "failed": 0}
        self.problems: deque[dict[str, str]] = deque(maxlen=20)
        self.notices: deque[dict[str, str]] = deque(maxlen=20)
        """What the twin has to say that is not a rejected message (a publisher's new
        session, a record kept from a twin killed outright)."""
        self.limiter = LogLimiter(log)
        self.newest: dict[str, Any] | None = None
        """The newest message taken: its plant time (``clock``) and when it arrived."""
        self.lag = 0.0
        """Seconds the last message taken waited before it was processed."""
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
        self.schedule_errors = 0
        if self.record is not None:
            if self.record.recovered():
                self._notice(f"the record kept {self.record.recovered()} rows staged by a "
                             "twin that was stopped outright")
            history = self.record.history(self.mirror.keep)
            if history is not None:
                self.mirror.restore(history.rows, history.states, history.readings)
                self._notice(f"the mirror starts from the record: {len(history.rows)} events "
                             f"and {len(history.states)} machines' states, to plant time "
                             f"{self.mirror.clock:g}")
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
    def _notice(self, what: str) -> None:
        self.notices.append({"at": datetime.now(UTC).isoformat(timespec="seconds"),
                             "what": what})
        log.warning("%s", what)

    def _reject(self, kind: str, topic: str, why: str) -> None:
        self.rejected[kind] += 1
        self.problems.append({"topic": topic[:200], "why": f"{kind}: {why}"[:300]})
        self.limiter.warn(f"{kind} messages", f"{kind} message on {topic[:200]}: {why[:300]}")

    def handle(self, topic: str, payload: bytes) -> None:
        """Handle one message: decode it, mirror it, record it, and check the watched sensors
        and predictive alarms; whatever is wrong with it is counted and said, never raised."""
        try:
            message = decode(topic, payload, self.plant, self.mirror.nodes,
                             self.mirror.sensor_names)
        except (Malformed, Unknown) as exc:
            self._reject("malformed" if isinstance(exc, Malformed) else "unknown", topic,
                         str(exc))
            return
        try:
            self._take(topic, message)
        except Exception as exc:  # noqa: BLE001 - one message never stops the twin
            self._reject("failed", topic, f"{type(exc).__name__}: {exc}")

    def _take(self, topic: str, message: Events | Machines | Readings) -> None:
        stream = topic.rsplit("/plant/", 1)[1]
        restarts = self.mirror.counts["restarts"]
        fresh = self.mirror.take(stream, message)
        for notice in self.mirror.notices:
            self._notice(notice)
        self.mirror.notices.clear()
        if self.mirror.counts["restarts"] != restarts:  # the plant started again
            self.predictive = PredictiveAlarms.of(self.scenario)
            self.armed.clear()
        if not fresh:
            return
        if self.newest is None or message.clock >= self.newest["clock"]:
            self.newest = {"clock": message.clock,
                           "at": datetime.now(UTC).isoformat(timespec="milliseconds")}
        if self.record is not None:
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
        if self.predictive is not None:
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
        """Drain one batch of messages and acknowledge them once taken (and recorded), then
        forecast and write the status when due."""
        batch = self.connector.receive(timeout=timeout)
        for received in batch:
            self.handle(received[0], received[1])
        if batch:
            if self.record is not None:
                self.record.sync()
            last = batch[-1]
            self.lag = time.monotonic() - last.arrived if isinstance(last, Received) else 0.0
            for received in batch:
                if isinstance(received, Received):
                    self.connector.ack(received.mid)
        now = time.monotonic()
        self.watch_connection.check(now)
        self.limiter.flush(now)
        if self.forecaster is not None:
            self._forecast(now)
        if self.scheduler is not None:
            self._reschedule(now)
        if now >= self.next_status:
            self.next_status = now + self.status_every
            self.write_status()
        return len(batch)

    def _forecast(self, now: float) -> None:
        """Publish the forecast that came back; submit the next when due. A forecast that
        fails is counted and said, and the next is submitted when due as usual."""
        assert self.forecaster is not None
        try:
            done = self.forecaster.poll()
            if done is not None:
                payload = encode(done)
                self.forecast = done
                self.forecasts += 1
                self.forecast_error = None
                self.connector.publish(twin_topic(self.plant, "forecast"), payload)
            if now >= self.next_forecast and not self.forecaster.busy() \
                    and self.mirror.machines:
                self.next_forecast = now + self.forecast_every
                self.forecaster.submit(self.mirror.state())
        except Exception as exc:  # noqa: BLE001 - a forecast is never fatal
            self.forecast_errors += 1
            self.forecast_error = (str(exc) if isinstance(exc, ForecastFailed)
                                   else f"{type(exc).__name__}: {exc}")[:300]
            self.limiter.warn("forecast errors", f"forecast failed: {self.forecast_error}")

    def _reschedule(self, now: float) -> None:
        """Publish a re-plan that came back; submit the next when due."""
        assert self.scheduler is not None
        try:
            done = self.scheduler.poll()
            if done is not None:
                payload = encode(done)
                self.schedule = done
                self.connector.publish(twin_topic(self.plant, "schedule"), payload)
            if now >= self.next_schedule and not self.scheduler.busy() \
                    and self.mirror.machines:
                self.next_schedule = now + self.schedule_every
                self.scheduler.submit(self.mirror)
        except Exception as exc:  # noqa: BLE001 - a re-plan is never fatal
            self.schedule_errors += 1
            self.limiter.warn("re-plan errors", f"re-plan failed: {type(exc).__name__}: "
                                                f"{str(exc)[:200]}")

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
                  "forecast_errors": self.forecast_errors,
                  **({"schedule_errors": self.schedule_errors} if self.scheduler else {}),
                  "connects": self.connector.connects,
                  "disconnects": self.connector.disconnects,
                  "connect_failures": getattr(self.connector, "failures", 0),
                  **getattr(self.connector, "counts", {})}
        now = datetime.now(UTC)
        connected = self.connector.connected.is_set() and not self.stopped
        return {"v": 1, "plant": self.plant, "time_unit": self.scenario.time_unit,
                "clock": self.mirror.clock,
                "updated": now.isoformat(timespec="seconds"),
                "expires": (now + timedelta(seconds=max(10.0, 5 * self.status_every))
                            ).isoformat(timespec="seconds"),
                "broker": self.connector.url,
                "connected": connected, "stopped": self.stopped,
                **({} if connected or self.stopped
                   else {"connection": self.watch_connection.why or "connecting"}),
                "newest": self.newest, "lag_s": round(self.lag, 3),
                "backlog": self.connector.backlog(),
                "counts": counts, "problems": list(self.problems),
                "notices": list(self.notices),
                **({"forecast_error": self.forecast_error} if self.forecast_error else {}),
                "state": self.mirror.state().model_dump(mode="json", exclude_none=True),
                "forecast": self.forecast, "alarms": list(self.alarms),
                **({"predictive": self.predictive.status()} if self.predictive else {}),
                **({"recorded": self.record.status()} if self.record else {})}

    def write_status(self) -> None:
        """Write the status files and publish the status, retained; a status that cannot be
        written is said (rate-limited), not raised."""
        try:
            status = self.status()
            write_status(self.out, status, self.scenario)
            self.connector.publish(twin_topic(self.plant, "status"),
                                   json.dumps(status, allow_nan=False).encode(), retain=True)
        except (ValueError, TypeError, OSError) as exc:
            self.limiter.warn("status errors", f"status not written: {type(exc).__name__}: "
                                               f"{str(exc)[:200]}")

    def close(self) -> None:
        """Stop once: the forecast worker at once, the record's parts written, the last status,
        and disconnect."""
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
            self.limiter.flush(force=True)
            self.write_status()
        finally:
            self.connector.close()
