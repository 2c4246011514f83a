"""The maze runner's settings and defaults: the one place that holds them.

:data:`MAZE_PRESET` holds the runner's defaults for the options every runner
shares (:mod:`runtime.cli`), :data:`ALGO_DEFAULTS` the per-algorithm
hyperparameters, :data:`ENV_DEFAULTS` what differs per environment (algorithm,
steps, hyperparameters, network, env options), and :class:`MazeSettings`
everything one run uses (saved in ``run.json``), checked when it is made.

Precedence, lowest first: :data:`ALGO_DEFAULTS`, the env's :class:`EnvDefaults`,
the ``--config`` file, the command line.

RL-Zoo-style YAML files (``--config FILE``) override the hyperparameters per env
id: a mapping from env id (or ``default``) to keys ``n_timesteps``, ``n_envs``,
``policy``, ``policy_kwargs`` and any argument of the SB3 algorithm.
"""

from __future__ import annotations

import ast
import copy
import fnmatch
import inspect
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml
from stable_baselines3 import HerReplayBuffer

from agents.policies import CRITICS, DEFAULT_SPIKING, PopulationFeatures, SpikingOptions
from envs.robotics import MazeWrappers
from nspdi_rl.layers import PRUNING_METHODS
from nspdi_rl.pruning import PruningSchedule
from runtime.cli import FREEZE_CHOICES, Preset
from runtime.compat import maze_settings_v1

__all__ = [
    "ALGO_DEFAULTS",
    "DEFAULT_ENV_ID",
    "ENV_DEFAULTS",
    "EVAL_FREQ",
    "EnvDefaults",
    "POLICIES",
    "SPIKING_POLICY_KWARGS",
    "DEFAULT_OBS_MODE",
    "MAZE_PRESET",
    "MazeSettings",
    "check_hyperparams",
    "env_defaults",
    "load_yaml_config",
    "parse_policy_kwargs",
    "sb3_arguments",
    "sb3_policy_kwargs",
]

#: the main job's maze: the hardest of the project's own mazes that the pruned spiking
#: agent solves (success >= 0.95 at sparsity 0.9) in under 10 minutes on 2 cores (the
#: the maze ladder, docs/mazes-guide.md); the study's trials name their maze, ``nspdi/GridMaze-v0``
DEFAULT_ENV_ID = "nspdi/PointMaze-Large-v0"
#: the grid maze's observation for the runner: agent and goal positions, population
#: coded (the env's own default, ``local``, is a binary window for direct currents)
DEFAULT_OBS_MODE = "coords"
#: the shared options' defaults; the network ones are the spiking policies' own
#: (:data:`agents.policies.DEFAULT_SPIKING`); one torch thread, as these networks are
#: small enough that a second costs more in synchronisation than it gives;
#: ``freeze_mask`` None: ``reached`` for dqn, sac and tqc, ``end`` otherwise (see
#: :func:`default_freeze_mask`)
MAZE_PRESET = Preset(
    hidden=None,  # per env (ENV_DEFAULTS), else DEFAULT_SPIKING's
    alpha=float(DEFAULT_SPIKING["lif"]["alpha"]),
    freeze_mask=None,
    threads=1,
)

#: the spiking SAC / TQC policy's ``net_arch``: the actor's latent 32 wide (SB3's is
#: 256), the critics SB3's 256-256
SPIKING_SAC_NET_ARCH: dict[str, list[int]] = {"pi": [32], "qf": [256, 256]}

