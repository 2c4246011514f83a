"""The spiking policy as an RL Baselines3 Zoo user names it: a hyperparameter YAML."""

import subprocess
import sys
from pathlib import Path

import pytest
from stable_baselines3 import PPO

import agents

ROOT = Path(__file__).resolve().parents[2]

HYPERPARAMS = """
nspdi/GridMaze-v0:
  n_envs: 4
  n_timesteps: 2048
  policy: 'SpikingMlpPolicy'
  n_steps: 128
  batch_size: 128
  n_epochs: 2
  policy_kwargs: "dict(spiking=dict(hidden=(32,), time_steps=4))"
  callback:
    - agents.callbacks.NSPPruningCallback:
        schedule: {final: 0.8, end: 0.5}
        total_timesteps: 2048
"""


@pytest.mark.slow
def test_rl_zoo_trains_and_the_result_loads(tmp_path):
    conf = tmp_path / "hyperparams.yml"
    conf.write_text(HYPERPARAMS)
    cmd = [
        sys.executable,
        "-m",
        "rl_zoo3.train",
        "--algo",
        "ppo",
        "--env",
        "nspdi/GridMaze-v0",
        "--gym-packages",
        "envs",
        "agents",
        "--conf-file",
        str(conf),
        "-f",
        str(tmp_path / "logs"),
        "--seed",
        "0",
        "--eval-freq",
        "-1",
        "--num-threads",
        "1",
        "--env-kwargs",
        "obs_mode:'full'",
    ]
    result = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (saved,) = (tmp_path / "logs" / "ppo").glob("*/nspdi-GridMaze-v0.zip")
    model = PPO.load(saved)
    assert isinstance(model.policy, agents.SpikingActorCriticPolicy)
    assert model.policy.actor_network().config.hidden == (32,)
    sparsity = model.policy.measure(model.observation_space.sample()[None])["sparsity"]
    assert abs(sparsity - 0.8) < 0.005  # the zoo ran the pruning callback to its end
