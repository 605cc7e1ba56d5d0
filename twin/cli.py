"""The ``twin`` command: a thin layer over the library API.

Exit status: 0 success; 2 invalid input (scenario file, ``--set``, arguments), reported on stderr
without a traceback; 1 anything else.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from twin import __version__
from twin.errors import InputError, TwinError
from twin.kpis import COMPACT, KPIS, headline_kpis, kpi_units
from twin.language.loading import dump_yaml, load_scenario
from twin.language.overrides import parse_assignment
from twin.language.schema import Scenario

EXIT_OK, EXIT_FAILURE, EXIT_INPUT = 0, 1, 2


class ArgumentError(Exception):
    pass


class Interrupted(Exception):
    pass


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


def _experiment_options(p: argparse.ArgumentParser, executors: bool = True) -> None:
    p.add_argument("scenario", type=Path, help="scenario file (YAML)")
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
                                     "the twin; save it for predictive policies")
    _experiment_options(p, executors=False)
    p.add_argument("--predictor", required=True, help="predictor name (twin train --list)")
    p.add_argument("--steps", type=_positive_int, default=30, help="readings per window")
    p.add_argument("--stride", type=_positive_int, default=5, help="readings between windows")
    p.add_argument("--label-horizon", type=_horizon, default=200.0,
                   help="for failure models: label 1 when the failure comes within this time")
    p.add_argument("--task", choices=("failure", "defect"), default="failure",
                   help="what a risk model learns: failure within --label-horizon, or whether a "
                        "part made then is defective")
    p.add_argument("--allow-import", action="store_true",
                   help="allow --predictor module:Class (imports that module)")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("validate", help="check a scenario file and its plant graph")
    p.add_argument("scenario", type=Path, help="scenario file (YAML)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="PATH=VALUE")
    p.set_defaults(handler=cmd_validate)
    return parser


def overrides_from(args: argparse.Namespace) -> list[tuple[str, Any]]:
    overrides = [parse_assignment(text) for text in args.sets]
    for name in ("replications", "seed", "horizon"):
        value = getattr(args, name, None)
        if value is not None:
            overrides.append((name, value))
    return overrides


def scenario_from(args: argparse.Namespace) -> Scenario:
    return load_scenario(args.scenario, overrides_from(args))


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from twin.language.plant import plant_graph

    scenario = scenario_from(args)
    graph = plant_graph(scenario)
    kinds: dict[str, int] = {}
    for _, kind in graph.nodes(data="kind"):
        kinds[kind] = kinds.get(kind, 0) + 1
    parts = ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in sorted(kinds.items()))
    console.print(
        f"{args.scenario}: ok: scenario {scenario.name!r}, {parts}, {graph.number_of_edges()} "
        f"edges, {len(scenario.policies)} policies", highlight=False, soft_wrap=True)
    return EXIT_OK


def progress_bar(label: str, total: int) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    err = Console(stderr=True)
    progress = Progress("[progress.description]{task.description}", BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True,
                        disable=not err.is_terminal)
    task = progress.add_task(label, total=total)
    return progress, lambda done, _total: progress.update(task, completed=done)


def executor_from(args: argparse.Namespace) -> Any:
    from twin.study.executors import make_executor

    if args.executor == "dask" and not args.scheduler:
        raise ArgumentError("--executor dask needs --scheduler ADDRESS")
    if args.scheduler and args.executor != "dask":
        raise ArgumentError("--scheduler goes with --executor dask")
    return make_executor(args.workers, args.executor, args.scheduler)


def resume_hint(out: Path) -> str:
    return (f"finished replications are saved in {out}; run the same command with "
            f"--out {out} to go on from there")


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from twin.report import run_report
    from twin.study.output import default_out, write_json, write_parquet, write_text
    from twin.study.runner import run

    scenario = scenario_from(args)
    executor = executor_from(args)
    out = args.out or default_out(scenario.name)
    progress, update = progress_bar(f"{scenario.name}: replications", scenario.replications)
    with progress:
        result = run(scenario, executor=executor, progress=update, timeline=args.timeline,
                     sensor_dir=None if args.no_sensors else out / "sensors")
    write_text(out / "scenario.yaml", dump_yaml(scenario))
    write_parquet(out / "replications.parquet", result.replication_table())
    write_parquet(out / "machines.parquet", result.machine_table())
    timeline = result.timeline_table()
    if timeline is not None:
        write_parquet(out / "timeline.parquet", timeline)
    inventory = result.inventory_table()
    if inventory is not None:
        write_parquet(out / "inventory.parquet", inventory)
    write_json(out / "summary.json", result.summary)
    readings = None
    if (out / "sensors").exists():
        readings = pd.read_parquet(out / "sensors", filters=[("replication", "==", 0)])
    write_text(out / "report.html", run_report(result.summary, readings, inventory))
    print_summary(console, result.summary)
    print_warnings(result.summary)
    console.print(f"results: {out}", highlight=False, soft_wrap=True)
    return EXIT_OK


def cmd_train(args: argparse.Namespace, console: Console) -> int:
    from twin.ml.predictor import save_predictor
    from twin.ml.registry import create
    from twin.ml.training import (
        defect_labels,
        histories,
        phm_score,
        rmse,
        split_by_life,
        windows,
    )
    from twin.study.output import default_out, write_json

    predictor = create(args.predictor, allow_imports=args.allow_import)
    scenario = scenario_from(args)
    watched = [n for n, s in scenario.plant.nodes.items()
               if getattr(s, "sensors", None) and getattr(s, "degradation", None)]
    if not watched:
        raise InputError(str(args.scenario), [(("plant", "nodes"), "no machine has both a "
                                               "degradation model and sensors to learn from",
                                               None)])
    out = args.out or default_out(f"{scenario.name}-{args.predictor}")
    console.print(f"simulating {scenario.replications} run-to-failure histories of "
                  f"{', '.join(watched)}", highlight=False)
    data = windows(histories(scenario), steps=args.steps, stride=args.stride)
    train, test = split_by_life(data, seed=scenario.seed)
    metrics: dict[str, Any] = {"windows": int(len(data.rul)), "train_lives":
                               int(len(set(data.life[train]))),
                               "test_lives": int(len(set(data.life[test])))}
    if predictor.task == "rul":
        predictor.fit(data.X[train], data.rul[train])
        predicted = predictor.predict(data.X[test])
        metrics.update(rul_rmse=rmse(predicted, data.rul[test]),
                       phm_score=phm_score(predicted, data.rul[test]),
                       constant_rmse=rmse(np.full(test.sum(), data.rul[train].mean()),
                                          data.rul[test]))
    else:
        if args.task == "defect":
            y = defect_labels(data, scenario, seed=scenario.seed)
        else:
            y = (data.rul <= args.label_horizon).astype(int)
        predictor.fit(data.X[train], y[train])
        alarm = predictor.predict(data.X[test]) >= 0.5
        truth = y[test] == 1
        tp = int((alarm & truth).sum())
        metrics.update(precision=tp / max(int(alarm.sum()), 1),
                       recall=tp / max(int(truth.sum()), 1),
                       mean_alarm_lead=float(data.rul[test][alarm & truth].mean())
                       if tp and args.task == "failure" else None)
    save_predictor(predictor, args.predictor, out / "model", {
        "scenario": scenario.name, "sensors": data.sensors, "steps": args.steps,
        "stride": args.stride, "label_horizon": args.label_horizon,
        "task": predictor.task if predictor.task == "rul" else args.task, "metrics": metrics})
    write_json(out / "metrics.json", metrics)
    table = Table(title=f"{args.predictor} ({predictor.task}) on held-out lives")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, "-" if value is None else f"{value:,.4g}")
    console.print(table)
    console.print(f"model: {out / 'model.json'}", highlight=False, soft_wrap=True)
    return EXIT_OK


def cmd_compare(args: argparse.Namespace, console: Console) -> int:
    from twin.report import compare_report
    from twin.study.output import default_out, write_json, write_text
    from twin.study.variants import compare

    scenario = scenario_from(args)
    executor = executor_from(args)
    out = args.out or default_out(scenario.name)
    total = scenario.replications * max(1, len(scenario.policies))
    progress, update = progress_bar(f"{scenario.name}: policies x replications", total)
    try:
        with progress:
            doc = compare(scenario, baseline=args.baseline, rank_by=args.rank_by,
                          executor=executor, out=out, progress=update)
    except KeyboardInterrupt:
        raise Interrupted(resume_hint(out)) from None
    write_json(out / "compare.json", doc)
    write_text(out / "report.html", compare_report(doc))
    print_compare(console, doc, args.kpis)
    console.print(f"results: {out}", highlight=False, soft_wrap=True)
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace, console: Console) -> int:
    from twin.report import sweep_report
    from twin.study.output import default_out, write_csv, write_json, write_parquet, write_text
    from twin.study.variants import grid, parse_values, sweep

    if len(args.params) != len(args.values):
        raise ArgumentError(f"give one --values for each --param ({len(args.params)} --param, "
                            f"{len(args.values)} --values)")
    if not args.params:
        raise ArgumentError("give at least one --param PATH with its --values V1,V2,...")
    factors = [(p, parse_values(v, p)) for p, v in zip(args.params, args.values, strict=True)]
    scenario = scenario_from(args)
    executor = executor_from(args)
    out = args.out or default_out(scenario.name)
    total = scenario.replications * len(grid(scenario, factors))
    progress, update = progress_bar(f"{scenario.name}: points x replications", total)
    try:
        with progress:
            doc, rows = sweep(scenario, factors, rank_by=args.rank_by, executor=executor,
                              out=out, progress=update)
    except KeyboardInterrupt:
        raise Interrupted(resume_hint(out)) from None
    write_json(out / "sweep.json", doc)
    write_csv(out / "sweep.csv", rows)
    write_parquet(out / "sweep.parquet", rows)
    write_text(out / "report.html", sweep_report(doc))
    print_sweep(console, doc, args.kpis)
    console.print(f"results: {out}", highlight=False, soft_wrap=True)
    return EXIT_OK


def print_compare(console: Console, doc: dict[str, Any], chosen: list[str] | None = None) -> None:
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
                          f"time unit {unit})",
                    caption="rank: 1 + the policies significantly better (paired 95% interval), "
                            "never above a better mean")
    ranking.add_column("rank")
    ranking.add_column("policy")
    ranking.add_column("mean", justify="right")
    ranking.add_column("not distinguishable from")
    for entry in doc["ranking"]:
        verdict = ", ".join(entry["not_distinguishable_from"])
        ranking.add_row(str(entry["rank"]), entry["name"],
                        _number(entry["mean"], _digits(entry["mean"])), verdict)
    console.print(ranking)


def print_sweep(console: Console, doc: dict[str, Any], chosen: list[str] | None = None) -> None:
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
    digits = max(0, 1 - math.floor(math.log10(half))) if half > 0 else 3
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


def print_summary(console: Console, summary: dict[str, Any]) -> None:
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
    for header in MACHINE_COLUMNS.values():
        machines.add_column(header, justify="right")
    for name, stats in summary["machines"].items():
        cells = []
        for column in MACHINE_COLUMNS:
            mean = stats[column]["mean"]
            cells.append(_number(mean, 1 if column in ("failures", "preventive") else 3))
        machines.add_row(name, *cells)
    console.print(machines)


def print_supply(console: Console, summary: dict[str, Any]) -> None:
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


def main(argv: Sequence[str] | None = None) -> int:
    console = Console()
    if not console.is_terminal:  # a log or a pipe: wide enough that tables do not wrap
        console = Console(width=150)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        args = build_parser().parse_args(argv)
        handler: Callable[[argparse.Namespace, Console], int] = args.handler
        return handler(args, console)
    except ArgumentError as exc:
        err.print(f"error: {exc}", markup=False)
        return EXIT_INPUT
    except InputError as exc:
        err.print(f"error: {exc.render()}", markup=False)
        return EXIT_INPUT
    except TwinError as exc:
        err.print(f"error: {exc}", markup=False)
        return EXIT_FAILURE
    except Interrupted as exc:
        err.print(f"interrupted: {exc}", markup=False)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - last resort: a message, and the trace on demand
        if os.environ.get("TWIN_DEBUG"):
            traceback.print_exc()
        err.print(f"error: {type(exc).__name__}: {exc} (set TWIN_DEBUG=1 for the traceback)",
                  markup=False)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
