"""A Gymnasium environment of maintenance decisions on any scenario with machines that wear.

    import gymnasium, twin.gym
    env = gymnasium.make("twin/Maintenance-v0", scenario="scenarios/wear.yaml")
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

The scenario's maintenance policy is replaced by ``{kind: agent, model: null}``: every machine
that wears is governed by the agent, and nothing else plans its maintenance. Each step runs the
SimPy model one decision epoch further (``env.run(until=next epoch)``): first the action is
applied (one bit per watched machine, in name order: 0 continue, 1 maintain, at once if the
machine waits, else after its part; ignored for a machine down, in repair or in maintenance),
then the plant runs, and the reward is minus the cost incurred in the epoch (corrective and
preventive maintenance, scrap, shipped defects). Observations are ``twin.ml.agent.Observer``'s:
per machine its age over a typical life, whether it is unavailable, and its latest sensor
features. An episode is one replication of ``episode`` time units (truncated there); the
replication number is drawn from the reset's seed, so a seed fixes the episode.

``python -m twin.gym train SCENARIO --timesteps N --out DIR`` trains a PPO agent
(stable-baselines3, the ``rl`` extra) and saves its policy network for the maintenance policy
``{kind: agent, model: DIR/agent.json}`` (numpy only at play time).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from twin.engine.loop import advance
from twin.language.loading import load_scenario, scenario_from_data, to_data
from twin.language.policies import Agent
from twin.language.schema import Scenario
from twin.ml.agent import BOUND, AgentModel, Observer, act, life_scale

ENV_ID = "twin/Maintenance-v0"


def agent_scenario(scenario: Scenario | str | Path, *, episode: float | None = None,
                   duration: Any = None) -> Scenario:
    """The scenario with its maintenance left to an agent (``{kind: agent, model: null}``),
    no warmup and a horizon of ``episode`` (default: the scenario's)."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    data = to_data(scenario)
    old = data["maintenance"]["policy"]
    if duration is None:
        duration = old.get("duration") if isinstance(old, dict) else None
    data["maintenance"]["policy"] = {"kind": "reactive"}
    data["warmup"] = 0
    if episode is not None:
        data["horizon"] = episode
    data["policies"] = {}
    checked = scenario_from_data(data, scenario.name, {}, check_policies=False,
                                 folder=scenario._folder)
    # the agent without a model: valid as a schema, refused in files (nobody would decide)
    spec = Agent.model_validate({"kind": "agent", "model": None,
                                 "duration": duration if duration is not None else 20})
    out = checked.model_copy(update={
        "maintenance": checked.maintenance.model_copy(update={"policy": spec})})
    out._folder = checked._folder
    if not any(getattr(n, "degradation", None) is not None for n in out.plant.nodes.values()):
        raise ValueError(f"scenario {scenario.name!r} has no machine that wears (degradation)")
    return out


class MaintenanceEnv(gymnasium.Env[np.ndarray, np.ndarray]):
    """Continue or maintain each machine that wears, every ``every`` time units."""

    metadata = {"render_modes": []}

    def __init__(self, scenario: Scenario | str | Path = "scenarios/wear.yaml", *,
                 every: float = 30.0, episode: float = 20_000.0, window: int = 10,
                 duration: Any = None, render_mode: str | None = None) -> None:
        self.scenario = agent_scenario(scenario, episode=episode, duration=duration)
        self.every = float(every)
        self.window = window
        self.render_mode = render_mode
        self.ctx: Any = None
        self.observer: Observer | None = None
        probe = self._build(0)
        self.names = probe.names
        self.layout = probe.layout()
        self.action_space = spaces.MultiBinary(len(self.names))
        self.observation_space = spaces.Box(-BOUND, BOUND, shape=(probe.size,),
                                            dtype=np.float32)
        self.ctx = None
        self._cost = 0.0

    def _build(self, replication: int) -> Observer:
        from twin.engine.replication import build

        self.ctx = build(self.scenario, replication)
        mine = {n: m for n, m in self.ctx.machines.items()
                if m.upkeep is self.ctx.maintenance}
        self.observer = Observer(mine, self.ctx.sensors,
                                 {n: life_scale(self.ctx.spec(n)) for n in mine}, self.window)
        return self.observer

    def _costs(self) -> float:
        prices = self.scenario.costs
        ctx = self.ctx
        machines = ctx.machines.values()
        return (sum(m.failures for m in machines) * prices.corrective
                + sum(m.preventive for m in machines) * prices.preventive
                + sum(s.scrapped for s in ctx.sinks.values()) * prices.scrap
                + sum(s.escaped for s in ctx.sinks.values()) * prices.escaped_defect)

    def _info(self) -> dict[str, Any]:
        machines = self.ctx.machines
        return {"time": float(self.ctx.env.now), "cost": self._cost,
                "failures": {n: machines[n].failures for n in self.names},
                "preventive": {n: machines[n].preventive for n in self.names}}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode: a new replication (drawn from ``seed``, or ``options["replication"]``),
        run to its first instant; returns the first observation and the info."""
        super().reset(seed=seed)
        replication = (int(options["replication"]) if options and "replication" in options
                       else int(self.np_random.integers(0, 2**31 - 1)))
        observer = self._build(replication)
        advance(self.ctx.env, 1e-9)  # processes start; statistics reset (no warmup)
        self._cost = self._costs()
        return observer.observe(self.ctx.env.now), self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply ``action`` (one bit per watched machine: 1 maintain) and run one decision epoch;
        returns the observation, the reward (minus the cost incurred), terminated (never), truncated
        (at the episode's end) and the info.

        Raises RuntimeError if called before ``reset``.
        """
        if self.ctx is None or self.observer is None:
            raise RuntimeError("call reset() before step()")
        act(self.observer, np.asarray(action))
        env = self.ctx.env
        advance(env, min(env.now + self.every, self.scenario.horizon))
        cost = self._costs()
        reward = -(cost - self._cost)
        self._cost = cost
        truncated = env.now >= self.scenario.horizon - 1e-9
        return self.observer.observe(env.now), float(reward), False, truncated, self._info()


if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="twin.gym:MaintenanceEnv")


