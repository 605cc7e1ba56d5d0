"""The command line's options: the ``twin`` argument parser, every command and its options,
and the types that check them (argparse only; ``twin.cli`` dispatches the parsed commands).

An option the user leaves out is ``None`` and the library's own default applies: the defaults
are stated once, in the library, and the help text names them from there only where the parser
must know them (choices, flags).
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twin.language.schema import Scenario

from twin.kpis import KPIS
from twin.records import __version__


class ArgumentError(Exception):
    """Bad command-line arguments: reported on stderr, exit status 2."""
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # exit 2 through our own handler
        raise ArgumentError(f"{self.prog}: {message}")

    def _parse_optional(self, arg_string: str) -> Any:
        # "-2,1" (--values), "-20:160:int" (--range), "-.5": values, not options
        if re.match(r"-\.?\d", arg_string):
            return None
        return super()._parse_optional(arg_string)


def _checked(cast: Callable[[str], float], ok: Callable[[float], bool], what: str,
             kind: str = "a number") -> Callable[[str], Any]:
    """An argparse type: ``cast`` the text (else "expected {kind}"), and refuse a value that is
    not ``ok`` ("must {what}")."""
    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must {what}, got {text}")
        return value
    return parse


_positive_int = _checked(int, lambda v: v >= 1, "be at least 1", "a whole number")
_seed = _checked(int, lambda v: v >= 0, "be 0 or more", "a whole number")
_horizon = _checked(float, lambda v: math.isfinite(v) and v > 0, "be a positive number")
_share = _checked(float, lambda v: 0 < v < 1, "lie between 0 and 1")
_probability = _checked(float, lambda v: 0.5 < v < 1, "lie between 0.5 and 1")


def _window(text: str) -> tuple[float, float]:
    from twin.view.replay import parse_window

    try:
        return parse_window(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _kpi_list(text: str) -> list[str]:
    from twin.registry import did_you_mean

    names = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in names if k not in KPIS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown KPI {unknown[0]!r}{did_you_mean(unknown[0], list(KPIS))} (one of: "
            f"{', '.join(KPIS)})" if unknown else "no KPI given")
    return names


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


def _transport(p: argparse.ArgumentParser, serve: bool) -> None:
    """--broker or --opcua, and OPC UA's security options."""
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--broker", metavar="URL",
                       help="mqtt://[USER[:PASSWORD]@]HOST:PORT, or mqtts:// (TLS); the "
                            "password may come from TWIN_MQTT_PASSWORD")
    where.add_argument("--opcua", metavar="URL", help="opc.tcp://HOST:PORT: "
                       + ("serve the plant as an OPC UA server there" if serve else
                          "mirror the plant from this OPC UA server"))
    p.add_argument("--user", help="OPC UA user name (its password in TWIN_OPCUA_PASSWORD)"
                   + ("; anonymous clients are then refused" if serve else ""))
    p.add_argument("--ca", type=Path, metavar="FILE",
                   help="with mqtts://: the authority that signed the broker's certificate")
    p.add_argument("--cert", type=Path, metavar="FILE",
                   help="with mqtts://: a client certificate (PEM), where the broker asks; "
                        "with --opcua: a certificate (PEM or DER) for Basic256Sha256" + (
                       " (the server's: only Sign and SignAndEncrypt endpoints are offered)"
                       if serve else " (the client's)"))
    p.add_argument("--key", type=Path, metavar="FILE", help="the certificate's private key")
    if not serve:
        p.add_argument("--server-cert", type=Path, metavar="FILE",
                       help="the server's certificate (default: the one it offers)")
        p.add_argument("--security-mode", choices=["Sign", "SignAndEncrypt"],
                       help="with --cert (default SignAndEncrypt)")
        p.add_argument("--map", type=Path, metavar="FILE",
                       help="mapping of the server's nodes to the plant (YAML; default: "
                            "twin's own address space)")


