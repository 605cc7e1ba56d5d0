"""The ``twin`` command: a thin layer over the library API.

Exit status: 0 success; 2 invalid input (scenario file, ``--set``, arguments), reported on stderr
without a traceback; 1 anything else.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin import __version__
from twin.errors import InputError, TwinError
from twin.kpis import COMPACT, KPIS, headline_kpis, kpi_units

if TYPE_CHECKING:
    from rich.console import Console as RichConsole
    from rich.table import Table as RichTable

    from twin.language.schema import Scenario

EXIT_OK, EXIT_FAILURE, EXIT_INPUT = 0, 1, 2


# rich is imported where it is used: `twin validate` prints one plain line, and importing rich
# is a good share of the command's time. So is the scenario language (pydantic, its schemas),
# imported by the commands that read a scenario, not for `twin --help`.


def Console(*args: Any, **kwargs: Any) -> RichConsole:  # noqa: N802 - rich's class, made late
    from rich.console import Console as RichConsole

    return RichConsole(*args, **kwargs)


def Table(*args: Any, **kwargs: Any) -> RichTable:  # noqa: N802 - rich's class, made late
    from rich.table import Table as RichTable

    return RichTable(*args, **kwargs)


_PLAIN = re.compile(r"[ -~]*")
"""Printable ASCII: rich prints such a line as it is, unless it holds markup or an emoji code."""


class _Stdout:
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


class ArgumentError(Exception):
    pass


class Interrupted(Exception):
    pass


OUT: list[Path] = []
"""The output folder of the command running, for the hint when it is interrupted."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # exit 2 through our own handler
        raise ArgumentError(f"{self.prog}: {message}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _horizon(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _experiment_options(p: argparse.ArgumentParser, executors: bool = True,
                        scenario_optional: bool = False) -> None:
    p.add_argument("scenario", type=Path, nargs="?" if scenario_optional else None,
                   help="scenario file (YAML)" + ("; optional with --data" if scenario_optional
                                                  else ""))
    p.add_argument("--out", type=Path, help="output folder (default results/<name>/<UTC time>/)")
    p.add_argument("--replications", type=_positive_int, help="number of replications")
    p.add_argument("--seed", type=_seed, help="root random seed")
    p.add_argument("--horizon", type=_horizon, help="simulated time of one replication")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="PATH=VALUE",
                   help="override a scenario field by dotted path; VALUE is YAML (repeatable)")
    if not executors:
        return
    p.add_argument("--workers", type=_positive_int,
                   help="local worker processes (default: one per CPU core)")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="where replications run: local processes, or a Dask cluster")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler address (tcp://host:8786), with --executor dask")


def _kpis_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kpis", type=_kpi_list, metavar="K1,K2,...",
                   help="KPI columns to print (all are in the JSON and the report)")


def _kpi_list(text: str) -> list[str]:
    names = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in names if k not in KPIS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown KPI {unknown[0]!r} (one of: "
                                         f"{', '.join(KPIS)})" if unknown else "no KPI given")
    return names


def table_kpis(kpis: dict[str, Any], rank_by: str, chosen: list[str] | None) -> list[str]:
    """The KPI columns of a compare or sweep table: those asked for, else the headline ones
    (fewer for a supply chain, whose KPIs are many), with the ranking KPI always."""
    if chosen:
        shown = [k for k in chosen if k in kpis]
    else:
        shown = headline_kpis(kpis)
        if "fill_rate" in kpis:
            shown = [k for k in COMPACT if k in shown]
    return shown if rank_by in shown else [rank_by, *shown]


