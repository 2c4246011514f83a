"""gymnasium-robotics' mazes (PointMaze, AntMaze) as the project uses them: their map's
geometry (:class:`MazeFrame`), the wrappers the project puts around them
(:class:`GeodesicShaping`, :class:`WaypointGoal`, :class:`WayCurriculum`), chosen by
one typed set of options (:class:`MazeWrappers`), and a top-down drawing from the
positions where MuJoCo cannot render (:func:`record_top_down`).

gymnasium-robotics itself is optional: nothing here imports it; these functions take
an env made from its ids (``gymnasium_robotics`` registers them on import). The
``nspdi/`` mazes shape their reward themselves (their ``shaping`` option) and need
none of this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.maze import GeodesicDistance, GeodesicMap, bfs_distances, layout_walls, square_of
from envs.rendering import point_frame

__all__ = [
    "ACHIEVED_BEFORE",
    "D4RL_GOALS",
    "ENV_REWARD",
    "PROTOCOLS",
    "GeodesicShaping",
    "MazeFrame",
    "MazeWrappers",
    "WayCurriculum",
    "WaypointGoal",
    "d4rl_maze_map",
    "is_robotics_maze",
    "protocol_of",
    "record_top_down",
]

#: the ``info`` key where :class:`GeodesicShaping` keeps the goal achieved before a step
ACHIEVED_BEFORE = "achieved_goal_before"
#: the ``info`` key where :class:`WaypointGoal` keeps the env's own reward
ENV_REWARD = "env_reward"
#: gymnasium-robotics' success distance (its ``compute_terminated``) and the point's
#: radius in its MuJoCo model, both in world units
_ROBOTICS_SUCCESS_DISTANCE = 0.45
_ROBOTICS_POINT_RADIUS = 0.1


#: the evaluation protocols of gymnasium-robotics' point mazes, named in every summary:
#: ``d4rl``, D4RL's maze2d task (its fixed goal, random starts, its episode lengths:
#: the protocol its normalised score is defined for), and ``gymnasium-robotics``, the
#: ids' own default (a random goal and start every episode, scored by success)
PROTOCOLS = ("d4rl", "gymnasium-robotics")
#: the goal square (row, column) of D4RL's sparse maze2d tasks (``maze2d-umaze-v1``,
#: ``-medium-v1``, ``-large-v1``: the ``G`` of D4RL's maze strings), in the layouts
#: gymnasium-robotics keeps as ``PointMaze_*-v3`` (:mod:`envs.maze`'s, same walls)
D4RL_GOALS: dict[str, tuple[str, tuple[int, int]]] = {
    "PointMaze_UMaze-v3": ("umaze", (1, 1)),
    "PointMaze_Medium-v3": ("medium", (6, 6)),
    "PointMaze_Large-v3": ("large", (7, 9)),
}
# env options under which an episode is no longer the protocol's task
_TASK_OPTIONS = ("continuing_task", "reset_target", "reward_type", "max_episode_steps")


def d4rl_maze_map(env_id: str) -> list[list[int | str]]:
    """The ``maze_map`` env kwarg of D4RL's task on ``env_id``: its walls (1), free
    squares (0, where episodes start at random) and D4RL's fixed goal (``"g"``).

    :raises ValueError: for an env D4RL has no maze2d task of.
    """
    if env_id not in D4RL_GOALS:
        raise ValueError(f"D4RL has no maze2d task on {env_id}; accepted: {list(D4RL_GOALS)}")
    layout, (row, column) = D4RL_GOALS[env_id]
    walls, _ = layout_walls(layout)
    grid: list[list[int | str]] = [[1 if wall else 0 for wall in line] for line in walls]
    grid[row][column] = "g"
    return grid


def protocol_of(env_id: str, env_kwargs: Mapping[str, Any]) -> str | None:
    """The evaluation protocol (one of :data:`PROTOCOLS`) that ``env_id`` with these
    env kwargs (as the command line spells them, wrapper options included) runs, or
    None: none for other envs, a maze map of one's own, changed task options, or the
    waypoint planner (it reads the map at test time: its work is not the agent's).
    Shaping is a training signal that evaluation drops, so it does not count."""
    if not (env_id.startswith("PointMaze_") and env_id.endswith("-v3")):
        return None
    if env_kwargs.get("waypoints") or any(k in env_kwargs for k in _TASK_OPTIONS):
        return None
    maze_map = env_kwargs.get("maze_map")
    if maze_map is None:
        return "gymnasium-robotics"
    if env_id in D4RL_GOALS and _as_list(maze_map) == d4rl_maze_map(env_id):
        return "d4rl"
    return None


def _as_list(maze_map: Any) -> Any:
    """A maze map as nested lists (JSON and YAML give lists, numpy arrays compare apart)."""
    return [list(row) for row in maze_map] if isinstance(maze_map, (list, tuple)) else maze_map


def is_robotics_maze(env: gym.Env) -> bool:
    """Whether ``env`` is one of gymnasium-robotics' mazes (PointMaze, AntMaze)."""
    maze = getattr(env.unwrapped, "maze", None)
    return all(hasattr(maze, a) for a in ("maze_map", "maze_size_scaling", "x_map_center"))


@dataclass(frozen=True)
class MazeFrame:
    """A gymnasium-robotics maze's map: its walls, and the change between world
    coordinates (``x`` right, ``y`` up, the map centred) and squares of the map (``x``
    along the columns, ``y`` down the rows, as :mod:`envs.maze` measures).

    :param walls: bool wall array (rows, columns).
    :param unit: the side of a square in world units.
    :param x0: world ``x`` of the map's left edge, negated.
    :param y0: world ``y`` of the map's top edge.
    """

    walls: np.ndarray
    unit: float
    x0: float
    y0: float

    @classmethod
    def of(cls, env: gym.Env, what: str = "this") -> MazeFrame:
        """The frame of ``env``'s maze.

        :raises ValueError: naming ``what`` needs it, for an env that is not a
            gymnasium-robotics maze.
        """
        if not is_robotics_maze(env):
            raise ValueError(f"{what} needs a gymnasium-robotics maze, got {env.unwrapped!r}")
        maze = env.unwrapped.maze  # type: ignore[attr-defined]
        walls = np.array([[cell == 1 for cell in row] for row in maze.maze_map])
        return cls(walls, float(maze.maze_size_scaling), float(maze.x_map_center),
                   float(maze.y_map_center))  # fmt: skip

    def squares(self, xy: Any) -> np.ndarray:
        """World ``(x, y)`` points, ``(..., 2)``, in squares of the map."""
        xy = np.asarray(xy, dtype=np.float64)
        return np.stack(
            [(xy[..., 0] + self.x0) / self.unit, (self.y0 - xy[..., 1]) / self.unit], -1
        )

    def world(self, squares: Any) -> np.ndarray:
        """Points in squares of the map, ``(..., 2)``, in world coordinates."""
        squares = np.asarray(squares, dtype=np.float64)
        return np.stack(
            [squares[..., 0] * self.unit - self.x0, self.y0 - squares[..., 1] * self.unit], -1
        )

    def geodesic(self, goal_xy: Any) -> GeodesicDistance:
        """The way around the walls to the world point ``goal_xy``, measured in squares
        (:class:`envs.maze.GeodesicDistance`, which takes points in squares)."""
        goal = tuple(self.squares(goal_xy).tolist())
        return GeodesicDistance(self.walls, square_of(self.walls.shape, *goal), goal)

    def way(self, xy: Any, goal_xy: Any) -> float:
        """The way around the walls from world point ``xy`` to ``goal_xy``, in squares."""
        return self.geodesic(goal_xy)(*self.squares(xy).tolist())


class GeodesicShaping(gym.Wrapper):
    """Potential-based shaping by the way around the walls, for gymnasium-robotics'
    goal-conditioned mazes: the reward gains ``gamma * phi(s') - phi(s)`` with
    ``phi = -shaping * g / g_max``, ``g`` the geodesic distance from the achieved to
    the desired goal (:class:`envs.maze.GeodesicDistance`, in squares of the maze
    map) and ``g_max`` the longest such way to that goal in squares; 0 after a
    terminating step. The project's own point mazes shape their reward the same way;
    the optimal policies do not change (Ng et al., 1999), and the straight line of the
    ``Dense`` ids, which leads into dead ends, is not used.

    HER relabels goals with :meth:`compute_reward`, which adds the same term for the
    new goal: each step's ``info`` keeps the goal achieved before it
    (:data:`ACHIEVED_BEFORE`; SB3's ``HerReplayBuffer`` keeps infos with
    ``copy_info_dict=True``), and :class:`envs.maze.GeodesicMap` measures the way to
    any goal.

    :param env: a gymnasium-robotics maze env (PointMaze, AntMaze).
    :param shaping: the weight, > 0.
    :param gamma: the discount the term assumes (the agent's), in [0, 1].
    """

    def __init__(self, env: gym.Env, shaping: float, gamma: float) -> None:
        super().__init__(env)
        self.frame = MazeFrame.of(env, "shaping by the way around the walls")
        if isinstance(shaping, bool) or not isinstance(shaping, (int, float)) or not shaping > 0:
            raise ValueError(f"shaping {shaping!r} is not accepted; accepted is a weight > 0")
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0 <= gamma <= 1:
            raise ValueError(f"gamma {gamma!r} is not accepted; accepted is [0, 1]")
        self.shaping, self.gamma = float(shaping), float(gamma)
        self._goal: tuple[float, float] | None = None
        self._geodesic: GeodesicDistance | None = None
        self._map: GeodesicMap | None = None  # built on the first relabelled reward
        self._before = 0.0
        self._achieved = np.zeros(2)

    def _distance(self, obs: Mapping[str, np.ndarray]) -> float:
        goal = tuple(np.asarray(obs["desired_goal"], dtype=np.float64).tolist())
        if goal != self._goal:  # a new goal: its BFS, once
            self._geodesic = self.frame.geodesic(goal)
            self._goal = goal
        assert self._geodesic is not None
        return self._geodesic(*self.frame.squares(obs["achieved_goal"]).tolist())

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._before = self._distance(obs)
        self._achieved = np.array(obs["achieved_goal"], dtype=np.float64)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        after = 0.0 if terminated else self._distance(obs)
        assert self._geodesic is not None
        scale = self.shaping / self._geodesic.max
        reward = float(reward) + scale * (self._before - self.gamma * after)
        self._before = after
        info = {**info, ACHIEVED_BEFORE: self._achieved}
        self._achieved = np.array(obs["achieved_goal"], dtype=np.float64)
        return obs, reward, terminated, truncated, info

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any) -> Any:
        """The env's reward for reaching ``achieved_goal`` while after ``desired_goal``
        plus the shaping term, for one step (``info`` a mapping) or a batch (rows of
        goals, ``info`` a sequence of mappings), as HER asks for relabelled goals.

        :raises ValueError: for an ``info`` without :data:`ACHIEVED_BEFORE` (a step not
            taken through this wrapper).
        """
        unwrapped = self.env.unwrapped
        reward = unwrapped.compute_reward(achieved_goal, desired_goal, info)  # type: ignore[attr-defined]
        single = isinstance(info, Mapping)
        infos = [info] if single else list(info)
        try:
            before = np.array([i[ACHIEVED_BEFORE] for i in infos], dtype=np.float64)
        except (KeyError, TypeError):
            raise ValueError(
                f"compute_reward needs each step's info[{ACHIEVED_BEFORE!r}], which "
                "GeodesicShaping.step writes (HER keeps infos with copy_info_dict=True)"
            ) from None
        achieved = np.asarray(achieved_goal, dtype=np.float64).reshape(-1, 2)
        desired = np.asarray(desired_goal, dtype=np.float64).reshape(-1, 2)
        if self._map is None:
            self._map = GeodesicMap(self.frame.walls)
        goal = self.frame.squares(desired)
        after = self._map(self.frame.squares(achieved), goal)
        if not unwrapped.continuing_task:  # type: ignore[attr-defined]
            # compute_terminated's rule, for a batch: reaching the goal ends the episode
            reached = np.linalg.norm(achieved - desired, axis=-1) <= _ROBOTICS_SUCCESS_DISTANCE
            after = np.where(reached, 0.0, after)
        scale = self.shaping / self._map.longest_to(goal)
        term = scale * (self._map(self.frame.squares(before), goal) - self.gamma * after)
        return reward + (term[0] if single else term)