# Per algorithm: timesteps, parallel envs, the SB3 constructor arguments, and the
# spiking policy's own policy kwargs (SB3's MLP baseline takes none of them).
ALGO_DEFAULTS: dict[str, dict[str, Any]] = {
    "ppo": {
        "n_timesteps": 60_000,
        "n_envs": 8,
        "hyperparams": {
            "n_steps": 128,
            "batch_size": 256,
            "n_epochs": 4,
            "learning_rate": 2e-3,
            "gamma": 0.97,
            "gae_lambda": 0.95,
            "ent_coef": 0.01,
            "clip_range": 0.2,
        },
    },
    "a2c": {
        "n_timesteps": 100_000,
        "n_envs": 8,
        "hyperparams": {"n_steps": 16, "learning_rate": 1e-3, "gamma": 0.97, "ent_coef": 0.01},
    },
    "dqn": {
        "n_timesteps": 50_000,
        "n_envs": 1,
        "hyperparams": {
            "learning_rate": 1e-3,
            "buffer_size": 50_000,
            "learning_starts": 1_000,
            "batch_size": 64,
            "gamma": 0.97,
            "train_freq": 4,
            "target_update_interval": 500,
            "exploration_fraction": 0.3,
            "exploration_final_eps": 0.02,
        },
    },
    "sac": {
        "n_timesteps": 30_000,
        "n_envs": 1,
        # a spiking actor learns with SB3's MLP critics (as PopSAN's does); with spiking
        # critics SAC with HER learns PointMaze_UMaze-v3 more slowly (0.55 after 5k
        # steps, 0.69 after 10k, where the MLP critics reached 0.78 after 5k). The
        # actor's latent (its readout, feeding only the mean and log-std, both linear in
        # it) is 32 wide instead of SB3's 256: its gradient step costs what the MLP
        # actor's does, and it learned UMaze as well (validation success 1.00 on both
        # tuning seeds, as the 256-wide; experiments/grids/screen-sac-latent.yaml)
        "policy_kwargs": {"critic": "mlp", "net_arch": SPIKING_SAC_NET_ARCH},
        "hyperparams": {
            "learning_rate": 1e-3,
            "buffer_size": 100_000,
            "learning_starts": 1_000,
            "batch_size": 128,
            "gamma": 0.97,
            "train_freq": 1,
            "gradient_steps": 1,
        },
    },
}
# sb3_contrib's TQC: SAC with a mixture of quantile critics whose top quantiles are
# dropped (Kuznetsov et al., 2020), SAC's settings otherwise (the actor's latent too);
# its critics stay MLPs
ALGO_DEFAULTS["tqc"] = copy.deepcopy(
    {k: v for k, v in ALGO_DEFAULTS["sac"].items() if k != "policy_kwargs"}
)
ALGO_DEFAULTS["tqc"]["policy_kwargs"] = {"net_arch": copy.deepcopy(SPIKING_SAC_NET_ARCH)}

#: the off-policy algorithms of continuous actions: a squashed Gaussian actor, critics of
#: the action
CONTINUOUS_OFF_POLICY = ("sac", "tqc")


#: the algorithms whose spiking policy takes ``policy_kwargs`` ``critic`` (TQC's critics
#: are always MLPs, DQN's Q-network is the policy)
CRITIC_ALGOS = ("ppo", "a2c", "sac")

#: the spiking policy's own ``policy_kwargs`` (SB3's MLP baseline takes none of them)
SPIKING_POLICY_KWARGS = ("spiking", "critic")

#: the policies a run may train: ``spiking`` (the project's NDI network, pruned online);
#: ``mlp``, SB3's own MLP (``MlpPolicy``, ``MultiInputPolicy`` for Dict observations) as
#: the baseline, never pruned; ``mlp-population``, the same MLP fed the spiking agent's
#: population code (``policy_kwargs`` ``population_code``: its size, low and high)
POLICIES = ("spiking", "mlp", "mlp-population")


#: environment steps between evaluations, unless the env's defaults say otherwise
#: (:meth:`EnvDefaults.eval_freq_for`)
EVAL_FREQ = 10_000