def build_parser() -> argparse.ArgumentParser:
    """The ``twin`` argument parser: every command, its options and its handler."""
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
    p.add_argument("--replay", action="store_true",
                   help="replay replication 0 in the report: machines by state, buffers, "
                        "parts moving (implies --timeline and --events)")
    p.add_argument("--replay-window", type=_window, metavar="START:END",
                   help="the plant time the replay covers (implies --replay; default: from "
                        "warm-up, as much as keeps the page small)")

    p = sub.add_parser("compare", help="run every policy of the scenario on common random "
                                       "numbers; write compare.json and report.html")
    _experiment_options(p)
    p.add_argument("--baseline", help="policy the others are compared with (default: the first)")
    p.add_argument("--rank-by", choices=KPIS, help="KPI to rank by (default cost_rate)")
    _kpis_option(p)

    p = sub.add_parser("sweep", help="one run per parameter value (grids: repeat --param/--values);"
                                     " write sweep.json, sweep.csv, sweep.parquet, report.html")
    _experiment_options(p)
    p.add_argument("--param", dest="params", action="append", default=[], metavar="PATH",
                   help="scenario field to vary, by dotted path (repeatable)")
    p.add_argument("--values", dest="values", action="append", default=[], metavar="V1,V2,...",
                   help="its values, comma-separated YAML (one --values per --param)")
    p.add_argument("--rank-by", choices=KPIS,
                   help="KPI to pick the best by (default cost_rate)")
    _kpis_option(p)

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
    p.add_argument("--format", choices=("long", "cmapss"),
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
    p.add_argument("--holdout", type=_share,
                   help="with --data and no --test: share of the units held out")
    p.add_argument("--truncations", type=_positive_int,
                   help="with --data and no --test: random cuts per held-out life")
    p.add_argument("--age", action="store_true", default=None,
                   help="with --data: give the model each reading's operating age (time since "
                        "its life's first reading) as one more channel; such a model scores "
                        "recorded lives, not the twin's windows")
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
    p.add_argument("--images", type=_positive_int, default=None,
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

    p = sub.add_parser("validate", help="check a scenario file and its plant graph")
    p.add_argument("scenario", type=Path, help="scenario file (YAML)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="PATH=VALUE",
                   help="override a scenario field by dotted path; VALUE is YAML (repeatable)")

    p = sub.add_parser("show", help="draw the plant graph (HTML or SVG) without running it")
    p.add_argument("scenario", type=Path, help="scenario file (YAML)")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="plant.html or plant.svg (default: plant-<scenario>.html)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="PATH=VALUE",
                   help="override a scenario field by dotted path; VALUE is YAML (repeatable)")

    sub.add_parser("schema", help="print the JSON Schema of scenario files (plug-ins included), "
                                  "for editors and outside validators")

    p = sub.add_parser("fit", help="build a scenario from an event log (Parquet or CSV): graph, "
                                   "routing, fitted laws with censoring; write it and a report")
    p.add_argument("log", type=Path,
                   help="event log (.parquet, .csv, or a folder of .parquet parts)")
    p.add_argument("--out", type=Path, help="scenario file to write (default: <log>.yaml)")
    p.add_argument("--report", type=Path, help="fit report (default: <out>.html)")

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
    p.add_argument("--budget", type=_positive_int, help="trials (default 30)")
    p.add_argument("--sampler", choices=("tpe", "cmaes", "random"),
                   help="Optuna sampler (default tpe)")
    p.add_argument("--candidates", type=_positive_int,
                   help="best feasible points taken to the selection stage (default 5)")
    p.add_argument("--delta", type=_horizon, default=None,
                   help="indifference zone of the selection (default 1%% of the best mean)")
    p.add_argument("--pcs", type=_probability,
                   help="probability of correct selection (default 0.95)")
    p.add_argument("--max-replications", type=_positive_int,
                   help="cap on the replications of a candidate in the selection (default 200)")
    p.add_argument("--batch", type=_positive_int,
                   help="trials asked of the sampler at once, run together (default 1)")

    p = sub.add_parser("emulate", help="run a scenario in scaled real time, publishing a plant's "
                                       "events, machine states and sensor readings over MQTT "
                                       "(or serving them over OPC UA)")
    p.add_argument("scenario", type=Path, help="scenario file (YAML)")
    _transport(p, serve=True)
    p.add_argument("--speed", type=_horizon,
                   help="times faster than real time (default 1)")
    p.add_argument("--until", type=_horizon, metavar="T",
                   help="plant time to stop at (default: the scenario's horizon)")
    p.add_argument("--replication", type=int, help="which replication (default 0)")
    p.add_argument("--seed", type=_seed, help="random seed (default: the scenario's)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="PATH=VALUE",
                   help="override a scenario field by dotted path; VALUE is YAML (repeatable)")
    p.add_argument("--client-id", help="MQTT client id (default twin-emulate-<plant>)")
    p.add_argument("--save-state", type=Path, metavar="FILE",
                   help="write the plant's true state at the end (the format of run --state)")

    p = sub.add_parser("live", help="mirror a plant's state from its MQTT topics (or its OPC UA "
                                    "server); forecast from it; keep live/status.json and a "
                                    "report page")
    p.add_argument("scenario", type=Path, help="scenario file (YAML)")
    _transport(p, serve=False)
    p.add_argument("--forecast-every", type=_horizon, metavar="S",
                   help="seconds between forecasts (default 60)")
    p.add_argument("--horizon", type=_horizon, metavar="H",
                   help="look-ahead of a forecast, plant time (default: 8 hours)")
    p.add_argument("--replications", type=_positive_int,
                   help="replications of a forecast (default 10)")
    p.add_argument("--buckets", type=_horizon, metavar="WIDTH",
                   help="forecast KPIs per bucket of this width (default: horizon / 8)")
    p.add_argument("--tolerance", type=float, metavar="T",
                   help="plant time within which events out of order are put back in order "
                        "(default 5)")
    p.add_argument("--out", type=Path,
                   help="folder of status.json and index.html (default live)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="PATH=VALUE",
                   help="override a scenario field by dotted path; VALUE is YAML (repeatable)")
    p.add_argument("--client-id", help="MQTT client id (default twin-live-<plant>)")
    p.add_argument("--record", action="store_true",
                   help="write every event and reading received to Parquet under OUT/record "
                        "(parts of --record-rows rows)")
    p.add_argument("--record-rows", type=_positive_int, metavar="N",
                   help="rows per recorded part file (default 1048576)")
    p.add_argument("--schedule", type=Path, metavar="ORDERS",
                   help="re-plan this order list's open orders from the mirrored state and "
                        "publish their risk on twin/v1/{plant}/twin/schedule")
    p.add_argument("--schedule-every", type=_horizon, metavar="S",
                   help="seconds between re-plans (default 300)")

    p = sub.add_parser("schedule", help="plan orders from the plant's state (Gantt chart, "
                                        "schedule.parquet) and give each order's probability "
                                        "of meeting its due date (schedule.json)")
    _experiment_options(p)
    p.add_argument("--orders", type=Path, required=True, metavar="FILE",
                   help="order list (CSV or Parquet: order, product, quantity, release, due; "
                        "times on the plant's clock)")
    p.add_argument("--state", type=Path, metavar="FILE",
                   help="the plant's state the schedule starts from (the format of run --state)")
    p.add_argument("--rules", metavar="R1,R2,...",
                   help="also compare dispatching rules (fifo,edd,cr,...) on common random "
                        "numbers")
    p.add_argument("--risk", type=float, metavar="P",
                   help="an order is at risk under this probability of being on time "
                        "(default 0.8)")
    p.add_argument("--plan-failures", action="store_true",
                   help="the plan has failures too (at their mean times)")
    p.add_argument("--colour-by", choices=("product", "order"), default="product",
                   help="what colours the Gantt chart's bars")
    return parser


def suggest(parser: argparse.ArgumentParser, argv: Sequence[str], message: str) -> str:
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


def check_outputs(args: argparse.Namespace, folders: Sequence[str]) -> None:
    """Where the command writes, checked before it runs: ``--out`` of the commands in
    ``folders`` (or the default results folder) and ``--save-state``."""
    from twin.records.output import check_out

    check_out(getattr(args, "out", None), folder=args.command in folders,
              save_state=getattr(args, "save_state", None))


def check_train(args: argparse.Namespace) -> None:
    """The options of ``twin train`` that go together: those of recorded lives with ``--data``,
    a scenario or ``--data``, and no defect task on recorded lives."""
    if args.data is None:
        for option in ("rul_cap", "test", "test_rul", "holdout", "truncations",
                       "calibration_folds", "age"):
            if getattr(args, option) is not None:
                raise ArgumentError(f"--{option.replace('_', '-')} goes with --data")
        if args.scenario is None:
            raise ArgumentError("give a scenario to simulate histories from, or --data LIVES")
    elif args.task in ("defect", "inspect"):
        raise ArgumentError(f"--task {args.task} needs defect labels, which recorded lives do "
                            "not have: train from a scenario with a defects model")
    if args.images is not None and args.task != "inspect":
        raise ArgumentError("--images goes with --task inspect")


def paired(params: list[str], others: list[str], option: str) -> list[tuple[str, str]]:
    """Each ``--param`` with its ``option`` (``--values``, ``--range``): one of each, at least
    one pair."""
    if len(params) != len(others):
        raise ArgumentError(f"give one {option} for each --param ({len(params)} --param, "
                            f"{len(others)} {option})")
    if not params:
        raise ArgumentError(f"give at least one --param PATH with its {option}")
    return list(zip(params, others, strict=True))


def overrides_from(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """The scenario overrides of the command line: each ``--set PATH=VALUE``, then
    ``--replications``, ``--seed`` and ``--horizon`` where given."""
    from twin.language.overrides import parse_assignment

    overrides = [parse_assignment(text) for text in args.sets]
    for name in ("replications", "seed", "horizon"):
        value = getattr(args, name, None)
        if value is not None:
            overrides.append((name, value))
    return overrides


def scenario_from(args: argparse.Namespace) -> Scenario:
    """The scenario file of the command line, loaded with its overrides."""
    from twin.language.loading import load_scenario

    return load_scenario(args.scenario, overrides_from(args))


def executor_from(args: argparse.Namespace) -> Any:
    """The executor that ``--workers``, ``--executor`` and ``--scheduler`` ask for."""
    from twin.study.executors import make_executor

    return make_executor(args.workers, args.executor, args.scheduler)


def rest(args: argparse.Namespace) -> dict[str, Any]:
    """The options given (not None) besides the command, its scenario and its broker."""
    return {k: v for k, v in vars(args).items()
            if v is not None and k not in ("command", "scenario", "broker")}


def given(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The options among ``names`` the user gave (the library's defaults stand for the rest)."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}
