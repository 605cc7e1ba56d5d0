"""Look-aheads from the mirrored state: ``replications`` replications of ``horizon`` plant time,
each started from the state (``twin.study.runner.run(..., state=...)``), with the KPIs per time
bucket. They run in a worker process, so ingesting never waits for one; one runs at a time and
the twin asks for the next when it is due and the last is done. A look-ahead that fails (an
error, a worker that dies, one that runs too long) is the twin's to count and show: it never
stops the twin."""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from twin.kpis import BUCKET_KPIS, headline_kpis
from twin.study.executors import _worker_init

if TYPE_CHECKING:
    from twin.engine.state import PlantState
    from twin.language.schema import Scenario


def look_ahead(scenario: Scenario, state: PlantState, horizon: float, replications: int,
               buckets: float) -> dict[str, Any]:
    """One forecast: the KPIs (mean and 95% interval over replications) of the next
    ``horizon`` from ``state``, and those of each bucket of width ``buckets``
    (``twin.kpis.BUCKET_KPIS``)."""
    from twin.study.runner import run

    started = time.perf_counter()
    ahead = scenario.model_copy(update={"horizon": horizon, "warmup": 0.0,
                                        "replications": replications})
    result = run(ahead, workers=1, state=state, buckets=buckets)
    summary = result.summary
    kpis = {name: {"mean": stat["mean"], "ci95": stat["ci95"]}
            for name, stat in summary["kpis"].items()
            if name in headline_kpis(summary["kpis"]) or name in ("unplanned_downtime", "lateness",
                                                           "tardiness")}
    out: dict[str, Any] = {"time": state.time, "horizon": horizon,
                           "replications": replications, "kpis": kpis}
    if "buckets" in summary:
        b = summary["buckets"]
        out["buckets"] = {"width": b["width"], "end": [state.time + e for e in b["end"]],
                          **{name: [{"mean": s["mean"], "ci95": s["ci95"]} for s in b[name]]
                             for name in BUCKET_KPIS if name in b}}
    out["elapsed_s"] = time.perf_counter() - started
    return out


class ForecastFailed(Exception):
    """A look-ahead that raised, or whose worker died or overran: the twin counts it and goes
    on."""


def _serve(conn: Connection, scenario: Scenario, horizon: float, replications: int,
           buckets: float) -> None:
    """The worker: one look-ahead per state received, its result or its error sent back."""
    _worker_init()
    import twin.study.runner  # noqa: F401 - the first forecast is not slowed by the imports

    while True:
        try:
            state = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, Any] = ("ok", look_ahead(scenario, state, horizon, replications,
                                                       buckets))
        except Exception as exc:  # noqa: BLE001 - any error of a look-ahead is reported
            reply = ("error", f"{type(exc).__name__}: {str(exc)[:300]}")
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return


class Forecaster:
    """Forecasts in one worker process of its own (started at once, so the first is not slow).

    The worker is spawned (a fresh interpreter: no fork of the twin's threads), watches its
    parent and exits when the twin dies, however it dies; ``close`` ends it at once, a
    forecast running or not. An error in a look-ahead, a worker that dies and a look-ahead
    running past ``limit`` seconds are raised by ``poll`` as ``ForecastFailed``, and the worker
    is started afresh where needed."""

    def __init__(self, scenario: Scenario, horizon: float, replications: int,
                 buckets: float, limit: float | None = None) -> None:
        self.scenario = scenario
        self.horizon = horizon
        self.replications = replications
        self.buckets = buckets
        self.limit = limit
        self.context = multiprocessing.get_context("spawn")
        self.process: BaseProcess | None = None
        self.conn: Connection | None = None
        self.pending = False
        self.submitted = 0.0
        self._start()

    def _start(self) -> None:
        conn, child = self.context.Pipe()
        process = self.context.Process(
            target=_serve, args=(child, self.scenario, self.horizon, self.replications,
                                 self.buckets), daemon=True, name="twin-forecast")
        process.start()
        child.close()
        self.process, self.conn = process, conn

    def busy(self) -> bool:
        """Whether a forecast is under way."""
        return self.pending

    def submit(self, state: PlantState) -> None:
        """Start a look-ahead from the plant state ``state`` in the worker (a fresh one where
        the last died)."""
        if self.process is None or not self.process.is_alive():
            self._stop()
            self._start()
        assert self.conn is not None
        self.submitted = time.monotonic()
        self.pending = True
        with contextlib.suppress(OSError, ValueError):  # the worker died: ``poll`` says so
            self.conn.send(state)

    def poll(self) -> dict[str, Any] | None:
        """The forecast just finished, if one did; ``ForecastFailed`` where it failed."""
        if not self.pending or self.conn is None:
            return None
        try:
            ready = self.conn.poll()
            reply = self.conn.recv() if ready else None
        except (EOFError, OSError):
            self.pending = False
            code = self.process.exitcode if self.process is not None else None
            self._stop()
            raise ForecastFailed(f"the forecast worker died (exit code {code})") from None
        if reply is None:
            if self.limit is not None and time.monotonic() - self.submitted > self.limit:
                self.pending = False
                self._stop()
                raise ForecastFailed(f"the look-ahead ran past {self.limit:g} s: stopped")
            return None
        self.pending = False
        kind, value = reply
        if kind != "ok":
            raise ForecastFailed(value)
        value["latency_s"] = time.monotonic() - self.submitted
        return dict(value)

    def _stop(self) -> None:
        process, conn = self.process, self.conn
        self.process = self.conn = None
        if conn is not None:
            conn.close()
        if process is not None:
            if process.is_alive():
                process.terminate()
                process.join(1.0)
                if process.is_alive():
                    process.kill()
            process.join(1.0)

    def close(self) -> None:
        """End the worker now (a forecast running is abandoned)."""
        self.pending = False
        self._stop()
