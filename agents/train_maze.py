"""``python -m agents.train_maze``: train a spiking SB3 agent on a maze, pruned online by NSP.

With no arguments: the default maze (:data:`agents.config.DEFAULT_ENV_ID`) with its
per-env defaults (:data:`agents.config.ENV_DEFAULTS`: the algorithm, the steps, the
shaping), a spiking agent (NDI on, NSP with heterogeneous ``a``) pruned to 90 %
sparsity, evaluated from unseen random starts. The run folder holds ``run.json``
(the options and the resolved :class:`~agents.config.MazeSettings`),
``evaluations.jsonl``, ``checkpoints/`` (atomic, resumable), ``model.zip``,
``summary.json`` and ``learning_curves.png``. Ctrl-C or SIGTERM saves a checkpoint and exits;
``--output DIR --resume`` continues from the last checkpoint with the same
schedule position (and the replay buffer for DQN / SAC). The shared options
(:mod:`runtime.cli`) mean what they mean in every runner.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import pickle
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import VecEnv

import agents  # noqa: F401  (registers "SpikingMlpPolicy")
from agents.callbacks import NSPPruningCallback
from agents.checkpoints import Checkpoint, save_normalizer
from agents.config import (
    CONTINUOUS_OFF_POLICY,
    DEFAULT_ENV_ID,
    DEFAULT_OBS_MODE,
    EVAL_FREQ,
    MAZE_PRESET,
    POLICIES,
    SPIKING_POLICY_KWARGS,
    EnvDefaults,
    MazeSettings,
    default_freeze_mask,
    env_defaults,
    load_yaml_config,
    sb3_arguments,
    sb3_policy_kwargs,
)
from agents.environments import (
    NORMALIZED_OBS_BOUND,
    NORMALIZER_FILE,
    check_env_id,
    import_gym_packages,
    is_unbounded,
    make_env,
    make_training_env,
    parse_env_kwargs,
)
from agents.evaluation import ALGOS, evaluate_maze, validation_split, write_summary
from agents.plots import plot_learning_curves
from agents.policies import DEFAULT_SPIKING, SpikingOptions, input_bounds
from envs.robotics import PROTOCOLS, MazeWrappers, d4rl_maze_map, protocol_of
from nspdi_rl.layers import NSPConfig, Reading
from nspdi_rl.metrics import survivor_summary
from runtime.cli import (
    UsageError,
    check_shared_options,
    common_summary,
    exit_on_usage_error,
    parse_quietly,
    prepare_run_dir,
    runner_parser,
    set_up_process,
    write_run_file,
)
from runtime.compat import maze_run_file_v1, reject_old_flags
from runtime.stopping import interrupt_on_sigterm, interrupts_held

PROG = "python -m agents.train_maze"
OBS_MODES = ("full", "local", "coords", "onehot")


def parser() -> argparse.ArgumentParser:
    p = runner_parser(
        PROG,
        "Train a spiking NDI agent on a maze while NSP prunes it online. "
        "--freeze-mask defaults to 'reached' for dqn, sac and tqc, whose value estimates "
        "suffer from a changing mask, and to 'end' otherwise.",
        MAZE_PRESET,
        output_default="runs/<algo>-<env>-<time>",
    )
    _add_agent_options(p.add_argument_group("agent"))
    _add_env_options(p.add_argument_group("environment"))
    _add_training_options(p.add_argument_group("training"))
    return p


def _add_agent_options(agent: Any) -> None:
    """The algorithm and the policy."""
    agent.add_argument(
        "--algo", default=None, help=f"one of {sorted(ALGOS)} (default: per env, else ppo)"
    )
    agent.add_argument(
        "--policy",
        default="spiking",
        help="spiking (the NDI network, pruned online), mlp (SB3's MLP on the observation, "
        "the baseline; never pruned, --hidden sets its net_arch) or mlp-population (the same "
        "MLP fed the spiking agent's population code: like with like)",
    )


def _add_env_options(env: Any) -> None:
    """The env and what is done to it."""
    env.add_argument(
        "--env",
        default=DEFAULT_ENV_ID,
        help="a registered Gymnasium id: an nspdi/ maze, or one a --gym-packages module "
        "registers (PointMaze_UMaze-v3 with gymnasium_robotics)",
    )
    env.add_argument(
        "--gym-packages",
        nargs="+",
        default=[],
        metavar="MODULE",
        help="modules to import first, which register env ids (e.g. gymnasium_robotics)",
    )
    env.add_argument(
        "--env-kwargs",
        nargs="+",
        default=[],
        metavar="KEY:VALUE",
        help="keyword arguments of gymnasium.make, values as Python literals "
        "(e.g. shaping:1.0 continuing_task:False)",
    )
    env.add_argument(
        "--protocol",
        default=None,
        help="the task of gymnasium-robotics' point mazes, named in the summary: d4rl "
        "(D4RL's maze2d task: its fixed goal, random starts; the protocol D4RL's normalised "
        "score is defined for) or gymnasium-robotics (the ids' own: a random goal and start "
        "every episode, scored by success). Either drops the waypoint planner of the env's "
        "defaults (default: the env's defaults)",
    )
    env.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="normalise observations by running statistics, saved with the model "
        "(default: on when the env's observations are unbounded)",
    )
    env.add_argument(
        "--obs-mode",
        default=None,
        help="grid-maze observation: coords (agent and goal positions, population coded), "
        "onehot (one input per square for the agent's and the goal's), full (the whole "
        "maze) or local (an egocentric window); onehot, full and local are binary maps, "
        "fed as direct currents (default: per env, else coords)",
    )
    env.add_argument(
        "--train-episode-steps",
        type=int,
        default=None,
        help="time limit of the training episodes; evaluation episodes keep the env's own "
        "(default: per env, else the env's own)",
    )


def _add_training_options(train: Any) -> None:
    """How long, how often evaluated and saved."""
    train.add_argument(
        "--total-timesteps",
        type=int,
        default=None,
        help="environment steps (default: per algorithm, see agents/config.py)",
    )
    train.add_argument(
        "--time-steps",
        type=int,
        default=DEFAULT_SPIKING["time_steps"],
        help="spiking steps T per environment step",
    )
    train.add_argument(
        "--n-envs", type=int, default=None, help="parallel envs (default: per algorithm)"
    )
    train.add_argument("--config", default=None, help="RL-Zoo-style hyperparameter YAML")
    train.add_argument(
        "--eval-freq",
        type=int,
        default=None,
        help=f"env steps between evaluations (default: per env and algorithm, else {EVAL_FREQ:,})",
    )
    train.add_argument(
        "--eval-episodes",
        type=int,
        default=None,
        help="evaluation episodes from random starts (default: per env; every free start "
        "of a fixed grid maze)",
    )
    train.add_argument(
        "--checkpoint-freq", type=int, default=10_000, help="env steps between checkpoints"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    reject_old_flags(argv)
    return parser().parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> MazeSettings:
    """Check the command line (and the config file it names) and resolve the run's settings.

    Each setting comes from the first of: the command line, the ``--config`` file, the
    env's defaults (:func:`agents.config.env_defaults`), the algorithm's defaults, the
    runner's preset (:data:`agents.config.MAZE_PRESET`).

    :raises UsageError: naming the bad option or value.
    """
    shared = check_shared_options(args)
    _check_counts(args)
    env = env_defaults(args.env)
    algo = args.algo or env.algo
    if algo not in ALGOS:
        raise UsageError(f"unknown --algo {algo!r}; accepted: {sorted(ALGOS)}")
    if args.policy not in POLICIES:
        raise UsageError(f"unknown --policy {args.policy!r}; accepted: {list(POLICIES)}")
    gym_packages, env_kwargs = _env_options(args, env, algo)
    obs_space, train_episode_steps, episode_steps = _probe(args, env, algo, env_kwargs)
    normalize = is_unbounded(obs_space) if args.normalize is None else args.normalize
    hyperparams, policy_kwargs, n_timesteps, n_envs = _algo_options(
        args, env, algo, env_kwargs, episode_steps
    )
    given = policy_kwargs.pop("spiking", None) or {}  # a --config file's
    if not isinstance(given, dict):
        raise UsageError(f"--config {args.config}: policy_kwargs spiking must be a mapping")
    spiking = None
    if args.policy != "mlp":  # the spiking network's options (its input code, for mlp-population)
        spiking = _spiking_options(
            args, env, dict(given), env_kwargs, obs_space, normalize, shared.nsp
        )
    if args.policy != "spiking":  # SB3's own policy: none of the spiking policy's options
        for key in SPIKING_POLICY_KWARGS:
            policy_kwargs.pop(key, None)
        if args.hidden is not None:
            policy_kwargs["net_arch"] = list(args.hidden)
    # the command line spells the wrappers as env kwargs
    wrappers, env_kwargs = MazeWrappers.of_env(args.env, env_kwargs)
    try:
        options = None if spiking is None else SpikingOptions(spiking)
        if args.policy == "mlp-population":
            assert options is not None
            policy_kwargs["population_code"] = _population_code(args.env, options, obs_space)
        return MazeSettings(
            algo=algo,
            env_id=args.env,
            env_kwargs=env_kwargs,
            wrappers=wrappers,
            seed=args.seed,
            total_timesteps=args.total_timesteps or n_timesteps,
            n_envs=args.n_envs or n_envs,
            hyperparams=hyperparams,
            policy_kwargs=policy_kwargs,
            spiking=options if args.policy == "spiking" else None,
            pruning=args.pruning if args.policy == "spiking" else "dense",
            schedule=shared.schedule,
            freeze_mask=args.freeze_mask or default_freeze_mask(algo),
            eval_freq=args.eval_freq or env.eval_freq_for(algo),
            checkpoint_freq=args.checkpoint_freq,
            gym_packages=gym_packages,
            normalize=normalize,
            policy=args.policy,
            eval_episodes=args.eval_episodes or env.eval_episodes,
            train_episode_steps=train_episode_steps,
        )
    except ValueError as err:
        where = f"--config {args.config}: " if args.config else ""
        raise UsageError(f"{where}{err}") from None


def _check_counts(args: argparse.Namespace) -> None:
    """Refuse a count that is not positive. :raises UsageError: naming the option."""
    for name in ("total_timesteps", "n_envs", "eval_episodes", "train_episode_steps",
                 "eval_freq"):  # fmt: skip
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be > 0, got {value}")
    for name in ("time_steps", "checkpoint_freq"):
        if getattr(args, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")


def _env_options(
    args: argparse.Namespace, env: EnvDefaults, algo: str
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The gym packages to import and the env's keyword arguments: ``--env-kwargs`` over
    the env's defaults for ``algo``, and a grid maze's observation (``--obs-mode``)."""
    gym_packages = tuple(dict.fromkeys([*env.gym_packages, *args.gym_packages]))
    try:
        import_gym_packages(gym_packages)
        check_env_id(args.env)
        given = parse_env_kwargs(args.env_kwargs)
    except ValueError as err:
        raise UsageError(str(err)) from None
    env_kwargs = {**env.env_kwargs_for(algo), **given}
    if args.protocol is not None:
        env_kwargs = _protocol_options(args.env, args.protocol, given, env_kwargs)
    if "GridMaze" in args.env:
        if args.obs_mode is not None:
            if args.obs_mode not in OBS_MODES:
                raise UsageError(f"unknown --obs-mode {args.obs_mode!r}; accepted: {OBS_MODES}")
            if given.get("obs_mode", args.obs_mode) != args.obs_mode:
                raise UsageError(
                    "give the observation once: --obs-mode or --env-kwargs obs_mode:..."
                )
            env_kwargs["obs_mode"] = args.obs_mode
        env_kwargs.setdefault("obs_mode", DEFAULT_OBS_MODE)
    elif args.obs_mode is not None:
        raise UsageError(f"--obs-mode is an option of the grid mazes; {args.env} has none")
    return gym_packages, env_kwargs


