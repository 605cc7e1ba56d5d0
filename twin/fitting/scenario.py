"""The fitted plant as a scenario file in twin's scenario language.

The written file is checked by the scenario loader (``scenario_from_data``) before it is
written, so ``twin validate`` accepts it. Process times are pooled over products (the language
has one law per machine; the fit report gives each product's). The preventive maintenance age
is the median operating age at which maintenance started. Edges whose parts vehicles carried go
``by`` the fitted fleet, whose ``transport`` section gives distances as travel times (``speed:
1``; ``twin.fitting.transport``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from twin.errors import InputError
from twin.fitting.laws import significant
from twin.fitting.transport import FLEET

if TYPE_CHECKING:
    from twin.fitting.fit import FitResult


def scenario_data(result: FitResult, name: str) -> dict[str, Any]:
    """The fitted plant as scenario data (what the YAML file holds), named ``name``."""
    obs, graph = result.obs, result.graph
    nodes: dict[str, Any] = {}
    for node, kind in graph.kinds.items():
        if kind == "source":
            spec: dict[str, Any] = {"kind": "source"}
            if node in result.arrivals:
                spec["interarrival"] = result.arrivals[node].spec()
        elif kind in ("sink", "scrap"):
            spec = {"kind": "sink"} if kind == "sink" else {"kind": "sink", "scrap": True}
        elif kind == "buffer":
            spec = {"kind": "buffer", "capacity": int(obs.buffer_max.get(node, 0))}
        else:
            mf = result.fits[node]
            spec = {"kind": "machine",
                    "process_time": mf.process.spec() if mf.process is not None else 0.0}
            if mf.lives is not None and mf.repairs is not None:
                spec["failures"] = {"ttf": mf.lives.spec(), "ttr": mf.repairs.spec()}
            if mf.setup is not None and mf.setup_batch is not None:
                spec["setup"] = {"batch": mf.setup_batch, "duration": mf.setup.spec()}
        nodes[node] = spec
    edges: list[Any] = []
    transport = result.transport
    for e in graph.edges:
        # carried: most of the edge's parts went by vehicle (a buffer's are pulled, never)
        by = transport is not None and graph.kinds.get(e.source) != "buffer" \
            and 2 * transport.carried.get((e.source, e.target), 0) >= e.count > 0
        if e.p is None and not by:
            edges.append([e.source, e.target])
        else:
            edge: dict[str, Any] = {"from": e.source, "to": e.target}
            if e.p is not None:
                edge["p"] = float(e.p)
            if by:
                assert transport is not None
                edge["by"] = FLEET
            edges.append(edge)
    maintenance: dict[str, Any] = {"crew": result.crew.size}
    if result.crew.response is not None:
        maintenance["response_time"] = result.crew.response.spec()
    if result.pm_every is not None and result.pm_duration is not None:
        maintenance["policy"] = {"kind": "preventive", "every": significant(result.pm_every),
                                 "duration": result.pm_duration.spec()}
    else:
        maintenance["policy"] = {"kind": "reactive"}
    reps = len(obs.replications)
    return {
        "name": name,
        "description": (f"fitted by twin fit from {result.log.source} ({obs.events:,} events, "
                        f"{reps} replication{'s' if reps > 1 else ''}; log throughput "
                        f"{obs.throughput():.6g} per time unit)"),
        "horizon": significant(obs.span),
        "warmup": 0.0,
        "replications": max(reps, 5),
        "seed": 1,
        "plant": {"nodes": nodes, "edges": edges},
        "maintenance": maintenance,
        **({"transport": transport.spec()}
           if transport is not None and any("by" in e for e in edges if isinstance(e, dict))
           else {}),
    }


def check(result: FitResult) -> None:
    """Validate the scenario as the loader does; problems name the log."""
    from twin.language.loading import scenario_from_data

    try:
        scenario_from_data(result.scenario, source="<fitted scenario>")
    except InputError as exc:
        raise InputError(result.log.source, [
            ((), f"the plant it shows is not a valid scenario: {exc.render()}", None)]) from None


def write_scenario(result: FitResult, path: Path) -> Path:
    """Check the fitted scenario as the loader does, then write it to ``path`` as YAML with a header
    saying how it was fitted; returns ``path``.

    Raises InputError if the fitted scenario does not validate.
    """
    from twin.records.output import write_text

    check(result)
    header = (f"# Fitted by `twin fit {result.log.source}`: laws chosen by AIC among "
              "exponential, gamma,\n# lognormal, weibull, normal, constant and empirical; "
              "times to failure fitted with right\n# censoring. The fit report gives every "
              "parameter's 95% interval.\n")
    if "transport" in result.scenario:
        header += ("# transport: distances are travel times (speed 1): the median of unload - "
                   "travel per pair\n# of nodes; load and unload times are medians; the fleet's "
                   "size is a lower bound (the\n# most trips under way at once). See the fit "
                   "report.\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, header + yaml.safe_dump(result.scenario, sort_keys=False,
                                             default_flow_style=None, width=100))
    return path
