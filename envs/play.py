"""Play a maze from the keyboard in the terminal.

    python -m envs.play [--env nspdi/GridMaze-v0] [--seed 0]

Keys: ``w`` / ``a`` / ``s`` / ``d`` or the arrow keys move (push, in a point
maze), ``q`` quits. On a terminal each key acts at once; when stdin is not a
terminal (a pipe, a file) it is read line by line, every key on a line in
turn, so ``printf 'd\\nd\\nq\\n' | python -m envs.play`` is a scripted game.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers the nspdi/ ids)
from envs.grid_maze import ACTION_NAMES

#: Key -> direction index (0 up, 1 right, 2 down, 3 left), as in the grid maze.
KEYS: dict[str, int] = {
    "w": 0,
    "d": 1,
    "s": 2,
    "a": 3,
    "\x1b[A": 0,
    "\x1b[C": 1,
    "\x1b[B": 2,
    "\x1b[D": 3,
}
QUIT = "q"
# Point-maze force (fx, fy) for each direction; y grows downwards.
_FORCES = [(0.0, -1.0), (1.0, 0.0), (0.0, 1.0), (-1.0, 0.0)]


def _split_keys(text: str) -> Iterator[str]:
    i = 0
    while i < len(text):
        if text.startswith("\x1b[", i):
            yield text[i : i + 3]
            i += 3
        else:
            yield text[i].lower()
            i += 1


def line_keys(stream: TextIO) -> Iterator[str]:
    """Keys from a non-terminal stream, line by line (whitespace ignored)."""
    for line in stream:
        yield from _split_keys("".join(line.split()))


def tty_keys(stream: TextIO) -> Iterator[str]:
    """Keys from a terminal in cbreak mode, one at a time (arrow keys as escapes)."""
    import termios
    import tty

    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        while True:
            ch = os.read(fd, 1).decode(errors="replace")
            if not ch:
                return
            if ch == "\x1b":
                ch += os.read(fd, 2).decode(errors="replace")
            yield ch.lower() if len(ch) == 1 else ch
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def play(env_id: str, seed: int | None, keys: Iterator[str], out: TextIO) -> int:
    """Run the game loop; return the number of goals reached.

    :param env_id: a registered id whose env offers ``render_mode="ansi"``.
    :param seed: seed of the first reset.
    :param keys: the key presses.
    :param out: where pictures and messages go.
    """
    env = gym.make(env_id, render_mode="ansi")
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    _, info = env.reset(seed=seed)
    out.write(f"{env_id} (seed {seed}): reach G with w/a/s/d or the arrow keys, q quits.\n")
    out.write(_picture(env))
    steps, goals = 0, 0
    for key in keys:
        if key == QUIT:
            break
        if key not in KEYS:
            if key.strip():
                out.write(f"key {key!r} ignored; accepted are w, a, s, d, arrow keys, q\n")
            continue
        direction = KEYS[key]
        action: Any = direction if discrete else np.array(_FORCES[direction], dtype=np.float32)
        _, reward, terminated, truncated, info = env.step(action)
        steps += 1
        out.write(_picture(env))
        out.write(f"step {steps}: {ACTION_NAMES[direction]}, reward {reward:+.3f}, ")
        out.write(_distance_text(info) + "\n")
        if terminated or truncated:
            if info.get("is_success"):
                goals += 1
                best = info.get("optimal_length")
                extra = f" (shortest path: {best})" if best is not None else ""
                out.write(f"Goal reached in {steps} steps{extra}. New episode.\n")
            else:
                out.write(f"Out of time after {steps} steps. New episode.\n")
            env.reset()
            steps = 0
            out.write(_picture(env))
    out.write(f"Bye: {goals} goal(s) reached.\n")
    env.close()
    return goals


def _picture(env: gym.Env) -> str:
    text = env.render()
    assert isinstance(text, str)  # guaranteed by render_mode="ansi"
    return text


def _distance_text(info: dict[str, Any]) -> str:
    if "distance_to_goal" in info:
        return f"{info['distance_to_goal']} steps to the goal"
    return f"distance {info['distance']:.2f}"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of ``python -m envs.play``."""
    parser = argparse.ArgumentParser(
        prog="python -m envs.play",
        description="Play a maze in the terminal: w/a/s/d or arrow keys, q quits.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ids = sorted(i for i in gym.registry if i.startswith("nspdi/"))
    parser.add_argument("--env", default="nspdi/GridMaze-v0", choices=ids, help="maze id")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    args = parser.parse_args(argv)
    keys = tty_keys(sys.stdin) if sys.stdin.isatty() else line_keys(sys.stdin)
    play(args.env, args.seed, keys, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
