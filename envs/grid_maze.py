"""A discrete grid maze: an agent walks one square per step to a goal square.

The study's RL task (``nspdi/GridMaze-v0``): one fixed 9 x 9
maze with dead ends, a random start square every episode and a fixed goal.

``step`` is kept cheap because the spiking agents train on millions of steps:
everything that depends only on the maze and the goal (move table, BFS
distances, the static part of every observation) is tabulated per square when
the maze or goal changes, so a step is a few list look-ups and one small copy.
"""

from __future__ import annotations

import inspect
import zlib
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs import maze as mz
from envs.rendering import MazeRendering, check_render_mode, grid_frame, grid_text

#: Accepted ``obs_mode`` values.
OBS_MODES: tuple[str, ...] = ("local", "full", "coords", "onehot")
#: Accepted ``layout_mode`` values.
LAYOUT_MODES: tuple[str, ...] = ("fixed", "random")
#: Which random mazes an env draws: ``all``, or one side of a fixed split of every
#: maze by a checksum of its walls: ``test`` holds one maze in :data:`TEST_SHARE`,
#: ``train`` the others, so a policy trained on one is evaluated on mazes it never saw.
MAZE_SPLITS: tuple[str, ...] = ("all", "train", "test")
TEST_SHARE = 10
#: Accepted keys of ``reset(options=...)``.
RESET_OPTIONS: tuple[str, ...] = ("start", "goal", "maze_seed")
#: Action meanings, in action order.
ACTION_NAMES: tuple[str, ...] = ("up", "right", "down", "left")

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3


def _check_options(
    *,
    obs_mode: str,
    layout_mode: str,
    layout: str | None,
    generator: str,
    loops: float | int,
    view_size: int,
    maze_split: str,
    gamma: float,
    shaping: float,
    cell_px: int,
) -> None:
    """:class:`GridMazeEnv`'s option checks. :raises ValueError: naming the value."""
    if obs_mode not in OBS_MODES:
        raise ValueError(f"unknown obs_mode {obs_mode!r}; accepted are {list(OBS_MODES)}")
    if layout_mode not in LAYOUT_MODES:
        raise ValueError(f"unknown layout_mode {layout_mode!r}; accepted are {list(LAYOUT_MODES)}")
    if generator not in mz.GENERATORS:
        raise ValueError(
            f"unknown maze generator {generator!r}; accepted are {list(mz.GENERATORS)}"
        )
    mz.check_loops(loops)
    if (
        isinstance(view_size, bool)
        or not isinstance(view_size, int)
        or view_size < 3
        or view_size % 2 == 0
    ):
        raise ValueError(f"view_size {view_size!r} is not accepted; accepted are odd ints >= 3")
    if layout_mode == "random" and layout is not None:
        raise ValueError(
            f"layout_mode 'random' generates mazes, so layout must be None, got {layout!r}"
        )
    if maze_split not in MAZE_SPLITS:
        raise ValueError(f"unknown maze_split {maze_split!r}; accepted are {list(MAZE_SPLITS)}")
    if maze_split != "all" and layout_mode != "random":
        raise ValueError(
            f"maze_split {maze_split!r} splits random mazes; it needs layout_mode 'random'"
        )
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma {gamma!r} is not accepted; accepted is [0, 1]")
    if shaping < 0:
        raise ValueError(f"shaping {shaping!r} is not accepted; accepted is a weight >= 0")
    if isinstance(cell_px, bool) or not isinstance(cell_px, int) or cell_px < 1:
        raise ValueError(f"cell_px {cell_px!r} is not accepted; accepted are ints >= 1")


