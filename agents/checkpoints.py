"""A maze run's checkpoints: what a run needs to continue where it stopped.

Each checkpoint is a folder ``RUN_DIR/checkpoints/step_<N>/`` holding the SB3 model
(``model.zip``), its replay buffer where the algorithm has one, the observation
statistics where the run normalises (``vecnormalize.pkl``), and ``state.json`` (the
step count and the pruning callback's state). It is written under a temporary name
and renamed, then ``checkpoints/latest.json`` is pointed at it, so a crash at any
moment leaves a usable checkpoint; the newest two are kept.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm

from agents.environments import NORMALIZER_FILE
from agents.evaluation import write_summary
from runtime.cli import UsageError

__all__ = ["CHECKPOINTS", "Checkpoint", "save_normalizer"]

#: the checkpoints' folder inside a run folder
CHECKPOINTS = "checkpoints"
_LATEST = "latest.json"


def save_normalizer(model: BaseAlgorithm, folder: Path) -> None:
    """The observation statistics beside the model, when the run normalises."""
    normalizer = model.get_vec_normalize_env()
    if normalizer is not None:
        normalizer.save(str(folder / NORMALIZER_FILE))


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint folder (see the module's doc)."""

    folder: Path

    @property
    def model_file(self) -> Path:
        return self.folder / "model.zip"

    @property
    def normalizer_file(self) -> Path:
        return self.folder / NORMALIZER_FILE

    @property
    def replay_buffer_file(self) -> Path:
        return self.folder / "replay_buffer.pkl"

    def state(self) -> dict[str, Any]:
        """``num_timesteps`` and ``pruning`` (the callback's state, or None)."""
        return dict(json.loads((self.folder / "state.json").read_text()))

    @classmethod
    def latest(cls, run_dir: Path) -> Checkpoint | None:
        """The newest complete checkpoint of ``run_dir``, or None when it has none.

        :raises UsageError: for a damaged ``latest.json``.
        """
        pointer = run_dir / CHECKPOINTS / _LATEST
        if not pointer.is_file():
            return None
        try:
            folder = run_dir / CHECKPOINTS / json.loads(pointer.read_text())["checkpoint"]
        except (ValueError, KeyError) as err:
            raise UsageError(
                f"{pointer} is damaged ({err}); delete it to restart the run"
            ) from None
        checkpoint = cls(folder)
        return checkpoint if checkpoint.model_file.is_file() else None

    @classmethod
    def save(
        cls, run_dir: Path, model: BaseAlgorithm, pruning: dict[str, Any] | None
    ) -> Checkpoint:
        """Write ``model`` (its replay buffer and observation statistics with it) and the
        pruning callback's state ``pruning`` as the run's newest checkpoint.

        Named by the model's step count: an interrupt can land after the model counted
        a step and before a callback saw it, and the checkpoint holds the model."""
        steps = model.num_timesteps
        root = run_dir / CHECKPOINTS
        target = root / f"step_{steps:09d}"
        tmp = root / f".{target.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        written = cls(tmp)
        model.save(written.model_file)
        save_normalizer(model, tmp)
        if getattr(model, "replay_buffer", None) is not None:
            model.save_replay_buffer(written.replay_buffer_file)  # type: ignore[attr-defined]
        write_summary({"num_timesteps": steps, "pruning": pruning}, tmp / "state.json")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
        write_summary({"checkpoint": target.name}, root / _LATEST)
        for old in sorted(p for p in root.glob("step_*") if p != target)[:-1]:
            shutil.rmtree(old, ignore_errors=True)  # keep the newest two
        return cls(target)
