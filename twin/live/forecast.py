"""Look-aheads from the mirrored state: ``replications`` replications of ``horizon`` plant time,
each started from the state (``twin.study.runner.run(..., state=...)``), with the KPIs per time
bucket. They run in a worker process, so ingesting never waits for one; one runs at a time and
the twin asks for the next when it is due and the last is done."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import Future, ProcessPoolExecutor
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


def _warm() -> None:
    import twin.study.runner  # noqa: F401


class Forecaster:
    """Forecasts in one worker process (started at once, so the first is not slow)."""

    def __init__(self, scenario: Scenario, horizon: float, replications: int,
                 buckets: float) -> None:
        self.scenario = scenario
        self.horizon = horizon
        self.replications = replications
        self.buckets = buckets
        self.pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("forkserver"),
            initializer=_worker_init)
        self.future: Future[dict[str, Any]] | None = None
        self.submitted = 0.0
        self.pool.submit(_warm)  # the worker starts and imports the engine meanwhile

    def busy(self) -> bool:
        """Whether a forecast is under way."""
        return self.future is not None

    def submit(self, state: PlantState) -> None:
        """Start a look-ahead from the plant state ``state`` in the worker."""
        self.submitted = time.monotonic()
        self.future = self.pool.submit(look_ahead, self.scenario, state, self.horizon,
                                       self.replications, self.buckets)

    def poll(self) -> dict[str, Any] | None:
        """The forecast just finished, if one did (its error raised)."""
        future = self.future
        if future is None or not future.done():
            return None
        self.future = None
        result = future.result()
        result["latency_s"] = time.monotonic() - self.submitted
        return result

    def close(self) -> None:
        """Stop the worker, cancelling a forecast under way."""
        self.pool.shutdown(wait=False, cancel_futures=True)