class WayCurriculum(gym.Wrapper):
    """A curriculum on the length of the way, for training: starts near the goal first.

    Each episode's goal square is drawn as the env draws it (among the map's goal
    squares: every free square, or the fixed goal of a map with one), and its start
    square among the free squares whose way around the walls to that goal is at least
    1 and at most :attr:`reach` squares. The reach grows linearly from 1 to the map's
    longest way over this env's first ``steps`` environment steps; from then on the env
    draws its own starts and goals. The position noise inside a square, and everything
    else, stay the env's. Evaluation drops it (:meth:`MazeWrappers.for_evaluation`).

    :param steps: the environment steps (of this env; each of several parallel envs
        counts its own) over which the reach grows, > 0.
    """

    def __init__(self, env: gym.Env, steps: int) -> None:
        super().__init__(env)
        walls = MazeFrame.of(env, "the way curriculum").walls
        maze = env.unwrapped.maze  # type: ignore[attr-defined]
        self.goals = [self._square(maze, xy) for xy in maze.unique_goal_locations]
        self.starts = [self._square(maze, xy) for xy in maze.unique_reset_locations]
        self.ways = {goal: bfs_distances(walls, goal) for goal in set(self.goals)}
        self.longest = max(
            int(self.ways[goal][start]) for goal in self.ways for start in self.starts
        )
        self.steps = int(steps)
        self.taken = 0
        self.last: tuple[tuple[int, int], tuple[int, int]] | None = None
        self._rng: np.random.Generator | None = None

    @staticmethod
    def _square(maze: Any, xy: Any) -> tuple[int, int]:
        row, column = maze.cell_xy_to_rowcol(np.asarray(xy))
        return int(row), int(column)

    @property
    def reach(self) -> float:
        """The longest way (squares) a start may have to the goal now."""
        return 1 + (self.longest - 1) * min(1.0, self.taken / self.steps)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        if options is not None or self.taken >= self.steps:
            self.last = None  # the env's own draw (or the caller's)
            return self.env.reset(seed=seed, options=options)
        goal = self.goals[int(self._rng.integers(len(self.goals)))]
        way = self.ways[goal]
        near = [s for s in self.starts if 1 <= way[s] <= self.reach]
        start = near[int(self._rng.integers(len(near)))] if near else None
        self.last = None if start is None else (goal, start)
        cells = {"goal_cell": np.array(goal), "reset_cell": None}
        if start is not None:
            cells["reset_cell"] = np.array(start)
        return self.env.reset(seed=seed, options=cells)

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        self.taken += 1
        return self.env.step(action)


