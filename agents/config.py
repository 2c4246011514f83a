"""Default hyperparameters of the maze agents: the one place that holds them.

RL-Zoo-style YAML files (``--config FILE``) override them per env id:
a mapping from env id (or ``default``) to keys ``n_timesteps``, ``n_envs``,
``policy``, ``policy_kwargs`` and any argument of the SB3 algorithm.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ALGO_DEFAULTS", "DEFAULT_ENV_ID", "load_yaml_config", "parse_policy_kwargs"]

DEFAULT_ENV_ID = "nspdi/GridMaze-v0"

# Per algorithm: timesteps, parallel envs, and the SB3 constructor arguments.
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


def parse_policy_kwargs(value: Any) -> dict[str, Any]:
    """``policy_kwargs`` as a mapping, or RL Zoo's string form ``"dict(a=1, b=dict(c=2))"``.

    The string is parsed as literals only (never evaluated).
    """
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise ValueError(f"policy_kwargs must be a mapping or a 'dict(...)' string, got {value!r}")

    def convert(node: ast.AST) -> Any:
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "dict"
        ):
            if node.args:
                raise ValueError(f"policy_kwargs {value!r}: dict() takes keyword arguments only")
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
        raise ValueError(f"cannot parse policy_kwargs {value!r}: {err}") from None


def load_yaml_config(path: str | Path, env_id: str) -> dict[str, Any]:
    """The hyperparameters for ``env_id`` from an RL-Zoo-style YAML file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
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
    if "policy_kwargs" in section:
        section["policy_kwargs"] = parse_policy_kwargs(section["policy_kwargs"])
    return section
