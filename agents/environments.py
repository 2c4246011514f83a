"""The environments an agent trains and is evaluated on: any registered Gymnasium id.

Ids come from :mod:`envs` (the ``nspdi/`` mazes) or from the modules named with
``--gym-packages`` (as in RL Zoo: ``gymnasium_robotics`` registers
``PointMaze_UMaze-v3`` and its siblings on import). Observations may be a Box or a
Dict of Boxes (the goal-conditioned ``observation`` / ``achieved_goal`` /
``desired_goal``); the spiking policies read a Dict as its Boxes concatenated in
key order.

The population and rate encoders need a value range. Bounded spaces give theirs;
an unbounded one (the MuJoCo mazes) is normalised by a running mean and standard
deviation (SB3's ``VecNormalize``), clipped to :data:`NORMALIZED_OBS_BOUND`
standard deviations, which then is the encoders' range. The statistics are saved
beside the model (``vecnormalize.pkl``) and evaluation applies them unchanged.
"""

from __future__ import annotations

import ast
import importlib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

import envs  # noqa: F401  (registers the nspdi/ ids)
from envs.maze import GeodesicDistance, GeodesicMap, square_of
from envs.rendering import point_frame

__all__ = [
    "ACHIEVED_BEFORE",
    "ENV_REWARD",
    "GeodesicShaping",
    "MazeFrame",
    "WaypointGoal",
    "NORMALIZED_OBS_BOUND",
    "NORMALIZER_FILE",
    "check_env_id",
    "import_gym_packages",
    "is_robotics_maze",
    "is_unbounded",
    "load_normalizer",
    "make_env",
    "make_training_env",
    "mujoco_render_error",
    "parse_env_kwargs",
    "record_top_down",
    "step_success",
]

#: the range of normalised observations, in running standard deviations: values
#: beyond it are clipped (about 1 in 1.7 million draws of a normal variable)
NORMALIZED_OBS_BOUND = 5.0
#: the ``info`` key where :class:`GeodesicShaping` keeps the goal achieved before a step
ACHIEVED_BEFORE = "achieved_goal_before"
#: the ``info`` key where :class:`WaypointGoal` keeps the env's own reward
ENV_REWARD = "env_reward"
#: the observation statistics saved beside a model (SB3's file name in RL Zoo)
NORMALIZER_FILE = "vecnormalize.pkl"


def import_gym_packages(names: Sequence[str]) -> None:
    """Import the modules that register environment ids.

    :raises ValueError: naming a module that cannot be imported, and why.
    """
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as err:
            hint = (
                " (install the project's maze2d extra: pip install 'nspdi-rl[maze2d]')"
                if name.split(".")[0] == "gymnasium_robotics"
                else ""
            )
            raise ValueError(f"cannot import gym package {name!r}: {err}{hint}") from None


def check_env_id(env_id: str) -> None:
    """:raises ValueError: when ``env_id`` is not registered, with a hint."""
    if env_id in gym.registry:
        return
    ours = sorted(k for k in gym.registry if k.startswith("nspdi/"))
    hint = (
        "; gymnasium-robotics ids need --gym-packages gymnasium_robotics"
        if env_id.startswith(("PointMaze", "AntMaze"))
        else ""
    )
    raise ValueError(f"unknown env id {env_id!r}: not registered (ours: {ours}){hint}")