# --------------------------------------------------------------------------- training


def export_policy(model: Any, env: MaintenanceEnv, meta: dict[str, Any]) -> AgentModel:
    """The deterministic policy of a stable-baselines3 PPO ``MlpPolicy`` as an ``AgentModel``:
    its policy layers, then the action layer (Bernoulli logits)."""
    import torch

    policy = model.policy
    layers = [m for m in policy.mlp_extractor.policy_net if isinstance(m, torch.nn.Linear)]
    layers.append(policy.action_net)
    activation = "tanh" if any(isinstance(m, torch.nn.Tanh)
                               for m in policy.mlp_extractor.policy_net) else "relu"
    weights = [(layer.weight.detach().cpu().numpy().astype(np.float64),
                layer.bias.detach().cpu().numpy().astype(np.float64)) for layer in layers]
    meta = {**meta, "observation": env.layout, "every": env.every, "window": env.window}
    return AgentModel(weights, activation, meta)


def train_agent(scenario: Scenario | str | Path, out: str | Path, *, timesteps: int = 200_000,
                every: float = 30.0, episode: float = 20_000.0, seed: int = 0,
                envs: int = 2, log: Any = print) -> Path:
    """Train a PPO agent on the scenario's environment; save it as ``out/agent.json`` (and
    ``agent.npz``); return its path. Needs stable-baselines3 (``pip install 'twin[rl]'``)."""
    try:
        import torch
        from stable_baselines3 import PPO
        from stable_baselines3.common.callbacks import BaseCallback
        from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize
    except ImportError as exc:  # pragma: no cover - the rl extra
        raise SystemExit(f"training needs the rl extra (pip install 'twin[rl]'): {exc}") from None

    torch.set_num_threads(1)
    source = str(scenario) if not isinstance(scenario, Scenario) else scenario.name

    def make() -> MaintenanceEnv:
        return MaintenanceEnv(scenario, every=every, episode=episode)

    vec = SubprocVecEnv([make] * envs) if envs > 1 else DummyVecEnv([make])
    venv = VecNormalize(vec, norm_obs=False, norm_reward=True, gamma=0.995)
    venv.seed(seed)
    model = PPO("MlpPolicy", venv, n_steps=512, batch_size=256, gamma=0.995, gae_lambda=0.95,
                learning_rate=3e-4, ent_coef=0.0, seed=seed, device="cpu",
                policy_kwargs={"net_arch": [32, 32]}, verbose=0)
    started = time.perf_counter()
    every_log = max(1, timesteps // 10)

    class Log(BaseCallback):
        """Logs the steps taken and the time spent about ten times over the training."""

        def _on_step(self) -> bool:
            if self.num_timesteps % every_log < envs:
                log(f"{self.num_timesteps} steps, {time.perf_counter() - started:.0f} s")
            return True

    model.learn(total_timesteps=timesteps, callback=Log())
    seconds = time.perf_counter() - started
    probe = make()
    agent = export_policy(model, probe, {
        "scenario": source, "algorithm": "PPO (stable-baselines3)", "timesteps": timesteps,
        "episode": episode, "seed": seed, "train_seconds": round(seconds, 1)})
    path = agent.save(Path(out) / "agent.json")
    log(f"trained {timesteps} steps in {seconds:.0f} s; agent: {path}")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m twin.gym train``: train a PPO agent on a scenario and save it; returns 0."""
    parser = argparse.ArgumentParser(prog="python -m twin.gym",
                                     description="train a PPO maintenance agent on a scenario")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train and save an agent for {kind: agent, model: PATH}")
    p.add_argument("scenario", type=Path)
    p.add_argument("--out", type=Path, required=True, help="folder for agent.json, agent.npz")
    p.add_argument("--timesteps", type=int, default=200_000)
    p.add_argument("--every", type=float, default=30.0, help="decision epoch")
    p.add_argument("--episode", type=float, default=20_000.0, help="time units per episode")
    p.add_argument("--envs", type=int, default=2,
                   help="environments stepped together, one process each (default 2)")
    p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    train_agent(args.scenario, args.out, timesteps=args.timesteps, every=args.every,
                episode=args.episode, seed=args.seed, envs=args.envs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
