"""Spiking SAC against SB3's MlpPolicy SAC on the point maze, in one process.

Every candidate runs what ``python -m agents.train_maze --env nspdi/PointMaze-v0
--algo sac`` resolves (``bench.ppo_steps.setup``: the per-env defaults, the envs as
the runner builds them), ``--policy mlp`` / ``mlp-population`` for the MLP rows, in
turn within each repeat so that they share the machine's state:

- ``MlpPolicy``: SB3's MLPs (256-256 ReLU) on the raw observation;
- ``MlpPolicy+population``: the same MLPs fed the spiking policy's input, the
  observation population-coded with the same receptive fields (like with like);
- ``SpikingMlpPolicy``: the spiking NDI actor and critics, pruned online to 90 %;
- ``SpikingMlpPolicy+mlp-critics``: the spiking NDI actor, pruned online to 90 %, with
  SB3's MLP critics on the raw observation (``critic="mlp"``, the runner's default).

SAC's cost is its gradient step (one per environment step here), so each run first
fills the replay buffer to ``learning_starts`` untimed and then times ``--timesteps``
environment steps of learning. Prints environment steps per second (median over
``--repeats``) and each one's ratio to the plain MLP. Run:
``python -m bench.sac_steps [--timesteps N] [--repeats R] [--policies ...]``;
``NSPDI_KERNELS=0`` runs the spiking policy without the compiled kernels.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from stable_baselines3 import SAC

import agents  # noqa: F401  (registers "SpikingMlpPolicy")
import envs  # noqa: F401
from bench.ppo_steps import learn, settings_for, setup

ENV_ID = "nspdi/PointMaze-v0"
CANDIDATES = (
    "MlpPolicy",
    "MlpPolicy+population",
    "SpikingMlpPolicy",
    "SpikingMlpPolicy+mlp-critics",
)


def run(candidate: str, timesteps: int, seed: int) -> float:
    """Environment steps per second of ``candidate`` learning, after the warm-up."""
    probe = settings_for(candidate, ENV_ID, seed, 1, algo="sac")
    starts = int(probe.hyperparams.get("learning_starts", 100))  # SB3's default
    settings, venv = setup(candidate, ENV_ID, seed, starts + timesteps, algo="sac")
    critic = {"SpikingMlpPolicy": "spiking", "SpikingMlpPolicy+mlp-critics": "mlp"}
    extra = {"critic": critic[candidate]} if candidate in critic else {}
    model, callback = learn(candidate, settings, venv, SAC, **extra)
    model.learn(starts, callback=callback)  # fills the buffer, untimed
    start = time.perf_counter()
    model.learn(timesteps, callback=callback, reset_num_timesteps=False)
    return timesteps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=2_000, help="timed steps per run")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (train_maze uses 1)")
    parser.add_argument(
        "--policies",
        nargs="+",
        choices=CANDIDATES,
        default=list(CANDIDATES),
        metavar="POLICY",
        help=f"the rows to time, MlpPolicy always among them (default: all of {CANDIDATES})",
    )
    args = parser.parse_args()
    for name in ("timesteps", "repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"os.cpu_count()={os.cpu_count()}, {ENV_ID}, "
        f"{args.timesteps} timed steps x {args.repeats} repeats"
    )
    candidates = [c for c in CANDIDATES if c in {"MlpPolicy", *args.policies}]
    rates: dict[str, list[float]] = {c: [] for c in candidates}
    for r in range(args.repeats):  # interleaved: each repeat runs every candidate once
        for candidate in candidates:
            rates[candidate].append(run(candidate, args.timesteps, args.seed + r))
    base = statistics.median(rates["MlpPolicy"])
    print("| policy | steps/s (learning) | vs MlpPolicy | each repeat vs its MlpPolicy run |")
    print("|---|---|---|---|")
    for policy, runs in rates.items():
        rate = statistics.median(runs)
        each = " ".join(f"{r / m:.2f}" for r, m in zip(runs, rates["MlpPolicy"], strict=True))
        print(f"| {policy} | {rate:,.1f} | {rate / base:.2f}x | {each} |")


if __name__ == "__main__":
    main()
