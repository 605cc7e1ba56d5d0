"""The one loop a replication runs by, whoever drives it: ``twin run`` (the ``Recorder``, which
writes readings and events between stretches), the emulator (which publishes between ticks)
and the Gymnasium environment (one decision epoch a step) all advance the SimPy model with
``advance``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import simpy

from twin.engine.events import EventLog, EventSink, StreamedFile
from twin.engine.sensors import ROWS, ReadingsFile, SensorSink, SensorStream

if TYPE_CHECKING:
    from twin.engine.context import BuildContext


def advance(env: simpy.Environment, until: float, *,
            stretch: float | Callable[[], float] | None = None,
            between: Callable[[float], None] | None = None,
            stop: Callable[[], bool] | None = None) -> None:
    """Run the model to simulated time ``until``: in one go, or in stretches of ``stretch``
    (a length, or a function giving the next one), calling ``between(end)`` after each, until
    ``until`` is reached or ``stop()`` says to stop. Cutting the run into stretches adds no
    event to the model: the run is the same."""
    if stretch is None:
        if stop is None or not stop():
            env.run(until=until)
            if between is not None:
                between(until)
        return
    while env.now < until and not (stop is not None and stop()):
        length = stretch() if callable(stretch) else stretch
        end = min(until, env.now + length)
        env.run(until=end)
        if between is not None:
            between(end)


class Recorder:
    """Runs a replication's model to the horizon, writing its sensor readings and its event
    log as it goes, so that its memory does not grow with the horizon.

    The run is cut into stretches of simulated time sized to hold about ``rows`` readings and
    events each (the smaller of the sinks' ``rows``). After each stretch the sensor streams
    catch up to the end of the one before (every state change by then is known), their blocks
    go to the sink's files, and the wear paths of ended lives are let go; the event log, once
    it holds ``rows`` events, is written as a row group. The machines' state timelines stay
    whole (they grow with state changes, not with readings, and the statistics read them at
    the end). Cutting the run does not
    change it: no event is added to the model, and the readings are the same numbers as those
    made all at once at the end. Streams a policy reads during the run (its windows) are
    advanced by the policy alone: what they made is written as the run goes (or, with no sink,
    let go of). Sinks that take whole tables only (``MemorySink``, ``CallbackSink``) are
    served at the end, as before. If the run fails, the files begun are removed.
    ``timeline``: whether the run keeps the timelines for its result."""

    def __init__(self, model: BuildContext, replication: int, sensor_sink: SensorSink | None,
                 event_sink: EventSink | None, *, timeline: bool = False) -> None:
        self.model = model
        self.replication = replication
        self.sensor_sink = sensor_sink
        self.event_sink = event_sink
        self.timeline = timeline
        self.rows = min(getattr(sensor_sink, "rows", ROWS), getattr(event_sink, "rows", ROWS))
        self.files: dict[str, ReadingsFile] = {}
        self.events: StreamedFile | None = None
        self.streamed: dict[str, SensorStream] = {}
        self.read: dict[str, SensorStream] = {}
        self.rate = self.step = self.start = 0.0
        self.logged = 0

    def run(self, until: float) -> None:
        """Run the model to ``until``, then write out what is left and close the files."""
        try:
            self._run(until)
        except BaseException:
            for file in self.files.values():
                file.abort()
            if self.events is not None:
                self.events.abort()
            raise

    def _run(self, until: float) -> None:
        model, env, sink = self.model, self.model.env, self.sensor_sink
        log = model.events
        writes = sink is not None and hasattr(sink, "open")
        self.streamed = {name: s for name, s in model.sensors.items() if not s.keep} if writes \
            else {}
        # read by a policy, which advances them: what they made goes to their files as the run
        # goes, or, written nowhere, is let go of
        self.read = {name: s for name, s in model.sensors.items() if s.keep} \
            if writes or sink is None else {}
        if writes:
            self.files = {name: sink.open(name, list(s.sensors))  # type: ignore[union-attr]
                          for name, s in {**self.streamed, **self.read}.items()}
        if (self.event_sink is not None and hasattr(self.event_sink, "open")
                and type(log) is EventLog):
            self.events = self.event_sink.open()
        self.rate = sum(1.0 / spec.period for s in self.streamed.values()
                        if type(s) is SensorStream
                        for spec in s.sensors.values())  # a replayed record's: counted as taken
        if self.files or self.events is not None or self.read:
            self.step = self.rows / self.rate if self.rate else until / 1024
            self.start = env.now
            self.logged = len(log) if log is not None else 0
            advance(env, until, stretch=lambda: self.step, between=self._flush)
        else:
            advance(env, until)
        for name, stream in model.sensors.items():
            if sink is None:
                continue  # nothing reads the readings still to come
            stream.advance(until)
            if name in self.files:
                self._take(name, stream)
                self.files.pop(name).close()
            elif sink is not None:
                sink.write(name, stream.table())
        if self.event_sink is not None and log is not None:
            if self.events is not None and self.events.rows:
                self.events.write(log.drain(self.replication))
                self.events.close()
            else:  # small: in one piece, as before
                if self.events is not None:
                    self.events.abort()
                self.event_sink.write(log.table(self.replication))
            self.events = None

    def _flush(self, end: float) -> None:
        """After the stretch ending at ``end``: write what the streams made up to the stretch
        before (all is known up to then), and size the next stretch to about ``rows`` rows."""
        log = self.model.events
        taken = 0
        for name, stream in self.streamed.items():
            stream.catch_up(self.start)
            rows = self._take(name, stream)
            taken += 0 if type(stream) is SensorStream else rows
            stream.forget()
        for name, stream in self.read.items():  # what the policy's epochs made
            taken += self._take(name, stream)
            stream.forget()
        made = (len(log) - self.logged if log is not None else 0) \
            + self.rate * (end - self.start) + taken
        if self.events is not None and len(log) >= self.rows:  # type: ignore[arg-type]
            self.events.write(log.drain(self.replication))  # type: ignore[union-attr]
        self.logged = len(log) if log is not None else 0
        self.start = end
        self.step *= min(4.0, max(0.25, self.rows / made)) if made else 4.0

    def _take(self, name: str, stream: SensorStream) -> int:
        """Write what ``stream`` has made since the last call (to its file, where it has
        one; else let it go): the readings' count."""
        blocks, stream.blocks = stream.blocks, []
        stream.dropped += len(blocks)
        file = self.files.get(name)
        for block in blocks if file is not None else ():
            file.add(block)  # type: ignore[union-attr]
        return sum(block.num_rows for block in blocks)
