"""twin: a digital-twin discrete-event simulator for manufacturing lines.

The library API (the ``twin`` command is a thin layer over it)::

    from twin import load_scenario, run
    scenario = load_scenario("scenarios/default.yaml", overrides=[("replications", 3)])
    result = run(scenario)
    result.summary["kpis"]["throughput"]
"""

from __future__ import annotations

__version__ = "0.1.0"

from twin.engine.replication import ReplicationResult, simulate  # noqa: E402
from twin.errors import InputError, TwinError  # noqa: E402
from twin.language.loading import load_scenario, policy_scenario, scenario_from_data  # noqa: E402
from twin.language.schema import Scenario  # noqa: E402
from twin.study.runner import RunResult, run  # noqa: E402

__all__ = [
    "InputError",
    "ReplicationResult",
    "RunResult",
    "Scenario",
    "TwinError",
    "__version__",
    "load_scenario",
    "policy_scenario",
    "run",
    "scenario_from_data",
    "simulate",
]