class WaypointGoal(gym.Wrapper):
    """A planner over the maze map in front of the agent: the goal the agent sees
    (``desired_goal``) is the next square of the shortest way to the real goal (BFS on
    the map, the centre of the neighbouring square one step closer, the nearest if two
    are), or the real goal itself from its own square or a neighbouring one. The
    straight line to such a waypoint never crosses a wall, so the agent learns to reach
    nearby points, as the expert of D4RL's Maze2D data did (a planner's waypoints and
    a PD controller).

    The reward the agent gets is the env's reward for the waypoint (so that HER's
    relabelled rewards, the env's ``compute_reward``, agree with it); ``info`` keeps
    the env's own under :data:`ENV_REWARD`, and ``info["success"]`` stays the env's
    (the real goal), which the evaluation scores.

    :param env: a gymnasium-robotics maze env (PointMaze, AntMaze).
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.frame = MazeFrame.of(env, "waypoints")
        self._goal: tuple[float, ...] | None = None
        self._geodesic: GeodesicDistance | None = None

    def _waypoint(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        goal = np.asarray(obs["desired_goal"])
        if tuple(goal.tolist()) != self._goal:  # a new goal: its BFS, once
            self._geodesic = self.frame.geodesic(goal)
            self._goal = tuple(goal.tolist())
        assert self._geodesic is not None
        x, y = self.frame.squares(obs["achieved_goal"]).tolist()
        if self._geodesic.steps[square_of(self.frame.walls.shape, x, y)] <= 1:
            return goal  # the goal's square or a neighbour (or, never, a wall)
        return self.frame.world(self._geodesic.next_centre(x, y)).astype(goal.dtype)

    def _steer(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {**obs, "desired_goal": self._waypoint(obs)}

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return self._steer(obs), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        steered = self._steer(obs)
        unwrapped = self.env.unwrapped
        towards = unwrapped.compute_reward(  # type: ignore[attr-defined]
            steered["achieved_goal"], steered["desired_goal"], info
        )
        return steered, float(towards), terminated, truncated, {**info, ENV_REWARD: reward}


#: the observation key :class:`GoalOffset` adds
GOAL_OFFSET = "goal_offset"


class GoalOffset(gym.ObservationWrapper):
    """The goal seen from the point: ``desired_goal - achieved_goal`` (world units), added
    to the observation as :data:`GOAL_OFFSET`. The observation already holds both; a
    network that codes each value apart (a population code per value) must otherwise
    compare two codes to find the goal's direction. It reads no map. It stays in
    evaluation (the agent's input); HER, which relabels ``desired_goal`` in stored
    observations without it, cannot take it (the runner refuses the pair).

    :param env: a goal-conditioned env (Dict observations with ``achieved_goal`` and
        ``desired_goal`` of one shape).
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        if not (
            isinstance(space, spaces.Dict)
            and {"achieved_goal", "desired_goal"} <= set(space.spaces)
            and space["achieved_goal"].shape == space["desired_goal"].shape
        ):
            raise ValueError(
                f"the goal offset needs Dict observations with achieved_goal and desired_goal "
                f"of one shape, got {space}"
            )
        if GOAL_OFFSET in space.spaces:
            raise ValueError(f"the observation already has a {GOAL_OFFSET!r} key")
        goal = space["desired_goal"]
        offset = spaces.Box(-np.inf, np.inf, goal.shape, dtype=goal.dtype)  # type: ignore[arg-type]
        self.observation_space = spaces.Dict({**space.spaces, GOAL_OFFSET: offset})

    def observation(self, observation: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        goal, point = observation["desired_goal"], observation["achieved_goal"]
        offset = np.asarray(goal) - np.asarray(point)
        dtype = self.observation_space[GOAL_OFFSET].dtype  # type: ignore[index]
        return {**observation, GOAL_OFFSET: offset.astype(dtype)}


@dataclass(frozen=True)
class MazeWrappers:
    """The wrappers around a gymnasium-robotics maze, as typed options.

    On the command line and in presets they travel as env kwargs (``shaping:1.0``,
    ``waypoints:True``, as RL Zoo passes options); :meth:`split` takes them out of the
    kwargs before ``gymnasium.make`` sees them, and :meth:`apply` wraps the env.

    The rule of evaluation (:meth:`for_evaluation`): shaping and the curriculum are
    training's help and are dropped, so that returns and the D4RL score are the env's
    own reward and its own starts and goals; waypoints
    stay, since they are the agent's input (a planner that reads the map), and the
    env's own reward of each step is in ``info[ENV_REWARD]``, which evaluation counts;
    the goal offset stays too (the agent's input, read from the observation alone).

    :param shaping: :class:`GeodesicShaping`'s weight (> 0), or None for no shaping.
    :param gamma: the discount the shaping term assumes (the agent's), in [0, 1].
    :param waypoints: put :class:`WaypointGoal` in front of the agent.
    :param curriculum: :class:`WayCurriculum`'s steps (> 0), or None for none: a
        training help, dropped in evaluation as shaping is.
    :param goal_offset: add :class:`GoalOffset`'s key to the observation (the agent's
        input: it stays in evaluation).
    """

    shaping: float | None = None
    gamma: float = 0.99
    waypoints: bool = False
    curriculum: int | None = None
    goal_offset: bool = False

    #: the env kwargs that are these options
    KEYS = ("shaping", "gamma", "waypoints", "curriculum", "goal_offset")

    def __post_init__(self) -> None:
        s, g = self.shaping, self.gamma
        if s is not None and (isinstance(s, bool) or not isinstance(s, (int, float)) or s < 0):
            raise ValueError(f"env kwarg shaping {s!r} is not accepted; accepted is a weight >= 0")
        if isinstance(g, bool) or not isinstance(g, (int, float)) or not 0 <= g <= 1:
            raise ValueError(f"env kwarg gamma {g!r} is not accepted; accepted is [0, 1]")
        for name in ("waypoints", "goal_offset"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"env kwarg {name} {getattr(self, name)!r} is not accepted; accepted: bool"
                )
        c = self.curriculum
        if c is not None and (isinstance(c, bool) or not isinstance(c, int) or c <= 0):
            raise ValueError(
                f"env kwarg curriculum {c!r} is not accepted; accepted is a step count > 0"
            )

    @classmethod
    def split(cls, env_kwargs: Mapping[str, Any]) -> tuple[MazeWrappers, dict[str, Any]]:
        """The options in ``env_kwargs`` and the kwargs left for ``gymnasium.make``
        (``gamma`` is an option only beside ``shaping``; ``shaping: 0`` is none)."""
        rest = dict(env_kwargs)
        shaping = rest.pop("shaping", None)
        gamma = rest.pop("gamma", 0.99) if shaping is not None else 0.99
        waypoints, curriculum = rest.pop("waypoints", False), rest.pop("curriculum", None)
        offset = rest.pop("goal_offset", False)
        return cls(shaping or None, gamma, waypoints, curriculum, offset), rest

    @classmethod
    def of_env(
        cls, env_id: str, env_kwargs: Mapping[str, Any]
    ) -> tuple[MazeWrappers, dict[str, Any]]:
        """:meth:`split` for a gymnasium-robotics id; an ``nspdi/`` maze takes ``shaping``
        and ``gamma`` itself, so its kwargs stay whole and it gets no wrappers."""
        if env_id.startswith("nspdi/"):
            return cls(), dict(env_kwargs)
        return cls.split(env_kwargs)

    def as_kwargs(self) -> dict[str, Any]:
        """The env kwargs that :meth:`split` reads back as these options (defaults left out)."""
        out: dict[str, Any] = {}
        if self.shaping:
            out.update(shaping=self.shaping, gamma=self.gamma)
        if self.waypoints:
            out["waypoints"] = True
        if self.curriculum:
            out["curriculum"] = self.curriculum
        if self.goal_offset:
            out["goal_offset"] = True
        return out

    def for_evaluation(self) -> MazeWrappers:
        """What evaluation keeps of these options (the rule in the class's doc)."""
        return MazeWrappers(waypoints=self.waypoints, goal_offset=self.goal_offset)

    def apply(self, env: gym.Env, env_id: str = "the env") -> gym.Env:
        """``env`` in these wrappers (waypoints inside, shaping outside).

        :raises ValueError: for options on an env that is not a gymnasium-robotics maze
            (closing it).
        """
        if not (self.shaping or self.waypoints or self.curriculum or self.goal_offset):
            return env
        if not is_robotics_maze(env):
            env.close()
            only_robotics = {"goal_offset": self.goal_offset, "curriculum": self.curriculum}
            for name, asked in only_robotics.items():
                if asked:
                    raise ValueError(
                        f"env kwarg {name} is for gymnasium-robotics' mazes; {env_id} is not one"
                    )
            if self.shaping:
                raise ValueError(
                    f"env kwarg shaping is for the nspdi/ mazes and gymnasium-robotics' "
                    f"mazes; {env_id} is neither"
                )
            raise ValueError(
                f"env kwarg waypoints is for gymnasium-robotics' mazes; {env_id} is not one"
            )
        if self.curriculum:  # innermost: the wrappers outside it see its episodes
            env = WayCurriculum(env, self.curriculum)
        if self.waypoints:
            env = WaypointGoal(env)
        if self.goal_offset:  # from the goal the agent is given (a waypoint, where steered)
            env = GoalOffset(env)
        return GeodesicShaping(env, self.shaping, self.gamma) if self.shaping else env


def record_top_down(
    env: gym.Env,
    policy: Any,
    *,
    seed: int,
    max_steps: int,
    cell_px: int = 32,
) -> list[np.ndarray]:
    """One episode of a gymnasium-robotics maze drawn top down from the positions (the
    maze map, the env's goal, the path, the agent), where MuJoCo cannot render.

    :param policy: ``policy(obs, env) -> action``.
    :return: a frame after the reset and after every step.
    """
    frame_of = MazeFrame.of(env, "a top-down picture")

    def cells(xy: np.ndarray) -> tuple[float, float]:
        x, y = frame_of.squares(xy).tolist()
        return x, y

    obs, _ = env.reset(seed=seed)
    path = [cells(obs["achieved_goal"])]

    def frame() -> np.ndarray:
        return point_frame(
            frame_of.walls,
            path[-1],
            # the real goal, not a waypoint (WaypointGoal)
            cells(env.unwrapped.goal),  # type: ignore[attr-defined]
            path,
            _ROBOTICS_POINT_RADIUS / frame_of.unit,
            _ROBOTICS_SUCCESS_DISTANCE / frame_of.unit,
            cell_px,
        )

    frames = [frame()]
    for _ in range(max_steps):
        obs, _, terminated, truncated, _ = env.step(policy(obs, env))
        path.append(cells(obs["achieved_goal"]))
        frames.append(frame())
        if terminated or truncated:
            break
    return frames
