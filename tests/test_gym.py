"""The maintenance environment (twin.gym) and the agent policy that plays a trained agent."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

from gymnasium.utils.env_checker import check_env  # noqa: E402

from twin import load_scenario, run  # noqa: E402
from twin.gym import ENV_ID, MaintenanceEnv  # noqa: E402
from twin.ml.agent import AgentModel  # noqa: E402
from twin.study.executors import SerialExecutor  # noqa: E402

WEAR = Path(__file__).resolve().parents[1] / "scenarios" / "wear.yaml"


def test_environment_passes_gymnasiums_checks() -> None:
    env = gymnasium.make(ENV_ID, scenario=str(WEAR), episode=600.0)
    check_env(env.unwrapped)
    assert env.action_space == gymnasium.spaces.MultiBinary(1)
    assert env.observation_space.shape == (4,)  # press: age, unavailable, 2 sensors


def test_a_step_runs_one_epoch_and_the_reward_is_minus_the_cost() -> None:
    env = MaintenanceEnv(WEAR, every=30.0, episode=3000.0)
    obs, info = env.reset(seed=3)
    assert info["time"] == pytest.approx(0.0, abs=1e-6) and obs[0] == 0.0
    obs, reward, terminated, truncated, info = env.step(np.array([0]))
    assert info["time"] == pytest.approx(30.0) and not terminated and not truncated
    assert 0.2 < obs[0] * 1000 / 30 <= 1.0  # the press worked most of the epoch (life 1000)
    obs, reward, *_ , info = env.step(np.array([1]))  # maintain: one preventive, its price
    assert info["preventive"] == {"press": 1} and reward == -200.0
    assert obs[0] < 0.02  # renewed
    total, steps, truncated = 0.0, 2, False
    while not truncated:
        obs, reward, terminated, truncated, info = env.step(np.array([0]))
        total += reward
        steps += 1
    assert steps == 100 and info["time"] == pytest.approx(3000.0)
    assert -total == 2500 * info["failures"]["press"]
    # the same seed, the same episode
    again = MaintenanceEnv(WEAR, every=30.0, episode=3000.0)
    assert np.array_equal(again.reset(seed=3)[0], env.reset(seed=3)[0])


def test_a_saved_agent_plays_as_a_maintenance_policy(tmp_path: Path) -> None:
    # a hand-made agent: maintain when the vibration feature (about wear^2) exceeds 0.55
    env = MaintenanceEnv(WEAR)
    weights = [(np.array([[0.0, -100.0, 10.0, 0.0]]), np.array([-5.5]))]
    path = AgentModel(weights, "tanh", {"observation": env.layout, "every": 30.0,
                                        "window": 10}).save(tmp_path / "agent.json")
    assert json.loads(path.read_text())["format"] == "twin-agent/1"
    scenario = load_scenario(WEAR, [("maintenance.policy", {"kind": "agent", "model": str(path),
                                                            "duration": 20}),
                                    ("horizon", 10000), ("replications", 2)])
    summary = run(scenario, executor=SerialExecutor()).summary
    press = summary["machines"]["press"]
    assert press["preventive"]["mean"] > 5 * max(press["failures"]["mean"], 1)
    assert press["alarms"]["mean"] >= press["preventive"]["mean"]  # alarms count the warmup too
    reactive = run(load_scenario(WEAR, [("maintenance.policy", {"kind": "reactive"}),
                                        ("horizon", 10000), ("replications", 2)]),
                   executor=SerialExecutor()).summary
    assert summary["kpis"]["cost_rate"]["mean"] < 0.5 * reactive["kpis"]["cost_rate"]["mean"]


def test_an_agent_policy_without_a_model_is_refused_in_a_file() -> None:
    from twin.errors import InputError

    with pytest.raises(InputError, match="needs a saved agent"):
        load_scenario(WEAR, [("maintenance.policy", {"kind": "agent", "model": None,
                                                     "duration": 20})])


@pytest.mark.skipif(importlib.util.find_spec("stable_baselines3") is None,
                    reason="stable-baselines3 (the rl extra) is not installed")
def test_ppo_trains_and_exports_a_playable_agent(tmp_path: Path) -> None:
    from twin.gym import train_agent

    path = train_agent(WEAR, tmp_path, timesteps=256, episode=1500.0, envs=1,
                       log=lambda text: None)
    model = AgentModel.load(path)
    assert model.act(np.zeros(4, dtype=np.float32)).shape == (1,)
    assert model.meta["observation"] == {"press": ["age", "unavailable", "temperature",
                                                   "vibration"]}
