"""twin: a digital-twin discrete-event simulator for manufacturing lines.

The library API (the ``twin`` command is a thin layer over it)::

    from twin import load_scenario, run
    scenario = load_scenario("scenarios/default.yaml", overrides=[("replications", 3)])
    result = run(scenario)
    result.summary["kpis"]["throughput"]
    result.save("results/default")          # what `twin run` writes

``compare`` and ``sweep`` run studies of several variants, ``optimize`` searches parameters and
selects the best statistically, ``train`` fits a predictor on the twin's own histories.
"""

from __future__ import annotations

__version__ = "0.1.0"

from twin.engine.replication import ReplicationResult, simulate  # noqa: E402
from twin.errors import InputError, TwinError  # noqa: E402
from twin.language.loading import load_scenario, policy_scenario, scenario_from_data  # noqa: E402
from twin.language.schema import Scenario  # noqa: E402
from twin.ml.training import TrainResult, train  # noqa: E402
from twin.study.optimize import Constraint, Param, optimize  # noqa: E402
from twin.study.runner import RunResult, run  # noqa: E402
from twin.study.variants import compare, sweep  # noqa: E402

__all__ = [
    "Constraint",
    "InputError",
    "Param",
    "ReplicationResult",
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
    "scenario_from_data",
    "simulate",
    "sweep",
    "train",
]
