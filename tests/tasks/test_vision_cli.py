"""The vision runner end to end: a recorded-format set, and learning on synthetic-dvs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.vision.cli import main
from tests.tasks.test_vision_data import write_dvsgesture


def test_dvsgesture_run_writes_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = write_dvsgesture(tmp_path / "data")
    out = tmp_path / "run"
    argv = ["--dataset", "dvsgesture", "--data-dir", str(root), "--output", str(out),
            "--epochs", "1", "--size", "16", "--time-steps", "4", "--conv-channels", "4",
            "--hidden", "16", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"] == "dvsgesture" and summary["test_samples"] == 110
    assert set(summary["connectivity_per_layer"]) == {"convs.0", "layers.0", "readout"}
    assert summary["sparsity"] == pytest.approx(0.9, abs=1e-3)
    assert summary["network"]["conv_channels"] == [4] and summary["data"]["time_steps"] == 4
    assert summary["synops_per_inference"] > 0
    assert "test accuracy" in capsys.readouterr().out
    # a run folder of the old format (run.json held the options alone, the pruning
    # method as 'method'): --output DIR --resume alone continues it with its options
    options = json.loads((out / "run.json").read_text())["options"]
    options["method"] = options.pop("pruning")
    (out / "run.json").write_text(json.dumps(options))
    (out / "summary.json").unlink()
    assert main(["--output", str(out), "--resume", "--no-progress"]) == 0
    again = json.loads((out / "summary.json").read_text())
    assert again["accuracy"] == summary["accuracy"] and again["settings"]["pruning"] == "nsp"
    assert again["settings"]["conv_channels"] == [4]


@pytest.mark.slow
def test_synthetic_dvs_is_learned_at_90_percent_sparsity(tmp_path: Path) -> None:
    """The documented synthetic-dvs command, 6 epochs instead of 30 (README: 0.98).

    Here it reached 0.911 in about 100 s; the bar leaves room for other platforms.
    """
    out = tmp_path / "run"
    argv = ["--dataset", "synthetic-dvs", "--data-dir", str(tmp_path / "data"),
            "--output", str(out), "--epochs", "6", "--threads", "1", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sparsity"] == pytest.approx(0.9, abs=1e-3)
    # chance is 0.1; a model whose spikes die under pruning stays near it
    assert summary["accuracy"] >= 0.8


@pytest.mark.parametrize("option", ["--data-dir", "--cache-dir"])
def test_a_file_where_a_folder_belongs_is_one_line(
    tmp_path: Path, option: str, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "file"
    path.write_text("not a folder")
    argv = ["--dataset", "synthetic-dvs", "--data-dir", str(tmp_path), option, str(path)]
    assert main([*argv, "--output", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        f"python -m tasks.vision: error: {option} {path} is a file, not a folder"
    ]
