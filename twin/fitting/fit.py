"""``fit_log``: from an event log to a scenario, its fits and a report.

The library call behind ``twin fit``; a notebook calls it the same way::

    from twin.fitting import fit_log
    result = fit_log("results/line/latest/events.parquet", out="line-fitted.yaml")
    result.fits["M1"].lives.params, result.fits["M1"].lives.intervals
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin.fitting.graph import PlantGraph, plant_graph
from twin.fitting.laws import Candidate, Fit, fit_durations
from twin.fitting.log import EventLog, read_log
from twin.fitting.observe import Durations, Observations, observe
from twin.fitting.survival import fit_survival, naive_fit
from twin.fitting.transport import TransportFit, observe_transport

TOLERANCE = 1e-9


@dataclass
class MachineFits:
    """The fits of one machine: process times (pooled and per product), times to failure (with the
    naive fit that drops censored lives, for comparison), repairs and setups."""

    process: Fit | None
    by_product: dict[str, Fit] = field(default_factory=dict)
    lives: Fit | None = None
    naive_lives: Candidate | None = None
    lives_data: Durations = field(default_factory=Durations.empty)
    repairs: Fit | None = None
    setup: Fit | None = None
    setup_batch: int | None = None


@dataclass
class Crew:
    """The maintenance crew inferred from the log: its size, response time, and how it was found."""

    size: int | None
    """Technicians: the most repairs seen at once when a failure had to wait for one; None
    (unlimited) when no failure ever waited for a technician."""
    response: Fit | None
    """Time from a failure to its repair when a technician was free (travel, diagnosis)."""
    note: str


@dataclass
class FitResult:
    """Everything ``fit_log`` found: the log, the observations, the plant graph, every machine's
    fits, the sources' interarrivals, the preventive maintenance, the crew, and the scenario and
    report written."""

    log: EventLog
    obs: Observations
    graph: PlantGraph
    fits: dict[str, MachineFits]
    arrivals: dict[str, Fit]
    pm_every: float | None
    pm_ages: np.ndarray
    pm_duration: Fit | None
    crew: Crew
    transport: TransportFit | None = None
    """The vehicles that carried parts (``load``, ``travel``, ``unload`` events), if any."""
    scenario: dict[str, Any] = field(default_factory=dict)
    out: Path | None = None
    report: Path | None = None

    @property
    def notes(self) -> list[str]:
        """What the fit could not see or assumed, one sentence each (for the report and the CLI)."""
        out = list(self.graph.notes)
        for name, mf in self.fits.items():
            ld = mf.lives_data
            if mf.lives is None and len(ld):
                out.append(f"machine {name!r}: no failure in {float(ld.values.sum()):.6g} of "
                           "operating time: no failures in the scenario")
        out.append(self.crew.note)
        if self.transport is not None:
            out += self.transport.notes
        return out

    def quantities(self) -> list[tuple[str, Fit]]:
        """Every fitted quantity with its label, in the order of the report."""
        out: list[tuple[str, Fit]] = []
        for name, f in self.arrivals.items():
            out.append((f"{name} interarrival", f))
        for name, mf in self.fits.items():
            for label, fit in (("process time", mf.process), ("time to failure", mf.lives),
                               ("repair time", mf.repairs), ("setup", mf.setup)):
                if fit is not None:
                    out.append((f"{name} {label}", fit))
            for product, fit in mf.by_product.items():
                out.append((f"{name} process time, product {product}", fit))
        if self.pm_duration is not None:
            out.append(("preventive maintenance duration", self.pm_duration))
        if self.crew.response is not None:
            out.append(("technician response time", self.crew.response))
        return out


def _crew(obs: Observations) -> tuple[Crew, list[float]]:
    """The crew, and the durations of the preventive maintenances that started while a
    technician was free (the others include waiting for one, which the crew model adds)."""
    pm_all = [e - s for _, s, e in obs.pm_intervals]
    if not obs.repair_intervals:
        return Crew(1, None, "crew: no repair in the log: 1 technician assumed"), pm_all
    jobs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    repairs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for r in obs.replications:
        rep_iv = [(s, e) for rr, s, e in obs.repair_intervals if rr == r]
        pm_iv = [(s, e) for rr, s, e in obs.pm_intervals if rr == r]
        repairs[r] = (np.sort([s for s, _ in rep_iv]), np.sort([e for _, e in rep_iv]))
        jobs[r] = (np.sort([s for s, _ in rep_iv + pm_iv]),
                   np.sort([e for _, e in rep_iv + pm_iv]))

    def busy(table: dict[int, tuple[np.ndarray, np.ndarray]], r: int, t: float) -> int:
        s, e = table[r]
        return int(np.searchsorted(s, t, "right") - np.searchsorted(e, t, "right"))

    # technicians at work: repairs (their start is when a technician begins)
    most = max(busy(repairs, r, s) for r, (starts, _) in repairs.items() for s in starts)
    bound: list[float] = []
    free: list[float] = []
    for r, fail, start in obs.fail_times:
        # other jobs (repairs, maintenance) under way when the machine failed
        (bound if busy(jobs, r, fail) >= most else free).append(start - fail)
    waited = any(g > TOLERANCE for g in bound)
    response = None
    if free and float(np.median(free)) > TOLERANCE:
        response = fit_durations("technician response time", np.asarray(free))
    if not waited:
        return Crew(None, response, f"crew: no failure waited for a technician (at most "
                                    f"{most} repair{'s' if most != 1 else ''} at once): "
                                    "unlimited"), pm_all
    pm_free = [e - s for r, s, e in obs.pm_intervals if busy(jobs, r, s) - 1 < most]
    jobs_text = f"{most} job{'s were' if most != 1 else ' was'}"
    note = (f"crew: {most} technician{'s' if most != 1 else ''}: failures waited while "
            f"{jobs_text} under way;"
            f" maintenance durations from the {len(pm_free)} of {len(pm_all)} that started "
            "with a technician free")
    return Crew(most, response, note), pm_free or pm_all


def fit_observations(log: EventLog) -> FitResult:
    """Fit every quantity of the plant from an event log: the graph, process times, lives with
    censoring, repairs, setups, interarrivals, preventive maintenance, the crew and the
    vehicles."""
    obs = observe(log)
    graph = plant_graph(obs)
    fits: dict[str, MachineFits] = {}
    for name, ms in obs.machines.items():
        if name not in graph.kinds:
            continue
        mf = MachineFits(fit_durations(f"{name} process time", ms.process)
                         if len(ms.process) else None)
        if len(ms.process_by_product) > 1:
            mf.by_product = {p: f for p, v in sorted(ms.process_by_product.items())
                             if (f := fit_durations(f"{name} process time ({p})", v))}
        mf.lives_data = ms.lives
        if ms.lives.events:
            mf.lives = fit_survival(f"{name} time to failure", ms.lives)
            mf.naive_lives = naive_fit(ms.lives)
        if ms.repairs.events:
            mf.repairs = fit_survival(f"{name} repair time", ms.repairs)
        if ms.setups.events:
            mf.setup = fit_durations(f"{name} setup", ms.setups.values[ms.setups.observed])
            mf.setup_batch = max(1, round(ms.parts_per_setup or 1))
        fits[name] = mf
    arrivals = {}
    for name, kind in graph.kinds.items():
        if kind == "source" and name not in graph.infinite:
            f = fit_durations(f"{name} interarrival", obs.interarrivals[name])
            if f is not None:
                arrivals[name] = f
    ages = np.concatenate([ms.pm_ages for ms in obs.machines.values()]) if obs.machines \
        else np.zeros(0)
    crew, pm_times = _crew(obs)
    pm_duration = fit_durations("preventive maintenance duration", np.asarray(pm_times)) \
        if pm_times else None
    every = float(np.median(ages)) if len(ages) else None
    return FitResult(log, obs, graph, fits, arrivals, every, ages, pm_duration, crew,
                     observe_transport(log))


def fit_log(path: str | Path, out: str | Path | None = None,
            report: str | Path | None = None, name: str | None = None) -> FitResult:
    """Read and check the event log at ``path``, fit the plant, write the scenario to ``out``
    (checked by the scenario loader) and the HTML fit report to ``report`` when given."""
    import re

    from twin.fitting.report import write_fit_report
    from twin.fitting.scenario import scenario_data, write_scenario
    from twin.records.output import check_output_file

    if out is not None:  # before the fit: a mistake in a path costs nothing
        check_output_file(Path(out), "--out")
    if report is not None:
        check_output_file(Path(report), "--report")
    log = read_log(path)
    result = fit_observations(log)
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem)  # a scenario name (see NAME)
    result.scenario = scenario_data(result, name or f"fitted-{stem}"[:100])
    if out is not None:
        result.out = write_scenario(result, Path(out))
    if report is not None:
        result.report = write_fit_report(result, Path(report))
    return result


def interval_text(low: float, high: float) -> str:
    """A 95% interval as text (a dash when a bound is not finite)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "–"
    return f"{low:.4g} … {high:.4g}"
