"""What the runners still read of earlier versions, in one place.

Each entry says what it reads and why it is kept; drop one when nothing written
before it remains (run folders, ``trial.json`` files, grid files, commands in
scripts).

- :data:`ADDED_OPTIONS`: the NSP reading options (and ``d1``) with the value that
  gives what runs did before the option existed. A resumed run, a recorded
  ``settings`` dict and a ``trial.json`` that lack one take this value, whatever
  today's default is (today's NSP default differs: ``nspdi_rl.layers.DEFAULT_READING``).
- :func:`reject_old_flags`: flags renamed since the first release (``--method``,
  ``--pruning none``, ``--resume DIR``), refused with what replaced them.
- :func:`maze_run_file_v1`, :func:`task_run_file_v1`: ``run.json`` of format 1 (the
  maze runner wrote its settings alone; the task runners their options alone, the
  pruning method as ``method``), read so that such runs can be resumed.
- :data:`SUMMARY_KEYS_V1` / :func:`shared_summary`: ``summary.json`` keys of runs made
  before the runners shared one vocabulary (``accuracy``, ``success_rate``, ...), read
  by the study report.
- :func:`maze_settings_v1`: a maze run's saved settings where no pruning was spelled
  ``none`` and the NSP options lacked the readings (resumed and evaluated runs).
- :func:`pruning_callback_state_v1`: the pruning callback's checkpoint state of maze
  runs saved before ``nspdi_rl.pruning.PruningDriver`` (``total_timesteps``).
- :data:`RENAMED_GRID_KEYS`, :data:`FORMER_GRID_DEFAULTS`: grid files' ``method`` key
  (refused, saying ``pruning``) and the maze env the first grid files left to the
  runner's default of the time (a ``trial.json`` without it ran there).

Two shims stay in the method package, which imports nothing from here:
``nspdi_rl.layers.NSPConfig.from_dict`` reads a saved ``straight_through: bool``
(checkpoints and exported models of the first release) as ``pruned_grad``, and
``nspdi_rl.pruning.PruningDriver.load_state_dict`` takes a bare ``Pruner`` state (task
checkpoints saved before the driver existed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nspdi_rl.layers import ORIGINAL_READING, NSPConfig
from runtime.errors import UsageError

__all__ = [
    "ADDED_OPTIONS",
    "FORMER_GRID_DEFAULTS",
    "RENAMED_GRID_KEYS",
    "SUMMARY_KEYS_V1",
    "maze_run_file_v1",
    "maze_settings_v1",
    "pruning_callback_state_v1",
    "reject_old_flags",
    "shared_summary",
    "task_run_file_v1",
]

#: options added since run.json format 2, with the value that gives what runs did
#: before they existed: a resumed older run takes these, whatever today's default is
ADDED_OPTIONS: dict[str, Any] = {**ORIGINAL_READING.to_dict(), "d1": NSPConfig.d1}

# flags of earlier versions, refused with what replaced them
_OLD_FLAGS = {
    "--method": "--method is now --pruning (same values: nsp, stds, gradr, magnitude, dense)",
}


def reject_old_flags(argv: Sequence[str]) -> None:
    """Refuse the spellings of earlier versions, saying what replaced them.

    :raises UsageError: for ``--method``, ``--pruning none`` and ``--resume DIR``.
    """
    for i, token in enumerate(argv):
        flag = token.split("=", 1)[0]
        if flag in _OLD_FLAGS:
            raise UsageError(_OLD_FLAGS[flag])
        if flag == "--pruning":
            value = token.split("=", 1)[1] if "=" in token else (argv[i + 1 : i + 2] or [""])[0]
            if value == "none":
                raise UsageError("--pruning none is now --pruning dense")
        if flag == "--resume" and "=" in token:
            raise UsageError("--resume takes no folder: continue a run with --output DIR --resume")
        if flag == "--resume" and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            raise UsageError(
                f"--resume takes no folder: continue that run with --output {argv[i + 1]} --resume"
            )


def maze_run_file_v1(saved: dict[str, Any], prog: str) -> dict[str, Any]:
    """A maze run's ``run.json`` of format 1: its settings alone (its options unknown).

    :raises UsageError: for a file that is not one.
    """
    if "algo" not in saved or "env_id" not in saved:
        raise UsageError("run.json is neither a maze run's settings nor a run file of format 2")
    return {"runner": prog, "options": {}, "settings": saved}


def task_run_file_v1(saved: dict[str, Any]) -> dict[str, Any]:
    """A task run's ``run.json`` of format 1: its options alone, the pruning method as
    ``method``; which runner wrote it is unknown (its options tell)."""
    options = {("pruning" if k == "method" else k): v for k, v in saved.items()}
    return {"options": options, "runner": None}


def maze_settings_v1(data: Mapping[str, Any]) -> dict[str, Any]:
    """A maze run's saved settings in today's spelling: ``pruning: none`` is ``dense``,
    and NSP options saved before the readings existed take the values it ran with."""
    data = dict(data)
    if data.get("pruning") == "none":
        data["pruning"] = "dense"
    policy_kwargs = dict(data.get("policy_kwargs", {}))
    spiking = dict(policy_kwargs.get("spiking", {}))
    if isinstance(spiking.get("nsp"), dict):
        spiking["nsp"] = {**ADDED_OPTIONS, **spiking["nsp"]}
        data["policy_kwargs"] = {**policy_kwargs, "spiking": spiking}
    return data


def pruning_callback_state_v1(state: Mapping[str, Any]) -> dict[str, Any]:
    """The maze pruning callback's state with ``total_steps`` where runs saved before
    ``PruningDriver`` wrote ``total_timesteps``."""
    if "total_timesteps" in state and "total_steps" not in state:
        return {
            **{k: v for k, v in state.items() if k != "total_timesteps"},
            "total_steps": state["total_timesteps"],
        }
    return dict(state)


#: summary keys of runs made before the runners shared one vocabulary, per kind of task
SUMMARY_KEYS_V1 = {
    "maze": {
        "score": "success_rate",
        "synops_per_inference": "synops_per_step",
        "energy_per_inference_pj": "energy_per_step_pj",
        "wall_time_s": "train_wall_time_s",
    },
    "task": {
        "score": "accuracy",
        "synops_per_inference": "synops_per_sample",
        "energy_per_inference_pj": "energy_per_sample_pj",
    },
}


def shared_summary(task: str, summary: Mapping[str, Any]) -> dict[str, Any]:
    """``summary`` with the shared keys (``score``, ...), filled from a run's own keys
    where it was written before they existed."""
    if "score" in summary:
        return dict(summary)
    old = SUMMARY_KEYS_V1["maze" if task == "maze" else "task"]
    return {**summary, **{new: summary.get(key) for new, key in old.items()}}


#: keys of earlier grid files, refused with what replaced them
RENAMED_GRID_KEYS = {"method": "pruning"}
#: runner options that the first grid files left to the runner's default of the time:
#: a ``trial.json`` without them ran with these
FORMER_GRID_DEFAULTS: dict[str, dict[str, Any]] = {"maze": {"env": "nspdi/GridMaze-v0"}}
