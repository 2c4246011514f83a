"""A continuous point mass in a maze, after the "Maze2D" tasks of D4RL.

World coordinates: ``x`` runs along columns and ``y`` along rows (down), one
unit per grid square, so square ``(row, col)`` spans ``[col, col + 1] x [row,
row + 1]`` and its centre is ``(col + 0.5, row + 0.5)``. The agent is a square
of half-width ``radius``; it moves one axis at a time and stops flush against
any wall square it would enter, so it can never pass through a wall or cut a
wall corner. Because one step moves at most ``max_speed * dt <= 0.5`` units,
it cannot tunnel through a wall either.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs import maze as mz
from envs.rendering import MazeRendering, check_render_mode, grid_text, point_frame

#: Accepted ``reward_type`` values.
REWARD_TYPES: tuple[str, ...] = ("dense", "sparse")
#: Accepted keys of ``reset(options=...)``.
RESET_OPTIONS: tuple[str, ...] = ("start", "goal")

# Gap kept between the agent and a wall it stops against, so rounding can
# never put it inside the wall on the next step.
_EPS = 1e-9


def _check_options(
    *,
    reward_type: str,
    radius: float,
    dt: float,
    max_speed: float,
    accel: float,
    success_radius: float,
    shaping: float,
    gamma: float,
    start_noise: float,
    cell_px: int,
) -> None:
    """:class:`PointMazeEnv`'s option checks. :raises ValueError: naming the value."""
    if reward_type not in REWARD_TYPES:
        raise ValueError(f"unknown reward_type {reward_type!r}; accepted are {list(REWARD_TYPES)}")
    if not 0.0 < radius < 0.5:
        raise ValueError(f"radius {radius!r} is not accepted; accepted is (0, 0.5)")
    if not (dt > 0 and max_speed > 0 and max_speed * dt <= 0.5):
        raise ValueError(
            f"max_speed * dt = {max_speed} * {dt} is not accepted; accepted are "
            "positive values with max_speed * dt <= 0.5 (no tunnelling through walls)"
        )
    if not accel > 0:
        raise ValueError(f"accel {accel!r} is not accepted; accepted are values > 0")
    if not success_radius > 0:
        raise ValueError(
            f"success_radius {success_radius!r} is not accepted; accepted are values > 0"
        )
    if not (isinstance(shaping, (int, float)) and math.isfinite(shaping) and shaping >= 0):
        raise ValueError(f"shaping {shaping!r} is not accepted; accepted is a weight >= 0")
    if not (isinstance(gamma, (int, float)) and 0.0 <= gamma <= 1.0):
        raise ValueError(f"gamma {gamma!r} is not accepted; accepted is [0, 1]")
    if not 0.0 <= start_noise <= 0.5 - radius:
        raise ValueError(
            f"start_noise {start_noise!r} is not accepted; accepted is [0, {0.5 - radius}]"
        )
    if isinstance(cell_px, bool) or not isinstance(cell_px, int) or cell_px < 4:
        raise ValueError(f"cell_px {cell_px!r} is not accepted; accepted are ints >= 4")