def _factor_label(path: str) -> str:
    return path.removeprefix("plant.nodes.")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="twin", description="Digital-twin discrete-event simulator.")
    parser.add_argument("--version", action="version", version=f"twin {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("run", help="simulate a scenario and write summary.json")
    _experiment_options(p)
    p.add_argument("--timeline", action="store_true",
                   help="also write every machine's state changes (timeline.parquet)")
    p.add_argument("--state", type=Path, metavar="FILE",
                   help="start every replication from this plant state (YAML or JSON)")
    p.add_argument("--save-state", type=Path, metavar="FILE",
                   help="write the end state of replication 0 (the format of --state)")
    p.add_argument("--buckets", type=_horizon, metavar="WIDTH",
                   help="also give KPIs per time bucket of this width (throughput per hour "
                        "over the next shift, say), with intervals")
    p.add_argument("--events", action="store_true",
                   help="also write the event log (events.parquet: one row per event, the "
                        "input format of twin fit)")
    p.add_argument("--no-sensors", action="store_true",
                   help="do not write sensor readings (sensors/, Parquet by machine)")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("compare", help="run every policy of the scenario on common random "
                                       "numbers; write compare.json and report.html")
    _experiment_options(p)
    p.add_argument("--baseline", help="policy the others are compared with (default: the first)")
    p.add_argument("--rank-by", default="cost_rate", choices=KPIS, help="KPI to rank by")
    _kpis_option(p)
    p.set_defaults(handler=cmd_compare)

    p = sub.add_parser("sweep", help="one run per parameter value (grids: repeat --param/--values);"
                                     " write sweep.json, sweep.csv, sweep.parquet, report.html")
    _experiment_options(p)
    p.add_argument("--param", dest="params", action="append", default=[], metavar="PATH",
                   help="scenario field to vary, by dotted path (repeatable)")
    p.add_argument("--values", dest="values", action="append", default=[], metavar="V1,V2,...",
                   help="its values, comma-separated YAML (one --values per --param)")
    p.add_argument("--rank-by", default="cost_rate", choices=KPIS, help="KPI to pick the best by")
    _kpis_option(p)
    p.set_defaults(handler=cmd_sweep)

    p = sub.add_parser("train", help="fit a predictor on run-to-failure histories simulated by "
                                     "the twin (or recorded, --data); save it for predictive "
                                     "policies")
    _experiment_options(p, executors=False, scenario_optional=True)
    p.add_argument("--predictor", required=True,
                   help="predictor name: threshold, linear, logistic, svm, svm-risk, sgd, "
                        "sgd-risk, gbt, cnn, lstm, ensemble, or one registered in the "
                        "twin.predictors entry points")
    p.add_argument("--data", type=Path, metavar="LIVES",
                   help="learn from recorded lives (Parquet/CSV with unit, time, sensors; or "
                        "--format cmapss) instead of simulating")
    p.add_argument("--format", choices=("long", "cmapss"), default="long",
                   help="layout of --data and --test: long (one row per reading) or NASA's "
                        "C-MAPSS text files")
    p.add_argument("--rul-cap", type=_horizon, default=None,
                   help="with --data: cap the remaining-life target (piecewise linear; "
                        "default 125 cycles)")
    p.add_argument("--test", type=Path, metavar="LIVES",
                   help="with --data: a test set of truncated lives (else lives are held out "
                        "by unit)")
    p.add_argument("--test-rul", type=Path, metavar="FILE",
                   help="the true remaining life of each --test unit, one a line")
    p.add_argument("--holdout", type=_share, default=0.2,
                   help="with --data and no --test: share of the units held out (default 0.2)")
    p.add_argument("--truncations", type=_positive_int, default=10,
                   help="with --data and no --test: random cuts per held-out life (default 10)")
    p.add_argument("--steps", type=_positive_int, default=None,
                   help="readings per window (default 30; 60 with --data)")
    p.add_argument("--stride", type=_positive_int, default=None,
                   help="readings between windows (default 5; 1 with --data)")
    p.add_argument("--label-horizon", type=_horizon, default=None,
                   help="for failure models: label 1 when the failure comes within this time "
                        "(default 200; 30 cycles with --data)")
    p.add_argument("--task", choices=("failure", "defect", "inspect"), default="failure",
                   help="what a risk model learns: failure within --label-horizon, whether a "
                        "part made then is defective, or (inspect: cnn2d, contrast) whether the "
                        "part a camera photographs is defective")
    p.add_argument("--images", type=_positive_int, default=2000,
                   help="with --task inspect: synthetic images to learn from (default 2000)")
    p.add_argument("--coverage", type=_share, default=None,
                   help="RUL models: calibrate conformal prediction intervals covering this "
                        "share of new lives (e.g. 0.9) on training lives kept out of the fit")
    p.add_argument("--conformal", choices=("relative", "absolute", "cqr"), default=None,
                   help="with --coverage: the conformal score (default relative: the width "
                        "follows the predicted life; cqr for quantile models, their default)")
    p.add_argument("--calibration-folds", type=_positive_int, default=None, metavar="K",
                   help="with --data and --coverage: calibrate on every training life by K "
                        "folds (cross-conformal) instead of keeping lives out of the fit")
    p.add_argument("--allow-import", action="store_true",
                   help="allow --predictor module:Class (imports that module)")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("validate", help="check a scenario file and its plant graph")
    p.add_argument("scenario", type=Path, help="scenario file (YAML)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="PATH=VALUE",
                   help="override a scenario field by dotted path; VALUE is YAML (repeatable)")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("fit", help="build a scenario from an event log (Parquet or CSV): graph, "
                                   "routing, fitted laws with censoring; write it and a report")
    p.add_argument("log", type=Path,
                   help="event log (.parquet, .csv, or a folder of .parquet parts)")
    p.add_argument("--out", type=Path, help="scenario file to write (default: <log>.yaml)")
    p.add_argument("--report", type=Path, help="fit report (default: <out>.html)")
    p.set_defaults(handler=cmd_fit)

    p = sub.add_parser("optimize", help="search parameters (Optuna) for the best KPI, then select "
                                        "the best with a ranking-and-selection stage; write "
                                        "optimize.json and report.html")
    _experiment_options(p)
    p.add_argument("--param", dest="params", action="append", default=[], metavar="PATH",
                   help="scenario field to search, by dotted path (repeatable)")
    p.add_argument("--range", dest="ranges", action="append", default=[],
                   metavar="LOW:HIGH[:int]", help="its range (one --range per --param; :int for "
                                                  "whole numbers, :log for a log scale)")
    p.add_argument("--objective", required=True, metavar="KPI", help="KPI to optimize")
    way = p.add_mutually_exclusive_group()
    way.add_argument("--maximize", action="store_true", default=None,
                     help="maximize the objective (default: the KPI's better direction)")
    way.add_argument("--minimize", dest="maximize", action="store_false",
                     help="minimize the objective")
    p.add_argument("--constraint", dest="constraints", action="append", default=[],
                   metavar="KPI>=VALUE", help="a constraint judged on its 95%% interval, e.g. "
                                              "'fill_rate>=0.95' (repeatable)")
    p.add_argument("--budget", type=_positive_int, default=30, help="trials (default 30)")
    p.add_argument("--sampler", choices=("tpe", "cmaes", "random"), default="tpe",
                   help="Optuna sampler (default tpe)")
    p.add_argument("--candidates", type=_positive_int, default=5,
                   help="best feasible points taken to the selection stage (default 5)")
    p.add_argument("--delta", type=_horizon, default=None,
                   help="indifference zone of the selection (default 1%% of the best mean)")
    p.add_argument("--pcs", type=_probability, default=0.95,
                   help="probability of correct selection (default 0.95)")
    p.add_argument("--max-replications", type=_positive_int, default=200,
                   help="cap on the replications of a candidate in the selection (default 200)")
    p.add_argument("--batch", type=_positive_int, default=1,
                   help="trials asked of the sampler at once, run together (default 1)")
    p.set_defaults(handler=cmd_optimize)

    p = sub.add_parser("emulate", help="run a scenario in scaled real time, publishing a plant's "
                                       "events, machine states and sensor readings over MQTT")
    p.add_argument("scenario", type=Path, help="scenario file (YAML)")
    p.add_argument("--broker", required=True, metavar="URL", help="mqtt://HOST:PORT")
    p.add_argument("--speed", type=_horizon, default=1.0,
                   help="times faster than real time (default 1)")
    p.add_argument("--until", type=_horizon, metavar="T",
                   help="plant time to stop at (default: the scenario's horizon)")
    p.add_argument("--replication", type=int, default=0, help="which replication (default 0)")
    p.add_argument("--seed", type=_seed, help="random seed (default: the scenario's)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="PATH=VALUE",
                   help="override a scenario field by dotted path; VALUE is YAML (repeatable)")
    p.add_argument("--client-id", help="MQTT client id (default twin-emulate-<plant>)")
    p.add_argument("--save-state", type=Path, metavar="FILE",
                   help="write the plant's true state at the end (the format of run --state)")
    p.set_defaults(handler=cmd_emulate)

    p = sub.add_parser("live", help="mirror a plant's state from its MQTT topics; forecast from "
                                    "it; keep live/status.json and a report page")
    p.add_argument("scenario", type=Path, help="scenario file (YAML)")
    p.add_argument("--broker", required=True, metavar="URL", help="mqtt://HOST:PORT")
    p.add_argument("--forecast-every", type=_horizon, default=60.0, metavar="S",
                   help="seconds between forecasts (default 60)")
    p.add_argument("--horizon", type=_horizon, metavar="H",
                   help="look-ahead of a forecast, plant time (default: 8 hours)")
    p.add_argument("--replications", type=_positive_int, default=10,
                   help="replications of a forecast (default 10)")
    p.add_argument("--buckets", type=_horizon, metavar="WIDTH",
                   help="forecast KPIs per bucket of this width (default: horizon / 8)")
    p.add_argument("--tolerance", type=float, default=5.0, metavar="T",
                   help="plant time within which events out of order are put back in order "
                        "(default 5)")
    p.add_argument("--out", type=Path, default=Path("live"),
                   help="folder of status.json and index.html (default live)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="PATH=VALUE",
                   help="override a scenario field by dotted path; VALUE is YAML (repeatable)")
    p.add_argument("--client-id", help="MQTT client id (default twin-live-<plant>)")
    p.add_argument("--record", action="store_true",
                   help="write every event and reading received to Parquet under OUT/record "
                        "(parts of --record-rows rows)")
    p.add_argument("--record-rows", type=_positive_int, default=1 << 20, metavar="N",
                   help="rows per recorded part file (default 1048576)")
    p.set_defaults(handler=cmd_live)
    return parser


def overrides_from(args: argparse.Namespace) -> list[tuple[str, Any]]:
    from twin.language.overrides import parse_assignment

    overrides = [parse_assignment(text) for text in args.sets]
    for name in ("replications", "seed", "horizon"):
        value = getattr(args, name, None)
        if value is not None:
            overrides.append((name, value))
    return overrides


def scenario_from(args: argparse.Namespace) -> Scenario:
    from twin.language.loading import load_scenario

    return load_scenario(args.scenario, overrides_from(args))


def cmd_fit(args: argparse.Namespace, console: RichConsole) -> int:
    from twin.fitting.fit import fit_log
    from twin.fitting.text import print_fit

    out = args.out or args.log.with_suffix(".yaml")
    result = fit_log(args.log, out=out, report=args.report or out.with_suffix(".html"))
    print_fit(console, result)
    return EXIT_OK


def cmd_validate(args: argparse.Namespace, console: RichConsole) -> int:
    scenario = scenario_from(args)
    # the plant graph's nodes and edges, counted off the checked scenario (it has no duplicate
    # edge), without building the graph
    kinds: dict[str, int] = {}
    for node in scenario.plant.nodes.values():
        kinds[node.kind] = kinds.get(node.kind, 0) + 1
    parts = ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in sorted(kinds.items()))
    text = (f"{args.scenario}: ok: scenario {scenario.name!r}, {parts}, "
            f"{len(scenario.plant.edges)} edges, {len(scenario.policies)} policies")
    if isinstance(console, _Stdout):
        console.line(text)
    else:
        console.print(text, highlight=False, soft_wrap=True)
    return EXIT_OK


