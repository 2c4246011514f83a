"""Spiking PPO against SB3's MlpPolicy PPO on the default grid maze, in one process.

Prints, for each policy, training throughput (environment steps per second of
``model.learn``: rollouts and updates together, median over ``--repeats``) and
the success rate from every free start after the same number of timesteps,
with the spiking/MLP ratio. Run: ``python -m bench.ppo_steps [--timesteps N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import agents  # noqa: F401  (registers "SpikingMlpPolicy")
import envs  # noqa: F401
from agents.callbacks import NSPPruningCallback
from agents.config import ALGO_DEFAULTS, DEFAULT_ENV_ID
from agents.evaluation import evaluate_maze
from nspdi_rl.pruning import PruningSchedule

ENV_KWARGS = {"obs_mode": "coords"}


def run(policy: str, timesteps: int, seed: int) -> tuple[float, float, float | None]:
    defaults = ALGO_DEFAULTS["ppo"]
    venv = make_vec_env(DEFAULT_ENV_ID, n_envs=defaults["n_envs"], seed=seed, env_kwargs=ENV_KWARGS)
    model = PPO(policy, venv, seed=seed, device="cpu", **defaults["hyperparams"])
    callback = None
    if policy == "SpikingMlpPolicy":
        callback = NSPPruningCallback(PruningSchedule(final=0.9, end=0.8), timesteps)
    start = time.perf_counter()
    model.learn(timesteps, callback=callback)
    rate = model.num_timesteps / (time.perf_counter() - start)
    result = evaluate_maze(model, DEFAULT_ENV_ID, ENV_KWARGS)
    return rate, result["success_rate"], result["sparsity"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (train_maze uses 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"os.cpu_count()={os.cpu_count()}, "
        f"{DEFAULT_ENV_ID} {ENV_KWARGS}, {args.timesteps} timesteps x {args.repeats} repeats"
    )
    rows = {}
    for policy in ("MlpPolicy", "SpikingMlpPolicy"):
        runs = [run(policy, args.timesteps, args.seed + r) for r in range(args.repeats)]
        rows[policy] = (
            statistics.median(r[0] for r in runs),
            statistics.median(r[1] for r in runs),
            runs[0][2],
        )
    base = rows["MlpPolicy"][0]
    print("| policy | steps/s (learn) | vs MLP | success | sparsity |")
    print("|---|---|---|---|---|")
    for policy, (rate, success, sparsity) in rows.items():
        sp = "n/a" if sparsity is None else f"{sparsity:.3f}"
        print(f"| {policy} | {rate:,.0f} | {rate / base:.2f}x | {success:.2f} | {sp} |")


if __name__ == "__main__":
    main()
