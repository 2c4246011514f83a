"""What pruning left, read from the trials' saved models (``python -m experiments survivors``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.report import ReportError
from experiments.survivors import survivors_table
from nspdi_rl.checkpoint import save_model
from nspdi_rl.layers import NSPConfig
from nspdi_rl.network import SpikingNetConfig, build_network
from nspdi_rl.pruning import Pruner, PruningSchedule


def _trial(run_dir: Path, name: str, target: float | None) -> None:
    """A speech trial folder; with a pruned model saved in its run folder unless
    ``target`` is None (an unfinished trial)."""
    folder = run_dir / name
    (folder / "run").mkdir(parents=True)
    (folder / "trial.json").write_text(json.dumps({"task": "speech"}))
    if target is None:
        return
    config = SpikingNetConfig(input_shape=(40,), n_outputs=4, hidden=(16,), ndi=False,
                              nsp=NSPConfig(method="magnitude"))  # fmt: skip
    model = build_network(config, seed=0)
    Pruner(model, PruningSchedule(final=target, shape="constant")).step(1.0)
    save_model(model, folder / "run" / "model.pt")


def test_one_row_per_weight_tensor_of_each_finished_trial(tmp_path: Path) -> None:
    _trial(tmp_path, "speech-a-0.75", 0.75)
    _trial(tmp_path, "speech-b-unfinished", None)
    table = survivors_table(tmp_path, "speech-*")
    rows = [line for line in table.splitlines() if line.startswith("| speech-")]
    # the pruned tensors only (the readout is not pruned): 160 of 640 left
    assert len(rows) == 1
    assert rows[0].startswith("| speech-a-0.75 | layers.0.w | magnitude | 160 / 640 | 16 / 16 |")
    # magnitude pruning shifts no survivor: its mean |theta| and |w| are the same
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[8] == cells[9] and float(cells[8]) > 0
    read, inputs = map(int, cells[5].split(" / "))  # inputs read by a live synapse
    assert inputs == 40 and 0 < read <= 40
    assert table.endswith("1 matching trial(s) without a model were left out.")


def test_nothing_to_read_is_one_clear_error(tmp_path: Path) -> None:
    _trial(tmp_path, "speech-b-unfinished", None)
    with pytest.raises(
        ReportError, match=r"no finished trial .* \(1 trial folders match, 1 without"
    ):
        survivors_table(tmp_path)
    with pytest.raises(ReportError, match="no run folder"):
        survivors_table(tmp_path / "missing")
    (tmp_path / "speech-c" / "run").mkdir(parents=True)
    (tmp_path / "speech-c" / "trial.json").write_text(json.dumps({"task": "speech"}))
    (tmp_path / "speech-c" / "run" / "model.pt").write_bytes(b"not a model")
    with pytest.raises(ReportError, match="cannot load the model of speech-c"):
        survivors_table(tmp_path, "speech-c")
