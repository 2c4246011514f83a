"""The task training loop's pieces: TrainConfig, and the TrainState that checkpoint.pt holds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nspdi_rl.pruning import PruningSchedule
from tasks.training import CHECKPOINT_FILE, Interrupted, TrainConfig
from tests.tasks.test_speech_cli import _train_toy


def test_train_config_holds_a_pruning_schedule() -> None:
    config = TrainConfig()
    assert config.pruning == PruningSchedule() and config.pruning.final == 0.9
    assert config.prunes and config.freeze_mask == "end"
    assert not TrainConfig(pruning=PruningSchedule(final=0.0)).prunes  # 0 turns pruning off
    assert TrainConfig(batch_size=8).steps_per_epoch(17) == 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"pruning": PruningSchedule(mode="threshold", final=0.01)},
            "pruning mode must be 'target_sparsity', got 'threshold'",
        ),
        ({"pruning": {"final": 0.5}}, "pruning must be a PruningSchedule, got dict"),
        ({"freeze_mask": "never"}, r"unknown freeze_mask 'never'; accepted: \('end', 'reached'\)"),
        ({"epochs": 0}, "epochs must be a positive int, got 0"),
    ],
)
def test_train_config_rejects_bad_values(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_a_checkpoint_saved_before_the_pruning_driver_resumes_exactly(tmp_path: Path) -> None:
    """Its pruner state lacks total_steps and freeze_mask; the run ends as an uninterrupted one."""
    schedule = PruningSchedule(final=0.8, end=0.5)
    train = TrainConfig(epochs=2, batch_size=8, pruning=schedule, freeze_mask="reached")
    reference = _train_toy(tmp_path / "whole", train)
    cut = tmp_path / "cut"
    with pytest.raises(Interrupted, match="epoch 2, batch 2"):
        _train_toy(cut, train, stop_at=64 + 20)
    path = cut / CHECKPOINT_FILE
    state = torch.load(path, weights_only=True)
    assert state["pruner"]["frozen"], "the mask should be frozen at step 8 of 16"
    state["pruner"] = {
        k: v for k, v in state["pruner"].items() if k not in ("total_steps", "freeze_mask")
    }
    torch.save(state, path)
    resumed = _train_toy(cut, train, resume=True)
    assert resumed["accuracy"] == reference["accuracy"]
    assert resumed["sparsity"] == reference["sparsity"]
    a = torch.load(tmp_path / "whole" / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(cut / "model.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoints_of_other_runs_are_refused_in_one_line(tmp_path: Path) -> None:
    train = TrainConfig(epochs=1, batch_size=32, pruning=PruningSchedule(final=0.5))
    run = tmp_path / "run"
    _train_toy(run, train)
    path = run / CHECKPOINT_FILE
    state = torch.load(path, weights_only=True)
    dense = TrainConfig(epochs=1, batch_size=32, pruning=PruningSchedule(final=0.0))
    cases = [
        (dense, "was saved by a run that pruned; this one does not"),
        (
            TrainConfig(epochs=2, batch_size=32, pruning=PruningSchedule(final=0.5)),
            "saved run was 2 steps long, this one 4",
        ),
    ]
    for config, match in cases:
        with pytest.raises(ValueError, match=match):
            _train_toy(run, config, resume=True)
    del state["running"]
    torch.save(state, path)
    with pytest.raises(
        ValueError, match=r"is not a task runner's checkpoint: it lacks \['running'\]"
    ):
        _train_toy(run, train, resume=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read the checkpoint") as err:
        _train_toy(run, train, resume=True)
    assert "\n" not in str(err.value)
