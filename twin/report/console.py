"""What the commands print, for a notebook as for the terminal: the tables of a run's summary,
a comparison, a sweep and an optimisation (``summary_tables`` and friends return rich tables;
``print_*`` print them), progress on a terminal or in a log, and the console the commands write
to. rich is imported where it is used: ``twin validate`` prints one plain line."""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.kpis import COMPACT, headline_kpis, kpi_units

if TYPE_CHECKING:
    from rich.console import Console as RichConsole
    from rich.table import Table as RichTable

    from twin.study.results import Comparison, Stat, Summary, Sweep


def Console(*args: Any, **kwargs: Any) -> RichConsole:  # noqa: N802 - rich's class, made late
    """A ``rich.console.Console`` made with these arguments (rich imported only now)."""
    from rich.console import Console as RichConsole

    return RichConsole(*args, **kwargs)


def Table(*args: Any, **kwargs: Any) -> RichTable:  # noqa: N802 - rich's class, made late
    """A ``rich.table.Table`` made with these arguments (rich imported only now)."""
    from rich.table import Table as RichTable

    return RichTable(*args, **kwargs)


_PLAIN = re.compile(r"[ -~]*")
"""Printable ASCII: rich prints such a line as it is, unless it holds markup or an emoji code."""


class Stdout:
    """The commands' console on stdout, made when first used (wide enough that tables do not
    wrap when stdout is a log or a pipe). ``line`` prints a line of plain text without it."""

    def __init__(self) -> None:
        self._console: RichConsole | None = None

    def _get(self) -> RichConsole:
        if self._console is None:
            console = Console()
            if not console.is_terminal:  # a log or a pipe: wide enough that tables do not wrap
                console = Console(width=150)
            self._console = console
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def line(self, text: str) -> None:
        """``print(text, highlight=False, soft_wrap=True)``: plain text, as rich would print
        it, is written as it is; anything rich might read as markup or emoji goes to rich."""
        if self._console is None and _PLAIN.fullmatch(text) and "[" not in text \
                and not re.search(r":\S*:", text):
            sys.stdout.write(text + "\n")
            return
        self._get().print(text, highlight=False, soft_wrap=True)


def table_kpis(kpis: dict[str, Stat], rank_by: str, chosen: list[str] | None) -> list[str]:
    """The KPI columns of a compare or sweep table: those asked for, else the headline ones
    (fewer for a supply chain, whose KPIs are many), with the ranking KPI always."""
    if chosen:
        shown = [k for k in chosen if k in kpis]
    else:
        shown = headline_kpis({k: {"mean": stat.mean} for k, stat in kpis.items()})
        if "fill_rate" in kpis:
            shown = [k for k in COMPACT if k in shown]
    return shown if rank_by in shown else [rank_by, *shown]


def _factor_label(path: str) -> str:
    return path.removeprefix("plant.nodes.")


PROGRESS_EVERY = float(os.environ.get("TWIN_PROGRESS_EVERY", "10"))
"""Seconds between progress lines when stderr is not a terminal."""


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _ProgressLines:
    """Progress for a log or a pipe: a line on stderr every ``every`` seconds (done/total,
    elapsed, time left), from a background thread, so it comes even while one long task runs,
    and a last line when the work is done, so a log always says how far it got."""

    def __init__(self, label: str, total: int, every: float) -> None:
        self.label, self.total, self.every = label, total, every
        self.done = 0
        self.start_done: int | None = None
        self.started = time.monotonic()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def update(self, done: int, total: int) -> None:
        if self.start_done is None:
            self.start_done = done  # replications found saved are not counted for the rate
            self.started = time.monotonic()
        self.done, self.total = done, total

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        new = self.done - (self.start_done or 0)
        left = ""
        if new > 0 and self.done < self.total:
            left = f", about {_clock(elapsed / new * (self.total - self.done))} left"
        return (f"{self.label}: {self.done}/{self.total} done, {_clock(elapsed)} elapsed"
                f"{left}")

    def _loop(self) -> None:
        while not self.stop.wait(self.every):
            print(self.line(), file=sys.stderr, flush=True)

    def __enter__(self) -> _ProgressLines:
        self.thread.start()
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        if kind is None:  # a failure says why itself
            print(self.line(), file=sys.stderr, flush=True)


