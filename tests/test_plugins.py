"""A third-party package adds a node kind, a maintenance policy and a distribution through entry
points, without touching twin: a scenario uses them, ``twin validate`` knows their fields, ``twin run`` measures
them. The package is a real installed distribution (dist-info with entry_points.txt) put on the
path of a real ``twin`` process."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

LAWS = '''
from typing import Literal

from pydantic import Field

from twin.language.distributions import BaseDistribution


class Shifted(BaseDistribution):
    """A fixed part ``low`` plus an exponential part, with mean ``mean``."""

    dist: Literal["shifted"]
    low: float
    mean_: float = Field(alias="mean")

    def sample(self, rng, size):
        return self.low + rng.exponential(self.mean_ - self.low, size)

    def mean(self):
        return self.mean_
'''

PLUGIN = '''
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from twin.engine.flow import Level
from twin.engine.kinds import NodeKind
from twin.engine.policies import MaintenancePolicy
from twin.language.base import Frozen, PositiveNumber
from twin.language.distributions import Distribution
from twin.language.policies import PolicySpec


class DelayNode(Frozen):
    """Every part waits ``wait`` here, however many there are (a conveyor, a drying rack)."""

    kind: Literal["delay"]
    wait: PositiveNumber


class Delay:
    def __init__(self, env, wait, warmup):
        self.env, self.wait = env, wait
        self.route = None
        self.passed = 0
        self.inside = Level(env, warmup)
        warmup.register(self)  # statistics start when the warmup ends

    def reset(self):
        self.passed = 0

    def try_put(self, part):
        self.inside.add(1)
        self.env.process(self._hold(part))
        return True

    offer = try_put

    def _hold(self, part):
        yield self.env.timeout(self.wait)
        self.inside.add(-1)
        self.passed += 1
        dest = self.route()
        if not dest.try_put(part):
            yield dest.put(part)


class DelayKind(NodeKind):
    schema = DelayNode

    def place(self, ctx, name, spec):
        ctx.receivers[name] = ctx.nodes[name] = Delay(ctx.env, spec.wait, ctx.warmup)

    def build(self, ctx, name, spec):
        ctx.nodes[name].route = ctx.route(name)

    def measure(self, ctx, name, span):
        node = ctx.nodes[name]
        return {"passed": float(node.passed), "inside": node.inside.mean(ctx.scenario.horizon)}


class KFailures(PolicySpec):
    """Maintain a machine once it has failed ``k`` times since its last maintenance."""

    kind: Literal["k-failures"]
    k: Annotated[int, Field(ge=1)]
    duration: Distribution


class KFailuresPolicy(MaintenancePolicy):
    schema = KFailures
    scope = "maintenance"

    def __init__(self, spec, ctx):
        super().__init__(spec, ctx)
        self.count = {}

    def failed(self, machine):
        self.count[machine.name] = self.count.get(machine.name, 0) + 1
        if self.count[machine.name] >= self.spec.k:
            machine.call_maintenance()

    def maintained(self, machine):
        self.count[machine.name] = 0
'''

SCENARIO = """\
name: plugged
horizon: 40000
warmup: 1000
replications: 4
seed: 7
plant:
  nodes:
    parts: {kind: source, interarrival: {dist: exponential, mean: 2}}
    mill:  {kind: machine, process_time: {dist: exponential, mean: 1},
            failures: {ttf: {dist: exponential, mean: 200}, ttr: {dist: shifted, low: 0.5, mean: 1}}}
    rack:  {kind: delay, wait: 5}
    done:  {kind: sink}
  edges: [[parts, mill], [mill, rack], [rack, done]]
maintenance:
  crew: null
  policy: {kind: k-failures, k: 2, duration: 0.5}
"""


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    (root / "acme_plant.py").write_text(PLUGIN)
    (root / "acme_laws.py").write_text(LAWS)  # laws load with the language: a module of its own
    info = root / "acme_plant-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-plant\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[twin.node_kinds]\ndelay = acme_plant:DelayKind\n\n"
        "[twin.policies]\nk-failures = acme_plant:KFailuresPolicy\n\n"
        "[twin.distributions]\nshifted = acme_laws:Shifted\n")
    return root


def twin(plugin_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(plugin_path)}
    return subprocess.run([sys.executable, "-m", "twin.cli", *args], env=env, text=True,
                          capture_output=True, timeout=300)


def test_plugin_fields_get_did_you_mean(plugin_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    ok = twin(plugin_path, "validate", str(path))
    assert ok.returncode == 0, ok.stderr
    assert "1 delay" in ok.stdout

    bad = SCENARIO.replace("wait: 5", "wiat: 5").replace("k: 2,", "k: 2, durations: 3,")
    bad = bad.replace("low: 0.5", "lwo: 0.5")
    path.write_text(bad)
    out = twin(plugin_path, "validate", str(path))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "s.yaml:11: plant.nodes.rack.wiat: unknown field; did you mean 'wait'?" in out.stderr
    assert "maintenance.policy.durations: unknown field; did you mean 'duration'?" in out.stderr
    assert "plant.nodes.mill.failures.ttr.lwo: unknown field; did you mean 'low'?" in out.stderr

    path.write_text(SCENARIO.replace("kind: delay", "kind: dealy"))
    out = twin(plugin_path, "validate", str(path))
    assert out.returncode == 2
    assert "unknown kind 'dealy'; did you mean 'delay'?" in out.stderr

    # without the package the kind is unknown, and said so
    out = subprocess.run([sys.executable, "-m", "twin.cli", "validate", str(path)], text=True,
                         capture_output=True, timeout=60)
    assert out.returncode == 2 and "unknown kind" in out.stderr


def test_plugin_node_and_policy_are_simulated_and_measured(plugin_path: Path,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    out = tmp_path / "run"
    done = twin(plugin_path, "run", str(path), "--out", str(out), "--workers", "2")
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    # M/M/1 at load 0.5 (time in system 2, plus repairs) then a fixed wait of 5
    lead = summary["kpis"]["lead_time"]
    assert 6.9 < lead["mean"] < 7.4
    rack = summary["nodes"]["rack"]
    throughput = summary["kpis"]["throughput"]["values"]
    for passed, rate in zip(rack["passed"]["values"], throughput, strict=True):
        assert abs(passed - rate * 39000) <= 3  # every part passes the rack
    # Little's law in the rack: 5 time units times the throughput
    assert math.isclose(rack["inside"]["mean"], 5 * summary["kpis"]["throughput"]["mean"],
                        rel_tol=0.02)
    # one maintenance per two failures (one may be pending at the horizon, one half-counted
    # before the warmup)
    mill = summary["machines"]["mill"]
    for failures, pms in zip(mill["failures"]["values"], mill["preventive"]["values"],
                             strict=True):
        assert failures > 50  # about 100: 19,500 of operating time, mean life 200
        assert failures // 2 - 1 <= pms <= failures // 2 + 1  # a failure before the warmup
