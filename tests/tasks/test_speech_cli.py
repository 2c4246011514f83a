"""The speech runner end to end: run folder, summary, resume, errors, espeak-ng set."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import TensorDataset

from nspdi_rl.network import SpikingNetConfig
from nspdi_rl.pruning import PruningSchedule
from runtime.cli import SUMMARY_KEYS as COMMON_SUMMARY_KEYS
from runtime.stopping import interrupt_on_sigterm
from tasks import training
from tasks.data import TaskData
from tasks.speech import make_espeak_kws
from tasks.speech.cli import main
from tasks.training import Interrupted, TrainConfig, train_task
from tests.tasks.conftest import write_speechcommands

ROOT = Path(__file__).resolve().parents[2]
SUMMARY_KEYS = {
    *COMMON_SUMMARY_KEYS,
    "accuracy",
    "bits_per_ksynop",
}
HAVE_ESPEAK = shutil.which("espeak-ng") is not None and shutil.which("sox") is not None


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tasks.speech", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_recordings_run_end_to_end(
    tmp_path: Path, clips: Path, capsys: pytest.CaptureFixture
) -> None:
    data = write_speechcommands(tmp_path / "sc", clips)
    out = tmp_path / "run"
    argv = ["--dataset", "speechcommands", "--data-dir", str(data), "--output", str(out)]
    assert main([*argv, "--epochs", "2", "--hidden", "32", "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert summary["test_samples"] == 3 and len(summary["classes"]) == 12
    assert summary["sparsity"] == pytest.approx(0.9, abs=1e-3)
    assert set(summary["connectivity_per_layer"]) == {"layers.0", "readout"}
    assert summary["synops_per_inference"] > 0 and summary["energy_per_inference_pj"] > 0
    for name in ("learning_curves.png", "accuracy_vs_sparsity.png", "model.pt", "run.json"):
        assert (out / name).is_file()
    assert "test accuracy" in capsys.readouterr().out
    # the same folder again without --resume would overwrite a run: refused
    assert main([*argv, "--epochs", "2", "--hidden", "32", "--no-progress"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    # --resume with other options: refused, naming the option
    assert main([*argv, "--epochs", "3", "--hidden", "32", "--resume"]) == 2
    assert "--epochs 2 -> 3" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "timit"], "unknown --dataset 'timit'"),
        (["--dataset", "speechcommands", "--classes", "20"], "unknown class setup 20"),
        (["--dataset", "speechcommands", "--features", "wavelet"], "unknown features"),
        (["--dataset", "speechcommands", "--target-sparsity", "1.5"], "--target-sparsity must"),
        (["--dataset", "speechcommands", "--pruning", "lottery"], "unknown --pruning 'lottery'"),
        (["--dataset", "speechcommands", "--method", "nsp"], "--method is now --pruning"),
        (["--dataset", "speechcommands", "--output", "{file}"], "is a file, not a run folder"),
        (["--dataset", "speechcommands", "--data-dir", "{file}"], "file is a file, not a folder"),
        (["--dataset", "speechcommands", "--cache-dir", "{file}/c"], "file is a file, not a"),
        (["--dataset", "speechcommands", "--device", "tpu"], "unknown device 'tpu'"),
        (["--dataset", "speechcommands", "--eval-batch-size", "0"], "eval_batch_size must be"),
        (["--dataset", "shd"], "SHD files missing"),
        (["--dataset", "speechcommands", "--resume"], "--resume needs --output"),
    ],
)
def test_bad_command_lines_give_one_line(
    tmp_path: Path,
    synthetic_clips: Path,
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture,
) -> None:
    data = write_speechcommands(tmp_path / "sc", synthetic_clips)
    (tmp_path / "file").write_text("not a folder")
    args = [a.replace("{file}", str(tmp_path / "file")) for a in args]
    assert main(["--data-dir", str(data), "--no-progress", *args]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], captured.err


def test_missing_folder_names_the_expected_layout(tmp_path: Path) -> None:
    """Through the real entry point: one line, the layout and how to get it, no traceback."""
    result = run_cli("--dataset", "speechcommands", "--data-dir", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "validation_list.txt" in result.stderr and "make_espeak_kws" in result.stderr


class _StopAt(TensorDataset):
    """A dataset that raises KeyboardInterrupt on its n-th item (a Ctrl-C mid-epoch)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, stop_at: int | None) -> None:
        super().__init__(x, y)
        self.calls, self.stop_at = 0, stop_at

    def __getitem__(self, index: int):  # noqa: ANN204
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return super().__getitem__(index)