PROGRESS_EVERY = float(os.environ.get("TWIN_PROGRESS_EVERY", "10"))
"""Seconds between progress lines when stderr is not a terminal."""


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _ProgressLines:
    """Progress for a log or a pipe: a line on stderr every ``every`` seconds (done/total,
    elapsed, time left), from a background thread, so it comes even while one long task runs."""

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

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


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


def executor_from(args: argparse.Namespace) -> Any:
    from twin.study.executors import make_executor

    if args.executor == "dask" and not args.scheduler:
        raise ArgumentError("--executor dask needs --scheduler ADDRESS")
    if args.scheduler and args.executor != "dask":
        raise ArgumentError("--scheduler goes with --executor dask")
    return make_executor(args.workers, args.executor, args.scheduler)


def check_out(path: Path | None) -> None:
    """``--out`` must be a folder, or not exist yet."""
    if path is not None and path.exists() and not path.is_dir():
        raise ArgumentError(f"--out {path}: this is a file, not a folder; give a folder (it is "
                            "created if it does not exist)")


def out_folder(args: argparse.Namespace, name: str) -> Path:
    """``--out``, or a new ``results/<name>/<UTC time>/`` with ``results/<name>/latest``
    pointing at it; remembered for the hint if the command is interrupted."""
    from twin.study.output import default_out, point_latest

    if args.out is not None:
        out: Path = args.out
    else:
        out = default_out(name)
        out.mkdir(parents=True, exist_ok=True)
        point_latest(out)
    OUT.append(out)
    return out


