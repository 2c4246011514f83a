"""The terminal game ``python -m envs.play``, driven through a pipe."""

import io
import subprocess
import sys
from pathlib import Path

import gymnasium as gym

from envs.play import line_keys, play

ROOT = Path(__file__).resolve().parents[2]


def test_play_from_a_pipe():
    result = subprocess.run(
        [sys.executable, "-m", "envs.play", "--seed", "0"],
        input="d\nd\nq\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "step 1: right" in out and "step 2: right" in out and "step 3" not in out
    assert "#ooA..#G#" in out and out.rstrip().endswith("Bye: 0 goal(s) reached.")


def test_play_ignores_unknown_keys_and_stops_at_end_of_input():
    out = io.StringIO()
    goals = play("nspdi/GridMaze-v0", 0, line_keys(io.StringIO("x d\n")), out)
    text = out.getvalue()
    assert goals == 0 and "key 'x' ignored" in text and "step 1: right" in text
    assert text.endswith("Bye: 0 goal(s) reached.\n")


def test_play_solves_the_default_maze():
    # The key sequence is the BFS path from the seed-0 start, computed here.
    env = gym.make("nspdi/GridMaze-v0")
    env.reset(seed=0)
    keys = []
    done = False
    while not done:
        a = env.unwrapped.optimal_action()
        keys.append("wdsa"[a])
        *_, done, _, _ = env.step(a)
    out = io.StringIO()
    goals = play("nspdi/GridMaze-v0", 0, line_keys(io.StringIO("".join(keys) + "\nq\n")), out)
    assert goals == 1
    assert f"Goal reached in {len(keys)} steps (shortest path: {len(keys)})" in out.getvalue()


def test_play_point_maze_and_arrow_keys():
    out = io.StringIO()
    play("nspdi/PointMaze-UMaze-v0", 1, line_keys(io.StringIO("\x1b[C\x1b[A\nq\n")), out)
    text = out.getvalue()
    assert "step 1: right" in text and "step 2: up" in text and "distance" in text