def _toy_task(stop_at: int | None) -> TaskData:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(96, 6, 5, generator=g)
    y = (x[:, :, 0].mean(1) > 0.5).long()
    return TaskData(
        name="toy",
        train=_StopAt(x[:64], y[:64], stop_at),
        val=TensorDataset(x[64:80], y[64:80]),
        test=TensorDataset(x[80:], y[80:]),
        input_shape=(5,),
        classes=["low", "high"],
    )


def _train_toy(
    folder: Path, train: TrainConfig, stop_at: int | None = None, resume: bool = False
) -> dict[str, Any]:
    """Train a small spiking net on the toy task in ``folder`` (made if missing)."""
    folder.mkdir(exist_ok=True)
    config = SpikingNetConfig((5,), 2, hidden=(16,), encoder="events")
    return train_task(
        _toy_task(stop_at), config, train, folder, torch.device("cpu"), resume=resume,
        progress=False,
    )  # fmt: skip


def test_interrupted_run_resumes_to_the_same_model(tmp_path: Path) -> None:
    train = TrainConfig(epochs=3, batch_size=8, pruning=PruningSchedule(final=0.8))
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    reference = _train_toy(whole, train)
    with pytest.raises(Interrupted, match="epoch 2, batch 2"):
        _train_toy(cut, train, stop_at=64 + 20)
    resumed = _train_toy(cut, train, resume=True)
    assert resumed["accuracy"] == reference["accuracy"]
    assert resumed["sparsity"] == reference["sparsity"]
    a = torch.load(whole / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(cut / "model.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    history = json.loads((cut / "history.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]


def test_generator_names_missing_tools(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
) -> None:  # noqa: ANN001
    monkeypatch.setattr(make_espeak_kws.shutil, "which", lambda tool: None)
    assert make_espeak_kws.main([str(tmp_path / "kws")]) == 2
    err = capsys.readouterr().err
    assert "espeak-ng and sox not found" in err and "apt-get install espeak-ng sox" in err


def test_generator_refuses_a_file_as_its_folder(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    target = tmp_path / "kws"
    target.write_text("a file")
    assert make_espeak_kws.main([str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"{target} is a file, not a dataset folder")
    assert target.read_text() == "a file"


@pytest.mark.skipif(not HAVE_ESPEAK, reason="needs espeak-ng and sox (.ci/run installs them)")
def test_generator_writes_the_speech_commands_layout(tmp_path: Path) -> None:
    root = tmp_path / "kws"
    assert make_espeak_kws.main([str(root), "--speakers", "10", "--utterances", "1",
                                 "--unknown-words", "2", "--no-progress"]) == 0  # fmt: skip
    clips = sorted(root.glob("*/*_nohash_*.wav"))
    assert len(clips) == 10 * 12
    for clip in clips[::17]:
        audio, rate = sf.read(clip)
        assert rate == 16_000 and len(audio) == 16_000 and np.abs(audio).max() > 0.05
    noise = sorted(p.name for p in (root / "_background_noise_").glob("*.wav"))
    assert noise == ["brown_noise.wav", "pink_noise.wav", "white_noise.wav"]
    speakers = {}
    for split in ("validation", "testing"):
        lines = (root / f"{split}_list.txt").read_text().split()
        assert lines and all((root / line).is_file() for line in lines)
        speakers[split] = {Path(line).name.split("_nohash_")[0] for line in lines}
    train = (
        {p.name.split("_nohash_")[0] for p in clips} - speakers["validation"] - speakers["testing"]
    )
    assert speakers["validation"].isdisjoint(speakers["testing"])
    assert train and len(speakers["testing"]) == 1 and len(speakers["validation"]) == 1
    # an interrupted generation continues: existing clips are kept as they are
    before = clips[0].stat().st_mtime_ns
    assert make_espeak_kws.main([str(root), "--speakers", "10", "--utterances", "1",
                                 "--unknown-words", "2", "--no-progress"]) == 0  # fmt: skip
    assert clips[0].stat().st_mtime_ns == before


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_ESPEAK, reason="needs espeak-ng and sox (.ci/run installs them)")
def test_espeak_keywords_are_learned_at_90_percent_sparsity(tmp_path: Path) -> None:
    """A short version of the acceptance run: 60 speakers, speaker-disjoint test split.

    Chance is 1/12; a network that does not learn, or that pruning breaks, stays
    near it.
    """
    root = tmp_path / "kws"
    make_espeak_kws.make_dataset(root, speakers=60, utterances=2, unknown_words=5, progress=False)
    out = tmp_path / "run"
    argv = ["--dataset", "speechcommands", "--data-dir", str(root), "--output", str(out)]
    assert main([*argv, "--epochs", "15", "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sparsity"] >= 0.9
    print(f"espeak-ng keyword test accuracy {summary['accuracy']:.4f}")
    assert summary["accuracy"] >= 0.6, summary["accuracy"]


def test_sigterm_saves_the_checkpoint_like_ctrl_c(tmp_path: Path, synthetic_clips: Path) -> None:
    """kill (or a batch scheduler) stops the runner as Ctrl-C does: state saved, exit 130."""
    data = write_speechcommands(tmp_path / "sc", synthetic_clips)
    out = tmp_path / "run"
    argv = ["--dataset", "speechcommands", "--data-dir", str(data), "--output", str(out)]
    runner = subprocess.Popen(
        [sys.executable, "-m", "tasks.speech", *argv, "--epochs", "100000", "--no-progress"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").is_file() and time.time() < deadline:
        assert runner.poll() is None, runner.communicate()[1]
        time.sleep(0.1)
    runner.send_signal(signal.SIGTERM)
    _, err = runner.communicate(timeout=120)
    assert runner.returncode == 130, err
    # mid-epoch ("at epoch N, batch B") or while the epoch's checkpoint was written
    # ("after epoch N"): both save the state, depending on when the signal lands
    assert re.search(r"interrupted (at|after) epoch \d+", err), err
    assert "state saved in" in err and "continue with --resume" in err
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["epoch"] >= 1


def test_a_stop_during_the_epoch_checkpoint_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM while the end-of-epoch checkpoint is written: the file is completed,
    then the run stops, and --resume ends where an uninterrupted run ends."""
    train = TrainConfig(epochs=2, batch_size=8, pruning=PruningSchedule(final=0.8))
    reference = _train_toy(tmp_path / "whole", train)
    real_save = training.atomic_torch_save

    def save_while_signalled(obj, path):  # noqa: ANN001, ANN202
        os.kill(os.getpid(), signal.SIGTERM)
        return real_save(obj, path)

    monkeypatch.setattr(training, "atomic_torch_save", save_while_signalled)
    cut = tmp_path / "cut"
    with interrupt_on_sigterm(), pytest.raises(Interrupted, match="after epoch 1"):
        _train_toy(cut, train)
    monkeypatch.setattr(training, "atomic_torch_save", real_save)
    assert torch.load(cut / "checkpoint.pt", weights_only=True)["epoch"] == 1
    resumed = _train_toy(cut, train, resume=True)
    assert resumed["accuracy"] == reference["accuracy"]
    assert resumed["sparsity"] == reference["sparsity"]