def resume_hint(out: Path) -> str:
    return (f"finished replications are saved in {out}; run the same command with "
            f"--out {out} to go on")


def print_paths(console: RichConsole, out: Path, report: Path | None) -> None:
    console.print(f"results: {out}", highlight=False, soft_wrap=True)
    if report is not None:
        console.print(f"report: {report}", highlight=False, soft_wrap=True)


def cmd_run(args: argparse.Namespace, console: RichConsole) -> int:
    from twin.study.runner import run

    check_out(args.out)
    scenario = scenario_from(args)
    state = None
    if args.state is not None:
        from twin.engine.state import load_state

        state = load_state(args.state, scenario)
    executor = executor_from(args)
    out = out_folder(args, scenario.name)
    with progress(f"{scenario.name}: replications", scenario.replications) as update:
        result = run(scenario, executor=executor, progress=update, timeline=args.timeline,
                     sensor_dir=None if args.no_sensors else out / "sensors", out=out,
                     event_dir=out / "events" if args.events else None, state=state,
                     save_state=args.save_state is not None, buckets=args.buckets or 0.0)
    if args.save_state is not None and result.end_state is not None:
        from twin.study.output import write_text

        write_text(args.save_state, result.end_state)
    report = result.save(out)
    print_summary(console, result.summary)
    print_warnings(result.summary)
    print_paths(console, out, report)
    return EXIT_OK


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, got {text}")
    return value


def _train_from_data(args: argparse.Namespace, stage: Callable[[str], None]) -> Any:
    from twin.ml.fromdata import train_from_data

    seed = args.seed if args.seed is not None else 0
    if args.scenario is not None:
        seed = scenario_from(args).seed
    return train_from_data(
        args.data, args.predictor, format=args.format, steps=args.steps or 60,
        stride=args.stride or 1, rul_cap=args.rul_cap if args.rul_cap is not None else 125.0,
        label_horizon=args.label_horizon or 30.0, test=args.test, test_rul=args.test_rul,
        holdout=args.holdout, truncations=args.truncations, seed=seed,
        allow_imports=args.allow_import, stage=stage, coverage=args.coverage,
        calibration_folds=args.calibration_folds, conformal=args.conformal)