@dataclass(frozen=True)
class EnvDefaults:
    """What differs per environment; unset fields fall back to the shared defaults.

    :param algo: the algorithm ``--algo`` defaults to.
    :param algos: per algorithm, overrides of :data:`ALGO_DEFAULTS`: ``n_timesteps``,
        ``n_envs``, ``hyperparams`` (merged key by key into the algorithm's) and
        ``policy_kwargs`` of the spiking policy other than ``spiking`` (e.g. SAC's
        ``critic``; a ``--config`` file's win key by key), and ``env_kwargs`` that go
        with that algorithm only (over ``env_kwargs``; e.g. a shaping weight screened
        for it), and ``eval_freq`` (each evaluation plays ``eval_episodes`` whole
        episodes, which along a long run of long episodes would otherwise cost more
        than its training).
    :param env_kwargs: keyword arguments of ``gymnasium.make`` (the algorithm's own,
        then ``--env-kwargs``, win key by key).
    :param spiking: :class:`~nspdi_rl.network.SpikingNetConfig` fields over
        :data:`~agents.policies.DEFAULT_SPIKING`.
    :param gym_packages: modules that register the id, imported without
        ``--gym-packages``.
    :param eval_episodes: evaluation episodes from random starts; None: every free
        start square of a fixed grid maze, else
        :data:`~agents.evaluation.DEFAULT_RANDOM_EPISODES`.
    :param train_episode_steps: the time limit of the training episodes; None: the
        env's own. The evaluation keeps the env's own.
    """

    algo: str = "ppo"
    algos: dict[str, dict[str, Any]] = field(default_factory=dict)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    spiking: dict[str, Any] = field(default_factory=dict)
    gym_packages: tuple[str, ...] = ()
    eval_episodes: int | None = None
    train_episode_steps: int | None = None

    def eval_freq_for(self, algo: str) -> int:
        """Environment steps between evaluations of a run of ``algo``: the algorithm's
        own ``eval_freq`` here, else :data:`EVAL_FREQ`."""
        return int(self.algos.get(algo, {}).get("eval_freq", EVAL_FREQ))

    def env_kwargs_for(self, algo: str) -> dict[str, Any]:
        """The env kwargs of a run of ``algo``: the env's, then the algorithm's own."""
        return {**self.env_kwargs, **self.algos.get(algo, {}).get("env_kwargs", {})}

    def algo_defaults(self, algo: str) -> dict[str, Any]:
        """``n_timesteps``, ``n_envs``, ``hyperparams`` and the spiking policy's
        ``policy_kwargs`` of ``algo`` on this env."""
        base, own = ALGO_DEFAULTS[algo], self.algos.get(algo, {})
        return {
            "n_timesteps": own.get("n_timesteps", base["n_timesteps"]),
            "n_envs": own.get("n_envs", base["n_envs"]),
            "hyperparams": {**base["hyperparams"], **own.get("hyperparams", {})},
            "policy_kwargs": {**base.get("policy_kwargs", {}), **own.get("policy_kwargs", {})},
        }


# Goal-conditioned PointMaze (gymnasium-robotics): SAC with hindsight relabelling of
# the sparse reward; goals drawn from later steps of the same episode.
_HER_SAC = {
    "replay_buffer_class": "HerReplayBuffer",
    "replay_buffer_kwargs": {"n_sampled_goal": 4, "goal_selection_strategy": "future"},
    "learning_rate": 1e-3,
    "buffer_size": 1_000_000,
    "learning_starts": 1_000,
    "batch_size": 256,
    "gamma": 0.99,
    "tau": 0.05,
}


# Spiking PPO on gymnasium-robotics' Medium and Large point mazes (the settings of
# experiments/configs/ppo-maze2d-pop12.yaml, the screens' choice): RL Zoo's usual PPO
# settings for MuJoCo control, a learning rate of 1e-3, SB3's MLP value network beside
# the spiking actor, the shaping 20 times the sparse reward, the goal offset
def _robotics_ppo(n_timesteps: int) -> dict[str, Any]:
    """PPO's overrides for a run of ``n_timesteps`` steps, evaluated 20 times along it
    (100 episodes of 600 or 800 steps every 10,000 steps would be six to eight times
    its training)."""
    return {
        "n_timesteps": n_timesteps,
        "hyperparams": {
            "n_steps": 512,
            "batch_size": 512,
            "n_epochs": 10,
            "learning_rate": 1e-3,
            "gamma": 0.99,
            "gae_lambda": 0.95,
            "ent_coef": 0.0,
        },
        "policy_kwargs": {"critic": "mlp"},
        "env_kwargs": {"shaping": 20.0, "goal_offset": True},
        "eval_freq": n_timesteps // 20,
    }


