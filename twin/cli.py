"""The ``twin`` command: a thin layer over the library API.

Exit status: 0 success; 2 invalid input (scenario file, ``--set``, arguments), reported on stderr
without a traceback; 1 anything else.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.errors import InputError, TwinError
from twin.options import (
    ArgumentError,
    build_parser,
    check_outputs,
    check_train,
    executor_from,
    given,
    overrides_from,
    paired,
    rest,
    scenario_from,
    suggest,
)
from twin.records.output import NewFolders
from twin.report.console import (
    Console,
    Stdout,
    print_compare,
    print_line,
    print_optimize,
    print_paths,
    print_run_time,
    print_summary,
    print_sweep,
    print_trained,
    print_warnings,
    progress,
    stage_printer,
    validate_line,
)

if TYPE_CHECKING:
    from rich.console import Console as RichConsole


EXIT_OK, EXIT_FAILURE, EXIT_INPUT = 0, 1, 2


class Interrupted(Exception):
    """The command was interrupted: reported with the resume hint, exit status 1."""


OUT: list[Path] = []
"""The output folder of the command running, for the hint when it is interrupted."""
NEW = NewFolders()  # default output folders made: removed again if the command then fails


def cmd_fit(args: argparse.Namespace, console: RichConsole) -> int:
    """``twin fit``: fit a scenario to an event log, write it and its report, print the fits."""
    from twin.fitting.fit import fit_log
    from twin.fitting.text import print_fit

    out = args.out or args.log.with_suffix(".yaml")
    result = fit_log(args.log, out=out, report=args.report or out.with_suffix(".html"))
    print_fit(console, result)
    return EXIT_OK


def cmd_show(args: argparse.Namespace, console: RichConsole) -> int:
    """``twin show``: draw the plant graph, before anything runs."""
    from twin.view.show import show

    print_line(console, f"plant: {show(args.scenario, args.out, overrides_from(args))}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace, console: RichConsole) -> int:
    """``twin validate``: check the scenario and print one line counting its nodes, edges and
    policies."""
    scenario = scenario_from(args)
    print_line(console, validate_line(args.scenario, scenario))
    return EXIT_OK


def cmd_schema(args: argparse.Namespace, console: RichConsole) -> int:
    """``twin schema``: print the JSON Schema of scenario files, plug-ins included."""
    from twin.language.jsonschema import scenario_json_schema_text

    sys.stdout.write(scenario_json_schema_text())
    return EXIT_OK


def out_folder(args: argparse.Namespace, name: str, scenario: Any = None, runs: int = 0) -> Path:
    """``--out`` or a new results folder, after saying the run time of ``runs`` replications of
    ``scenario`` where long; remembered for the hint if the command is interrupted."""
    if scenario is not None:
        print_run_time(scenario, runs, getattr(args, "workers", None))
    OUT.append(args.out if args.out is not None else NEW.make(name))
    return OUT[-1]


def cmd_run(args: argparse.Namespace, console: RichConsole) -> int:
    """``twin run``: simulate the replications, save the results and report, print the summary."""
    from twin.study.runner import run

    scenario = scenario_from(args)
    state = None
    if args.state is not None:
        from twin.engine.state import load_state

        state = load_state(args.state, scenario)
    executor = executor_from(args)
    replay = args.replay or args.replay_window is not None
    if replay:
        from twin.view.replay import check_window

        check_window(args.replay_window, scenario.horizon)
    out = out_folder(args, scenario.name, scenario, scenario.replications)
    with progress(f"{scenario.name}: replications", scenario.replications) as update:
        result = run(scenario, executor=executor, progress=update,
                     timeline=args.timeline or replay,
                     sensor_dir=None if args.no_sensors else out / "sensors", out=out,
                     event_dir=out / "events" if args.events or replay else None, state=state,
                     save_state=args.save_state is not None, buckets=args.buckets or 0.0)
    if args.save_state is not None and result.end_state is not None:
        from twin.records.output import write_text

        write_text(args.save_state, result.end_state)
    from twin.report.save import save_run

    report = save_run(result, out, replay_window=args.replay_window)
    print_summary(console, result.summary)
    print_warnings(result.summary)
    print_paths(console, out, report)
    return EXIT_OK


def cmd_train(args: argparse.Namespace, console: RichConsole) -> int:
    """``twin train``: train a predictor on simulated histories or recorded lives, save it, and
    print its metrics on held-out lives."""
    check_train(args)
    scenario = scenario_from(args) if args.scenario is not None else None
    common = {"allow_imports": args.allow_import, "stage": stage_printer()}
    options = given(args, "steps", "stride", "label_horizon", "coverage", "conformal")
    if args.data is not None:
        from twin.ml.fromdata import train_from_data

        trained = train_from_data(args.data, args.predictor, **common, **options, **given(
            args, "format", "rul_cap", "test", "test_rul", "holdout", "truncations",
            "calibration_folds", "age"),
            **({"seed": scenario.seed} if scenario else given(args, "seed")))
    elif args.task == "inspect":
        from twin.ml.vision import train_inspection

        assert scenario is not None  # check_train: a scenario, or --data
        trained = train_inspection(scenario, args.predictor, **common, **given(args, "images"),
                                   source=str(args.scenario))
    else:
        from twin.ml.training import train

        assert scenario is not None
        with progress(f"{scenario.name}: histories", scenario.replications) as update:
            trained = train(scenario, args.predictor, **common, **options, task=args.task,
                            progress=update, source=str(args.scenario))
    name = scenario.name if scenario else args.data.stem
    out = out_folder(args, f"{name}-{args.predictor}")
    print_trained(console, trained, args.predictor, trained.save(out))
    return EXIT_OK


def cmd_compare(args: argparse.Namespace, console: RichConsole) -> int:
    """``twin compare``: run every policy of the scenario on common random numbers, print the
    comparison and ranking."""
    from twin.study.variants import check_compare, compare

    scenario = scenario_from(args)
    check_compare(scenario, args.baseline, **given(args, "rank_by"))
    executor = executor_from(args)
    total = scenario.replications * max(1, len(scenario.policies))
    out = out_folder(args, scenario.name, scenario, total)
    with progress(f"{scenario.name}: policies x replications", total) as update:
        doc = compare(scenario, baseline=args.baseline, **given(args, "rank_by"),
                      executor=executor, out=out, progress=update)
    from twin.report.save import save_compare

    report = save_compare(doc, out)
    print_compare(console, doc, args.kpis)
    print_paths(console, out, report)
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace, console: RichConsole) -> int:
    """``twin sweep``: run every point of the grid of ``--param``/``--values``, print the points and
    the best."""
    from twin.study.variants import grid, parse_values, sweep

    factors = [(p, parse_values(v, p)) for p, v in paired(args.params, args.values, "--values")]
    scenario = scenario_from(args)
    executor = executor_from(args)
    total = scenario.replications * len(grid(scenario, factors))
    out = out_folder(args, scenario.name, scenario, total)
    with progress(f"{scenario.name}: points x replications", total) as update:
        doc, _rows = sweep(scenario, factors, **given(args, "rank_by"), executor=executor,
                           out=out, progress=update)
    from twin.report.save import save_sweep

    report = save_sweep(doc, out)
    print_sweep(console, doc, args.kpis)
    print_paths(console, out, report)
    return EXIT_OK


def cmd_optimize(args: argparse.Namespace, console: RichConsole) -> int:
    """``twin optimize``: search the ``--param`` ranges for the best objective under the
    constraints, then select among the best candidates; print the selection."""
    from twin.study.optimize import (
        BUDGET,
        Param,
        check_optimize,
        optimize,
        parse_constraint,
        parse_range,
    )

    params = [Param(p, *parse_range(text, p)) for p, text in paired(args.params, args.ranges,
                                                                      "--range")]
    constraints = [parse_constraint(text) for text in args.constraints]
    scenario = scenario_from(args)
    search = given(args, "budget", "sampler", "candidates", "pcs", "max_replications", "batch")
    check_optimize(scenario, params, args.objective, constraints, delta=args.delta,
                   **{k: v for k, v in search.items() if k in ("budget", "sampler", "pcs")})
    executor = executor_from(args)
    trials = search.get("budget", BUDGET) * scenario.replications
    out = out_folder(args, scenario.name, scenario, trials)
    with progress(f"{scenario.name}: replications", trials) as update:
        doc = optimize(scenario, params, args.objective, maximize=args.maximize,
                       constraints=constraints, delta=args.delta, executor=executor, out=out,
                       progress=update, **search)
    from twin.report.save import save_optimize

    report = save_optimize(doc, out)
    print_optimize(console, doc)
    print_paths(console, out, report)
    return EXIT_OK


def cmd_emulate(args: argparse.Namespace, console: RichConsole) -> int:
    """``twin emulate``: play the scenario as a plant publishing on the broker, in scaled real
    time."""
    from twin.live.commands import emulate_command

    return emulate_command(args.scenario, args.broker, console, **rest(args))


def cmd_live(args: argparse.Namespace, console: RichConsole) -> int:
    """``twin live``: run the live twin of the scenario on the broker until Ctrl-C."""
    from twin.live.commands import live_command

    return live_command(args.scenario, args.broker, console, **rest(args))


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


def cmd_schedule(args: argparse.Namespace, console: RichConsole) -> int:
    """``twin schedule``: plan the orders from the plant's state, give each its risk of being
    late, and compare rules; print the risk table."""
    from twin.engine.state import load_state
    from twin.report.schedule import print_schedule, save_schedule
    from twin.study.schedule import load_orders, parse_rules, schedule

    scenario = scenario_from(args)
    state = load_state(args.state, scenario) if args.state is not None else None
    orders = load_orders(args.orders, scenario)
    rules = parse_rules(args.rules) if args.rules is not None else None
    executor = executor_from(args)
    out = out_folder(args, scenario.name)
    with progress(f"{scenario.name}: schedule", scenario.replications) as update:
        result = schedule(scenario, orders, state=state, rules=rules, executor=executor,
                          plan_failures=args.plan_failures, progress=update,
                          **given(args, "risk"))
    report = save_schedule(result, out, colour_by=args.colour_by)
    print_schedule(console, result.doc)
    print_paths(console, out, report)
    return EXIT_OK


HANDLERS: dict[str, Callable[[argparse.Namespace, Any], int]] = {
    "run": cmd_run, "compare": cmd_compare, "sweep": cmd_sweep, "train": cmd_train,
    "validate": cmd_validate, "schema": cmd_schema, "fit": cmd_fit, "optimize": cmd_optimize,
    "emulate": cmd_emulate, "live": cmd_live, "schedule": cmd_schedule, "show": cmd_show}
"""The handler of each command."""
FOLDERS = ("run", "compare", "sweep", "train", "optimize", "schedule", "live")
"""The commands whose ``--out`` is a folder (checked before anything runs)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``twin`` command with ``argv`` (the process's arguments by default); returns the exit
    status: 0 success, 2 invalid input, 1 anything else."""
    console: Any = Stdout()
    whole_process = argv is None  # the command line's own process, not a call from Python
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        _stderr().print(parser.format_help(), markup=False)
        return EXIT_INPUT
    OUT.clear()
    NEW.clear()
    with _interrupts():
        try:
            try:
                args = parser.parse_args(argv)
            except SystemExit as exc:  # --help, --version
                return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_INPUT
            except ArgumentError as exc:
                raise ArgumentError(suggest(parser, argv, str(exc))) from None
            handler: Callable[[argparse.Namespace, Any], int] = HANDLERS[args.command]
            check_outputs(args, FOLDERS)
            if whole_process and args.command == "validate":
                # it writes nothing, and its process ends when it does: the objects left (the
                # scenario language's schemas, mostly) go with the process, without the
                # collector's last passes over them, which cost a good share of the command
                atexit.register(gc.freeze)
            with NEW.undone_on_failure(keep=(Interrupted, KeyboardInterrupt)):
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
            from twin.records.output import resume_hint

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