def cmd_train(args: argparse.Namespace, console: RichConsole) -> int:
    from twin.ml.training import train

    check_out(args.out)
    err = Console(stderr=True, highlight=False, soft_wrap=True)

    def stage(text: str) -> None:
        err.print(text, markup=False)

    import logging

    class Epochs(logging.Handler):  # the torch models report each epoch
        def emit(self, record: logging.LogRecord) -> None:
            stage(record.getMessage())

    epochs = logging.getLogger("twin.train")
    epochs.setLevel(logging.INFO)
    epochs.addHandler(Epochs())

    if args.data is None:
        for option in ("rul_cap", "test", "test_rul", "calibration_folds"):
            if getattr(args, option) is not None:
                raise ArgumentError(f"--{option.replace('_', '-')} goes with --data")
        if args.scenario is None:
            raise ArgumentError("give a scenario to simulate histories from, or --data LIVES")
    if args.data is not None:
        if args.task in ("defect", "inspect"):
            raise ArgumentError(f"--task {args.task} needs defect labels, which recorded lives do "
                                "not have: train from a scenario with a defects model")
        trained = _train_from_data(args, stage)
        name = args.data.stem if args.scenario is None else scenario_from(args).name
    elif args.task == "inspect":
        from twin.ml.vision import train_inspection

        scenario = scenario_from(args)
        trained = train_inspection(scenario, args.predictor, images=args.images,
                                   allow_imports=args.allow_import,
                                   stage=stage, source=str(args.scenario))
        name = scenario.name
    else:
        scenario = scenario_from(args)
        with progress(f"{scenario.name}: histories", scenario.replications) as update:
            trained = train(scenario, args.predictor, steps=args.steps or 30,
                            stride=args.stride or 5,
                            label_horizon=args.label_horizon or 200.0, task=args.task,
                            allow_imports=args.allow_import, progress=update, stage=stage,
                            source=str(args.scenario), coverage=args.coverage,
                            conformal=args.conformal)
        name = scenario.name
    out = out_folder(args, f"{name}-{args.predictor}")
    model = trained.save(out)
    task = trained.metadata["task"]
    table = Table(title=f"{args.predictor} ({task}) on held-out "
                        f"{'images' if task == 'inspect' else 'lives'}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in trained.metrics.items():
        table.add_row(key, "-" if value is None else f"{value:,.4g}")
    console.print(table)
    for note in trained.notes:
        console.print(note, highlight=False, soft_wrap=True)
    console.print(f"model: {model}", highlight=False, soft_wrap=True)
    return EXIT_OK


def cmd_compare(args: argparse.Namespace, console: RichConsole) -> int:
    from twin.study.variants import compare

    check_out(args.out)
    scenario = scenario_from(args)
    executor = executor_from(args)
    out = out_folder(args, scenario.name)
    total = scenario.replications * max(1, len(scenario.policies))
    with progress(f"{scenario.name}: policies x replications", total) as update:
        doc = compare(scenario, baseline=args.baseline, rank_by=args.rank_by,
                      executor=executor, out=out, progress=update)
    print_compare(console, doc, args.kpis)
    print_paths(console, out, out / "report.html")
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace, console: RichConsole) -> int:
    from twin.study.variants import grid, parse_values, sweep

    check_out(args.out)
    if len(args.params) != len(args.values):
        raise ArgumentError(f"give one --values for each --param ({len(args.params)} --param, "
                            f"{len(args.values)} --values)")
    if not args.params:
        raise ArgumentError("give at least one --param PATH with its --values V1,V2,...")
    factors = [(p, parse_values(v, p)) for p, v in zip(args.params, args.values, strict=True)]
    scenario = scenario_from(args)
    executor = executor_from(args)
    total = scenario.replications * len(grid(scenario, factors))
    out = out_folder(args, scenario.name)
    with progress(f"{scenario.name}: points x replications", total) as update:
        doc, _rows = sweep(scenario, factors, rank_by=args.rank_by, executor=executor,
                           out=out, progress=update)
    print_sweep(console, doc, args.kpis)
    print_paths(console, out, out / "report.html")
    return EXIT_OK


