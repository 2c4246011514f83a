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
import contextlib
import importlib
import io
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

import envs  # noqa: F401  (registers the nspdi/ ids)
from envs.robotics import MazeWrappers

__all__ = [
    "NORMALIZED_OBS_BOUND",
    "NORMALIZER_FILE",
    "check_env_id",
    "import_gym_packages",
    "is_unbounded",
    "load_normalizer",
    "make_env",
    "make_training_env",
    "mujoco_render_error",
    "parse_env_kwargs",
    "step_success",
]

#: the range of normalised observations, in running standard deviations: values
#: beyond it are clipped (about 1 in 1.7 million draws of a normal variable)
NORMALIZED_OBS_BOUND = 5.0
#: the observation statistics saved beside a model (SB3's file name in RL Zoo)
NORMALIZER_FILE = "vecnormalize.pkl"


def _foreign_notices(package: str) -> set[str]:
    """The notices ``farama_notifications`` holds for ``package`` (printed by the
    package to stderr on import, one per installed version) that name no maze: today
    gymnasium-robotics 1.2.1-1.4.2's note on its Adroit hand envs' rewards."""
    try:
        from farama_notifications import notifications
    except ImportError:
        return set()
    notices = notifications.get(package, {})
    return {str(n).strip() for n in notices.values() if "maze" not in str(n).lower()}


def import_gym_packages(names: Sequence[str]) -> None:
    """Import the modules that register environment ids. What a module prints to
    stderr on import passes through, except its Farama notices about envs other than
    the mazes (:func:`_foreign_notices`), which would otherwise open every command's
    output.

    :raises ValueError: naming a module that cannot be imported, and why.
    """
    for name in names:
        printed = io.StringIO()
        try:
            with contextlib.redirect_stderr(printed):
                importlib.import_module(name)
        except ImportError as err:
            sys.stderr.write(printed.getvalue())
            hint = (
                " (install the project's maze2d extra: pip install 'nspdi-rl[maze2d]')"
                if name.split(".")[0] == "gymnasium_robotics"
                else ""
            )
            raise ValueError(f"cannot import gym package {name!r}: {err}{hint}") from None
        skip = _foreign_notices(name.split(".")[0])
        sys.stderr.write(
            "".join(
                line
                for line in printed.getvalue().splitlines(keepends=True)
                if line.strip() not in skip
            )
        )


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


def make_env(
    env_id: str,
    env_kwargs: Mapping[str, Any] | None = None,
    wrappers: MazeWrappers | None = None,
    **make_kwargs: Any,
) -> gym.Env:
    """``gym.make(env_id, **env_kwargs, **make_kwargs)`` in ``wrappers``
    (:class:`envs.robotics.MazeWrappers`, for gymnasium-robotics' mazes).

    Without ``wrappers``, ``env_kwargs`` may spell them as the command line does
    (``shaping``, ``gamma``, ``waypoints``), and they are taken from there; the
    ``nspdi/`` mazes take ``shaping`` and ``gamma`` themselves.

    :raises ValueError: for wrapper options on an env that is not a gymnasium-robotics
        maze, or given twice.
    """
    kwargs = dict(env_kwargs or {})
    if env_id.startswith("nspdi/"):
        if wrappers is not None and wrappers != MazeWrappers():
            raise ValueError(f"{env_id} takes shaping as an env kwarg, and no waypoints")
        return gym.make(env_id, **kwargs, **make_kwargs)
    if wrappers is None:
        wrappers, kwargs = MazeWrappers.split(kwargs)
    elif set(kwargs) & set(MazeWrappers.KEYS):
        raise ValueError(
            f"env kwargs {sorted(set(kwargs) & set(MazeWrappers.KEYS))} given beside wrappers"
        )
    return wrappers.apply(gym.make(env_id, **kwargs, **make_kwargs), env_id)


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
    wrappers: MazeWrappers | None = None,
) -> VecEnv:
    """``n_envs`` copies of the env (:func:`make_env`), seeded; with ``normalize``,
    wrapped in ``VecNormalize`` (observations only), whose statistics come from
    ``normalizer`` when given (a resumed run); ``max_episode_steps``, when given,
    replaces the env's time limit."""
    make_kwargs: dict[str, Any] = {"env_id": env_id, "env_kwargs": env_kwargs}
    if wrappers is not None:
        make_kwargs["wrappers"] = wrappers
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


def step_success(info: Mapping[str, Any]) -> bool:
    """Whether this step reached the goal: ``is_success`` (SB3's key, the ``nspdi/``
    mazes) or ``success`` (gymnasium-robotics)."""
    return bool(info.get("is_success", info.get("success", False)))