def _probe(
    args: argparse.Namespace, env: EnvDefaults, algo: str, env_kwargs: dict[str, Any]
) -> tuple[gym.Space, int | None, int | None]:
    """One env made with the options: (its observation space, the training episodes'
    time limit if one is set, their length), after checking the algorithm fits its
    action space."""
    try:
        probe = make_env(args.env, env_kwargs)
    except (TypeError, ValueError) as err:
        raise UsageError(f"{args.env} refuses --env-kwargs {env_kwargs}: {err}") from None
    space, obs_space = probe.action_space, probe.observation_space
    train_episode_steps = args.train_episode_steps or env.train_episode_steps
    episode_steps = train_episode_steps or (probe.spec.max_episode_steps if probe.spec else None)
    probe.close()
    if algo == "dqn" and not isinstance(space, gym.spaces.Discrete):
        raise UsageError(f"--algo dqn needs a discrete action space; {args.env} has {space}")
    if algo in CONTINUOUS_OFF_POLICY and not isinstance(space, gym.spaces.Box):
        raise UsageError(f"--algo {algo} needs a continuous action space; {args.env} has {space}")
    return obs_space, train_episode_steps, episode_steps


def _algo_options(
    args: argparse.Namespace,
    env: EnvDefaults,
    algo: str,
    env_kwargs: dict[str, Any],
    episode_steps: int | None,
) -> tuple[dict[str, Any], dict[str, Any], int, int]:
    """(hyperparameters, policy kwargs, steps, envs): the algorithm's defaults for the
    env, updated by the ``--config`` file, and what HER and shaping need (the shaping's
    discount goes into ``env_kwargs``)."""
    defaults = env.algo_defaults(algo)
    hyperparams = dict(defaults["hyperparams"])
    n_timesteps, n_envs = defaults["n_timesteps"], defaults["n_envs"]
    # the defaults' policy kwargs are the spiking policy's (EnvDefaults): SB3's MLP
    # baseline keeps SB3's own unless a --config file gives some
    policy_kwargs: dict[str, Any] = (
        copy.deepcopy(defaults["policy_kwargs"]) if args.policy == "spiking" else {}
    )
    if args.config:
        try:
            section = load_yaml_config(args.config, args.env)
            n_timesteps = _positive_int(section.pop("n_timesteps", n_timesteps), "n_timesteps")
            n_envs = _positive_int(section.pop("n_envs", n_envs), "n_envs")
        except ValueError as err:
            raise UsageError(f"--config {args.config}: {err}") from None
        section.pop("policy", None)
        policy_kwargs.update(section.pop("policy_kwargs", {}))
        hyperparams.update(section)
    her = hyperparams.get("replay_buffer_class") == "HerReplayBuffer"
    if her and episode_steps:
        # HER samples goals from whole episodes: it needs one finished before learning
        starts = hyperparams.get("learning_starts", 100)  # SB3's default
        if starts <= episode_steps:
            raise UsageError(
                f"HerReplayBuffer needs learning_starts > the episode length ({episode_steps} "
                f"steps on {args.env}), got {starts}"
            )
    if her and env_kwargs.get("goal_offset"):
        raise UsageError(
            f"env kwarg goal_offset on {args.env} cannot go with HER: HER relabels "
            "desired_goal in stored observations and would leave the offset stale"
        )
    if env_kwargs.get("shaping"):
        # potential-based shaping leaves the optimal policy alone at the agent's discount
        env_kwargs.setdefault("gamma", hyperparams.get("gamma", 0.99))
        if her and not args.env.startswith("nspdi/"):
            # HER's relabelled rewards gain the term from
            # envs.robotics.GeodesicShaping.compute_reward, which reads where each step
            # started from its info: HER must keep the infos
            buffer_kwargs = dict(hyperparams.get("replay_buffer_kwargs") or {})
            if not buffer_kwargs.setdefault("copy_info_dict", True):
                raise UsageError(
                    f"env kwarg shaping on {args.env} with HER needs replay_buffer_kwargs "
                    "copy_info_dict True (the shaped relabelled rewards read the step infos)"
                )
            hyperparams["replay_buffer_kwargs"] = buffer_kwargs
    return hyperparams, policy_kwargs, n_timesteps, n_envs