def print_compare(console: RichConsole, doc: dict[str, Any],
                  chosen: list[str] | None = None) -> None:
    unit = doc["time_unit"]
    table = Table(title=f"{doc['scenario']}: {len(doc['policies'])} policies, "
                        f"{doc['replications']} replications on common random numbers "
                        "(mean ± 95% half-width)")
    kpis = table_kpis(doc["policies"][doc["baseline"]]["kpis"], doc["rank_by"], chosen)
    table.add_column("policy", no_wrap=True)
    for kpi in kpis:
        table.add_column(kpi, justify="right")
    clipped = False
    for name, policy in doc["policies"].items():
        cells = [_pm(policy["kpis"][k], signed=False) for k in kpis]
        clipped = clipped or any("/-" in c for c in cells)
        table.add_row(name, *cells)
    if clipped:
        table.caption = "mean +up/-down: the 95% interval clipped to the KPI's range"
    console.print(table)
    diffs = Table(title=f"paired differences against {doc['baseline']}: mean ± 95% half-width "
                        "(* the interval excludes 0)")
    diffs.add_column("policy", no_wrap=True)
    for kpi in kpis:
        diffs.add_column(kpi, justify="right")
    for name, policy in doc["policies"].items():
        if name != doc["baseline"]:
            diffs.add_row(name, *(_pm(policy["differences"][k]) for k in kpis))
    console.print(diffs)
    ranking = Table(title=f"ranking by {doc['rank_by']} ({doc['better']} is better; "
                          f"time unit {unit})")
    ranking.add_column("rank")
    ranking.add_column("policy")
    ranking.add_column("mean", justify="right")
    ranking.add_column("not distinguishable from")
    for entry in doc["ranking"]:
        verdict = ", ".join(entry["not_distinguishable_from"])
        ranking.add_row(str(entry["rank"]), entry["name"],
                        _number(entry["mean"], _digits(entry["mean"])), verdict)
    console.print(ranking)
    console.print("rank: 1 + the policies significantly better (paired 95% interval), never "
                  "above a policy with a worse mean", highlight=False, soft_wrap=True)


def print_sweep(console: RichConsole, doc: dict[str, Any], chosen: list[str] | None = None) -> None:
    factors = [f["param"] for f in doc["factors"]]
    table = Table(title=f"{doc['scenario']}: sweep, {doc['replications']} replications per point")
    kpis = table_kpis(doc["points"][0]["kpis"], doc["rank_by"], chosen)
    for f in factors:
        table.add_column(_factor_label(f), no_wrap=True)
    for kpi in kpis:
        table.add_column(kpi, justify="right")
    for point in doc["points"]:
        mark = "*" if point["run"] == doc["best"]["run"] else ""
        table.add_row(*(f"{point['params'][f]}{mark if i == 0 else ''}"
                        for i, f in enumerate(factors)),
                      *(_number(point["kpis"][k]["mean"], _digits(point["kpis"][k]["mean"]))
                        for k in kpis))
    console.print(table)
    best = doc["best"]
    stat = best[doc["rank_by"]]
    params = ", ".join(f"{k}={v}" for k, v in best["params"].items())
    console.print(f"best by {doc['rank_by']} ({doc['better']} is better): {params}: "
                  f"{_fmt(stat)[0]} (95% CI {_fmt(stat)[1]})", highlight=False, soft_wrap=True)
    if best["not_distinguishable_from"]:
        labels = {p["run"]: ", ".join(f"{k}={v}" for k, v in p["params"].items())
                  for p in doc["points"]}
        tied = "; ".join(labels[run] for run in best["not_distinguishable_from"])
        console.print(f"not distinguishable from it: {tied}", highlight=False, soft_wrap=True)


def _pm(stat: dict[str, Any], signed: bool = True) -> str:
    """``mean ± half-width`` of the 95% interval; with ``signed`` (a difference), the sign is
    shown and the value marked when the interval excludes 0."""
    mean = stat["mean"]
    low, high = stat["ci95"]
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


def _fmt(stat: dict[str, Any]) -> tuple[str, str]:
    mean = stat["mean"]
    low, high = stat["ci95"]
    digits = _digits(mean)
    ci = f"{_number(low, digits)} .. {_number(high, digits)}" if low is not None else ""
    return _number(mean, digits), ci


MACHINE_COLUMNS = {"utilization": "util", "availability": "avail", "blocked": "blocked",
                   "starved": "starved", "failures": "failures", "preventive": "PMs"}
OPTIONAL_MACHINE_COLUMNS = {"setup": "setup", "waiting_operator": "op wait", "off": "off"}


