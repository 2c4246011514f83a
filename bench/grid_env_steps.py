"""Random-action step rate of the grid maze against MiniGrid, in one process.

    python -m bench.grid_env_steps [--steps 20000] [--repeats 5]

Each env is made with ``gymnasium.make`` (so the standard wrappers are
included), stepped with the same number of uniformly random actions (reset on
episode end, resets counted in the time), and the median steps/s over the
repeats is printed with its ratio to MiniGrid's ``SimpleCrossingS9N1``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers the nspdi/ ids)

MINIGRID_ID = "MiniGrid-SimpleCrossingS9N1-v0"


def steps_per_second(env: gym.Env, steps: int, seed: int) -> float:
    """Steps/s of ``env`` under uniformly random actions drawn before timing."""
    n = int(env.action_space.n)
    actions = np.random.default_rng(seed).integers(n, size=steps).tolist()
    env.reset(seed=seed)
    start = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.grid_env_steps",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--steps", type=int, default=20_000, help="steps per repeat")
    parser.add_argument("--repeats", type=int, default=5, help="repeats (median reported)")
    args = parser.parse_args(argv)

    cases: list[tuple[str, str, dict]] = [
        (f"nspdi/GridMaze-v0 obs={m}", "nspdi/GridMaze-v0", {"obs_mode": m})
        for m in ("local", "full", "coords")
    ]
    try:
        import minigrid  # noqa: F401  (registers the MiniGrid ids)

        cases.append((MINIGRID_ID, MINIGRID_ID, {}))
    except ImportError:
        print("minigrid is not installed: no baseline row")

    rates: dict[str, float] = {}
    for label, env_id, kwargs in cases:
        env = gym.make(env_id, **kwargs)
        rates[label] = statistics.median(
            steps_per_second(env, args.steps, seed) for seed in range(args.repeats)
        )
        env.close()

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, gymnasium "
        f"{gym.__version__}, os.cpu_count()={os.cpu_count()}, "
        f"{args.steps} random steps x {args.repeats} repeats (median)"
    )
    base = rates.get(MINIGRID_ID)
    print(f"| {'env':<40} | {'steps/s':>10} | {'vs MiniGrid':>11} |")
    print(f"|{'-' * 42}|{'-' * 12}|{'-' * 13}|")
    for label, rate in rates.items():
        ratio = f"{rate / base:.1f}x" if base else "n/a"
        print(f"| {label:<40} | {rate:>10,.0f} | {ratio:>11} |")


if __name__ == "__main__":
    main()
