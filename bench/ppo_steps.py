"""Spiking PPO against SB3's MlpPolicy PPO on a maze, in one process.

The maze is the main job's (``agents.config.DEFAULT_ENV_ID``) unless ``--env``
names another (the study's grid maze, ``nspdi/GridMaze-v0``, was the main job's
maze until the maze ladder chose the point maze). Three candidates, same
hyperparameters (the runner's PPO defaults for that maze), run in turn within each
repeat so that they share the machine's state:

- ``MlpPolicy``: SB3's MLP (64-64 tanh) on the raw observation;
- ``MlpPolicy+population``: the same MLP fed the spiking policy's input, the
  observation population-coded with the same receptive fields (like with like);
- ``SpikingMlpPolicy``: the spiking NDI policy, pruned online to 90 %.

Prints training throughput (environment steps per second of ``model.learn``:
rollouts and updates together, median over ``--repeats``), the success rate the
runner's evaluation gives after the same number of timesteps, and each one's ratio
to the plain MLP. Run: ``python -m bench.ppo_steps [--env ID] [--timesteps N]
[--repeats R]``;
``NSPDI_KERNELS=0`` runs the spiking policy on the uncompiled LIF loop.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import gymnasium as gym
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

import agents  # noqa: F401  (registers "SpikingMlpPolicy")
import envs  # noqa: F401
from agents.callbacks import NSPPruningCallback
from agents.config import DEFAULT_ENV_ID, DEFAULT_OBS_MODE, env_defaults
from agents.evaluation import evaluate_maze
from agents.policies import DEFAULT_SPIKING, input_bounds
from nspdi_rl.network import Encoder
from nspdi_rl.pruning import PruningSchedule

CANDIDATES = ("MlpPolicy", "MlpPolicy+population", "SpikingMlpPolicy")


class PopulationFeatures(BaseFeaturesExtractor):
    """The observation population-coded as the spiking policies code it (their
    defaults: ``DEFAULT_SPIKING``'s fields per value over the space's bounds)."""

    def __init__(self, observation_space: spaces.Box) -> None:
        size = int(DEFAULT_SPIKING["population_size"])
        super().__init__(observation_space, int(observation_space.shape[0]) * size)
        low, high = input_bounds(observation_space) or (0.0, 1.0)
        self.encoder = Encoder("population", 1, low, high, size)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.encoder.encode_static(observations)


def maze_settings(env_id: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The runner's PPO defaults on ``env_id``: env kwargs, the algorithm's defaults
    (``n_envs``, ``hyperparams``) and the spiking network's options."""
    defaults = env_defaults(env_id)
    env_kwargs = dict(defaults.env_kwargs)
    if "GridMaze" in env_id:
        env_kwargs.setdefault("obs_mode", DEFAULT_OBS_MODE)
    spiking = dict(defaults.spiking)
    if env_kwargs.get("obs_mode") in ("full", "local"):
        spiking.setdefault("encoder", "direct")
    return env_kwargs, defaults.algo_defaults("ppo"), spiking


def run(
    candidate: str, env_id: str, timesteps: int, seed: int
) -> tuple[float, float, float | None]:
    env_kwargs, defaults, spiking = maze_settings(env_id)
    venv = make_vec_env(env_id, n_envs=defaults["n_envs"], seed=seed, env_kwargs=env_kwargs)
    policy, kwargs = candidate, {}
    if candidate == "MlpPolicy+population":
        policy, kwargs = "MlpPolicy", {"features_extractor_class": PopulationFeatures}
    elif candidate == "SpikingMlpPolicy" and spiking:
        kwargs = {"spiking": spiking}
    model = PPO(policy, venv, seed=seed, device="cpu", policy_kwargs=kwargs or None,
                **defaults["hyperparams"])  # fmt: skip
    callback = None
    if policy == "SpikingMlpPolicy":
        callback = NSPPruningCallback(PruningSchedule(final=0.9, end=0.8), timesteps)
    start = time.perf_counter()
    model.learn(timesteps, callback=callback)
    rate = model.num_timesteps / (time.perf_counter() - start)
    result = evaluate_maze(model, env_id, env_kwargs, n_episodes=env_defaults(env_id).eval_episodes)
    return rate, result["success_rate"], result["sparsity"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=DEFAULT_ENV_ID, help="the maze (default: %(default)s)")
    parser.add_argument("--timesteps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (train_maze uses 1)")
    args = parser.parse_args()
    if args.env not in gym.registry:
        parser.error(f"--env {args.env!r} is not a registered Gymnasium id")
    for name in ("timesteps", "repeats", "threads"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be > 0, got {getattr(args, name)}")
    torch.set_num_threads(args.threads)
    env_kwargs, _, _ = maze_settings(args.env)
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"os.cpu_count()={os.cpu_count()}, "
        f"{args.env} {env_kwargs}, {args.timesteps} timesteps x {args.repeats} repeats"
    )
    results: dict[str, list[tuple[float, float, float | None]]] = {c: [] for c in CANDIDATES}
    for r in range(args.repeats):  # interleaved: each repeat runs every candidate once
        for candidate in CANDIDATES:
            results[candidate].append(run(candidate, args.env, args.timesteps, args.seed + r))
    rows = {
        c: (
            statistics.median(x[0] for x in runs),
            statistics.median(x[1] for x in runs),
            runs[0][2],
        )
        for c, runs in results.items()
    }
    base = rows["MlpPolicy"][0]
    print("| policy | steps/s (learn) | vs MlpPolicy | success | sparsity |")
    print("|---|---|---|---|---|")
    for policy, (rate, success, sparsity) in rows.items():
        sp = "n/a" if sparsity is None else f"{sparsity:.3f}"
        print(f"| {policy} | {rate:,.0f} | {rate / base:.2f}x | {success:.2f} | {sp} |")


if __name__ == "__main__":
    main()