def _spiking_options(
    args: argparse.Namespace,
    env: EnvDefaults,
    spiking: dict[str, Any],
    env_kwargs: dict[str, Any],
    obs_space: gym.Space,
    normalize: bool,
    nsp: NSPConfig,
) -> dict[str, Any]:
    """The spiking network's options: the command line (``nsp``, what its shared options
    describe) over the config file over the env's defaults.

    :raises UsageError: when an encoder is left without a value range.
    """
    for key, value in env.spiking.items():
        spiking.setdefault(key, value)
    if env_kwargs.get("obs_mode") in ("full", "local", "onehot"):
        spiking.setdefault("encoder", "direct")
    spiking.setdefault("time_steps", args.time_steps)
    if normalize:  # the encoders see normalised values: their range is the clip bound
        spiking.setdefault("input_low", -NORMALIZED_OBS_BOUND)
        spiking.setdefault("input_high", NORMALIZED_OBS_BOUND)
    encoder = spiking.get("encoder", DEFAULT_SPIKING["encoder"])
    if is_unbounded(obs_space) and encoder != "direct" and "input_low" not in spiking:
        raise UsageError(
            f"{args.env} has unbounded observations and the {encoder!r} encoder needs a "
            "range: drop --no-normalize, or set spiking input_low / input_high"
        )
    if args.hidden is not None:
        spiking["hidden"] = tuple(args.hidden)
    spiking["hidden"] = tuple(spiking.get("hidden", DEFAULT_SPIKING["hidden"]))
    spiking["lif"] = {**spiking.get("lif", {}), "alpha": args.alpha}
    spiking["ndi"] = not args.no_ndi
    flags = ("method", "a_dist", *Reading.names(), "d1")  # the flags that set NSPConfig fields
    spiking["nsp"] = {**spiking.get("nsp", {}), **{k: getattr(nsp, k) for k in flags}}
    return spiking