class PointMazeEnv(MazeRendering, gym.Env):
    """Point mass pushed by a 2-D force in a named maze layout.

    Action: ``Box(-1, 1, (2,), float32)``, the force ``(fx, fy)`` as a
    fraction of ``accel``; an action outside ``[-1, 1]``, of the wrong shape,
    or with NaN raises ``ValueError`` (never clipped).

    Observation: ``(x, y, vx, vy, goal_x, goal_y)`` float32 with bounds
    ``[0, W]``, ``[0, H]`` for positions and ``[-max_speed, max_speed]`` for
    velocities.

    Dynamics per step: ``v <- clip(v + accel * action * dt, -max_speed,
    max_speed)`` per component, then ``x``, then ``y`` move by ``v * dt``; a
    component that hits a wall is stopped and its velocity set to 0.

    Reward: ``dense`` (default) ``-||pos - goal||``; ``sparse`` 1 on success
    else 0. Success: within ``success_radius`` of the goal (``info["is_success"]``);
    the episode then terminates unless ``terminate_on_success=False``. With
    ``shaping > 0`` the potential-based term ``gamma * phi(s') - phi(s)`` is added,
    ``phi(s) = -shaping * g(s) / g_max`` with ``g`` the geodesic distance to the goal
    around the walls (:meth:`geodesic_distance`), which leaves the optimal policies
    unchanged (Ng et al., 1999) and, unlike the straight-line distance of ``dense``,
    has no dead end that pulls the agent towards a wall.

    :param render_mode: ``None``, ``"human"``, ``"rgb_array"`` or ``"ansi"``.
    :param layout: a name from :data:`envs.maze.LAYOUTS`; default ``"umaze"``.
    :param reward_type: ``"dense"`` (default) or ``"sparse"``.
    :param start: start square ``(row, col)``, or ``None`` (default): a random
        free square other than the goal square each episode, with uniform
        noise of ``start_noise`` units on each coordinate.
    :param goal: goal square ``(row, col)``; ``None`` (default): the layout's
        ``G`` square, else its last free square; ``"random"``: a random free
        square each episode. The goal point is the square's centre.
    :param success_radius: distance to the goal that counts as success. Default 0.5.
    :param shaping: weight of the geodesic shaping term; 0 (default) disables it.
    :param gamma: discount the shaping term assumes (use the agent's). Default 0.99.
    :param terminate_on_success: end the episode on success. Default True.
    :param dt: seconds per step. Default 0.1.
    :param accel: acceleration at full force, units / s^2. Default 5.0.
    :param max_speed: speed limit per axis, units / s; ``max_speed * dt`` must
        be ``<= 0.5``. Default 2.0.
    :param radius: half-width of the agent, in ``(0, 0.5)``. Default 0.1.
    :param start_noise: half-width of the start noise, in ``[0, 0.5 - radius]``.
        Default 0.25.
    :param cell_px: pixels per square in ``rgb_array`` frames. Default 32.
    """

    window_title = "PointMaze"
    metadata = {"render_modes": ["human", "rgb_array", "ansi"], "render_fps": 10}

    def __init__(
        self,
        render_mode: str | None = None,
        *,
        layout: str = "umaze",
        reward_type: str = "dense",
        start: Sequence[int] | None = None,
        goal: Sequence[int] | str | None = None,
        success_radius: float = 0.5,
        shaping: float = 0.0,
        gamma: float = 0.99,
        terminate_on_success: bool = True,
        dt: float = 0.1,
        accel: float = 5.0,
        max_speed: float = 2.0,
        radius: float = 0.1,
        start_noise: float = 0.25,
        cell_px: int = 32,
        **unknown_options: Any,
    ) -> None:
        if unknown_options:
            raise ValueError(
                f"unknown PointMazeEnv options {sorted(unknown_options)}; accepted are "
                f"{sorted(_CONSTRUCTOR_OPTIONS)}"
            )
        check_render_mode(render_mode, self.metadata["render_modes"])
        _check_options(
            reward_type=reward_type, radius=radius, dt=dt, max_speed=max_speed, accel=accel,
            success_radius=success_radius, shaping=shaping, gamma=gamma,
            start_noise=start_noise, cell_px=cell_px,
        )  # fmt: skip

        self.render_mode = render_mode
        self.layout = layout
        self.walls, layout_goal = mz.layout_walls(layout)
        self._free = mz.free_cells(self.walls)
        self.reward_type = reward_type
        self.success_radius = float(success_radius)
        self.shaping = float(shaping)
        self.gamma = float(gamma)
        self.terminate_on_success = bool(terminate_on_success)
        self.dt = float(dt)
        self.accel = float(accel)
        self.max_speed = float(max_speed)
        self.radius = float(radius)
        self.start_noise = float(start_noise)
        self.cell_px = cell_px
        self._start_option = None if start is None else self._check_square("start", start)
        if isinstance(goal, str):
            if goal != "random":
                raise ValueError(
                    f"goal {goal!r} is not accepted; accepted are None, 'random' or a (row, col)"
                )
            self._goal_option: tuple[int, int] | str = "random"
        elif goal is None:
            self._goal_option = layout_goal if layout_goal is not None else self._free[-1]
        else:
            self._goal_option = self._check_square("goal", goal)
        if self._start_option is not None and self._start_option == self._goal_option:
            raise ValueError(
                f"start {self._start_option} equals the goal square; accepted are other squares"
            )

        h, w = self.walls.shape
        ms = self.max_speed
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.observation_space = spaces.Box(
            low=np.array([0, 0, -ms, -ms, 0, 0], dtype=np.float32),
            high=np.array([w, h, ms, ms, w, h], dtype=np.float32),
            dtype=np.float32,
        )
        goal_cell = self._goal_option if isinstance(self._goal_option, tuple) else self._free[-1]
        self._set_episode(self._cell_centre(self._free[0]), goal_cell)

    # ------------------------------------------------------------------ helpers
    @property
    def agent_cell(self) -> tuple[int, int]:
        """The ``(row, col)`` square under the agent's centre."""
        return (int(self.position[1]), int(self.position[0]))

    def free_cells(self) -> list[tuple[int, int]]:
        """Every free square ``(row, col)`` of the layout, in reading order."""
        return list(self._free)

    @staticmethod
    def _cell_centre(cell: tuple[int, int]) -> np.ndarray:
        return np.array([cell[1] + 0.5, cell[0] + 0.5], dtype=np.float64)

    def _check_square(self, name: str, value: object) -> tuple[int, int]:
        return mz.check_square(self.walls, self._free, name, value)

    def geodesic_distance(self, position: Sequence[float] | None = None) -> float:
        """The length of the way from ``position`` (default: the agent's) to the goal
        around the walls (:class:`envs.maze.GeodesicDistance`): equal to the BFS
        distance at square centres, continuous within each square."""
        x, y = self.position if position is None else position
        return self._geodesic(x, y)

    def _set_episode(self, position: np.ndarray, goal_cell: tuple[int, int]) -> None:
        self.position = position
        self.velocity = np.zeros(2, dtype=np.float64)
        if goal_cell != getattr(self, "goal_cell", None):
            self._geodesic = mz.GeodesicDistance(self.walls, goal_cell)
        self.goal_cell = goal_cell
        self.goal_xy = self._cell_centre(goal_cell)
        self.path: list[tuple[float, float]] = [(float(position[0]), float(position[1]))]

    # ------------------------------------------------------------------ gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode.

        :param seed: seeds ``np_random`` (start square and noise, random goal).
        :param options: ``{"start": (r, c), "goal": (r, c)}``, each optional and
            for this episode only; an explicit start has no noise.
        """
        super().reset(seed=seed)
        options = {} if options is None else dict(options)
        unknown = sorted(set(options) - set(RESET_OPTIONS))
        if unknown:
            raise ValueError(f"unknown reset options {unknown}; accepted are {list(RESET_OPTIONS)}")
        if options.get("goal") is not None:
            goal = self._check_square("goal", options["goal"])
        elif isinstance(self._goal_option, tuple):
            goal = self._goal_option
        else:  # "random"
            goal = self._free[int(self.np_random.integers(len(self._free)))]
        if options.get("start") is not None:
            start = self._check_square("start", options["start"])
            position = self._cell_centre(start)
        elif self._start_option is not None:
            start = self._start_option
            position = self._cell_centre(start)
        else:
            # One draw among the free squares other than the goal: no retry loop.
            k = int(self.np_random.integers(len(self._free) - 1))
            start = self._free[k] if self._free[k] != goal else self._free[-1]
            noise = self.np_random.uniform(-self.start_noise, self.start_noise, size=2)
            position = self._cell_centre(start) + noise
        if start == goal:
            raise ValueError(f"start {start} equals the goal {goal}; accepted are other squares")
        self._set_episode(position, goal)
        if self.render_mode == "human":
            self.render()
        return self._observation(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply the force ``action`` for one ``dt``.

        :param action: array-like of shape ``(2,)`` with finite entries in ``[-1, 1]``.
        """
        try:
            a = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"action {action!r} is not accepted; accepted are 2 finite numbers in [-1, 1]"
            ) from err
        if a.shape != (2,) or not np.all(np.isfinite(a)) or np.any(np.abs(a) > 1.0):
            raise ValueError(
                f"action {action!r} is not in Box(-1, 1, (2,)); accepted are 2 finite "
                "numbers in [-1, 1] (no clipping is applied)"
            )
        ms, dv = self.max_speed, self.accel * self.dt
        vx = min(max(self.velocity[0] + dv * a[0], -ms), ms)
        vy = min(max(self.velocity[1] + dv * a[1], -ms), ms)
        x, y = float(self.position[0]), float(self.position[1])
        before = self.geodesic_distance() if self.shaping else 0.0
        x, hit_x = self._move(x, y, vx * self.dt, along_x=True)
        y, hit_y = self._move(y, x, vy * self.dt, along_x=False)
        self.position = np.array([x, y])
        self.velocity = np.array([0.0 if hit_x else vx, 0.0 if hit_y else vy])
        self.path.append((x, y))

        info = self._info()
        success = info["is_success"]
        if self.reward_type == "dense":
            reward = -info["distance"]
        else:
            reward = 1.0 if success else 0.0
        if self.shaping:
            # phi = -shaping * g / g_max; 0 after a terminating success (no bias)
            scale = self.shaping / self._geodesic.max
            after = 0.0 if success and self.terminate_on_success else self.geodesic_distance()
            reward += scale * (before - self.gamma * after)
        if self.render_mode == "human":
            self.render()
        return self._observation(), reward, success and self.terminate_on_success, False, info

    def _move(self, along: float, across: float, delta: float, along_x: bool) -> tuple[float, bool]:
        """Move the agent's centre by ``delta`` on one axis; stop flush at a wall.

        :return: the new coordinate and whether a wall stopped the move.
        """
        r = self.radius
        new = along + delta
        if delta == 0.0:
            return new, False
        # Squares the agent overlaps across the motion (open intervals, so
        # touching a wall's face is not overlapping it).
        lo, hi = math.floor(across - r), math.ceil(across + r) - 1
        # Only the leading square along the motion can be newly entered,
        # because one step moves at most half a square.
        k = math.ceil(new + r) - 1 if delta > 0 else math.floor(new - r)
        blocked = self.walls[lo : hi + 1, k].any() if along_x else self.walls[k, lo : hi + 1].any()
        if not blocked:
            return new, False
        return (k - r - _EPS, True) if delta > 0 else (k + 1 + r + _EPS, True)

    def _observation(self) -> np.ndarray:
        return np.array([*self.position, *self.velocity, *self.goal_xy], dtype=np.float32)

    def _info(self) -> dict[str, Any]:
        distance = float(math.dist(self.position, self.goal_xy))
        return {"is_success": distance <= self.success_radius, "distance": distance}

    def _text(self) -> str:
        visited = np.zeros_like(self.walls)
        for x, y in self.path:
            visited[int(y), int(x)] = True
        return grid_text(self.walls, self.agent_cell, self.goal_cell, visited)

    def _frame(self) -> np.ndarray:
        return point_frame(
            self.walls,
            self.position,
            self.goal_xy,
            self.path,
            self.radius,
            self.success_radius,
            self.cell_px,
        )


# The one list of constructor option names is the signature itself.
_CONSTRUCTOR_OPTIONS = tuple(
    name
    for name in inspect.signature(PointMazeEnv.__init__).parameters
    if name not in ("self", "unknown_options")
)