@contextlib.contextmanager
def progress(label: str, total: int) -> Iterator[Callable[[int, int], None]]:
    """An update(done, total) callback: a bar with the time left on a terminal, else a line on
    stderr every ``PROGRESS_EVERY`` seconds."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    err = Console(stderr=True)
    if not err.is_terminal:
        with _ProgressLines(label, total, PROGRESS_EVERY) as lines:
            yield lines.update
        return
    bar = Progress("[progress.description]{task.description}", BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(), "left", TimeRemainingColumn(),
                   console=err, transient=True)
    task = bar.add_task(label, total=total)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)


def print_paths(console: RichConsole, out: Path, report: Path | None) -> None:
    """Print the results folder and the report's path."""
    console.print(f"results: {out}", highlight=False, soft_wrap=True)
    if report is not None:
        console.print(f"report: {report}", highlight=False, soft_wrap=True)


def print_compare(console: RichConsole, doc: dict[str, Any] | Comparison,
                  chosen: list[str] | None = None) -> None:
    """Print a comparison (compare.json, or its ``Comparison``): each policy's KPIs, the paired
    differences against the baseline, and the ranking."""
    from twin.study.results import Comparison

    c = Comparison.model_validate(doc)
    unit = c.time_unit
    table = Table(title=f"{c.scenario}: {count(len(c.policies), 'policy', 'policies')}, "
                        f"{c.replications} replications on common random numbers "
                        "(mean ± 95% half-width)")
    kpis = table_kpis(c.policies[c.baseline].kpis, c.rank_by, chosen)
    table.add_column("policy", no_wrap=True)
    for kpi in kpis:
        table.add_column(kpi, justify="right")
    clipped = False
    for name, policy in c.policies.items():
        cells = [_pm(policy.kpis[k], signed=False) for k in kpis]
        clipped = clipped or any("/-" in c for c in cells)
        table.add_row(name, *cells)
    if clipped:
        table.caption = "mean +up/-down: the 95% interval clipped to the KPI's range"
    console.print(table)
    diffs = Table(title=f"paired differences against {c.baseline}: mean ± 95% half-width "
                        "(* the interval excludes 0)")
    diffs.add_column("policy", no_wrap=True)
    for kpi in kpis:
        diffs.add_column(kpi, justify="right")
    for name, policy in c.policies.items():
        if name != c.baseline:
            diffs.add_row(name, *(_pm(policy.differences[k]) for k in kpis))
    console.print(diffs)
    ranking = Table(title=f"ranking by {c.rank_by} ({c.better} is better; "
                          f"time unit {unit})")
    ranking.add_column("rank")
    ranking.add_column("policy")
    ranking.add_column("mean", justify="right")
    ranking.add_column("not distinguishable from")
    for entry in c.ranking:
        verdict = ", ".join(entry.not_distinguishable_from)
        ranking.add_row(str(entry.rank), entry.name,
                        _number(entry.mean, _digits(entry.mean)), verdict)
    console.print(ranking)
    console.print("rank: 1 + the policies significantly better (paired 95% interval), never "
                  "above a policy with a worse mean", highlight=False, soft_wrap=True)


def print_sweep(console: RichConsole, doc: dict[str, Any] | Sweep,
                chosen: list[str] | None = None) -> None:
    """Print a sweep (sweep.json, or its ``Sweep``): each point's KPIs, the best point and those
    not distinguishable from it."""
    from twin.study.results import Sweep

    sw = Sweep.model_validate(doc)
    factors = [f.param for f in sw.factors]
    table = Table(title=f"{sw.scenario}: sweep, {sw.replications} replications per point")
    kpis = table_kpis(sw.points[0].kpis, sw.rank_by, chosen)
    for f in factors:
        table.add_column(_factor_label(f), no_wrap=True)
    for kpi in kpis:
        table.add_column(kpi, justify="right")
    for point in sw.points:
        mark = "*" if point.run == sw.best.run else ""
        table.add_row(*(f"{point.params[f]}{mark if i == 0 else ''}"
                        for i, f in enumerate(factors)),
                      *(_number(point.kpis[k].mean, _digits(point.kpis[k].mean))
                        for k in kpis))
    console.print(table)
    best = sw.best
    stat = best.stat
    params = ", ".join(f"{k}={v}" for k, v in best.params.items())
    console.print(f"best by {sw.rank_by} ({sw.better} is better): {params}: "
                  f"{_fmt(stat)[0]} (95% CI {_fmt(stat)[1]})", highlight=False, soft_wrap=True)
    if best.not_distinguishable_from:
        labels = {p.run: ", ".join(f"{k}={v}" for k, v in p.params.items())
                  for p in sw.points}
        tied = "; ".join(labels[run] for run in best.not_distinguishable_from)
        console.print(f"not distinguishable from it: {tied}", highlight=False, soft_wrap=True)


