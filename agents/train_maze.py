"""``python -m agents.train_maze``: train a spiking SB3 agent on a maze, pruned online by NSP.

With no arguments: spiking PPO (NDI on, NSP with heterogeneous ``a``) on the
default grid maze, pruned to 90 % sparsity, evaluated from every free start
cell. The run folder holds ``run.json`` (every setting), ``evaluations.jsonl``,
``checkpoints/`` (atomic, resumable), ``model.zip``, ``summary.json`` and
``learning_curves.png``. Ctrl-C or SIGTERM saves a checkpoint and exits; ``--resume DIR``
continues from the last checkpoint with the same schedule position (and the
replay buffer for DQN / SAC).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.env_util import make_vec_env

import agents  # noqa: F401  (registers "SpikingMlpPolicy")
from agents.callbacks import NSPPruningCallback
from agents.config import ALGO_DEFAULTS, DEFAULT_ENV_ID, load_yaml_config
from agents.evaluation import ALGOS, evaluate_maze, write_summary
from agents.plots import plot_learning_curves
from nspdi_rl.layers import A_DISTRIBUTIONS, NSPConfig
from nspdi_rl.pruning import SCHEDULE_SHAPES, PruningSchedule
from nspdi_rl.stopping import interrupt_on_sigterm

PRUNING_CHOICES = ("nsp", "stds", "gradr", "magnitude", "none")
RUN_FILE = "run.json"


class UsageError(Exception):
    """A bad command line or run folder: reported as one line, exit status 2."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m agents.train_maze",
        description="Train a spiking NDI agent on a maze while NSP prunes it online.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--algo", default="ppo", help=f"one of {sorted(ALGOS)}")
    p.add_argument("--env", default=DEFAULT_ENV_ID, help="a registered nspdi/ maze id")
    p.add_argument(
        "--total-timesteps",
        type=int,
        default=None,
        help="environment steps (default: per algorithm, see agents/config.py)",
    )
    p.add_argument("--target-sparsity", type=float, default=0.9, help="final sparsity in [0, 1)")
    p.add_argument(
        "--schedule", default="cubic", help=f"sparsity schedule, one of {SCHEDULE_SHAPES}"
    )
    p.add_argument("--pruning", default="nsp", help=f"one of {PRUNING_CHOICES}")
    p.add_argument(
        "--freeze-mask",
        default=None,
        help="when the mask is fixed: 'end' (silent synapses may regrow until training ends) "
        "or 'reached' (as soon as the target sparsity is reached); default: 'reached' for "
        "dqn and sac, whose value estimates suffer from a changing mask, 'end' otherwise",
    )
    p.add_argument("--no-ndi", action="store_true", help="drop the dendritic product term")
    p.add_argument(
        "--a-dist",
        default=NSPConfig.a_dist,
        help=f"distribution of NSP's transition ratio a, one of {A_DISTRIBUTIONS} "
        "(constant = homogeneous)",
    )
    p.add_argument("--time-steps", type=int, default=8, help="spiking steps T per environment step")
    p.add_argument("--hidden", type=int, nargs="+", default=[128], help="hidden layer widths")
    p.add_argument(
        "--obs-mode",
        default="coords",
        help="grid-maze observation: coords (agent and goal positions, population coded), "
        "full (the whole maze) or local (an egocentric window); full and local are binary "
        "maps, fed as direct currents",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--n-envs", type=int, default=None, help="parallel envs (default: per algorithm)"
    )
    p.add_argument("--config", default=None, help="RL-Zoo-style hyperparameter YAML")
    p.add_argument("--output", default=None, help="run folder (default: runs/<algo>-<env>-<time>)")
    p.add_argument("--resume", default=None, metavar="DIR", help="continue the run in DIR")
    p.add_argument("--eval-freq", type=int, default=10_000, help="env steps between evaluations")
    p.add_argument(
        "--checkpoint-freq", type=int, default=10_000, help="env steps between checkpoints"
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p.parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Validate the command line and turn it into the run's settings (saved as run.json)."""
    if args.algo not in ALGOS:
        raise UsageError(f"unknown --algo {args.algo!r}; accepted: {sorted(ALGOS)}")
    if args.env not in gym.registry or not args.env.startswith("nspdi/"):
        ids = sorted(k for k in gym.registry if k.startswith("nspdi/"))
        raise UsageError(f"unknown --env {args.env!r}; accepted: {ids}")
    if args.pruning not in PRUNING_CHOICES:
        raise UsageError(f"unknown --pruning {args.pruning!r}; accepted: {PRUNING_CHOICES}")
    if args.a_dist not in A_DISTRIBUTIONS:
        raise UsageError(f"unknown --a-dist {args.a_dist!r}; accepted: {A_DISTRIBUTIONS}")
    if args.freeze_mask not in (None, "end", "reached"):
        raise UsageError(
            f"unknown --freeze-mask {args.freeze_mask!r}; accepted: ('end', 'reached')"
        )
    if args.schedule not in SCHEDULE_SHAPES:
        raise UsageError(f"unknown --schedule {args.schedule!r}; accepted: {SCHEDULE_SHAPES}")
    if not 0.0 <= args.target_sparsity < 1.0:
        raise UsageError(f"--target-sparsity must be in [0, 1), got {args.target_sparsity}")
    for name in ("total_timesteps", "n_envs"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be > 0, got {value}")
    if any(h <= 0 for h in args.hidden):
        raise UsageError(f"--hidden widths must be > 0, got {args.hidden}")
    for name in ("time_steps", "eval_freq", "checkpoint_freq"):
        if getattr(args, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")
    env_kwargs: dict[str, Any] = {}
    if "GridMaze" in args.env:
        if args.obs_mode not in ("full", "local", "coords"):
            raise UsageError(
                f"unknown --obs-mode {args.obs_mode!r}; accepted: ('full', 'local', 'coords')"
            )
        env_kwargs["obs_mode"] = args.obs_mode
    space = gym.make(args.env, **env_kwargs).action_space
    if args.algo == "dqn" and not isinstance(space, gym.spaces.Discrete):
        raise UsageError(f"--algo dqn needs a discrete action space; {args.env} has {space}")
    if args.algo == "sac" and not isinstance(space, gym.spaces.Box):
        raise UsageError(f"--algo sac needs a continuous action space; {args.env} has {space}")

    defaults = ALGO_DEFAULTS[args.algo]
    hyperparams = dict(defaults["hyperparams"])
    n_timesteps, n_envs = defaults["n_timesteps"], defaults["n_envs"]
    policy_kwargs: dict[str, Any] = {}
    if args.config:
        try:
            section = load_yaml_config(args.config, args.env)
        except ValueError as err:
            raise UsageError(str(err)) from None
        n_timesteps = int(section.pop("n_timesteps", n_timesteps))
        n_envs = int(section.pop("n_envs", n_envs))
        section.pop("policy", None)
        policy_kwargs = section.pop("policy_kwargs", {})
        hyperparams.update(section)
    spiking = dict(policy_kwargs.pop("spiking", {}))
    if env_kwargs.get("obs_mode") in ("full", "local"):
        spiking.setdefault("encoder", "direct")
    spiking.setdefault("time_steps", args.time_steps)
    spiking.setdefault("hidden", tuple(args.hidden))
    spiking["ndi"] = not args.no_ndi
    method = "dense" if args.pruning == "none" else args.pruning
    spiking["nsp"] = {**spiking.get("nsp", {}), "method": method, "a_dist": args.a_dist}
    policy_kwargs["spiking"] = spiking
    return {
        "algo": args.algo,
        "env_id": args.env,
        "env_kwargs": env_kwargs,
        "seed": args.seed,
        "total_timesteps": args.total_timesteps or n_timesteps,
        "n_envs": args.n_envs or n_envs,
        "hyperparams": hyperparams,
        "policy_kwargs": policy_kwargs,
        "pruning": args.pruning,
        "schedule": {
            "mode": "target_sparsity",
            "final": args.target_sparsity,
            "shape": args.schedule,
            "end": 0.8,
        },
        "freeze_mask": args.freeze_mask or ("reached" if args.algo in ("dqn", "sac") else "end"),
        "eval_freq": args.eval_freq,
        "checkpoint_freq": args.checkpoint_freq,
    }


class RunCallback(BaseCallback):
    """Periodic evaluation (every free start cell) and atomic checkpoints of one run folder."""

    def __init__(
        self, run_dir: Path, settings: dict[str, Any], pruning: NSPPruningCallback | None
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
        if self.num_timesteps - self._last_eval >= self.settings["eval_freq"]:
            self.evaluate()
        if self.num_timesteps - self._last_checkpoint >= self.settings["checkpoint_freq"]:
            self.checkpoint()

    def evaluate(self) -> dict[str, Any]:
        self._last_eval = self.num_timesteps
        result = evaluate_maze(self.model, self.settings["env_id"], self.settings["env_kwargs"])
        record = {"timesteps": self.num_timesteps, "wall_time_s": time.time(), **result}
        with open(self.run_dir / "evaluations.jsonl", "a") as f:
            f.write(json.dumps(record, default=str) + "\n")
        for key in ("success_rate", "mean_return", "mean_path_optimality", "sparsity"):
            if isinstance(result.get(key), (int, float)):
                self.logger.record(f"eval/{key}", result[key])
        return record

    def checkpoint(self) -> Path:
        """Write model (+ replay buffer) and pruning state into a new folder, then point
        ``checkpoints/latest.json`` at it: a crash at any moment leaves a usable checkpoint."""
        self._last_checkpoint = self.num_timesteps
        root = self.run_dir / "checkpoints"
        target = root / f"step_{self.num_timesteps:09d}"
        tmp = root / f".{target.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.model.save(tmp / "model.zip")
        if hasattr(self.model, "replay_buffer") and self.model.replay_buffer is not None:
            self.model.save_replay_buffer(tmp / "replay_buffer.pkl")
        state = {
            "num_timesteps": self.num_timesteps,
            "pruning": None if self.pruning is None else self.pruning.state_dict(),
        }
        write_summary(state, tmp / "state.json")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
        write_summary({"checkpoint": target.name}, root / "latest.json")
        for old in sorted(p for p in root.glob("step_*") if p != target)[:-1]:
            shutil.rmtree(old, ignore_errors=True)  # keep the newest two
        return target


def latest_checkpoint(run_dir: Path) -> Path | None:
    pointer = run_dir / "checkpoints" / "latest.json"
    if not pointer.is_file():
        return None
    try:
        path = run_dir / "checkpoints" / json.loads(pointer.read_text())["checkpoint"]
    except (ValueError, KeyError) as err:
        raise UsageError(f"{pointer} is damaged ({err}); delete it to restart the run") from None
    return path if (path / "model.zip").is_file() else None


def build_model(
    settings: dict[str, Any], run_dir: Path
) -> tuple[BaseAlgorithm, dict[str, Any] | None]:
    """A new model, or the last checkpoint's when the run folder has one."""
    algo = ALGOS[settings["algo"]]
    vec_env = make_vec_env(
        settings["env_id"],
        n_envs=settings["n_envs"],
        seed=settings["seed"],
        env_kwargs=settings["env_kwargs"],
    )
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        model = algo(
            "SpikingMlpPolicy",
            vec_env,
            seed=settings["seed"],
            verbose=0,
            policy_kwargs=settings["policy_kwargs"],
            device="cpu",
            tensorboard_log=str(run_dir / "tensorboard"),
            **settings["hyperparams"],
        )
        return model, None
    try:
        model = algo.load(checkpoint / "model.zip", env=vec_env, device="cpu")
    except Exception as err:  # SB3 raises many types for a damaged zip
        raise UsageError(f"cannot load checkpoint {checkpoint / 'model.zip'}: {err}") from None
    buffer = checkpoint / "replay_buffer.pkl"
    if buffer.is_file():
        model.load_replay_buffer(buffer)
    state = json.loads((checkpoint / "state.json").read_text())
    return model, state


def train(settings: dict[str, Any], run_dir: Path, progress_bar: bool) -> int:
    model, state = build_model(settings, run_dir)
    done = model.num_timesteps
    total = settings["total_timesteps"]
    pruning = None
    if settings["pruning"] != "none":
        pruning = NSPPruningCallback(
            PruningSchedule(**settings["schedule"]),
            total,
            freeze_when_reached=settings.get("freeze_mask", "end") == "reached",
        )
        if state and state.get("pruning"):
            pruning.load_state_dict(state["pruning"])
    run_cb = RunCallback(run_dir, settings, pruning)
    callbacks = CallbackList([cb for cb in (pruning, run_cb) if cb is not None])
    print(
        f"training {settings['algo']} on {settings['env_id']} for {total} steps "
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
            f"Continue with: python -m agents.train_maze --resume {run_dir}",
            file=sys.stderr,
        )
        return 130
    model.save(run_dir / "model.zip")  # the frozen final mask travels inside it
    run_cb.checkpoint()
    final = run_cb.evaluate()
    summary = {k: v for k, v in final.items() if k != "wall_time_s"}
    summary.update(
        {
            "algo": settings["algo"],
            "env_id": settings["env_id"],
            "total_timesteps": model.num_timesteps,
            "pruning": settings["pruning"],
            "ndi": settings["policy_kwargs"]["spiking"]["ndi"],
            "target_sparsity": settings["schedule"]["final"],
            "train_wall_time_s": round(time.time() - start, 1),
        }
    )
    write_summary(summary, run_dir / "summary.json")
    plot_learning_curves(run_dir / "evaluations.jsonl", run_dir / "learning_curves.png")
    print(json.dumps(summary, indent=2, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    if "OMP_NUM_THREADS" not in os.environ:
        # these networks are small: a second thread costs more in synchronisation than it gives
        torch.set_num_threads(1)
    try:
        args = parse_args(argv)
        if args.resume:
            run_dir = Path(args.resume)
            if not (run_dir / RUN_FILE).is_file():
                raise UsageError(f"--resume {run_dir}: no {RUN_FILE} there, not a run folder")
            settings = json.loads((run_dir / RUN_FILE).read_text())
        else:
            settings = settings_from_args(args)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            default = (
                Path("runs") / f"{settings['algo']}-{settings['env_id'].split('/')[-1]}-{stamp}"
            )
            run_dir = Path(args.output) if args.output else default
            if (run_dir / RUN_FILE).exists():
                raise UsageError(
                    f"{run_dir} already holds a run; use --resume {run_dir} or another --output"
                )
            run_dir.mkdir(parents=True, exist_ok=True)
            write_summary(settings, run_dir / RUN_FILE)
        with interrupt_on_sigterm():  # a kill saves the checkpoint, as Ctrl-C does
            return train(settings, run_dir, progress_bar=not args.no_progress)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