def _robotics_maze(n_timesteps: int, ppo: dict[str, Any] | None = None) -> EnvDefaults:
    """A gymnasium-robotics PointMaze's defaults: SAC with HER for ``n_timesteps`` (and
    TQC, under ``--algo tqc``, with the same), the default algorithm unless ``ppo``
    (PPO's overrides of :data:`ALGO_DEFAULTS`) is given, which makes PPO the default."""
    her = {"n_timesteps": n_timesteps, "hyperparams": _HER_SAC}
    return EnvDefaults(
        algo="ppo" if ppo else "sac",
        algos={"sac": her, "tqc": her, **({"ppo": ppo} if ppo else {})},
        gym_packages=("gymnasium_robotics",),
        eval_episodes=100,
    )


#: Per environment id (``fnmatch`` patterns, the first match wins): the settings that
#: solve it, found by the runs of the maze ladder (docs/mazes.md). Ids matching none use
#: :class:`EnvDefaults`' own (PPO, :data:`ALGO_DEFAULTS`).
ENV_DEFAULTS: tuple[tuple[str, EnvDefaults], ...] = (
    # the 9 x 9 maze of the study: the shared defaults, unchanged since its trials ran
    ("nspdi/GridMaze-v0", EnvDefaults()),
    # a new maze every episode: what the agent sees around it (walls, goal, the squares
    # it visited) and where the goal lies; trained on the "train" split of all mazes,
    # evaluated on the held-out "test" split
    (
        "nspdi/GridMaze-Random-*",
        EnvDefaults(
            env_kwargs={"obs_mode": "local", "maze_split": "train", "shaping": 1.0},
            algos={"ppo": {"n_timesteps": 500_000}},
            eval_episodes=100,
        ),
    ),
    # larger fixed mazes: shaping by the BFS distance to the goal, and one input per
    # square (onehot): the best action changes from square to square, which a code of
    # the two coordinates apart leaves the network to combine (docs/maze-defaults.md)
    (
        "nspdi/GridMaze-15x15-v0",
        EnvDefaults(
            env_kwargs={"obs_mode": "onehot", "shaping": 1.0},
            algos={"ppo": {"n_timesteps": 300_000}},
        ),
    ),
    (
        "nspdi/GridMaze-25x25-v0",
        EnvDefaults(
            env_kwargs={"obs_mode": "onehot", "shaping": 1.0},
            # still rising at 1M steps (docs/maze-defaults.md)
            algos={"ppo": {"n_timesteps": 1_500_000}},
            spiking={"hidden": (256,)},
        ),
    ),
    # the project's point mazes: the sparse reward plus shaping by the way around the
    # walls (the straight-line distance of "dense" leads into dead ends)
    (
        "nspdi/PointMaze-*",
        EnvDefaults(
            env_kwargs={"reward_type": "sparse", "shaping": 1.0},
            algos={"ppo": {"n_timesteps": 500_000}},
            eval_episodes=100,
        ),
    ),
    # the medium and large mazes, without the waypoint planner: spiking PPO with SB3's
    # MLP value network, the shaping by the way around the walls and (for the ids' own
    # random goals) the goal offset, chosen by the screens on validation seeds
    # (experiments/grids/screen-robotics-v2.yaml, -v3.yaml; docs/maze-defaults.md);
    # --protocol d4rl drops the offset (its screen chose the agent without it). SAC and
    # TQC (--algo) keep HER's defaults
    ("PointMaze_Medium-v3", _robotics_maze(50_000, ppo=_robotics_ppo(3_000_000))),
    ("PointMaze_Large-v3", _robotics_maze(50_000, ppo=_robotics_ppo(3_000_000))),
    ("PointMaze_*-v3", _robotics_maze(50_000)),
)