def print_summary(console: RichConsole, summary: dict[str, Any]) -> None:
    n = summary["replications"]
    unit = summary["time_unit"]
    table = Table(title=f"{summary['scenario']}: {n} replication{'s' if n > 1 else ''}, "
                        f"{summary['warmup']:g} to {summary['horizon']:g} {unit}")
    table.add_column("KPI")
    table.add_column("mean", justify="right")
    table.add_column("95% CI", justify="right")
    units = kpi_units(unit)
    for name in headline_kpis(summary["kpis"]):
        stat = summary["kpis"][name]
        label = f"{name} ({units[name]})" if units.get(name) else name
        table.add_row(label, *_fmt(stat))
    console.print(table)
    print_supply(console, summary)
    if not summary["machines"]:
        return
    machines = Table(title="machines: fractions of time, counts per replication (means)")
    machines.add_column("machine")
    columns = dict(MACHINE_COLUMNS)
    for column, header in OPTIONAL_MACHINE_COLUMNS.items():  # where some machine has any
        if any(stats.get(column, {}).get("mean") for stats in summary["machines"].values()):
            columns[column] = header
    for header in columns.values():
        machines.add_column(header, justify="right")
    for name, stats in summary["machines"].items():
        cells = []
        for column in columns:
            mean = stats[column]["mean"]
            cells.append(_number(mean, 1 if column in ("failures", "preventive") else 3))
        machines.add_row(name, *cells)
    console.print(machines)
    if summary.get("operators"):
        pools = Table(title="operators (means over replications)")
        for header in ("pool", "utilization", "tasks", "each operator"):
            pools.add_column(header, justify="right" if header != "pool" else "left")
        for name, stats in summary["operators"].items():
            each = [stats[k]["mean"] for k in stats if k.startswith("operator_")]
            pools.add_row(name, _number(stats["utilization"]["mean"], 3),
                          _number(stats["tasks"]["mean"], 1),
                          " ".join(_number(u, 3) for u in each))
        console.print(pools)


def print_supply(console: RichConsole, summary: dict[str, Any]) -> None:
    unit = summary["time_unit"]
    columns = {"warehouses": {"inventory": "inventory", "backorders": "backorders",
                              "fill_rate": "fill rate", "stockouts": "stock-outs",
                              "stockout_time": "out of stock", "orders": "orders"},
               "customers": {"demand": f"demand/{unit}", "fill_rate": "fill rate",
                             "backorders": "backorders", "lost": f"lost/{unit}",
                             "order_lead_time": f"lead time ({unit})", "on_time": "on time"}}
    for section, fields in columns.items():
        nodes = summary.get(section)
        if not nodes:
            continue
        table = Table(title=f"{section} (means over replications)")
        table.add_column(section[:-1])
        for header in fields.values():
            table.add_column(header, justify="right")
        for name, stats in nodes.items():
            table.add_row(name, *(_number(stats[f]["mean"], _digits(stats[f]["mean"]))
                                  for f in fields))
        console.print(table)


def print_warnings(summary: dict[str, Any]) -> None:
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for warning in summary.get("warnings", []):
        err.print(f"warning: {warning}", style="yellow", markup=False)


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.5 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie between 0.5 and 1, got {text}")
    return value


def cmd_optimize(args: argparse.Namespace, console: RichConsole) -> int:
    from twin.study.optimize import Param, optimize, parse_constraint, parse_range

    check_out(args.out)
    if len(args.params) != len(args.ranges):
        raise ArgumentError(f"give one --range for each --param ({len(args.params)} --param, "
                            f"{len(args.ranges)} --range)")
    if not args.params:
        raise ArgumentError("give at least one --param PATH with its --range LOW:HIGH")
    params = [Param(path, *parse_range(text, path))
              for path, text in zip(args.params, args.ranges, strict=True)]
    constraints = [parse_constraint(text) for text in args.constraints]
    scenario = scenario_from(args)
    executor = executor_from(args)
    out = out_folder(args, scenario.name)
    with progress(f"{scenario.name}: replications", args.budget * scenario.replications) \
            as update:
        doc = optimize(scenario, params, args.objective, maximize=args.maximize,
                       constraints=constraints, budget=args.budget, sampler=args.sampler,
                       candidates=args.candidates, delta=args.delta, pcs=args.pcs,
                       max_replications=args.max_replications, batch=args.batch,
                       executor=executor, out=out, progress=update)
    print_optimize(console, doc)
    print_paths(console, out, out / "report.html")
    return EXIT_OK


def print_optimize(console: RichConsole, doc: dict[str, Any]) -> None:
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


def cmd_emulate(args: argparse.Namespace, console: RichConsole) -> int:
    from twin.engine.state import dump_state
    from twin.language.loading import load_scenario
    from twin.language.overrides import parse_assignment
    from twin.live.connector import broker_address
    from twin.live.emulator import emulate

    broker_address(args.broker)
    scenario = load_scenario(args.scenario, [parse_assignment(t) for t in args.sets]
                             + ([("seed", args.seed)] if args.seed is not None else []))
    console.print(f"emulating {scenario.name!r} at {args.speed:g}x on {args.broker}",
                  highlight=False)
    stop = threading.Event()
    try:
        result = emulate(scenario, args.broker, speed=args.speed, until=args.until,
                         replication=args.replication, client_id=args.client_id, stop=stop)
    finally:
        stop.set()
    console.print(f"published {result.events} events and {result.readings} readings in "
                  f"{sum(result.messages.values())} messages, to plant time {result.clock:g}",
                  highlight=False)
    if args.save_state is not None and result.end is not None:
        from twin.study.output import write_text

        write_text(args.save_state, dump_state(result.end))
    return EXIT_OK


