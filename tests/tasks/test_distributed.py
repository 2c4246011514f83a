"""Data-parallel training under torchrun: the same run as one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tasks.distributed import Workers, derived_seed
from tests.tasks.conftest import write_speechcommands

ROOT = Path(__file__).resolve().parents[2]


def test_shards_split_every_batch_and_pad_the_short_ones() -> None:
    batch = [7, 3, 9, 1, 4]
    parts = [Workers(rank, 2).shard(batch) for rank in range(2)]
    assert parts == [([7, 9, 4], True), ([3, 1], True)]
    assert sorted(i for part, _ in parts for i in part) == sorted(batch)
    # fewer samples than processes: the spare process runs one sample at zero weight
    assert Workers(2, 3).shard([5, 6]) == ([5], False)
    assert Workers(1, 3).shard([5, 6]) == ([6], True)


def test_bad_ranks_and_seeds() -> None:
    with pytest.raises(ValueError, match="rank 2 does not fit world size 2"):
        Workers(2, 2)
    assert derived_seed(0, 5, 1) == derived_seed(0, 5, 1) != derived_seed(0, 5, 0)


def _train(data: Path, out: Path, processes: int) -> dict:
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes)]
        if processes > 1
        else [sys.executable]
    )
    # 5 training clips in batches of 2: the short batches leave a process without a
    # sample (the last at 2 processes, every one at 3), which then runs at zero weight
    args = ["-m", "tasks.speech", "--dataset", "speechcommands", "--data-dir", str(data)]
    args += ["--output", str(out), "--epochs", "2", "--hidden", "32", "--batch-size", "2"]
    args += ["--target-sparsity", "0.8", "--threads", "1", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*launcher, *args], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # rank 0 alone reports
    assert done.stdout.count("test accuracy") == 1, done.stdout
    return json.loads((out / "summary.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("processes", [2, 3])
def test_torchrun_matches_one_process(
    tmp_path: Path, synthetic_clips: Path, processes: int
) -> None:
    data = write_speechcommands(tmp_path / "sc", synthetic_clips)
    one = _train(data, tmp_path / "one", 1)
    many = _train(data, tmp_path / "many", processes)
    assert many["processes"] == processes and one["processes"] == 1
    assert many["test_samples"] == one["test_samples"]
    assert many["sparsity"] == pytest.approx(one["sparsity"], abs=1e-3)
    assert many["accuracy"] == pytest.approx(one["accuracy"], abs=1 / one["test_samples"] + 1e-9)
    # the global batch is the same, so the weights are the one-process weights up to
    # the order of floating-point sums
    a = torch.load(tmp_path / "one" / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "many" / "model.pt", weights_only=True)["state_dict"]
    for name in a:
        torch.testing.assert_close(b[name], a[name], atol=1e-3, rtol=1e-3, msg=name)
