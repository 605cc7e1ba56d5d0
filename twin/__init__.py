"""twin: a digital-twin discrete-event simulator for manufacturing lines.

The library API (the ``twin`` command is a thin layer over it)::

    from twin import load_scenario, run, save_run
    scenario = load_scenario("scenarios/default.yaml", overrides=[("replications", 3)])
    result = run(scenario)
    result.summary["kpis"]["throughput"]
    save_run(result, "results/default")     # what `twin run` writes (twin.report.save)

``compare`` and ``sweep`` run studies of several variants, ``optimize`` searches parameters and
selects the best statistically, ``train`` fits a predictor on the twin's own histories.
"""

from __future__ import annotations

from importlib import import_module  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

from twin.errors import InputError, TwinError  # noqa: E402
from twin.records import __version__  # noqa: E402

_WHERE = {
    "ReplicationResult": "twin.engine.replication", "simulate": "twin.engine.replication",
    "RunOptions": "twin.engine.options",
    "load_scenario": "twin.language.loading", "policy_scenario": "twin.language.loading",
    "scenario_from_data": "twin.language.loading", "Scenario": "twin.language.schema",
    "TrainResult": "twin.ml.training", "train": "twin.ml.training",
    "Constraint": "twin.study.optimize", "Param": "twin.study.optimize",
    "optimize": "twin.study.optimize", "RunResult": "twin.study.runner", "run": "twin.study.runner",
    "save_run": "twin.report.save",
    "compare": "twin.study.variants", "sweep": "twin.study.variants",
}
"""Where each name of the library lives: imported when first used, so the command line starts
quickly and loads simulation, training and plotting only on the paths that need them."""


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'twin' has no attribute {name!r}")


if TYPE_CHECKING:
    from twin.engine.options import RunOptions
    from twin.engine.replication import ReplicationResult, simulate
    from twin.language.loading import load_scenario, policy_scenario, scenario_from_data
    from twin.language.schema import Scenario
    from twin.ml.training import TrainResult, train
    from twin.report.save import save_run
    from twin.study.optimize import Constraint, Param, optimize
    from twin.study.runner import RunResult, run
    from twin.study.variants import compare, sweep

__all__ = [
    "Constraint",
    "InputError",
    "Param",
    "ReplicationResult",
    "RunOptions",
    "RunResult",
    "Scenario",
    "TrainResult",
    "TwinError",
    "__version__",
    "compare",
    "load_scenario",
    "optimize",
    "policy_scenario",
    "run",
    "save_run",
    "scenario_from_data",
    "simulate",
    "sweep",
    "train",
]