def _mean_ci(stat: Stat | Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """A statistic's mean and 95% interval: a ``Stat``'s fields, or a bare mean and interval's
    keys (``{"mean": ..., "ci95": [low, high]}``)."""
    if isinstance(stat, Mapping):
        return stat["mean"], *stat["ci95"]
    return stat.mean, *stat.ci95


def _pm(stat: Stat | Mapping[str, Any], signed: bool = True) -> str:
    """``mean ± half-width`` of the 95% interval; with ``signed`` (a difference), the sign is
    shown and the value marked when the interval excludes 0."""
    mean, low, high = _mean_ci(stat)
    if mean is None or low is None:
        return _number(mean, 3)
    half = (high - low) / 2
    if half <= 1e-12 * max(1.0, abs(mean)):  # no spread but rounding in the sums
        low = high = mean
        half = 0.0
    digits = max(0, 1 - math.floor(math.log10(half))) if half > 0 else 3
    if not signed and half == 0:
        return f"{mean:.{digits}f} ± {half:.{digits}f}"
    if not signed:
        up, down = high - mean, mean - low
        if abs(up - down) > 1e-9 * max(abs(up), abs(down)):  # clipped to the KPI's range
            digits = max(0, 1 - math.floor(math.log10(max(up, down))))
            return f"{mean:.{digits}f} +{up:.{digits}f}/-{down:.{digits}f}"
        return f"{mean:.{digits}f} ± {half:.{digits}f}"
    star = "*" if low > 0 or high < 0 else ""
    return f"{mean:+.{digits}f} ± {half:.{digits}f}{star}"


def _number(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    if value != 0 and abs(value) < 10 ** -digits:
        return f"{value:.1e}"
    return f"{value:,.{digits}f}"


def _digits(mean: float | None) -> int:
    if mean is None or mean == 0:
        return 3
    magnitude = math.floor(math.log10(abs(mean)))
    return max(0, 3 - magnitude)


def _fmt(stat: Stat | Mapping[str, Any]) -> tuple[str, str]:
    mean, low, high = _mean_ci(stat)
    digits = _digits(mean)
    ci = f"{_number(low, digits)} .. {_number(high, digits)}" if low is not None else ""
    return _number(mean, digits), ci


MACHINE_COLUMNS = {"utilization": "util", "availability": "avail", "blocked": "blocked",
                   "starved": "starved", "failures": "failures", "preventive": "PMs"}


OPTIONAL_MACHINE_COLUMNS = {"setup": "setup", "waiting_operator": "op wait", "off": "off"}


def summary_tables(summary: Summary | dict[str, Any]) -> list[RichTable]:
    """The tables of a run's summary: the headline KPIs with their 95% intervals, then the
    supply chain, the machines and the operator pools (those the plant has)."""
    from twin.study.results import Summary

    s = summary if isinstance(summary, Summary) else Summary.model_validate(summary)
    n, unit = s.replications, s.time_unit
    table = Table(title=f"{s.scenario}: {n} replication{'s' if n > 1 else ''}, "
                        f"{s.warmup:g} to {s.horizon:g} {unit}")
    table.add_column("KPI")
    table.add_column("mean", justify="right")
    table.add_column("95% CI", justify="right")
    units = kpi_units(unit)
    means = {k: {"mean": stat.mean} for k, stat in s.kpis.items()}
    for name in headline_kpis(means):
        stat = s.kpis[name]
        label = f"{name} ({units[name]})" if units.get(name) else name
        table.add_row(label, *_fmt(stat))
    tables = [table, *supply_tables(s), *node_tables(s), *fleet_tables(s)]
    if not s.machines:
        return tables
    machines = Table(title="machines: fractions of time, counts per replication (means)")
    machines.add_column("machine")
    columns = dict(MACHINE_COLUMNS)
    for column, header in OPTIONAL_MACHINE_COLUMNS.items():  # where some machine has any
        if any(column in stats and stats[column].mean for stats in s.machines.values()):
            columns[column] = header
    for header in columns.values():
        machines.add_column(header, justify="right")
    for name, stats in s.machines.items():
        machines.add_row(name, *(_number(stats[c].mean, 1 if c in ("failures", "preventive")
                                         else 3) for c in columns))
    tables.append(machines)
    if s.operators:
        pools = Table(title="operators (means over replications)")
        for header in ("pool", "utilization", "tasks", "each operator"):
            pools.add_column(header, justify="right" if header != "pool" else "left")
        for name, stats in s.operators.items():
            each = [stats[k].mean for k in stats if k.startswith("operator_")]
            pools.add_row(name, _number(stats["utilization"].mean, 3),
                          _number(stats["tasks"].mean, 1), " ".join(_number(u, 3) for u in each))
        tables.append(pools)
    return tables


def print_summary(console: RichConsole, summary: Summary | dict[str, Any]) -> None:
    """Print a run's summary (``summary_tables``)."""
    for table in summary_tables(summary):
        console.print(table)


SUPPLY_COLUMNS = {
    "warehouses": {"inventory": "inventory", "backorders": "backorders",
                   "fill_rate": "fill rate", "stockouts": "stock-outs",
                   "stockout_time": "out of stock", "orders": "orders"},
    "customers": {"demand": "demand/{unit}", "fill_rate": "fill rate",
                  "backorders": "backorders", "lost": "lost/{unit}",
                  "order_lead_time": "lead time ({unit})", "on_time": "on time"}}
"""The columns of the supply chain's tables, by section: field and header."""


def supply_tables(summary: Summary) -> list[RichTable]:
    """The warehouses' and customers' statistics of a run's summary (none without them)."""
    tables = []
    for section, fields in SUPPLY_COLUMNS.items():
        nodes = getattr(summary, section)
        if not nodes:
            continue
        table = Table(title=f"{section} (means over replications)")
        table.add_column(section[:-1])
        for header in fields.values():
            table.add_column(header.format(unit=summary.time_unit), justify="right")
        for name, stats in nodes.items():
            means = [stats[f]["mean"] if isinstance(stats[f], dict) else stats[f].mean
                     for f in fields]
            table.add_row(name, *(_number(m, _digits(m)) for m in means))
        tables.append(table)
    return tables


def node_tables(summary: Summary) -> list[RichTable]:
    """The statistics of the plug-in kinds' nodes (conveyors, say), one row per node with the
    means over replications: one table per set of statistics (none without such nodes)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, stats in (summary.nodes or {}).items():
        groups.setdefault(tuple(stats), []).append(name)
    tables = []
    for fields, names in groups.items():
        table = Table(title="nodes (means over replications)")
        table.add_column("node")
        for field in fields:
            table.add_column(field.replace("_", " "), justify="right")
        for name in names:
            means = [summary.nodes[name][f].mean for f in fields]  # type: ignore[index]
            table.add_row(name, *(_number(m, _digits(m)) for m in means))
        tables.append(table)
    return tables


FLEET_COLUMNS = {"vehicles": "vehicles", "carried": "carried", "utilization": "utilization",
                 "loaded": "loaded", "empty": "empty", "handling": "handling",
                 "blocked": "blocked", "idle": "idle", "charging": "charging", "down": "down",
                 "wait": "wait ({unit})", "waiting": "waiting"}
"""The columns of the fleets' table: field and header."""


def fleet_tables(summary: Summary) -> list[RichTable]:
    """The fleets of vehicles, one row each with the means over replications (none without
    vehicles): how many, parts carried, the shares of vehicle time, the wait for a vehicle and
    the calls waiting."""
    if not summary.fleets:
        return []
    table = Table(title="fleets (means over replications; shares of vehicle time)")
    table.add_column("fleet")
    for header in FLEET_COLUMNS.values():
        table.add_column(header.format(unit=summary.time_unit), justify="right")
    for name, stats in summary.fleets.items():
        means = [stats[f].mean for f in FLEET_COLUMNS]
        table.add_row(name, *(_number(m, _digits(m)) for m in means))
    return [table]


def print_warnings(summary: dict[str, Any]) -> None:
    """Print the summary's warnings on stderr."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for warning in summary.get("warnings", []):
        err.print(f"warning: {warning}", style="yellow", markup=False)


def print_run_time(scenario: Any, runs: int, workers: int | None) -> None:
    """After a short pilot, the study's expected run time on stderr when it exceeds a minute
    (``twin.study.estimate``)."""
    from twin.study.estimate import run_time_note

    note = run_time_note(scenario, runs, workers)
    if note:
        Console(stderr=True, highlight=False, soft_wrap=True).print(note, markup=False)


def print_optimize(console: RichConsole, doc: dict[str, Any]) -> None:
    """Print an optimization's candidates, its notes, and the point selected with its guarantee."""
    selection = doc["selection"]
    kpi = doc["objective"]
    table = Table(title=f"{doc['scenario']}: {doc['direction']} {kpi}, selection of the best "
                        f"{len(selection['candidates'])} feasible points "
                        f"({doc['replications']} replications per trial)")
    for name in ("point", "replications", kpi, "95% CI", "eliminated", "constraints"):
        table.add_column(name, justify="left" if name in ("point", "constraints") else "right")
    for c in selection["candidates"]:
        low, high = c["objective"]["ci95"]
        mark = " *" if c["selected"] else ""
        table.add_row(
            ", ".join(f"{_factor_label(k)}={v:.4g}" if isinstance(v, float) else
                      f"{_factor_label(k)}={v}" for k, v in c["params"].items()) + mark,
            str(c["replications"]), _number(c["objective"]["mean"], 4),
            "-" if low is None else f"{_number(low, 4)} .. {_number(high, 4)}",
            "" if c["eliminated_at"] is None else f"at {c['eliminated_at']}",
            "; ".join(f"{j['constraint']} {j['satisfied']}" for j in c["constraints"]))
    console.print(table)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for note in doc.get("notes", []) + selection.get("notes", []):
        err.print(f"note: {note}", markup=False)
    chosen = selection["selected"]
    if chosen is None:
        console.print("no trial satisfies the constraints: nothing selected", highlight=False)
        return
    params = ", ".join(f"{k}={v}" for k, v in chosen["params"].items())
    claim = (f"with probability >= {selection['pcs']:g} within {selection['delta']:.4g} of the "
             "best candidate" if selection["guaranteed"] else
             "the best mean at the replication cap (no probability stated)")
    console.print(f"selected: {params}: {kpi} {_number(chosen['objective']['mean'], 4)} "
                  f"({chosen['replications']} replications; {claim})",
                  highlight=False, soft_wrap=True)


def print_line(console: Any, text: str) -> None:
    """Print one line of plain text (on the commands' own console without loading rich)."""
    if isinstance(console, Stdout):
        console.line(text)
    else:
        console.print(text, highlight=False, soft_wrap=True)


def validate_line(path: Path, scenario: Any) -> str:
    """``twin validate``'s line: the scenario's name, its nodes by kind, edges and policies
    (counted off the checked scenario, which has no duplicate edge, without building the
    graph)."""
    kinds: dict[str, int] = {}
    for node in scenario.plant.nodes.values():
        kinds[node.kind] = kinds.get(node.kind, 0) + 1
    parts = ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in sorted(kinds.items()))
    return (f"{path}: ok: scenario {scenario.name!r}, {parts}, "
            f"{count(len(scenario.plant.edges), 'edge')}, "
            f"{count(len(scenario.policies), 'policy', 'policies')}")


def count(n: int, one: str, many: str | None = None) -> str:
    """``1 policy``, ``2 policies``."""
    return f"{n} {one if n == 1 else many or one + 's'}"


def metrics_table(trained: Any, predictor: str) -> RichTable:
    """A trained model's metrics on held-out lives."""
    task = trained.metadata['task']
    table = Table(title=f"{predictor} ({task}) on held-out "
                        f"{'images' if task == 'inspect' else 'lives'}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in trained.metrics.items():
        table.add_row(key, "-" if value is None else f"{value:,.4g}")
    return table


def print_trained(console: RichConsole, trained: Any, predictor: str, model: Path) -> None:
    """Print ``twin train``'s result: the metrics, the notes, and where the model is."""
    console.print(metrics_table(trained, predictor))
    for note in trained.notes:
        console.print(note, highlight=False, soft_wrap=True)
    console.print(f"model: {model}", highlight=False, soft_wrap=True)


def stage_printer() -> Callable[[str], None]:
    """A callback printing each stage of a long job on stderr, with the torch models' epoch
    lines (the ``twin.train`` logger) passed on to it."""
    import logging

    err = Console(stderr=True, highlight=False, soft_wrap=True)

    def stage(text: str) -> None:
        err.print(text, markup=False)

    class Epochs(logging.Handler):
        """Passes each epoch's log line on to ``stage``."""

        def emit(self, record: logging.LogRecord) -> None:
            """Print the record's message as a stage line."""
            stage(record.getMessage())

    epochs = logging.getLogger("twin.train")
    epochs.setLevel(logging.INFO)
    if not any(type(h).__name__ == "Epochs" for h in epochs.handlers):
        epochs.addHandler(Epochs())
    return stage