def cmd_live(args: argparse.Namespace, console: RichConsole) -> int:
    from twin.language.loading import load_scenario
    from twin.language.overrides import parse_assignment
    from twin.live.connector import broker_address
    from twin.live.twin import LiveTwin

    broker_address(args.broker)
    scenario = load_scenario(args.scenario, [parse_assignment(t) for t in args.sets])
    twin = LiveTwin(scenario, args.broker, out=args.out, forecast_every=args.forecast_every,
                    horizon=args.horizon, replications=args.replications,
                    buckets=args.buckets, tolerance=args.tolerance, client_id=args.client_id,
                    record=args.record, record_rows=args.record_rows)
    console.print(f"live twin of {scenario.name!r} on {args.broker}: status in "
                  f"{args.out / 'status.json'}, page {args.out / 'index.html'} (Ctrl-C stops)",
                  highlight=False)
    try:
        twin.run()
    except KeyboardInterrupt:
        console.print(f"stopped: {args.out / 'status.json'}", highlight=False)
    return EXIT_OK


def _suggest(parser: argparse.ArgumentParser, argv: Sequence[str], message: str) -> str:
    """The parser's message, with a "did you mean" for a misspelled command or option."""
    import difflib

    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands = list(sub.choices)
    words = [a for a in argv if not a.startswith("-")]
    if words and words[0] not in commands and "invalid choice" in message:
        close = difflib.get_close_matches(words[0], commands, n=1, cutoff=0.5)
        if close:
            return f"twin: unknown command {words[0]!r}; did you mean {close[0]!r}?"
        return f"twin: unknown command {words[0]!r} (one of: {', '.join(commands)})"
    choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if choice:
        options = re.findall(r"'([^']*)'", choice.group(2))
        close = difflib.get_close_matches(choice.group(1), options, n=1, cutoff=0.5)
        if close:
            return f"{message}; did you mean {close[0]!r}?"
    command = sub.choices.get(words[0]) if words else None
    known = [o for a in (command or parser)._actions for o in a.option_strings]
    hints = []
    for arg in argv:
        option = arg.split("=", 1)[0]
        if option.startswith("--") and option not in known and option in message:
            close = difflib.get_close_matches(option, known, n=1, cutoff=0.6)
            if close:
                hints.append(f"did you mean {close[0]} (not {option})?")
    return message + ("; " + " ".join(hints) if hints else "")


@contextlib.contextmanager
def _interrupts() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt once; more while the command winds down are
    ignored (they would cut the cleanup short), and so they stay after an interrupt, while the
    process exits. Without one, the handlers are restored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    count = [0]

    def handler(signum: int, frame: object) -> None:
        count[0] += 1
        if count[0] == 1:
            raise KeyboardInterrupt

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous if count[0] == 0 else signal.SIG_IGN)


def _stderr() -> RichConsole:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    console: Any = _Stdout()
    whole_process = argv is None  # the command line's own process, not a call from Python
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        _stderr().print(parser.format_help(), markup=False)
        return EXIT_INPUT
    OUT.clear()
    with _interrupts():
        try:
            try:
                args = parser.parse_args(argv)
            except SystemExit as exc:  # --help, --version
                return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_INPUT
            except ArgumentError as exc:
                raise ArgumentError(_suggest(parser, argv, str(exc))) from None
            handler: Callable[[argparse.Namespace, Any], int] = args.handler
            if whole_process and args.command == "validate":
                # it writes nothing, and its process ends when it does: the objects left (the
                # scenario language's schemas, mostly) go with the process, without the
                # collector's last passes over them, which cost a good share of the command
                atexit.register(gc.freeze)
            return handler(args, console)
        except ArgumentError as exc:
            _stderr().print(f"error: {exc}", markup=False)
            return EXIT_INPUT
        except InputError as exc:
            _stderr().print(f"error: {exc.render()}", markup=False)
            return EXIT_INPUT
        except TwinError as exc:
            _stderr().print(f"error: {exc}", markup=False)
            return EXIT_FAILURE
        except (Interrupted, KeyboardInterrupt):
            hint = f": {resume_hint(OUT[-1])}" if OUT else ""
            _stderr().print(f"interrupted{hint}", markup=False)
            return EXIT_FAILURE
        except Exception as exc:  # noqa: BLE001 - last resort: a message, and the trace on demand
            if os.environ.get("TWIN_DEBUG"):
                import traceback

                traceback.print_exc()
            _stderr().print(f"error: {type(exc).__name__}: {exc} (set TWIN_DEBUG=1 for the "
                            "traceback)", markup=False)
            return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
