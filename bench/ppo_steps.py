"""Spiking PPO against SB3's MlpPolicy PPO on a maze, in one process.

The maze is the main job's (``agents.config.DEFAULT_ENV_ID``) unless ``--env``
names another. Every candidate runs what ``python -m agents.train_maze --env ID
--algo ppo`` resolves (:func:`setup`: the per-env defaults, the env kwargs, the
shaping at the agent's discount, the pruning schedule), in turn within each repeat
so that they share the machine's state:

- ``MlpPolicy``: SB3's MLP (64-64 tanh) on the raw observation (``--policy mlp``);
- ``MlpPolicy+population``: the same MLP fed the spiking policy's input, the
  observation population-coded with the same receptive fields (``--policy
  mlp-population``: like with like);
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
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

import agents  # noqa: F401  (registers "SpikingMlpPolicy")
import envs  # noqa: F401
from agents.config import DEFAULT_ENV_ID, MazeSettings, sb3_arguments, sb3_policy_kwargs
from agents.evaluation import evaluate_maze
from agents.train_maze import policy_name, pruning_callback, resolve, training_env

CANDIDATES = ("MlpPolicy", "MlpPolicy+population", "SpikingMlpPolicy")


def settings_for(
    candidate: str, env_id: str, seed: int, timesteps: int, algo: str = "ppo"
) -> MazeSettings:
    """The runner's settings for ``candidate`` on ``env_id``: what ``python -m
    agents.train_maze --env ID --algo ALGO --total-timesteps N`` resolves, with
    ``--policy mlp`` or ``mlp-population`` for the MLP rows."""
    policy = {"MlpPolicy": "mlp", "MlpPolicy+population": "mlp-population"}.get(
        candidate, "spiking"
    )
    argv = ["--env", env_id, "--algo", algo, "--policy", policy, "--seed", str(seed)]
    return resolve([*argv, "--total-timesteps", str(timesteps)])


def setup(
    candidate: str, env_id: str, seed: int, timesteps: int, algo: str = "ppo"
) -> tuple[MazeSettings, VecEnv]:
    """:func:`settings_for` and the training envs built from them as the runner builds
    them: the env kwargs, the shaping's discount (the agent's), wrappers and
    normalisation included."""
    settings = settings_for(candidate, env_id, seed, timesteps, algo)
    return settings, training_env(settings)


def learn(
    candidate: str,
    settings: MazeSettings,
    venv: VecEnv,
    algo: type[BaseAlgorithm],
    **policy_kwargs: Any,
) -> tuple[BaseAlgorithm, Any]:
    """``candidate``'s model on the runner's settings, and the runner's pruning
    callback for the spiking rows (None for the others)."""
    kwargs = {**sb3_policy_kwargs(settings), **policy_kwargs}
    policy = policy_name(settings, venv.observation_space)
    model = algo(policy, venv, seed=settings.seed, device="cpu", policy_kwargs=kwargs or None,
                 **sb3_arguments(settings.hyperparams))  # fmt: skip
    return model, pruning_callback(settings)


def run(
    candidate: str, env_id: str, timesteps: int, seed: int
) -> tuple[float, float, float | None]:
    settings, venv = setup(candidate, env_id, seed, timesteps)
    model, callback = learn(candidate, settings, venv, PPO)
    start = time.perf_counter()
    model.learn(timesteps, callback=callback)
    rate = model.num_timesteps / (time.perf_counter() - start)
    result = evaluate_maze(
        model, settings.env_id, settings.env_options(), n_episodes=settings.eval_episodes
    )
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
    settings = settings_for("SpikingMlpPolicy", args.env, args.seed, args.timesteps)
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"os.cpu_count()={os.cpu_count()}, {args.env} {settings.env_options()} "
        f"gamma {settings.hyperparams.get('gamma', 0.99)}, "
        f"{args.timesteps} timesteps x {args.repeats} repeats"
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