def env_defaults(env_id: str) -> EnvDefaults:
    """The defaults of ``env_id``: its :data:`ENV_DEFAULTS` entry, else the shared ones."""
    for pattern, defaults in ENV_DEFAULTS:
        if fnmatch.fnmatchcase(env_id, pattern):
            return defaults
    return EnvDefaults()


def parse_policy_kwargs(value: Any, name: str = "policy_kwargs") -> dict[str, Any]:
    """``policy_kwargs`` (or another keyword mapping, ``name``) as a mapping, or RL Zoo's
    string form ``"dict(a=1, b=dict(c=2))"``.

    The string is parsed as literals only (never evaluated).
    """
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a mapping or a 'dict(...)' string, got {value!r}")

    def convert(node: ast.AST) -> Any:
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "dict"
        ):
            if node.args:
                raise ValueError(f"{name} {value!r}: dict() takes keyword arguments only")
            return {kw.arg: convert(kw.value) for kw in node.keywords}
        if isinstance(node, ast.Dict):
            return {convert(k): convert(v) for k, v in zip(node.keys, node.values, strict=True)}  # type: ignore[arg-type]
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [convert(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        return ast.literal_eval(node)

    try:
        return convert(ast.parse(value, mode="eval").body)
    except (SyntaxError, ValueError) as err:
        raise ValueError(f"cannot parse {name} {value!r}: {err}") from None


def load_yaml_config(path: str | Path, env_id: str) -> dict[str, Any]:
    """The hyperparameters for ``env_id`` from an RL-Zoo-style YAML file."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"config file {path} is a folder, not a file")
    if not path.is_file():
        raise ValueError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ValueError(f"config file {path} cannot be read: {err.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"config file {path} is not text (a YAML file is expected)") from None
    except yaml.YAMLError as err:
        raise ValueError(f"config file {path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must map env ids to hyperparameters")
    section = data.get(env_id, data.get("default"))
    if section is None:
        raise ValueError(
            f"config file {path} has no section for {env_id!r} (or 'default'); "
            f"it has {sorted(data)}"
        )
    if not isinstance(section, dict):
        raise ValueError(f"config file {path}: section {env_id!r} must be a mapping")
    section = dict(section)
    for key in ("policy_kwargs", "replay_buffer_kwargs"):  # RL Zoo writes "dict(...)"
        if key in section:
            section[key] = parse_policy_kwargs(section[key], key)
    return section


def default_freeze_mask(algo: str) -> str:
    """``reached`` for DQN and SAC, whose value estimates suffer from a changing mask;
    ``end`` (silent synapses may regrow until training ends) otherwise."""
    return "reached" if algo in ("dqn", *CONTINUOUS_OFF_POLICY) else "end"


# (kind, bound) per SB3 constructor argument the runner's hyperparameters may set:
# "int>0", "int>=0", "float>0", "float>=0" or "unit" (a float in [0, 1])
_HYPERPARAM_RULES: dict[str, str] = {
    "n_steps": "int>0",
    "batch_size": "int>0",
    "n_epochs": "int>0",
    "buffer_size": "int>0",
    "learning_starts": "int>=0",
    "train_freq": "int>0",
    "target_update_interval": "int>0",
    "learning_rate": "float>0",
    "max_grad_norm": "float>0",
    "clip_range": "float>0",
    "vf_coef": "float>=0",
    "gamma": "unit",
    "gae_lambda": "unit",
    "tau": "unit",
    "exploration_fraction": "unit",
    "exploration_initial_eps": "unit",
    "exploration_final_eps": "unit",
}


def _check_value(where: str, key: str, value: Any, rule: str) -> None:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if rule.startswith("int") and not (is_number and float(value).is_integer()):
        raise ValueError(f"{where}{key} must be an integer, got {value!r}")
    if not is_number or not math.isfinite(value):
        raise ValueError(f"{where}{key} must be a finite number, got {value!r}")
    if rule.endswith(">0") and value <= 0:
        raise ValueError(f"{where}{key} must be > 0, got {value!r}")
    if rule.endswith(">=0") and value < 0:
        raise ValueError(f"{where}{key} must be >= 0, got {value!r}")
    if rule == "unit" and not 0 <= value <= 1:
        raise ValueError(f"{where}{key} must be in [0, 1], got {value!r}")


#: replay buffers a run may name (by class name, as RL Zoo's YAML files do); None (YAML
#: ``null``) is SB3's own choice, e.g. to train an env whose defaults use HER without it
REPLAY_BUFFERS = {"HerReplayBuffer": HerReplayBuffer}


def sb3_arguments(hyperparams: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameters as SB3 takes them: a replay buffer's name becomes its class."""
    out = dict(hyperparams)
    if isinstance(out.get("replay_buffer_class"), str):
        out["replay_buffer_class"] = REPLAY_BUFFERS[out["replay_buffer_class"]]
    return out


def sb3_policy_kwargs(settings: MazeSettings) -> dict[str, Any]:
    """The settings' policy kwargs as SB3 takes them (a copy: SB3 writes keys of its own
    into them): with the spiking options, and a ``population_code`` as the
    :class:`~agents.policies.PopulationFeatures` extractor."""
    out = copy.deepcopy(settings.policy_kwargs)
    if settings.spiking is not None:
        out["spiking"] = settings.spiking
    code = out.pop("population_code", None)
    if code is not None:
        out["features_extractor_class"] = PopulationFeatures
        out["features_extractor_kwargs"] = code
    return out


def check_hyperparams(algo: str, hyperparams: dict[str, Any], where: str = "") -> None:
    """Refuse an argument the SB3 algorithm does not take, or a value of the wrong
    type or sign, naming it.

    ``ent_coef`` takes SAC's ``"auto"`` / ``"auto_<init>"`` strings too.

    :param where: prefix of the error message (e.g. the config file).
    """
    from agents.evaluation import ALGOS  # SB3's algorithm classes

    accepted = set(inspect.signature(ALGOS[algo].__init__).parameters) - {
        "self", "policy", "env", "seed", "device", "verbose", "policy_kwargs", "tensorboard_log",
        "_init_setup_model",
    }  # fmt: skip
    for key, value in hyperparams.items():
        if key not in accepted:
            raise ValueError(f"{where}{algo} takes no {key!r}; accepted: {sorted(accepted)}")
        if key == "replay_buffer_class":
            if value is not None and value not in REPLAY_BUFFERS:
                raise ValueError(
                    f"{where}replay_buffer_class {value!r}; accepted: {sorted(REPLAY_BUFFERS)} "
                    "or null (SB3's own)"
                )
            continue
        if key == "replay_buffer_kwargs":
            if not isinstance(value, dict):
                raise ValueError(f"{where}replay_buffer_kwargs must be a mapping, got {value!r}")
            continue
        if key == "ent_coef" and isinstance(value, str) and algo in CONTINUOUS_OFF_POLICY:
            if value != "auto" and not value.startswith("auto_"):
                raise ValueError(f"{where}ent_coef must be a number, 'auto' or 'auto_<init>'")
            continue
        rule = _HYPERPARAM_RULES.get(key, "float>=0" if key == "ent_coef" else None)
        if rule is not None:
            _check_value(where, key, value, rule)


def _check_population_code(code: Any) -> None:
    """Refuse a population code that is not ``{size >= 2, low < high}``, naming it."""
    if not isinstance(code, dict) or set(code) != {"size", "low", "high"}:
        raise ValueError(f"population_code must hold size, low and high, got {code!r}")
    size, low, high = code["size"], code["low"], code["high"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 2:
        raise ValueError(f"population_code size must be an integer >= 2, got {size!r}")
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (low, high)):
        raise ValueError(f"population_code low and high must be finite, got {low!r}, {high!r}")
    if not low < high:
        raise ValueError(f"population_code needs low < high, got {low!r} >= {high!r}")


@dataclass(frozen=True)
class MazeSettings:
    """Everything one maze run uses, saved in its ``run.json`` and checked when made.

    :param algo: ``ppo``, ``a2c``, ``dqn``, ``sac`` or ``tqc``.
    :param env_id: a registered Gymnasium id.
    :param env_kwargs: keyword arguments of ``gymnasium.make``.
    :param wrappers: the wrappers around a gymnasium-robotics maze (shaping, waypoints;
        the ``nspdi/`` mazes shape their reward themselves, through ``env_kwargs``).
        The record (:meth:`to_dict`, ``run.json``, summaries) spells them as the command
        line does, inside ``env_kwargs`` (``shaping``, ``gamma``, ``waypoints``), and
        :meth:`from_dict` takes them out again.
    :param seed: seed of the model and the environments.
    :param total_timesteps: environment steps of the whole run.
    :param n_envs: parallel environments.
    :param hyperparams: arguments of the SB3 algorithm (:data:`ALGO_DEFAULTS` updated by
        the config file).
    :param policy_kwargs: the policy's keyword arguments but ``spiking`` (SB3's own, and
        ``critic`` and ``population_code``).
    :param spiking: the spiking policy's network options (None: the defaults, or a
        policy of SB3's). The record spells them inside ``policy_kwargs``.
    :param pruning: pruning method (``dense``: none).
    :param schedule: the pruning schedule.
    :param freeze_mask: ``end`` or ``reached``.
    :param eval_freq: environment steps between evaluations.
    :param checkpoint_freq: environment steps between checkpoints.
    :param gym_packages: modules imported before the env is made (they register ids).
    :param normalize: normalise observations by running statistics (see
        :mod:`agents.environments`).
    :param policy: ``spiking`` or ``mlp`` (SB3's baseline, never pruned).
    :param eval_episodes: evaluation episodes from random starts; None: every free
        start of a fixed grid maze, else the evaluation's default number.
    :param train_episode_steps: the time limit of the training episodes (None: the
        env's own); evaluation episodes keep the env's own.
    """

    algo: str
    env_id: str
    total_timesteps: int
    n_envs: int
    hyperparams: dict[str, Any]
    policy_kwargs: dict[str, Any]
    schedule: PruningSchedule
    freeze_mask: str
    pruning: str = "nsp"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    eval_freq: int = 10_000
    checkpoint_freq: int = 10_000
    gym_packages: tuple[str, ...] = ()
    normalize: bool = False
    policy: str = "spiking"
    eval_episodes: int | None = None
    train_episode_steps: int | None = None
    wrappers: MazeWrappers = field(default_factory=MazeWrappers)
    spiking: SpikingOptions | None = None

    def __post_init__(self) -> None:
        # JSON gives lists back: keep the tuple (hashable, and equal after a round trip)
        object.__setattr__(self, "gym_packages", tuple(self.gym_packages))
        bad = [m for m in self.gym_packages if not all(p.isidentifier() for p in m.split("."))]
        if bad:
            raise ValueError(f"gym package {bad[0]!r} is not a module name")
        if self.env_id.startswith("nspdi/"):
            if self.wrappers != MazeWrappers():
                raise ValueError(
                    f"{self.env_id} shapes its reward itself (env kwarg shaping) and takes "
                    "no waypoints; the wrappers are for gymnasium-robotics' mazes"
                )
        else:
            inside = sorted(set(self.env_kwargs) & set(MazeWrappers.KEYS))
            if inside:
                raise ValueError(
                    f"env kwarg {inside[0]!r} of {self.env_id} is a wrapper option: "
                    "the settings hold it in wrappers"
                )
        if not isinstance(self.normalize, bool):
            raise ValueError(f"normalize must be true or false, got {self.normalize!r}")
        if self.algo not in ALGO_DEFAULTS:
            raise ValueError(f"unknown algo {self.algo!r}; accepted: {sorted(ALGO_DEFAULTS)}")
        if self.pruning not in PRUNING_METHODS:
            raise ValueError(f"unknown pruning {self.pruning!r}; accepted: {PRUNING_METHODS}")
        if self.freeze_mask not in FREEZE_CHOICES:
            raise ValueError(
                f"unknown freeze_mask {self.freeze_mask!r}; accepted: {FREEZE_CHOICES}"
            )
        if self.policy not in POLICIES:
            raise ValueError(f"unknown policy {self.policy!r}; accepted: {list(POLICIES)}")
        if self.policy != "spiking" and self.pruned:
            raise ValueError(
                f"the {self.policy} policy is never pruned: give --pruning dense or "
                "--target-sparsity 0"
            )
        code = self.policy_kwargs.get("population_code")
        if (code is not None) != (self.policy == "mlp-population"):
            raise ValueError("policy_kwargs population_code goes with policy mlp-population only")
        if code is not None:
            _check_population_code(code)
        for name in ("total_timesteps", "n_envs", "eval_freq", "checkpoint_freq"):
            _check_value("", name, getattr(self, name), "int>0")
        for name in ("eval_episodes", "train_episode_steps"):
            if getattr(self, name) is not None:
                _check_value("", name, getattr(self, name), "int>0")
        check_hyperparams(self.algo, self.hyperparams)
        critic = self.policy_kwargs.get("critic")
        if critic is not None:
            if self.algo not in CRITIC_ALGOS or self.policy != "spiking":
                raise ValueError(
                    f"policy_kwargs critic is an option of the spiking policy under "
                    f"{list(CRITIC_ALGOS)}, not of {self.policy} {self.algo}"
                )
            if critic not in CRITICS:
                raise ValueError(
                    f"unknown policy_kwargs critic {critic!r}; accepted: {list(CRITICS)}"
                )
        if "spiking" in self.policy_kwargs:
            raise ValueError(
                "policy_kwargs spiking: the settings hold the network's options in spiking"
            )
        if self.spiking is not None:
            if not isinstance(self.spiking, SpikingOptions):
                raise ValueError(f"spiking must be SpikingOptions, got {self.spiking!r}")
            if self.policy != "spiking":
                raise ValueError(f"the {self.policy} policy takes no spiking options")

    @property
    def pruned(self) -> bool:
        """Whether the run prunes (a method other than ``dense``, a target above 0)."""
        return self.pruning != "dense" and self.schedule.final > 0

    def to_dict(self) -> dict[str, Any]:
        """The settings as ``run.json`` records them: the wrappers in ``env_kwargs``, the
        spiking options as given in ``policy_kwargs`` (``spiking``)."""
        data = asdict(self)
        del data["wrappers"], data["spiking"]
        policy_kwargs = data["policy_kwargs"]
        if self.spiking is not None:
            policy_kwargs["spiking"] = self.spiking.to_dict()
        return {
            **data,
            "env_kwargs": self.env_options(),
            "policy_kwargs": policy_kwargs,
            "schedule": self.schedule.to_dict(),
        }

    def env_options(self) -> dict[str, Any]:
        """The env's options as the command line spells them: ``env_kwargs`` and the
        wrappers' (what :func:`agents.environments.make_env` takes)."""
        return {**self.env_kwargs, **self.wrappers.as_kwargs()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MazeSettings:
        """The settings saved by :meth:`to_dict` (or by a run.json of format 1, where
        no pruning was spelled ``none``)."""
        data = maze_settings_v1(data)  # earlier spellings (runtime.compat)
        schedule = data.pop("schedule")
        # the record spells the wrappers inside env_kwargs; a "wrappers" key is not its
        unknown = sorted(set(data) - ({f.name for f in fields(cls)} - {"wrappers", "spiking"}))
        if unknown:
            raise ValueError(f"unknown maze setting {unknown[0]!r}")
        wrappers, env_kwargs = MazeWrappers.of_env(
            str(data.get("env_id", "")), data.pop("env_kwargs", None) or {}
        )
        policy_kwargs = dict(data.pop("policy_kwargs", None) or {})
        spiking = policy_kwargs.pop("spiking", None)
        return cls(
            schedule=PruningSchedule(**schedule),
            env_kwargs=env_kwargs,
            wrappers=wrappers,
            policy_kwargs=policy_kwargs,
            spiking=None if spiking is None else SpikingOptions(spiking),
            **data,
        )