class GridMazeEnv(MazeRendering, gym.Env):
    """Grid maze with ``Discrete(4)`` moves (0 up, 1 right, 2 down, 3 left).

    Observations are flat ``float32`` vectors (``Box`` with exact bounds):

    * ``local``: an egocentric ``view_size x view_size`` window centred on the
      agent, as three channels in the order wall, goal, visited (each
      ``view_size ** 2`` values in ``{0, 1}``, row-major; outside the grid
      counts as wall), followed by the goal direction
      ``((goal_row - row) / (H - 1), (goal_col - col) / (W - 1))`` in ``[-1, 1]``.
    * ``full``: the whole grid as four channels wall, agent, goal, visited,
      flattened from shape ``(4, H, W)`` (see :attr:`full_obs_shape`).
    * ``coords``: ``(row / (H - 1), col / (W - 1), goal_row / (H - 1),
      goal_col / (W - 1))`` in ``[0, 1]``.
    * ``onehot``: the agent's square and the goal's square, each one-hot over the
      ``H * W`` squares (``2 * H * W`` values in ``{0, 1}``, agent first): a place
      code with one input per square, for direct currents.

    Reward: ``goal_reward`` on reaching the goal (the episode terminates),
    ``-step_cost`` on every other step, plus, if ``shaping > 0``, the
    potential-based term ``gamma * phi(s') - phi(s)`` with
    ``phi(s) = -shaping * d(s) / d_max`` (``d`` the BFS distance to the goal),
    which leaves the optimal policies unchanged (Ng et al., 1999); ``phi`` is 0
    at the goal, so the terminal state adds no bias.

    Truncation comes from ``max_episode_steps`` of the registered ids (Gymnasium's
    ``TimeLimit``).

    :param render_mode: ``None``, ``"human"``, ``"rgb_array"`` or ``"ansi"``.
    :param size: grid side length of a generated maze (odd, ``>= 5``; a size-9
        maze has 4 x 4 cells). Ignored when ``layout`` is given. Default 9.
    :param layout: a name from :data:`envs.maze.LAYOUTS` (``grid9``, ``open``,
        ``umaze``, ``medium``, ``large``) or ``None`` to generate a maze.
    :param generator: maze generator, ``"backtracker"`` (default), ``"prim"`` or
        ``"kruskal"``.
    :param loops: extra walls knocked out of a generated maze (int count or float
        fraction in ``[0, 1]``); 0 (default) keeps it perfect.
    :param layout_mode: ``"fixed"`` (default): the same maze every episode;
        ``"random"``: a new generated maze at each reset (needs ``layout=None``).
    :param maze_seed: seed of the generated maze in ``fixed`` mode (and of the
        first maze in ``random`` mode). Default 0.
    :param maze_split: the random mazes drawn: ``"all"`` (default), ``"train"`` or
        ``"test"`` (disjoint; see :func:`maze_split_of`). Needs ``layout_mode="random"``.
    :param start: ``(row, col)`` start square, or ``None`` (default) for a
        uniformly random free square other than the goal each episode.
    :param goal: ``(row, col)`` goal square, ``"random"`` for a random free
        square each episode, or ``None`` (default): the layout's ``G`` square,
        else the last free square in reading order (bottom-right cell).
    :param obs_mode: ``"local"`` (default), ``"full"``, ``"coords"`` or ``"onehot"``.
    :param view_size: side of the ``local`` window, odd ``>= 3``. Default 5.
    :param step_cost: cost of each step that does not reach the goal. Default 0.01.
    :param goal_reward: reward for reaching the goal. Default 1.0.
    :param shaping: weight of the potential-based shaping; 0 (default) disables it.
    :param gamma: discount the shaping term assumes (use the agent's). Default 0.99.
    :param cell_px: pixels per square in ``rgb_array`` frames. Default 16.
    """

    window_title = "GridMaze"
    metadata = {"render_modes": ["human", "rgb_array", "ansi"], "render_fps": 8}

    def __init__(
        self,
        render_mode: str | None = None,
        *,
        size: int = 9,
        layout: str | None = None,
        generator: str = "backtracker",
        loops: float | int = 0,
        layout_mode: str = "fixed",
        maze_seed: int = 0,
        maze_split: str = "all",
        start: Sequence[int] | None = None,
        goal: Sequence[int] | str | None = None,
        obs_mode: str = "local",
        view_size: int = 5,
        step_cost: float = 0.01,
        goal_reward: float = 1.0,
        shaping: float = 0.0,
        gamma: float = 0.99,
        cell_px: int = 16,
        **unknown_options: Any,
    ) -> None:
        if unknown_options:
            raise ValueError(
                f"unknown GridMazeEnv options {sorted(unknown_options)}; accepted are "
                f"{sorted(_CONSTRUCTOR_OPTIONS)}"
            )
        check_render_mode(render_mode, self.metadata["render_modes"])
        _check_options(
            obs_mode=obs_mode, layout_mode=layout_mode, layout=layout, generator=generator,
            loops=loops, view_size=view_size, maze_split=maze_split, gamma=gamma,
            shaping=shaping, cell_px=cell_px,
        )  # fmt: skip

        self.render_mode = render_mode
        self.layout = layout
        self.generator = generator
        self.loops = loops
        self.layout_mode = layout_mode
        self.maze_split = maze_split
        self.obs_mode = obs_mode
        self.view_size = view_size
        self.step_cost = float(step_cost)
        self.goal_reward = float(goal_reward)
        self.shaping = float(shaping)
        self.gamma = float(gamma)
        self.cell_px = cell_px

        if layout is None:
            self.size = mz.check_size(size)
            self.maze_seed = int(maze_seed)
            walls = mz.generate_maze(
                self.size, np.random.default_rng(self.maze_seed), generator, loops
            )
            self._layout_goal: tuple[int, int] | None = None
        else:
            walls, self._layout_goal = mz.layout_walls(layout)
            if not mz.is_connected(walls):  # pragma: no cover - guards edits to LAYOUTS
                raise ValueError(f"layout {layout!r} is not connected")
            self.size = walls.shape[0]
            self.maze_seed = int(maze_seed)
        self._set_maze(walls)

        self._start_option, self._goal_option = self._start_and_goal(start, goal)

        self.action_space = spaces.Discrete(4)
        self.observation_space = self._observation_space()

        self.goal_pos: tuple[int, int] = self._default_goal()
        self._table_goal: tuple[int, int] | None = None
        self._set_goal(self.goal_pos)
        first = next(c for c in self._free if c != self.goal_pos)
        self._start_episode(first)

    def _start_and_goal(
        self, start: Sequence[int] | None, goal: Sequence[int] | str | None
    ) -> tuple[tuple[int, int] | None, tuple[int, int] | str | None]:
        """The checked ``start`` and ``goal`` options (a goal may be ``"random"``)."""
        start_option = None if start is None else self._check_square("start", start)
        if isinstance(goal, str):
            if goal != "random":
                raise ValueError(
                    f"goal {goal!r} is not accepted; accepted are None, 'random' or a (row, col)"
                )
            goal_option: tuple[int, int] | str | None = "random"
        else:
            goal_option = None if goal is None else self._check_square("goal", goal)
        if self.layout_mode == "random":
            # Only cells (odd coordinates) are free in every generated maze.
            for name, cell in (("start", start_option), ("goal", goal_option)):
                if isinstance(cell, tuple) and (cell[0] % 2 == 0 or cell[1] % 2 == 0):
                    raise ValueError(
                        f"{name} {cell} may be a wall in a random maze; accepted are "
                        "squares with odd row and col"
                    )
        self._goal_option = goal_option  # _default_goal reads it
        fixed_goal = None if goal_option == "random" else self._default_goal()
        if start_option is not None and start_option == fixed_goal:
            raise ValueError(
                f"start {start_option} equals the goal; accepted are other free squares"
            )
        return start_option, goal_option

    def _observation_space(self) -> spaces.Box:
        """The flat observation vector of :attr:`obs_mode`, with exact bounds."""
        h, w = self.walls.shape
        k = self.view_size
        if self.obs_mode == "local":
            low = np.zeros(3 * k * k + 2, dtype=np.float32)
            high = np.ones(3 * k * k + 2, dtype=np.float32)
            low[-2:] = -1.0
        elif self.obs_mode == "full":
            low = np.zeros(4 * h * w, dtype=np.float32)
            high = np.ones(4 * h * w, dtype=np.float32)
        elif self.obs_mode == "onehot":
            low = np.zeros(2 * h * w, dtype=np.float32)
            high = np.ones(2 * h * w, dtype=np.float32)
        else:
            low = np.zeros(4, dtype=np.float32)
            high = np.ones(4, dtype=np.float32)
        return spaces.Box(low=low, high=high, dtype=np.float32)

    # ------------------------------------------------------------------ maze set-up
    @property
    def full_obs_shape(self) -> tuple[int, int, int]:
        """Shape ``(4, H, W)`` to reshape a ``full`` observation into channels."""
        return (4, *self.walls.shape)

    def free_cells(self) -> list[tuple[int, int]]:
        """Every free square ``(row, col)`` of the current maze, in reading order."""
        return list(self._free)

    def shortest_path_length(self, start: Sequence[int], goal: Sequence[int] | None = None) -> int:
        """BFS length (in steps) from ``start`` to ``goal`` (default: the current goal).

        :raises ValueError: if either square is a wall or outside the grid.
        """
        start = self._check_square("start", start)
        if goal is None or tuple(goal) == self.goal_pos:
            return int(self._dist[start])
        goal = self._check_square("goal", goal)
        return int(mz.bfs_distances(self.walls, goal)[start])

    def distance_map(self) -> np.ndarray:
        """BFS distances to the current goal (int32, ``-1`` on walls); a copy."""
        return self._dist.copy()

    def optimal_action(self, square: Sequence[int] | None = None) -> int:
        """An action that brings ``square`` (default: the agent) one step closer to the goal."""
        r, c = self.agent_pos if square is None else self._check_square("square", square)
        d = self._dist[r, c]
        for a, (dr, dc) in enumerate(mz.MOVES):
            if self._dist[r + dr, c + dc] == d - 1:
                return a
        raise ValueError(f"square {(r, c)} is the goal; there is no move towards it")

    def _check_square(self, name: str, value: object) -> tuple[int, int]:
        return mz.check_square(self.walls, self._free, name, value)

    def _default_goal(self) -> tuple[int, int]:
        if isinstance(self._goal_option, tuple):
            return self._goal_option
        if self._layout_goal is not None:
            return self._layout_goal
        return self._free[-1]

    def _set_maze(self, walls: np.ndarray) -> None:
        """Tabulate everything that depends on the walls alone."""
        self.walls = walls
        h, w = walls.shape
        self._free = mz.free_cells(walls)
        self._rc = [(i // w, i % w) for i in range(h * w)]
        free = (~walls).ravel().tolist()
        # _next[i][a]: the square reached from square i by action a (bumping
        # into a wall leaves the agent in place). Borders are walls in every
        # layout, so i + offset never leaves the grid from a free square.
        offsets = [dr * w + dc for dr, dc in mz.MOVES]
        self._next = [
            [i + o if free[i] and 0 <= i + o < h * w and free[i + o] else i for o in offsets]
            for i in range(h * w)
        ]
        p = self.view_size // 2
        self._pad_walls = np.pad(walls.astype(np.float32), p, constant_values=1.0)
        self._table_goal = None

    def _set_goal(self, goal: tuple[int, int]) -> None:
        """Tabulate BFS distances and the static observation parts for ``goal``."""
        if self._table_goal == goal:
            return
        self.goal_pos = goal
        self._table_goal = goal
        h, w = self.walls.shape
        self._dist = mz.bfs_distances(self.walls, goal)
        self._dist_list = self._dist.ravel().tolist()
        self._goal_index = goal[0] * w + goal[1]
        self._d_max = max(1, int(self._dist.max()))
        free_idx = np.flatnonzero(~self.walls.ravel())
        rows, cols = free_idx // w, free_idx % w
        if self.obs_mode == "coords":
            table = np.zeros((h * w, 4), dtype=np.float32)
            table[free_idx, 0] = rows / (h - 1)
            table[free_idx, 1] = cols / (w - 1)
            table[:, 2] = goal[0] / (h - 1)
            table[:, 3] = goal[1] / (w - 1)
            self._table = table
        elif self.obs_mode == "onehot":
            table = np.zeros((h * w, 2 * h * w), dtype=np.float32)
            table[free_idx, free_idx] = 1.0
            table[:, h * w + self._goal_index] = 1.0
            self._table = table
        elif self.obs_mode == "local":
            k = self.view_size
            kk = k * k
            pad_goal = np.zeros_like(self._pad_walls)
            pad_goal[goal[0] + k // 2, goal[1] + k // 2] = 1.0
            table = np.zeros((h * w, 3 * kk + 2), dtype=np.float32)
            for i, r, c in zip(free_idx.tolist(), rows.tolist(), cols.tolist(), strict=True):
                table[i, :kk] = self._pad_walls[r : r + k, c : c + k].ravel()
                table[i, kk : 2 * kk] = pad_goal[r : r + k, c : c + k].ravel()
            table[free_idx, -2] = (goal[0] - rows) / (h - 1)
            table[free_idx, -1] = (goal[1] - cols) / (w - 1)
            self._table = table
        else:
            self._full_static = np.zeros((4, h, w), dtype=np.float32)
            self._full_static[0] = self.walls
            self._full_static[2][goal] = 1.0

    def _start_episode(self, start: tuple[int, int]) -> None:
        h, w = self.walls.shape
        self.agent_pos = start
        self._index = start[0] * w + start[1]
        self._optimal_length = self._dist_list[self._index]
        self._visited = np.zeros((h, w), dtype=bool)
        self._visited[start] = True
        self._visited_set = {self._index}
        self.path: list[tuple[int, int]] = [start]
        p = self.view_size // 2
        if self.obs_mode == "local":
            self._pad_visited = np.zeros((h + 2 * p, w + 2 * p), dtype=np.float32)
            self._pad_visited[start[0] + p, start[1] + p] = 1.0
            kk = self.view_size**2
            self._vis_lo, self._vis_hi = 2 * kk, 3 * kk
        elif self.obs_mode == "full":
            self._full = self._full_static.copy()
            self._full[1][start] = 1.0
            self._full[3][start] = 1.0

    # ------------------------------------------------------------------ gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode.

        :param seed: seeds ``np_random`` (start, random goal, random mazes).
        :param options: ``{"start": (r, c), "goal": (r, c), "maze_seed": s}``,
            each optional and for this episode only, except that ``maze_seed``
            in ``fixed`` mode replaces the fixed maze from then on.
        """
        super().reset(seed=seed)
        options = {} if options is None else dict(options)
        unknown = sorted(set(options) - set(RESET_OPTIONS))
        if unknown:
            raise ValueError(f"unknown reset options {unknown}; accepted are {list(RESET_OPTIONS)}")
        maze_seed = options.get("maze_seed")
        if maze_seed is not None:
            if self.layout is not None:
                raise ValueError(
                    f"maze_seed {maze_seed!r} needs a generated maze, but layout is "
                    f"{self.layout!r}; accepted is layout=None"
                )
            if isinstance(maze_seed, bool) or not isinstance(maze_seed, int | np.integer):
                raise ValueError(f"maze_seed {maze_seed!r} is not accepted; accepted are ints")
            self._new_maze(np.random.default_rng(int(maze_seed)))
            if self.layout_mode == "fixed":
                self.maze_seed = int(maze_seed)
        elif self.layout_mode == "random":
            self._new_maze(self.np_random)

        if options.get("goal") is not None:
            goal = self._check_square("goal", options["goal"])
        elif self._goal_option == "random":
            goal = self._free[int(self.np_random.integers(len(self._free)))]
        else:
            goal = self._default_goal()
        self._set_goal(goal)

        if options.get("start") is not None:
            start = self._check_square("start", options["start"])
        elif self._start_option is not None:
            start = self._start_option
        else:
            # Draw among free squares other than the goal: one draw, no retry loop.
            k = int(self.np_random.integers(len(self._free) - 1))
            start = self._free[k]
            if start == goal:
                start = self._free[-1]
        if start == goal:
            raise ValueError(f"start {start} equals the goal {goal}; accepted are other squares")
        if self._dist[start] < 0:  # pragma: no cover - generated and named mazes are connected
            raise ValueError(f"start {start} cannot reach the goal {goal}")
        self._start_episode(start)
        if self.render_mode == "human":
            self.render()
        return self._observation(), self._info(False)

    def _new_maze(self, rng: np.random.Generator) -> None:
        while True:  # a tenth of all mazes is "test": ten draws on average, or 1.1
            walls = mz.generate_maze(self.size, rng, self.generator, self.loops)
            if self.maze_split in ("all", maze_split_of(walls)):
                break
        self._set_maze(walls)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move one square (bumping into a wall costs a step and leaves the agent in place).

        :param action: ``0`` up, ``1`` right, ``2`` down, ``3`` left (an int or
            numpy integer); anything else raises ``ValueError``.
        """
        if isinstance(action, int | np.integer) and not isinstance(action, bool):
            a = int(action)
        elif isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu":
            a = int(action)
        else:
            a = -1
        if not 0 <= a < 4:
            raise ValueError(
                f"action {action!r} is not in Discrete(4); accepted are the ints "
                "0 (up), 1 (right), 2 (down), 3 (left)"
            )
        old = self._index
        new = self._next[old][a]
        self._index = new
        pos = self._rc[new]
        self.agent_pos = pos
        self.path.append(pos)
        if new not in self._visited_set:
            self._visited_set.add(new)
            self._visited[pos] = True
            if self.obs_mode == "local":
                p = self.view_size >> 1
                self._pad_visited[pos[0] + p, pos[1] + p] = 1.0
            elif self.obs_mode == "full":
                self._full[3][pos] = 1.0
        if self.obs_mode == "full" and new != old:
            self._full[1][self._rc[old]] = 0.0
            self._full[1][pos] = 1.0

        terminated = new == self._goal_index
        reward = self.goal_reward if terminated else -self.step_cost
        if self.shaping:
            scale = self.shaping / self._d_max
            # phi(s) = -scale * d(s), and phi = 0 at the (terminal) goal.
            reward += scale * (self._dist_list[old] - self.gamma * self._dist_list[new])
        if self.render_mode == "human":
            self.render()
        return self._observation(), reward, terminated, False, self._info(terminated)

    def _observation(self) -> np.ndarray:
        if self.obs_mode == "local":
            obs = self._table[self._index].copy()
            r, c = self.agent_pos
            k = self.view_size
            obs[self._vis_lo : self._vis_hi] = self._pad_visited[r : r + k, c : c + k].ravel()
            return obs
        if self.obs_mode in ("coords", "onehot"):
            return self._table[self._index].copy()
        # flatten() copies, so later steps cannot change a returned observation.
        return self._full.flatten()

    def _info(self, success: bool) -> dict[str, Any]:
        return {
            "is_success": success,
            "optimal_length": self._optimal_length,
            "distance_to_goal": self._dist_list[self._index],
        }

    def _text(self) -> str:
        return grid_text(self.walls, self.agent_pos, self.goal_pos, self._visited)

    def _frame(self) -> np.ndarray:
        # walls, floor, the path so far, the goal and the agent
        return grid_frame(self.walls, self.agent_pos, self.goal_pos, self._visited, self.cell_px)


# The one list of constructor option names is the signature itself.
_CONSTRUCTOR_OPTIONS = tuple(
    name
    for name in inspect.signature(GridMazeEnv.__init__).parameters
    if name not in ("self", "unknown_options")
)


#: the halves of a fixed maze's start squares: model selection reads one, the report
#: the other (:func:`start_split_of`)
START_SPLITS: tuple[str, ...] = ("val", "test")


def start_split_of(cell: tuple[int, int]) -> str:
    """``"val"`` or ``"test"`` for a start square, about half each (by a CRC-32 of its
    row and column, the same on every machine): an evaluation from every free start
    scores the two halves apart, so that choices made on one are measured on the other."""
    row, col = (int(v) for v in cell)
    checksum = zlib.crc32(np.array([row, col], dtype="<i4").tobytes())
    return START_SPLITS[checksum % 2]


def maze_split_of(walls: np.ndarray) -> str:
    """``"test"`` for one maze in :data:`TEST_SHARE` (by a CRC-32 of its walls, the
    same on every machine), else ``"train"``."""
    checksum = zlib.crc32(np.packbits(np.asarray(walls, dtype=bool)).tobytes())
    return "test" if checksum % TEST_SHARE == 0 else "train"
