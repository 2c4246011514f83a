"""Gymnasium maze environments: a discrete grid maze and a continuous point maze.

Gymnasium 1.x has no plugin auto-registration, so the ids exist only once this
package is imported::

    import gymnasium as gym
    import envs

    gym.register_envs(envs)  # keeps linters from calling the import unused
    env = gym.make("nspdi/GridMaze-v0", obs_mode="local")

Registered ids (every one with ``max_episode_steps``):

* ``nspdi/GridMaze-v0``: the study's RL task, the fixed 9 x 9 maze
  :data:`envs.maze.GRID_9X9` (dead ends, 31 free squares), a random start
  square each episode, the goal fixed at ``(7, 7)``; 124 steps.
* ``nspdi/GridMaze-9x9-v0``, ``-15x15-v0``, ``-25x25-v0``: fixed generated
  (backtracker, ``maze_seed=0``) mazes of those grid sizes, random start, goal
  at the bottom-right cell; four steps per free square.
* ``nspdi/GridMaze-Random-9x9-v0``: a new 9 x 9 maze every reset.
* ``nspdi/PointMaze-v0`` (= U-maze), ``nspdi/PointMaze-Open-v0``,
  ``-UMaze-v0``, ``-Medium-v0``, ``-Large-v0``: the continuous point mass in the
  D4RL layouts, 150 / 300 / 600 / 800 steps as in D4RL.

Keyword arguments to ``gym.make`` override the registered ones, e.g.
``gym.make("nspdi/GridMaze-v0", obs_mode="coords", shaping=1.0)``.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from envs.grid_maze import GridMazeEnv
from envs.point_maze import PointMazeEnv

__all__ = ["GridMazeEnv", "PointMazeEnv", "GRID_IDS", "POINT_IDS"]

_GRID_ENTRY = "envs.grid_maze:GridMazeEnv"
_POINT_ENTRY = "envs.point_maze:PointMazeEnv"


def _perfect_maze_steps(size: int) -> int:
    # A perfect odd-grid maze of side n has m^2 cells and m^2 - 1 passages
    # (m = (n - 1) / 2): four steps per free square, like the default.
    m = (size - 1) // 2
    return 4 * (2 * m * m - 1)


#: id -> (constructor kwargs, max_episode_steps) of the grid mazes.
GRID_IDS: dict[str, tuple[dict, int]] = {
    "nspdi/GridMaze-v0": ({"layout": "grid9"}, _perfect_maze_steps(9)),
    **{
        f"nspdi/GridMaze-{n}x{n}-v0": ({"size": n, "maze_seed": 0}, _perfect_maze_steps(n))
        for n in (9, 15, 25)
    },
    "nspdi/GridMaze-Random-9x9-v0": (
        {"size": 9, "layout_mode": "random"},
        _perfect_maze_steps(9),
    ),
}

#: id -> (constructor kwargs, max_episode_steps) of the point mazes.
POINT_IDS: dict[str, tuple[dict, int]] = {
    "nspdi/PointMaze-v0": ({"layout": "umaze"}, 300),
    "nspdi/PointMaze-Open-v0": ({"layout": "open"}, 150),
    "nspdi/PointMaze-UMaze-v0": ({"layout": "umaze"}, 300),
    "nspdi/PointMaze-Medium-v0": ({"layout": "medium"}, 600),
    "nspdi/PointMaze-Large-v0": ({"layout": "large"}, 800),
}


def _register_all() -> None:
    for entry_point, ids in ((_GRID_ENTRY, GRID_IDS), (_POINT_ENTRY, POINT_IDS)):
        for env_id, (kwargs, steps) in ids.items():
            # Skipping known ids keeps a re-import (importlib.reload, or a
            # second copy of the package on sys.path) from warning or failing.
            if env_id not in registry:
                register(id=env_id, entry_point=entry_point, kwargs=kwargs, max_episode_steps=steps)


_register_all()