def resolve(argv: Sequence[str]) -> MazeSettings:
    """The settings a command line resolves to, as :func:`main` would resolve them
    (the preset, the algorithm's and the env's defaults, ``--config`` and the command
    line), training nothing.

    :raises UsageError: naming the bad option.
    """
    return settings_from_args(parse_quietly(parser(), argv))


def _protocol_options(
    env_id: str, protocol: str, given: dict[str, Any], env_kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The env kwargs of ``--protocol``: the env's defaults without the waypoint planner,
    and under ``d4rl`` D4RL's maze map (its fixed goal) and no goal offset unless given.

    :raises UsageError: for an unknown protocol, an env without it, or env kwargs given
        that change the protocol's task.
    """
    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown --protocol {protocol!r}; accepted: {list(PROTOCOLS)}")
    if protocol_of(env_id, {}) is None:
        raise UsageError(
            f"--protocol is an option of gymnasium-robotics' point mazes, not {env_id}"
        )
    if given.get("waypoints"):
        raise UsageError(
            f"--protocol {protocol} scores the agent alone; --env-kwargs waypoints puts the "
            "waypoint planner (it reads the map) in front of it"
        )
    out = {k: v for k, v in env_kwargs.items() if k != "waypoints"}
    if protocol == "d4rl":
        # with D4RL's fixed goal the offset is a function of the position alone; the
        # defaults' offset is for random goals (its screen chose D4RL's agent without it)
        if "goal_offset" not in given:
            out.pop("goal_offset", None)
        try:
            out["maze_map"] = d4rl_maze_map(env_id)
        except ValueError as err:
            raise UsageError(f"--protocol d4rl: {err}") from None
    if protocol_of(env_id, out) != protocol:
        changed = sorted(set(given) - {"shaping", "gamma"})
        what = f"--env-kwargs {', '.join(changed)}" if changed else f"{env_id}'s defaults"
        raise UsageError(f"--protocol {protocol} fixes the task; {what} change it")
    return out


def _population_code(env_id: str, spiking: SpikingOptions, obs_space: gym.Space) -> dict[str, Any]:
    """The spiking agent's input code on ``env_id``, for SB3's MLP to be fed the same:
    receptive fields per value and the range they cover.

    :raises UsageError: where the spiking agent codes its input otherwise.
    """
    encoder = spiking.network.encoder
    if encoder != "population":
        raise UsageError(
            f"--policy mlp-population feeds SB3's MLP the spiking agent's population code; "
            f"on {env_id} the spiking agent's encoder is {encoder!r}: use --policy mlp"
        )
    # the range as the spiking policy finds it (agents.policies.SpikingOptions.config)
    bounds = spiking.input_range or input_bounds(obs_space)
    if bounds is None:
        raise UsageError(f"{env_id}'s observations have no finite range to code")
    low, high = bounds
    return {"size": spiking.network.population_size, "low": float(low), "high": float(high)}


def check(argv: Sequence[str]) -> dict[str, Any]:
    """Check a command line as :func:`main` would, training nothing (for experiment grids).

    :return: the settings the run would use and record (its summary's ``settings``).
    :raises UsageError: naming the bad option.
    """
    return resolve(argv).to_dict()


def canonical_settings(saved: dict[str, Any]) -> dict[str, Any]:
    """Settings a run recorded, as today's :func:`check` spells them: fields added since
    take the value runs had before them (:meth:`MazeSettings.from_dict`), and the
    ``use_sde: false`` that SB3's SAC wrote into the policy kwargs of runs made before
    the runner gave it a copy is dropped.

    :raises ValueError: for settings this version cannot read.
    """
    data = MazeSettings.from_dict(saved).to_dict()
    policy_kwargs = dict(data["policy_kwargs"])
    if policy_kwargs.get("use_sde") is False:
        del policy_kwargs["use_sde"]
    return {**data, "policy_kwargs": policy_kwargs}


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class RunCallback(BaseCallback):
    """Periodic evaluation (every free start cell) and atomic checkpoints of one run folder."""

    def __init__(
        self, run_dir: Path, settings: MazeSettings, pruning: NSPPruningCallback | None
    ) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.settings = settings
        self.pruning = pruning
        self._last_eval = 0
        self._last_checkpoint = 0

    def _init_callback(self) -> None:
        self._last_eval = self._last_checkpoint = self.num_timesteps

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        # after the previous update: a consistent point to evaluate and to save
        if self.num_timesteps - self._last_eval >= self.settings.eval_freq:
            self.evaluate()
        if self.num_timesteps - self._last_checkpoint >= self.settings.checkpoint_freq:
            self.checkpoint()

    def evaluate(self) -> dict[str, Any]:
        self._last_eval = self.num_timesteps
        result = evaluate_maze(
            self.model,
            self.settings.env_id,
            self.settings.env_options(),
            n_episodes=self.settings.eval_episodes,
        )
        record = {"timesteps": self.num_timesteps, "unix_time": time.time(), **result}
        with open(self.run_dir / "evaluations.jsonl", "a") as f:
            f.write(json.dumps(record, default=str) + "\n")
        for key in ("success_rate", "mean_return", "mean_path_optimality", "sparsity"):
            if isinstance(result.get(key), (int, float)):
                self.logger.record(f"eval/{key}", result[key])
        return record

    def checkpoint(self) -> Path:
        """Save the run's newest checkpoint (:class:`agents.checkpoints.Checkpoint`). A
        Ctrl-C or SIGTERM that arrives while it is written takes effect once it is
        written: raised inside ``torch.save``, it left the zip writer half-closed and
        the run ended in a ``RuntimeError`` instead of stopping cleanly."""
        self._last_checkpoint = self.model.num_timesteps
        state = None if self.pruning is None else self.pruning.state_dict()
        with interrupts_held():
            return Checkpoint.save(self.run_dir, self.model, state).folder


def policy_name(settings: MazeSettings, observation_space: gym.Space) -> str:
    """The SB3 policy alias of the run: the spiking one, or SB3's MLP for the observation."""
    if settings.policy == "spiking":
        return "SpikingMlpPolicy"
    return "MultiInputPolicy" if isinstance(observation_space, gym.spaces.Dict) else "MlpPolicy"


def training_env(settings: MazeSettings, normalizer: Path | None = None) -> VecEnv:
    """The run's training envs as the settings describe them: ``n_envs`` copies with
    the env kwargs (the shaping's discount among them), the wrappers, the training
    episodes' time limit and the observation normalisation (statistics from
    ``normalizer`` when given)."""
    return make_training_env(
        settings.env_id,
        settings.n_envs,
        settings.seed,
        settings.env_kwargs,
        settings.normalize,
        normalizer=normalizer,
        max_episode_steps=settings.train_episode_steps,
        wrappers=settings.wrappers,
    )


def build_model(
    settings: MazeSettings, run_dir: Path
) -> tuple[BaseAlgorithm, dict[str, Any] | None]:
    """A new model, or the last checkpoint's when the run folder has one.

    :raises UsageError: when SB3 refuses the settings or the checkpoint cannot be loaded.
    """
    algo = ALGOS[settings.algo]
    import_gym_packages(settings.gym_packages)
    checkpoint = Checkpoint.latest(run_dir)
    statistics = None
    if checkpoint is not None and settings.normalize:
        statistics = checkpoint.normalizer_file
        if not statistics.is_file():
            raise UsageError(
                f"{checkpoint.folder} lacks {NORMALIZER_FILE}, the observation statistics"
            )
    try:
        vec_env = training_env(settings, normalizer=statistics)
    except (pickle.UnpicklingError, EOFError, ValueError, AttributeError) as err:
        if statistics is None:  # not the saved statistics: the env itself refused
            raise
        raise UsageError(
            f"{statistics}: damaged, not the observation statistics SB3 saves "
            f"({type(err).__name__}); the run cannot resume without them"
        ) from None
    if checkpoint is None:
        try:
            model = algo(
                policy_name(settings, vec_env.observation_space),
                vec_env,
                seed=settings.seed,
                verbose=0,
                # a copy: SB3 writes keys of its own into the dict (SAC: use_sde), and
                # the settings keep what the run asked for
                policy_kwargs=sb3_policy_kwargs(settings),
                device="cpu",
                tensorboard_log=str(run_dir / "tensorboard"),
                **sb3_arguments(settings.hyperparams),
            )
        except (ValueError, TypeError, AssertionError) as err:
            # what the settings' own checks cannot see (e.g. SB3's batch-size rules)
            raise UsageError(f"{settings.algo} refuses these settings: {err}") from None
        return model, None
    try:
        model = algo.load(checkpoint.model_file, env=vec_env, device="cpu")
    except Exception as err:  # SB3 raises many types for a damaged zip
        raise UsageError(f"cannot load checkpoint {checkpoint.model_file}: {err}") from None
    if checkpoint.replay_buffer_file.is_file():
        model.load_replay_buffer(checkpoint.replay_buffer_file)
    return model, checkpoint.state()


def pruning_callback(settings: MazeSettings) -> NSPPruningCallback | None:
    """The run's online pruning (None for an unpruned run): the schedule over the
    run's steps, the mask frozen as ``freeze_mask`` says."""
    if not settings.pruned:
        return None
    return NSPPruningCallback(
        settings.schedule,
        settings.total_timesteps,
        freeze_when_reached=settings.freeze_mask == "reached",
    )


def train(
    settings: MazeSettings,
    run_dir: Path,
    model: BaseAlgorithm,
    state: dict[str, Any] | None,
    progress_bar: bool,
) -> int:
    done = model.num_timesteps
    total = settings.total_timesteps
    pruning = pruning_callback(settings)
    if pruning is not None and state and state.get("pruning"):
        pruning.load_state_dict(state["pruning"])
    run_cb = RunCallback(run_dir, settings, pruning)
    callbacks = CallbackList([cb for cb in (pruning, run_cb) if cb is not None])
    print(
        f"training {settings.algo} on {settings.env_id} for {total} steps "
        f"({'resuming at ' + str(done) if done else 'new run'}) -> {run_dir}",
        flush=True,
    )
    start = time.time()
    try:
        # also when nothing is left (a run killed after its last checkpoint): learn(0)
        # sets up the callbacks and the logger that the final evaluation uses
        model.learn(
            max(0, total - done),
            callback=callbacks,
            reset_num_timesteps=done == 0,
            tb_log_name="run",
            progress_bar=progress_bar,
        )
    except KeyboardInterrupt:
        run_cb.model = model
        path = run_cb.checkpoint()
        print(
            f"\ninterrupted at {model.num_timesteps} steps; saved {path}. "
            f"Continue with: {PROG} --output {run_dir} --resume",
            file=sys.stderr,
        )
        return 130
    model.save(run_dir / "model.zip")  # the frozen final mask travels inside it
    save_normalizer(model, run_dir)
    run_cb.checkpoint()
    final = run_cb.evaluate()
    summary = common_summary(
        metric="success_rate",
        score=final["success_rate"],
        sparsity=final["sparsity"],
        connectivity_per_layer=final["connectivity_per_layer"],
        synops_per_inference=final["synops_per_step"],
        energy_per_inference_pj=final["energy_per_step_pj"],
        wall_time_s=time.time() - start,
        settings=settings.to_dict(),
    )
    shared = {"sparsity", "connectivity_per_layer", "synops_per_step", "energy_per_step_pj"}
    summary.update({k: v for k, v in final.items() if k != "unix_time" and k not in shared})
    if final["split_success"] is None:  # random starts: validation episodes of their own
        summary["split_success"] = validation_split(model, final)
    summary.update(
        {
            "algo": settings.algo,
            "env_id": settings.env_id,
            "total_timesteps": model.num_timesteps,
            "pruning": settings.pruning,
            "policy": settings.policy,
            "ndi": None if settings.spiking is None else settings.spiking.network.ndi,
            "target_sparsity": settings.schedule.final,
            "survivors": survivor_summary(model.policy),
        }
    )
    write_summary(summary, run_dir / "summary.json")
    plot_learning_curves(run_dir / "evaluations.jsonl", run_dir / "learning_curves.png")
    print(json.dumps(summary, indent=2, default=str))
    return 0


def _run(argv: Sequence[str] | None) -> int:
    args = parse_args(argv)
    run_dir, saved = prepare_run_dir(
        args,
        parser(),
        f"{args.algo or env_defaults(args.env).algo}-{args.env.split('/')[-1]}",
        legacy=functools.partial(maze_run_file_v1, prog=PROG),
    )
    if saved is not None:
        check_shared_options(args)
        try:
            settings = MazeSettings.from_dict(saved["settings"])
        except (KeyError, TypeError, ValueError) as err:
            raise UsageError(
                f"{run_dir}/run.json holds settings this version cannot use: {err}"
            ) from None
    else:
        settings = settings_from_args(args)
    set_up_process(args)
    model, state = build_model(settings, run_dir)
    if saved is None:
        write_run_file(run_dir, args, PROG, settings=settings.to_dict())
    with interrupt_on_sigterm():  # a kill saves the checkpoint, as Ctrl-C does
        return train(settings, run_dir, model, state, progress_bar=not args.no_progress)


def main(argv: Sequence[str] | None = None) -> int:
    return exit_on_usage_error(PROG, lambda: _run(argv))


if __name__ == "__main__":
    sys.exit(main())
