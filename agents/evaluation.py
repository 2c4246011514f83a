"""Evaluate a trained maze agent: success rate, path optimality, return and spiking cost.

The grid maze's evaluation (``nspdi/GridMaze-v0``, the study's maze) runs one episode from
every free square of the fixed maze except the goal, so "success rate" means
"from how many of the start squares does the agent reach the goal". Other
mazes (the point mazes, a grid maze with a new layout or goal each reset), or
an explicit ``n_episodes``, use seeded random starts instead.

The episodes run in lockstep: one batched ``model.predict`` per step for all
running episodes, which keeps a spiking policy (``time_steps`` forward passes
per prediction) fast. The observations the policy saw are then passed to the
policy's ``measure`` (spiking policies only) for sparsity, connectivity,
SynOps and energy on the states the agent really visits.

:func:`load_run` reads a run directory written by ``python -m agents.train_maze``
and :func:`write_summary` writes a summary as JSON atomically.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import TQC
from stable_baselines3 import A2C, DQN, PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize
from torch import nn

# Imported for their side effects: ``envs`` registers the maze ids, and
# ``agents`` imports the spiking policy classes so that SB3 can unpickle a
# model saved with one of them.
import agents  # noqa: F401
import envs
from agents.environments import (
    NORMALIZER_FILE,
    import_gym_packages,
    load_normalizer,
    make_env,
    mujoco_render_error,
    step_success,
)
from envs.grid_maze import START_SPLITS, GridMazeEnv, start_split_of
from envs.recording import record_episode, save_gif
from envs.robotics import (
    ENV_REWARD,
    MazeFrame,
    MazeWrappers,
    is_robotics_maze,
    protocol_of,
    record_top_down,
)
from nspdi_rl.checkpoint import json_ready, write_json
from nspdi_rl.metrics import ENERGY_PER_MAC_PJ

__all__ = [
    "ALGOS",
    "D4RL_REFERENCE_RETURNS",
    "DEFAULT_RANDOM_EPISODES",
    "EVAL_SEED",
    "VALIDATION_SEED",
    "MAX_MEASURED_OBSERVATIONS",
    "MEASURE_KEYS",
    "RunError",
    "d4rl_score",
    "evaluate_maze",
    "evaluation_kwargs",
    "load_run",
    "validation_split",
    "write_summary",
]

#: one observation, or a batch: an array, or one array per key of a Dict space
Observation = np.ndarray | dict[str, np.ndarray]
#: ``run.json`` ``algo`` value -> SB3 algorithm class.
ALGOS: dict[str, type[BaseAlgorithm]] = {
    "ppo": PPO,
    "a2c": A2C,
    "dqn": DQN,
    "sac": SAC,
    "tqc": TQC,
}
#: Episodes with random starts when the maze's free starts cannot be enumerated.
DEFAULT_RANDOM_EPISODES = 20
#: The first evaluation seed: far above the seeds training resets its envs with
#: (``seed`` to ``seed + n_envs - 1``), so evaluation starts (and random layouts) are
#: drawn from seeds training never used
EVAL_SEED = 1_000_000
#: the seed of the validation episodes from random starts (:func:`validation_split`):
#: episode ``i`` resets with ``VALIDATION_SEED + i``, apart from the test episodes'
#: ``EVAL_SEED + i`` for any count below a million
VALIDATION_SEED = 2_000_000
#: D4RL's reference returns (random policy, expert) of the sparse-reward Maze2D tasks
#: over one episode of 300 / 600 / 800 steps; gymnasium-robotics keeps these mazes as
#: ``PointMaze_*-v3`` with D4RL's episode lengths. Normalised score:
#: ``100 * (return - random) / (expert - random)``.
D4RL_REFERENCE_RETURNS: dict[str, tuple[float, float]] = {
    "PointMaze_UMaze-v3": (23.85, 161.86),
    "PointMaze_Medium-v3": (13.13, 277.39),
    "PointMaze_Large-v3": (6.70, 273.99),
}
#: At most this many visited observations go to ``policy.measure`` (evenly spaced).
MAX_MEASURED_OBSERVATIONS = 2048
#: Summary keys filled by ``policy.measure``; ``None`` for policies without it.
MEASURE_KEYS: tuple[str, ...] = (
    "sparsity",
    "connectivity_per_layer",
    "synops_per_step",
    "energy_per_step_pj",
)
#: Start modes reported in a summary's ``start_mode``.
START_MODES: tuple[str, ...] = ("every_free_start", "random_starts")

# Episodes run side by side in one batch; more would only grow the batch
# without saving steps, and a point maze episode holds up to 800 steps.
_LOCKSTEP_BATCH = 64
# Safety limit for an environment registered without max_episode_steps.
_FALLBACK_MAX_STEPS = 10_000
# Errors SB3's ``load`` raises for a file that is not a model of that algorithm:
# not a zip, a truncated zip, missing members, another algorithm's policy.
_LOAD_ERRORS = (
    zipfile.BadZipFile,
    ValueError,
    KeyError,
    AttributeError,
    TypeError,
    RuntimeError,
    OSError,
    EOFError,
    pickle.UnpicklingError,
)


@dataclass(frozen=True)
class _Reset:
    """How one evaluation episode starts: ``env.reset(seed=seed, options=options)``."""

    seed: int
    options: dict[str, Any] | None = None


@dataclass
class _Episode:
    """The outcome of one evaluation episode, filled in step by step."""

    optimal_length: int | None  # BFS steps from the start; None in the point mazes
    way: float | None = None  # squares around the walls from the start (MuJoCo mazes)
    total_return: float = 0.0
    length: int = 0
    success: bool = False

    @property
    def path_optimality(self) -> float | None:
        """``optimal_length / length`` on success, 0 on failure, None if unknown."""
        if self.optimal_length is None:
            return None
        return self.optimal_length / self.length if self.success else 0.0


class RunError(Exception):
    """A run directory or model file that cannot be evaluated; the message names the path."""


# ---------------------------------------------------------------------- loading
def load_run(path: str | Path, device: str = "auto") -> tuple[BaseAlgorithm, dict[str, Any], Path]:
    """Load the model of a training run.

    :param path: a run directory (holding ``model.zip`` and ``run.json``) or a
        model ``.zip`` file (its ``run.json`` is looked up in the same directory).
    :param device: torch device for the policy, as SB3's ``load`` takes it.
    :return: ``(model, run_info, model_path)``; ``run_info`` is ``run.json``
        with ``env_kwargs`` defaulting to ``{}``.
    :raises RunError: for a missing path, a missing ``model.zip`` or
        ``run.json``, a ``run.json`` without ``algo`` / ``env_id`` or with an
        unknown ``algo``, or a model file SB3 cannot load.
    """
    path = Path(path)
    if path.is_dir():
        model_path = path / "model.zip"
        if not model_path.is_file():
            raise RunError(f"{path}: run directory has no model.zip")
    elif path.is_file():
        if not zipfile.is_zipfile(path):
            raise RunError(
                f"{path}: neither a run directory nor a model .zip (SB3 saves models as zip files)"
            )
        model_path = path
    else:
        raise RunError(f"{path}: no such run directory or model file")
    run_info = _read_run_json(model_path.parent / "run.json")
    algo = run_info["algo"]
    try:
        import_gym_packages(run_info.get("gym_packages") or ())
    except ValueError as err:
        raise RunError(f"{model_path.parent / 'run.json'}: {err}") from None
    # the env the model is loaded with: its saved observation statistics, or the bare env
    # where SB3 needs one to rebuild the model (a HER replay buffer samples through it)
    env_id, kwargs = run_info["env_id"], run_info["env_kwargs"]
    n_envs = run_info.get("n_envs") or 1
    env: VecEnv | None = None
    if run_info.get("normalize"):
        statistics = model_path.parent / NORMALIZER_FILE
        if not statistics.is_file():
            raise RunError(f"{statistics}: not found; the run normalised its observations")
        # evaluate_maze finds them where SB3 keeps a model's VecNormalize
        try:
            env = load_normalizer(statistics, env_id, kwargs, n_envs=n_envs)
        except _LOAD_ERRORS as err:
            raise RunError(
                f"{statistics}: damaged, not the observation statistics SB3 saves "
                f"({type(err).__name__}); the run normalised its observations and cannot "
                "be evaluated without them"
            ) from None
    elif (run_info.get("hyperparams") or {}).get("replay_buffer_class") == "HerReplayBuffer":
        env = DummyVecEnv([partial(make_env, env_id, kwargs)] * n_envs)
    try:
        model = ALGOS[algo].load(model_path, env=env, device=device)
    except _LOAD_ERRORS as err:
        cause = " ".join(str(err).split()) or type(err).__name__
        raise RunError(
            f"{model_path}: cannot be loaded as a {algo.upper()} model ({cause})"
        ) from err
    return model, run_info, model_path


def _read_run_json(run_json: Path) -> dict[str, Any]:
    if not run_json.is_file():
        raise RunError(
            f"{run_json}: not found; a run needs run.json beside model.zip "
            "(written by python -m agents.train_maze)"
        )
    try:
        run_info = json.loads(run_json.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunError(f"{run_json}: not valid JSON ({err})") from err
    if not isinstance(run_info, dict):
        raise RunError(f"{run_json}: holds a {type(run_info).__name__}, expected a JSON object")
    if isinstance(run_info.get("settings"), dict):
        run_info = run_info["settings"]  # format 2: the options beside the resolved settings
    missing = [key for key in ("algo", "env_id") if key not in run_info]
    if missing:
        raise RunError(f"{run_json}: missing keys {missing}; a run.json needs 'algo' and 'env_id'")
    if run_info["algo"] not in ALGOS:
        raise RunError(
            f"{run_json}: unknown algo {run_info['algo']!r}; accepted are {sorted(ALGOS)}"
        )
    env_kwargs = run_info.get("env_kwargs") or {}
    if not isinstance(env_kwargs, dict):
        raise RunError(f"{run_json}: env_kwargs is {env_kwargs!r}, expected a JSON object")
    return {**run_info, "env_kwargs": env_kwargs}


# ---------------------------------------------------------------------- evaluation
def evaluate_maze(
    model: Any,
    env_id: str,
    env_kwargs: Mapping[str, Any] | None = None,
    n_episodes: int | None = None,
    deterministic: bool = True,
    seed: int = EVAL_SEED,
    gif_path: str | Path | None = None,
) -> dict[str, Any]:
    """Run evaluation episodes of ``model`` in a maze and summarise them.

    Which episodes: for a grid maze with a fixed layout and goal and
    ``n_episodes=None``, one episode from every free square except the goal
    (31 - 1 = 30 on ``nspdi/GridMaze-v0``); otherwise ``n_episodes`` (default
    :data:`DEFAULT_RANDOM_EPISODES`) episodes whose random starts come from
    ``env.reset(seed=seed + i)`` for episode ``i``.

    Path optimality of one episode is ``optimal_length / steps`` (BFS length
    from its start over the steps taken, in ``(0, 1]``) if it reached the
    goal, else 0; ``mean_path_optimality`` averages it over all episodes, so a
    failure counts as 0 and the value is at most ``success_rate`` (the
    "success weighted by path length" of Anderson et al., 2018). It is ``None``
    for environments without ``optimal_length`` in ``info`` (the point mazes).

    :param model: an SB3 model or any object with ``predict(obs, deterministic)``
        that takes a batch ``(n, *obs_shape)`` and returns ``(actions, state)``
        with ``n`` actions; its ``policy.measure(observations)``, if present,
        supplies :data:`MEASURE_KEYS`.
    :param env_id: a registered Gymnasium id, e.g. ``"nspdi/GridMaze-v0"``.
    :param env_kwargs: keyword arguments to ``gym.make`` (those of training);
        a ``render_mode`` among them is ignored, and random grid mazes of the
        ``train`` split (``maze_split``) are evaluated on the ``test`` split.
    :param n_episodes: number of random-start episodes, ``>= 1``; ``None``
        (default): every free start of a fixed grid maze, else
        :data:`DEFAULT_RANDOM_EPISODES`.
    :param deterministic: passed to ``predict``; with ``False`` the actions are
        sampled from torch's global generator, seeded with ``seed``.
    :param seed: seeds the random starts (and the sampled actions). Default
        :data:`EVAL_SEED`, above every seed training uses.
    :param gif_path: if given, the episode from the start farthest from the goal
        (every-free-start mode) or the first episode (random starts) is run
        again with ``render_mode="rgb_array"`` and written there as a GIF.
    :return: a JSON-ready dict: ``success_rate``, ``mean_path_optimality``,
        ``mean_return``, ``mean_episode_length`` (steps), ``n_episodes``, the
        :data:`MEASURE_KEYS`, ``n_measured_observations``, and the settings
        ``env_id``, ``env_kwargs``, ``start_mode``, ``requested_episodes``,
        ``deterministic``, ``seed`` (plus ``gif_path`` and ``gif_drawn_by`` if written),
        ``protocol`` (:func:`envs.robotics.protocol_of`: ``d4rl``,
        ``gymnasium-robotics`` or None), ``normalized_score`` (D4RL's, see
        :func:`d4rl_score`; None under any other protocol),
        ``split_success`` (every-free-start mode: success on the ``val`` and the
        ``test`` half of the starts, :func:`envs.grid_maze.start_split_of`; else None,
        and the maze runner's final summary has :func:`validation_split`'s).
    :raises ValueError: for an unknown ``env_id``, ``n_episodes < 1``, a model
        whose observation space differs from the environment's, or env options
        the environment rejects.
    """
    _check_evaluation(model, env_id, n_episodes, seed)
    kwargs = evaluation_kwargs(env_id, env_kwargs)
    seed = int(seed)
    # a model trained on normalised observations (SB3 keeps its VecNormalize) sees them so
    get_normalizer = getattr(model, "get_vec_normalize_env", None)
    normalizer = get_normalizer() if callable(get_normalizer) else None
    starts, resets, max_steps = _plan(model, env_id, kwargs, n_episodes, seed)

    if not deterministic:
        torch.manual_seed(seed)
    episodes: list[_Episode] = []
    observations: list[Observation] = []
    for first in range(0, len(resets), _LOCKSTEP_BATCH):
        chunk = resets[first : first + _LOCKSTEP_BATCH]
        episodes += _run_lockstep(
            model, env_id, kwargs, chunk, deterministic, observations, normalizer
        )

    summary = _summarise(episodes)
    summary["split_success"] = None if starts is None else _split_success(starts, episodes)
    summary["protocol"] = protocol_of(env_id, kwargs)
    summary["normalized_score"] = d4rl_score(env_id, kwargs, summary["mean_return"])
    summary.update(_measure(model, observations))
    summary.update(
        env_id=env_id,
        env_kwargs=kwargs,
        start_mode=START_MODES[0] if starts is not None else START_MODES[1],
        requested_episodes=n_episodes,
        deterministic=bool(deterministic),
        seed=seed,
    )
    if gif_path is not None:
        # The farthest start shows the most of the maze; with random starts
        # the first episode is as good as any.
        k = 0 if starts is None else int(np.argmax([e.optimal_length or 0 for e in episodes]))
        act = partial(_single_action, model, deterministic=deterministic, normalizer=normalizer)
        frames, drawn_by = _episode_frames(
            lambda obs, _env: act(obs), env_id, kwargs, resets[k], max_steps
        )
        summary["gif_drawn_by"] = drawn_by
        summary["gif_path"] = str(save_gif(frames, gif_path))
    return summary


def _check_evaluation(model: Any, env_id: str, n_episodes: int | None, seed: Any) -> None:
    """:func:`evaluate_maze`'s argument checks. :raises ValueError: naming the value."""
    if env_id not in gym.registry:
        maze_ids = sorted([*envs.GRID_IDS, *envs.POINT_IDS])
        raise ValueError(
            f"unknown env id {env_id!r}; accepted are registered Gymnasium ids, "
            f"e.g. the maze ids {maze_ids}"
        )
    if n_episodes is not None and (
        isinstance(n_episodes, bool) or not isinstance(n_episodes, int) or n_episodes < 1
    ):
        raise ValueError(
            f"n_episodes {n_episodes!r} is not accepted; accepted are ints >= 1, or None "
            "for every free start of a fixed grid maze"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed {seed!r} is not accepted; accepted are ints")
    if not callable(getattr(model, "predict", None)):
        raise ValueError(
            f"model {type(model).__name__} has no predict(); accepted are SB3 models or "
            "objects with predict(obs, deterministic) -> (actions, state)"
        )


def evaluation_kwargs(env_id: str, env_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The env options an evaluation runs with, from training's: no ``render_mode``;
    random grid mazes of the ``train`` split are evaluated on the ``test`` split; of
    the wrappers of gymnasium-robotics' mazes, what
    :meth:`envs.robotics.MazeWrappers.for_evaluation` keeps (shaping is dropped, so
    that returns and the D4RL score are the env's own reward; waypoints stay)."""
    kwargs = {k: v for k, v in dict(env_kwargs or {}).items() if k != "render_mode"}
    if kwargs.get("maze_split") == "train":  # evaluate on the mazes training never drew
        kwargs["maze_split"] = "test"
    wrappers, kwargs = MazeWrappers.of_env(env_id, kwargs)
    return {**kwargs, **wrappers.for_evaluation().as_kwargs()}


def _plan(
    model: Any, env_id: str, kwargs: dict[str, Any], n_episodes: int | None, seed: int
) -> tuple[list[tuple[int, int]] | None, list[_Reset], int]:
    """(every free start or None, the episodes' resets, the episode step limit), read
    from one probe env, which also checks the model's spaces against the env's."""
    probe = make_env(env_id, kwargs, disable_env_checker=True)
    try:
        _check_spaces(model, probe, env_id)
        starts = None if n_episodes is not None else _every_free_start(probe, kwargs)
        max_steps = probe.spec.max_episode_steps if probe.spec else None
    finally:
        probe.close()
    if starts is not None:
        resets = [_Reset(seed + i, {"start": s}) for i, s in enumerate(starts)]
    else:
        n = DEFAULT_RANDOM_EPISODES if n_episodes is None else n_episodes
        resets = [_Reset(seed + i) for i in range(n)]
    return starts, resets, max_steps or _FALLBACK_MAX_STEPS


def _episode_frames(
    policy: Any, env_id: str, kwargs: Mapping[str, Any], reset: _Reset, max_steps: int
) -> tuple[list[np.ndarray], str]:
    """The frames of one episode, and what drew them: the env itself, or for a
    gymnasium-robotics maze where MuJoCo has no OpenGL here, a top-down picture."""
    probe = make_env(env_id, kwargs, disable_env_checker=True)
    robotics = is_robotics_maze(probe)
    probe.close()
    error = mujoco_render_error(env_id, kwargs) if robotics else None
    if error is not None:
        env = make_env(env_id, kwargs, disable_env_checker=True)
        try:
            frames = record_top_down(env, policy, seed=reset.seed, max_steps=max_steps)
        finally:
            env.close()
        return frames, f"top-down picture from positions (MuJoCo cannot render here: {error})"
    env = make_env(env_id, kwargs, render_mode="rgb_array", disable_env_checker=True)
    try:
        frames, _ = record_episode(
            env, policy, seed=reset.seed, options=reset.options, max_steps=max_steps
        )
    finally:
        env.close()
    return frames, "the env's rgb_array render"


def _check_spaces(model: Any, env: gym.Env, env_id: str) -> None:
    space = getattr(model, "observation_space", None)
    if isinstance(space, gym.spaces.Dict) or isinstance(env.observation_space, gym.spaces.Dict):
        if space != env.observation_space:
            raise ValueError(
                f"the model expects observations {space} but {env_id} gives "
                f"{env.observation_space}; evaluate with the env_kwargs of training"
            )
        return
    if space is not None and getattr(space, "shape", None) != env.observation_space.shape:
        raise ValueError(
            f"the model expects observations of shape {space.shape} but {env_id} gives "
            f"{env.observation_space.shape}; evaluate with the env_kwargs of training "
            "(e.g. the same obs_mode and view_size)"
        )


def _every_free_start(env: gym.Env, kwargs: Mapping[str, Any]) -> list[tuple[int, int]] | None:
    """The free squares except the goal, or ``None`` if the maze or goal changes per reset."""
    maze = env.unwrapped
    if not isinstance(maze, GridMazeEnv):
        return None
    if maze.layout_mode != "fixed" or kwargs.get("goal") == "random":
        return None
    return [cell for cell in maze.free_cells() if cell != maze.goal_pos]


def _run_lockstep(
    model: Any,
    env_id: str,
    kwargs: Mapping[str, Any],
    resets: list[_Reset],
    deterministic: bool,
    observations: list[Observation],
    normalizer: VecNormalize | None,
) -> list[_Episode]:
    """Run one episode per entry of ``resets`` side by side, one batched predict per step.

    An episode succeeds when any of its steps reaches the goal (goal-conditioned mazes
    may go on after it: ``continuing_task``)."""
    envs_ = [make_env(env_id, kwargs, disable_env_checker=True) for _ in resets]
    episodes, obs = [], []
    for env, reset in zip(envs_, resets, strict=True):
        o, info = env.reset(seed=reset.seed, options=reset.options)
        obs.append(o)
        way = None
        if is_robotics_maze(env):
            way = MazeFrame.of(env).way(o["achieved_goal"], env.unwrapped.goal)  # type: ignore[attr-defined]
        episodes.append(_Episode(optimal_length=info.get("optimal_length"), way=way))
    running = list(range(len(envs_)))
    while running:
        batch = _stack([obs[i] for i in running])
        if normalizer is not None:
            batch = normalizer.normalize_obs(batch)
        observations.append(batch)
        actions, _ = model.predict(batch, deterministic=deterministic)
        still_running = []
        for i, action in zip(running, actions, strict=True):
            o, reward, terminated, truncated, info = envs_[i].step(action)
            episode = episodes[i]
            # the env's own reward, where a wrapper steers by another (envs.robotics.WaypointGoal)
            episode.total_return += float(info.get(ENV_REWARD, reward))
            episode.length += 1
            episode.success = episode.success or step_success(info)
            if not (terminated or truncated):
                obs[i] = o
                still_running.append(i)
        running = still_running
    for env in envs_:
        env.close()
    return episodes


def d4rl_score(env_id: str, env_kwargs: Mapping[str, Any], mean_return: float) -> float | None:
    """D4RL's normalised score of a mean episode return (0: random policy, 100: expert),
    under the protocol it is defined for (:func:`envs.robotics.protocol_of` ``d4rl``:
    D4RL's fixed goal, random starts, its episode lengths, no planner); None otherwise
    (a random goal every episode is another task, whose returns D4RL's references do
    not measure)."""
    reference = D4RL_REFERENCE_RETURNS.get(env_id)
    if reference is None or protocol_of(env_id, env_kwargs) != "d4rl":
        return None
    random, expert = reference
    return round(100.0 * (mean_return - random) / (expert - random), 6)


def _summarise(episodes: list[_Episode]) -> dict[str, Any]:
    optimality = [e.path_optimality for e in episodes if e.path_optimality is not None]
    return {
        "success_rate": _mean([e.success for e in episodes]),
        "mean_path_optimality": _mean(optimality) if len(optimality) == len(episodes) else None,
        "mean_return": _mean([e.total_return for e in episodes]),
        "mean_episode_length": _mean([e.length for e in episodes]),
        "n_episodes": len(episodes),
        "success_by_way": _success_by_way(episodes),
    }


def validation_split(
    model: Any,
    result: dict[str, Any],
    n_episodes: int | None = None,
) -> dict[str, Any] | None:
    """The validation and test success of an :func:`evaluate_maze` result from random
    starts: as many episodes again from the starts of :data:`VALIDATION_SEED` (random
    goals too, where the env draws them), which no test episode uses, beside the
    result's own; the form of ``split_success``
    (``{"val", "val_episodes", "test", "test_episodes"}``). Settings may be chosen on
    ``val`` and reported on ``test``. (A random grid maze draws the validation mazes
    from the same held-out split as the test mazes, by other seeds.)

    :return: None for a result of every free start (its ``split_success`` halves the
        starts already).
    """
    if result["start_mode"] != START_MODES[1]:
        return None
    val = evaluate_maze(
        model,
        result["env_id"],
        result["env_kwargs"],
        n_episodes=n_episodes or result["n_episodes"],
        deterministic=result["deterministic"],
        seed=VALIDATION_SEED,
    )
    return {
        "val": val["success_rate"],
        "val_episodes": val["n_episodes"],
        "test": result["success_rate"],
        "test_episodes": result["n_episodes"],
    }


def _split_success(
    starts: Sequence[tuple[int, int]], episodes: Sequence[_Episode]
) -> dict[str, Any]:
    """Success on each half of the start squares (:func:`envs.grid_maze.start_split_of`),
    with its number of episodes: ``{"val": ..., "val_episodes": ..., "test": ...}``."""
    out: dict[str, Any] = {}
    for split in START_SPLITS:
        group = [e for s, e in zip(starts, episodes, strict=True) if start_split_of(s) == split]
        out[split] = _mean([e.success for e in group]) if group else None
        out[f"{split}_episodes"] = len(group)
    return out


#: the lengths of way (squares around the walls, start to goal) ``success_by_way`` groups
WAY_BINS = (0, 3, 6, 9)


def _success_by_way(episodes: list[_Episode]) -> list[dict[str, Any]] | None:
    """Success per length of the way from the start to the goal (:data:`WAY_BINS`),
    where the episodes know it (gymnasium-robotics' mazes); None elsewhere."""
    ways = [e.way for e in episodes]
    if not episodes or any(w is None for w in ways):
        return None
    out = []
    for low, high in zip(WAY_BINS, [*WAY_BINS[1:], None], strict=True):
        group = [e for e in episodes if e.way >= low and (high is None or e.way < high)]  # type: ignore[operator]
        if group:
            out.append({
                "way": f"{low}-{high}" if high is not None else f">={low}",
                "episodes": len(group),
                "success_rate": _mean([e.success for e in group]),
            })  # fmt: skip
    return out


def _mean(values: list[Any]) -> float:
    # Rounded to 9 decimals so that summing step costs prints -1.24, not
    # -1.240000000000001; far below any difference that matters.
    return round(float(np.mean(values)), 9)


def _stack(items: Sequence[Observation]) -> Observation:
    """A batch of observations: one array, or one per key of a Dict observation."""
    first = items[0]
    if isinstance(first, dict):
        return {key: np.stack([o[key] for o in items]) for key in first}
    return np.stack(items)  # type: ignore[arg-type]


def _concat(batches: Sequence[Observation]) -> Observation:
    first = batches[0]
    if isinstance(first, dict):
        return {key: np.concatenate([b[key] for b in batches]) for key in first}
    return np.concatenate(batches)  # type: ignore[arg-type]


def _take(batch: Observation, rows: np.ndarray) -> Observation:
    return {k: v[rows] for k, v in batch.items()} if isinstance(batch, dict) else batch[rows]


def _measure(model: Any, observations: list[Observation]) -> dict[str, Any]:
    """``policy.measure`` on the visited observations, or ``None`` values without it."""
    policy = getattr(model, "policy", None)
    measure = getattr(policy, "measure", None)
    if measure is None and not isinstance(policy, nn.Module):
        return {**dict.fromkeys(MEASURE_KEYS), "n_measured_observations": 0}
    if measure is None:
        measure = partial(_mlp_measure, policy)
    batch = _concat(observations)
    n = len(next(iter(batch.values())) if isinstance(batch, dict) else batch)
    if n > MAX_MEASURED_OBSERVATIONS:
        # Evenly spaced, so late steps of long episodes are measured too.
        batch = _take(batch, np.linspace(0, n - 1, MAX_MEASURED_OBSERVATIONS).round().astype(int))
        n = MAX_MEASURED_OBSERVATIONS
    result: dict[str, Any] = dict.fromkeys(MEASURE_KEYS)
    result.update(json_ready(dict(measure(batch))))
    result["n_measured_observations"] = n
    return result


def _mlp_measure(policy: nn.Module, observations: Observation) -> dict[str, Any]:
    """A network without spikes (SB3's MLP): dense, every synaptic operation a
    multiply-accumulate (one per weight of the layers that act, counted on a
    ``predict`` call; 4.6 pJ each, against a spike's 0.9 pJ accumulate)."""
    macs, used = 0, []

    def counter(name: str):  # noqa: ANN202
        def count(layer: nn.Linear, args: tuple, output: torch.Tensor) -> None:
            nonlocal macs
            macs += layer.in_features * output.numel()
            used.append(name)

        return count

    handles = [
        m.register_forward_hook(counter(name))
        for name, m in policy.named_modules()
        if isinstance(m, nn.Linear)
    ]
    try:
        policy.predict(observations, deterministic=True)  # type: ignore[operator]
    finally:
        for handle in handles:
            handle.remove()
    first = next(iter(observations.values())) if isinstance(observations, dict) else observations
    per_step = macs / len(first)
    return {
        "sparsity": 0.0,
        "connectivity_per_layer": dict.fromkeys(used, 1.0),
        "synops_per_step": per_step,  # each one a multiply-accumulate
        "macs_per_step": per_step,
        "energy_per_step_pj": per_step * ENERGY_PER_MAC_PJ,
    }


def _single_action(
    model: Any, obs: Observation, deterministic: bool, normalizer: VecNormalize | None
) -> Any:
    batch = _stack([obs])
    if normalizer is not None:
        batch = normalizer.normalize_obs(batch)
    actions, _ = model.predict(batch, deterministic=deterministic)
    return actions[0]


# ---------------------------------------------------------------------- output
def write_summary(summary: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``summary`` as indented JSON, atomically (see :func:`nspdi_rl.checkpoint.write_json`).

    A reader (or a ``--compare`` run) never sees a half-written file.
    """
    return write_json(summary, path)
