"""Tests of the ``python -m agents.evaluate_maze`` command, through ``main(argv)``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import gymnasium as gym
import pytest
from PIL import Image
from stable_baselines3 import PPO

import envs
from agents.evaluate_maze import COMPARE_COLUMNS, main

gym.register_envs(envs)

GRID = "nspdi/GridMaze-v0"


@pytest.fixture(scope="module")
def template_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained PPO MlpPolicy saved as a run directory (copied by each test)."""
    run = tmp_path_factory.mktemp("template") / "run"
    run.mkdir()
    PPO("MlpPolicy", gym.make(GRID), seed=0).save(run / "model.zip")
    (run / "run.json").write_text(
        json.dumps({"algo": "ppo", "env_id": GRID, "env_kwargs": {}, "seed": 0})
    )
    return run


@pytest.fixture
def run(tmp_path: Path, template_run: Path) -> Path:
    return Path(shutil.copytree(template_run, tmp_path / "ppo_mlp"))


def test_prints_and_writes_summary(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(run)]) == 0
    out, err = capsys.readouterr()
    printed = json.loads(out)
    assert printed == json.loads((run / "summary.json").read_text())
    assert printed["run"] == str(run)
    assert printed["algo"] == "ppo"
    assert printed["model_path"] == str(run / "model.zip")
    assert printed["n_episodes"] == 30
    assert printed["sparsity"] == 0.0  # SB3's MLP: dense
    assert f"wrote {run / 'summary.json'}" in err
    assert not (run / "episode.gif").exists()


def test_model_zip_path_episodes_seed_and_stochastic(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(run / "model.zip"), "--episodes", "4", "--seed", "7", "--stochastic"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["n_episodes"] == 4
    assert printed["start_mode"] == "random_starts"
    assert printed["seed"] == 7
    assert printed["deterministic"] is False


def test_render_gif_beside_the_model(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(run), "--render", "gif"]) == 0
    out, err = capsys.readouterr()
    gif = run / "episode.gif"
    assert json.loads(out)["gif_path"] == str(gif)
    assert f"wrote {gif}" in err
    with Image.open(gif) as image:
        assert image.format == "GIF"
        # 9 x 9 squares of 16 px. (The untrained deterministic policy only bumps
        # into one wall, so Pillow merges its identical frames: n_frames says
        # little here; test_evaluation checks the frames of a moving agent.)
        assert image.size == (144, 144)


def test_compare_prints_one_table_and_reuses_fresh_summaries(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = Path(shutil.copytree(run, tmp_path / "other_run"))
    assert main([str(run), str(other), "--compare"]) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert lines[0] == "| " + " | ".join(COMPARE_COLUMNS) + " |"
    assert len(lines) == 4  # header, rule, one row per run
    assert lines[2].startswith(f"| {run} | ppo | mlp | n/a | 30 | 0.")  # not trained here
    assert lines[3].startswith(f"| {other} | ppo | mlp | ")
    # SB3's MlpPolicy (64-64) on the 77 local inputs: dense, 4.6 pJ per MAC
    macs = 77 * 64 + 64 * 64 + 64 * 4
    assert lines[2].endswith(f"| 0.000 | {macs} | {round(4.6 * macs)} | n/a |")
    assert "reusing" not in err

    # Both summaries are now newer than their models: the second call reuses them.
    assert main([str(run), str(other), "--compare"]) == 0
    again, err = capsys.readouterr()
    assert again == out
    assert err.count("reusing") == 2

    # A model saved after its summary (retrained) is evaluated again.
    later = (run / "summary.json").stat().st_mtime + 10
    os.utime(run / "model.zip", (later, later))
    assert main([str(run), str(other), "--compare"]) == 0
    err = capsys.readouterr().err
    assert err.count("reusing") == 1
    assert f"{run}: wrote" in err


def test_compare_does_not_reuse_a_summary_with_other_settings(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(run)]) == 0
    capsys.readouterr()
    assert main([str(run), "--compare", "--episodes", "3"]) == 0
    assert "reusing" not in capsys.readouterr().err
    assert json.loads((run / "summary.json").read_text())["n_episodes"] == 3


def _break(run: Path, how: str) -> list[str]:
    if how == "missing":
        return [str(run.parent / "nowhere")]
    if how == "not_a_zip":
        (run / "notes.txt").write_text("a run's notes, not its model")
        return [str(run / "notes.txt")]
    if how == "garbage_zip":
        (run / "model.zip").write_bytes(b"\x00garbage, not a zip\xff" * 16)
    elif how == "unknown_algo":
        (run / "run.json").write_text(json.dumps({"algo": "xyz", "env_id": GRID}))
    elif how == "unknown_env":
        (run / "run.json").write_text(json.dumps({"algo": "ppo", "env_id": "nspdi/Nope-v0"}))
    elif how == "episodes_0":
        return [str(run), "--episodes", "0"]
    elif how == "episodes_text":
        return [str(run), "--episodes", "many"]
    elif how == "render_mp4":
        return [str(run), "--render", "mp4"]
    return [str(run)]


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("missing", "no such run directory or model file"),
        ("not_a_zip", "notes.txt: neither a run directory nor a model .zip"),
        ("garbage_zip", "cannot be loaded as a PPO model"),
        ("unknown_algo", "unknown algo 'xyz'; accepted are ['a2c', 'dqn', 'ppo', 'sac', 'tqc']"),
        ("unknown_env", "unknown env id 'nspdi/Nope-v0'"),
        ("episodes_0", "argument --episodes: '0' is not accepted; accepted are ints >= 1"),
        ("episodes_text", "argument --episodes: 'many' is not accepted"),
        ("render_mp4", "invalid choice: 'mp4'"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    run: Path, capsys: pytest.CaptureFixture[str], how: str, expected: str
) -> None:
    assert main(_break(run, how)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err
    assert err.startswith("agents.evaluate_maze: error: ")
    assert "Traceback" not in err
    assert not (run / "summary.json").exists()


def test_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for option in ("--episodes", "--seed", "--stochastic", "--render", "--compare"):
        assert option in out
    assert "(default: 1000000)" in out  # --seed
    assert "(default: None)" in out  # --episodes and --render


def test_damaged_observation_statistics_are_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from agents.train_maze import main as train

    run = tmp_path / "run"
    argv = ["--env", "nspdi/PointMaze-v0", "--normalize", "--total-timesteps", "128",
            "--n-envs", "1", "--eval-freq", "128", "--checkpoint-freq", "128", "--hidden", "8",
            "--time-steps", "2", "--eval-episodes", "2", "--output", str(run),
            "--no-progress"]  # fmt: skip
    assert train(argv) == 0
    capsys.readouterr()
    for statistics in (run / "vecnormalize.pkl", *run.glob("checkpoints/*/vecnormalize.pkl")):
        statistics.write_bytes(b"\xc0\x00 not a pickle")
    assert main([str(run), "--episodes", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"{run / 'vecnormalize.pkl'}: damaged, not the observation statistics" in err
    # resuming reads the checkpoint's copy: the same one line, naming that file
    assert train(["--output", str(run), "--resume", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "vecnormalize.pkl: damaged" in err
    assert "checkpoints" in err