def parse_env_kwargs(items: Sequence[str]) -> dict[str, Any]:
    """RL Zoo's ``KEY:VALUE`` pairs as a dict; a value is a Python literal (``1.0``,
    ``False``, ``'coords'``, ``[1, 2]``) or else the text itself.

    :raises ValueError: for an item without ``:`` or a key that is not a name.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition(":")
        if not sep or not key.isidentifier():
            raise ValueError(f"env kwarg {item!r} is not KEY:VALUE (e.g. continuing_task:False)")
        try:
            out[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[key] = text
    return out


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


def make_env(
    env_id: str, env_kwargs: Mapping[str, Any] | None = None, **make_kwargs: Any
) -> gym.Env:
    """``gym.make(env_id, **env_kwargs, **make_kwargs)``, where ``env_kwargs`` may also
    hold, for a gymnasium-robotics maze, ``shaping`` (and ``gamma``), which
    :class:`GeodesicShaping` applies (the ``nspdi/`` mazes take them themselves), and
    ``waypoints`` (True: :class:`WaypointGoal`).

    :raises ValueError: for ``shaping`` on an env that is neither, or ``waypoints`` on
        one that is not a gymnasium-robotics maze.
    """
    kwargs = dict(env_kwargs or {})
    if env_id.startswith("nspdi/"):
        return gym.make(env_id, **kwargs, **make_kwargs)
    shaping = kwargs.pop("shaping", None)
    gamma = kwargs.pop("gamma", 0.99) if shaping is not None else 0.99
    waypoints = kwargs.pop("waypoints", False)
    if not isinstance(waypoints, bool):
        raise ValueError(f"env kwarg waypoints {waypoints!r} is not accepted; accepted: bool")
    env = gym.make(env_id, **kwargs, **make_kwargs)
    if (shaping or waypoints) and not is_robotics_maze(env):
        env.close()
        if shaping:
            raise ValueError(
                f"env kwarg shaping is for the nspdi/ mazes and gymnasium-robotics' mazes; "
                f"{env_id} is neither"
            )
        raise ValueError(
            f"env kwarg waypoints is for gymnasium-robotics' mazes; {env_id} is not one"
        )
    if waypoints:
        env = WaypointGoal(env)
    return GeodesicShaping(env, shaping, gamma) if shaping else env


def is_unbounded(space: spaces.Space) -> bool:
    """Whether a Box (or a Box inside a Dict) has an infinite bound."""
    if isinstance(space, spaces.Dict):
        return any(is_unbounded(s) for s in space.spaces.values())
    if isinstance(space, spaces.Box):
        return not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high)))
    return False


def make_training_env(
    env_id: str,
    n_envs: int,
    seed: int,
    env_kwargs: Mapping[str, Any],
    normalize: bool,
    normalizer: Path | None = None,
    max_episode_steps: int | None = None,
) -> VecEnv:
    """``n_envs`` copies of the env, seeded; with ``normalize``, wrapped in
    ``VecNormalize`` (observations only), whose statistics come from ``normalizer``
    when given (a resumed run); ``max_episode_steps``, when given, replaces the env's
    time limit."""
    make_kwargs: dict[str, Any] = {"env_id": env_id, "env_kwargs": env_kwargs}
    if max_episode_steps is not None:
        make_kwargs["max_episode_steps"] = max_episode_steps
    venv = make_vec_env(make_env, n_envs=n_envs, seed=seed, env_kwargs=make_kwargs)
    if not normalize:
        return venv
    if normalizer is not None:
        return VecNormalize.load(str(normalizer), venv)
    return VecNormalize(venv, norm_obs=True, norm_reward=False, clip_obs=NORMALIZED_OBS_BOUND)


def load_normalizer(
    path: Path, env_id: str, env_kwargs: Mapping[str, Any], n_envs: int = 1
) -> VecNormalize:
    """Saved observation statistics, frozen (evaluation does not update them), around
    ``n_envs`` copies of the env (a model takes an env of as many as it trained on)."""
    venv = DummyVecEnv([lambda: make_env(env_id, env_kwargs)] * n_envs)
    normalizer = VecNormalize.load(str(path), venv)
    normalizer.training = False
    return normalizer


def is_robotics_maze(env: gym.Env) -> bool:
    """Whether ``env`` is one of gymnasium-robotics' mazes (PointMaze, AntMaze)."""
    maze = getattr(env.unwrapped, "maze", None)
    return all(hasattr(maze, a) for a in ("maze_map", "maze_size_scaling", "x_map_center"))


def mujoco_render_error(env_id: str, env_kwargs: Mapping[str, Any]) -> str | None:
    """Why MuJoCo cannot draw ``env_id`` here (no OpenGL: set ``MUJOCO_GL=egl`` or
    ``osmesa`` where one is installed), or None when it can."""
    try:
        with warnings.catch_warnings():  # glfw warns before it fails; the error says it all
            warnings.simplefilter("ignore")
            env = make_env(env_id, env_kwargs, render_mode="rgb_array")
            try:
                env.reset(seed=0)
                env.render()
            finally:
                env.close()
    except Exception as err:  # the GL back ends raise many types (FatalError, EGLError, ...)
        return f"{type(err).__name__}: {err}".splitlines()[0]
    return None


#: gymnasium-robotics' success distance (its ``compute_terminated``) and the point's
#: radius in its MuJoCo model, both in world units
_ROBOTICS_SUCCESS_DISTANCE = 0.45
_ROBOTICS_POINT_RADIUS = 0.1


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
            cells(env.unwrapped.goal),  # the real goal, not a waypoint (WaypointGoal)
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


def step_success(info: Mapping[str, Any]) -> bool:
    """Whether this step reached the goal: ``is_success`` (SB3's key, the ``nspdi/``
    mazes) or ``success`` (gymnasium-robotics)."""
    return bool(info.get("is_success", info.get("success", False)))
