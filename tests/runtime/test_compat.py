"""What the runners still read of earlier versions (runtime/compat.py)."""

from __future__ import annotations

import pytest

from nspdi_rl.layers import DEFAULT_READING, ORIGINAL_READING
from runtime.compat import (
    ADDED_OPTIONS,
    maze_run_file_v1,
    maze_settings_v1,
    pruning_callback_state_v1,
    shared_summary,
    task_run_file_v1,
)
from runtime.errors import UsageError


def test_options_added_since_read_as_runs_ran_before_them() -> None:
    # the original reading, not today's default: an old run resumes as it ran
    assert {k: ADDED_OPTIONS[k] for k in ORIGINAL_READING.to_dict()} == ORIGINAL_READING.to_dict()
    assert any(ADDED_OPTIONS[k] != v for k, v in DEFAULT_READING.to_dict().items())


def test_run_files_of_format_1() -> None:
    settings = {"algo": "ppo", "env_id": "nspdi/GridMaze-v0"}
    assert maze_run_file_v1(settings, "prog") == {
        "runner": "prog", "options": {}, "settings": settings
    }  # fmt: skip
    with pytest.raises(UsageError, match="neither a maze run's settings"):
        maze_run_file_v1({"epochs": 3}, "prog")
    assert task_run_file_v1({"method": "stds", "epochs": 3}) == {
        "options": {"pruning": "stds", "epochs": 3}, "runner": None
    }  # fmt: skip


def test_maze_settings_and_callback_states_of_earlier_versions() -> None:
    old = {"pruning": "none", "policy_kwargs": {"spiking": {"nsp": {"method": "nsp"}}}}
    new = maze_settings_v1(old)
    assert new["pruning"] == "dense"
    assert new["policy_kwargs"]["spiking"]["nsp"] == {**ADDED_OPTIONS, "method": "nsp"}
    assert old["pruning"] == "none"  # the input is left alone
    assert maze_settings_v1({"pruning": "nsp"}) == {"pruning": "nsp"}
    assert pruning_callback_state_v1({"total_timesteps": 64, "progress": 0.5}) == {
        "total_steps": 64, "progress": 0.5
    }  # fmt: skip
    today = {"total_steps": 64, "total_timesteps": 1}
    assert pruning_callback_state_v1(today) == today


def test_summaries_of_earlier_runs_get_the_shared_keys() -> None:
    old = {"success_rate": 0.8, "synops_per_step": 10.0}
    assert shared_summary("maze", old)["score"] == 0.8
    assert shared_summary("maze", old)["synops_per_inference"] == 10.0
    assert shared_summary("speech", {"accuracy": 0.9})["score"] == 0.9
    assert shared_summary("speech", {"score": 0.7, "accuracy": 0.9})["score"] == 0.7
