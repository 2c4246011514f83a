"""The training CLI: bad input, a short real run, interruption and resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agents.train_maze import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--algo", "trpo"], "unknown --algo 'trpo'"),
        (["--env", "CartPole-v1"], "unknown --env 'CartPole-v1'"),
        (["--total-timesteps", "-5"], "--total-timesteps must be > 0, got -5"),
        (["--target-sparsity", "1.0"], r"--target-sparsity must be in [0, 1), got 1.0"),
        (["--pruning", "lottery"], "unknown --pruning 'lottery'"),
        (["--schedule", "zigzag"], "unknown --schedule 'zigzag'"),
        (["--algo", "sac"], "--algo sac needs a continuous action space"),
        (["--config", "/nonexistent.yaml"], "config file /nonexistent.yaml does not exist"),
        (["--resume", "/nonexistent-run"], "no run.json there"),
    ],
)
def test_bad_cli_input_exits_2_with_one_line(argv, message, capsys, tmp_path):
    assert main([*argv, "--output", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_corrupt_checkpoint_is_reported(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "--total-timesteps",
                "64",
                "--output",
                str(run),
                "--no-progress",
                "--hidden",
                "16",
                "--time-steps",
                "2",
            ]
        )
        == 0
    )
    ckpt = (
        run
        / "checkpoints"
        / json.loads((run / "checkpoints" / "latest.json").read_text())["checkpoint"]
    )
    (ckpt / "model.zip").write_bytes(b"garbage")
    capsys.readouterr()
    assert main(["--resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot load checkpoint" in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_short_default_run_learns_and_prunes(tmp_path):
    """A shortened default run; an untrained or broken policy succeeds from almost no start."""
    run = tmp_path / "run"
    assert (
        main(
            [
                "--output",
                str(run),
                "--total-timesteps",
                "20000",
                "--no-progress",
                "--eval-freq",
                "10000",
            ]
        )
        == 0
    )
    summary = json.loads((run / "summary.json").read_text())
    print(
        f"\nshort PPO run: success {summary['success_rate']:.2f} at sparsity "
        f"{summary['sparsity']:.4f} in {summary['train_wall_time_s']} s"
    )
    assert summary["sparsity"] >= 0.90
    # an untrained policy scores 0.0 here; this short run reaches 0.53 on a 2-core machine
    assert summary["success_rate"] >= 0.4
    assert (run / "learning_curves.png").stat().st_size > 0
    assert len((run / "evaluations.jsonl").read_text().splitlines()) >= 2


@pytest.mark.slow
def test_sigkill_then_resume_finishes_the_run(tmp_path):
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "agents.train_maze",
        "--output",
        str(run),
        "--no-progress",
        "--total-timesteps",
        "6000",
        "--checkpoint-freq",
        "1024",
        "--eval-freq",
        "100000",
        "--hidden",
        "32",
        "--time-steps",
        "4",
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latest = run / "checkpoints" / "latest.json"
    deadline = time.time() + 300
    while not latest.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert latest.exists(), "no checkpoint was written before the kill"
    assert not (run / "summary.json").exists()
    state = json.loads(
        (
            run / "checkpoints" / json.loads(latest.read_text())["checkpoint"] / "state.json"
        ).read_text()
    )
    assert 0 < state["num_timesteps"] < 6000
    assert 0 < state["pruning"]["progress"] < 1
    assert main(["--resume", str(run), "--no-progress"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["total_timesteps"] >= 6000
    assert summary["sparsity"] >= 0.90
