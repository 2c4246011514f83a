"""The training CLI: bad input, a short real run, interruption and resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agents.config import SPIKING_SAC_NET_ARCH
from agents.train_maze import main
from nspdi_rl.layers import DEFAULT_READING, ORIGINAL_READING

ROOT = Path(__file__).resolve().parents[2]
# the default run: PPO on nspdi/PointMaze-Large-v0, 500k steps, about 6 min
DEFAULT_RUN = ["--eval-freq", "250000", "--checkpoint-freq", "100000", "--no-progress"]
# the study's grid maze (60k steps, about 1 min): seeds 0, 1 and 2 all reached success 1.0
GRID = ["--env", "nspdi/GridMaze-v0"]
GRID_RUN = [*GRID, "--eval-freq", "30000", "--checkpoint-freq", "15000", "--no-progress"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--algo", "trpo"], "unknown --algo 'trpo'"),
        (["--env", "NoSuchEnv-v1"], "unknown env id 'NoSuchEnv-v1': not registered"),
        (["--total-timesteps", "-5"], "--total-timesteps must be > 0, got -5"),
        (["--target-sparsity", "1.0"], r"--target-sparsity must be in [0, 1), got 1.0"),
        (["--pruning", "lottery"], "unknown --pruning 'lottery'"),
        (["--a-dist", "gamma"], "unknown --a-dist 'gamma'"),
        (["--schedule", "zigzag"], "unknown --schedule 'zigzag'"),
        (["--freeze-mask", "never"], "unknown --freeze-mask 'never'"),
        ([*GRID, "--algo", "sac"], "--algo sac needs a continuous action space"),
        ([*GRID, "--algo", "tqc"], "--algo tqc needs a continuous action space"),
        (["--config", "/nonexistent.yaml"], "config file /nonexistent.yaml does not exist"),
        (["--config", "/"], "config file / is a folder, not a file"),
        (["--resume"], "nothing to resume in"),
        (["--resume", "/some-run"], "--resume takes no folder"),
        (["--pruning", "none"], "--pruning none is now --pruning dense"),
        (["--method", "nsp"], "--method is now --pruning"),
        (["--threads", "0"], "--threads must be > 0, got 0"),
        (["--eval-freq", "0"], "--eval-freq must be > 0, got 0"),
        (["--alpha", "-1"], "--alpha must be > 0, got -1.0"),
    ],
)
def test_bad_cli_input_exits_2_with_one_line(argv, message, capsys, tmp_path):
    assert main([*argv, "--output", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_dist_reaches_the_policy_synapses():
    from agents.train_maze import parse_args, settings_from_args

    spiking = settings_from_args(parse_args(["--a-dist", "constant"])).spiking
    assert spiking.network.nsp.a_dist == "constant"
    assert spiking.to_dict()["nsp"] == {  # as runs record it
        "method": "nsp",
        "a_dist": "constant",
        **DEFAULT_READING.to_dict(),
        "d1": 0.0,
    }
    reading = settings_from_args(parse_args(["--reading", "d1", "--no-learnable-a"]))
    assert reading.spiking.network.nsp.reading == "d1"
    assert reading.spiking.network.nsp.learnable_a is False
    # a baseline takes its own definition, not NSP's reading
    stds = settings_from_args(parse_args(["--pruning", "stds"])).spiking
    assert stds.network.nsp.method == "stds"
    assert stds.to_dict()["nsp"] == {
        "method": "stds",
        "a_dist": "lognormal",
        **ORIGINAL_READING.to_dict(),
        "d1": 0.0,
    }
    # --d1 reaches the policy too (a fixed shift of NSP's d2 reading)
    shifted = settings_from_args(parse_args(["--d1", "0.01"])).spiking.network.nsp
    assert shifted.d1 == 0.01 and shifted.reading == "d2"
    assert settings_from_args(parse_args([])).spiking.network.nsp.a_dist == "lognormal"


def test_resuming_a_run_killed_after_its_last_checkpoint_finishes_it(tmp_path):
    run = tmp_path / "run"
    argv = [*GRID, "--total-timesteps", "64", "--hidden", "8", "--time-steps", "2", "--no-progress"]
    assert main([*argv, "--output", str(run)]) == 0
    first = json.loads((run / "summary.json").read_text())
    (run / "summary.json").unlink()  # as if killed before the summary was written
    assert main(["--output", str(run), "--resume", "--no-progress"]) == 0
    again = json.loads((run / "summary.json").read_text())
    assert again["total_timesteps"] == first["total_timesteps"]
    assert again["sparsity"] == first["sparsity"]


def test_tqc_runs_resumes_and_takes_hers_defaults_on_the_robotics_mazes(tmp_path):
    from agents.evaluation import load_run
    from agents.train_maze import resolve

    robotics = resolve(["--env", "PointMaze_Medium-v3", "--algo", "tqc"])
    sac = resolve(["--env", "PointMaze_Medium-v3", "--algo", "sac"])
    assert robotics.hyperparams == sac.hyperparams  # HER, as SAC's
    assert robotics.freeze_mask == "reached"
    # TQC's own MLP quantile critics (no critic option), SAC's 32-wide actor latent
    assert robotics.policy_kwargs == {"net_arch": SPIKING_SAC_NET_ARCH}
    run, config = tmp_path / "run", tmp_path / "tqc.yaml"
    config.write_text("default:\n  learning_starts: 16\n  batch_size: 16\n")
    argv = ["--env", "nspdi/PointMaze-v0", "--algo", "tqc", "--total-timesteps", "96",
            "--checkpoint-freq", "64", "--eval-episodes", "2", "--hidden", "8",
            "--time-steps", "2", "--config", str(config), "--no-progress"]  # fmt: skip
    assert main([*argv, "--output", str(run)]) == 0
    first = json.loads((run / "summary.json").read_text())
    assert first["algo"] == "tqc" and first["settings"]["freeze_mask"] == "reached"
    # random starts: validation episodes of their own beside the test ones
    split = first["split_success"]
    assert (split["test"], split["val_episodes"], split["test_episodes"]) == (
        first["success_rate"], 2, 2,
    )  # fmt: skip
    assert 0.0 <= split["val"] <= 1.0
    assert (run / "checkpoints" / "step_000000064" / "replay_buffer.pkl").is_file()
    (run / "summary.json").unlink()  # as if killed before the summary was written
    assert main(["--output", str(run), "--resume", "--no-progress"]) == 0
    again = json.loads((run / "summary.json").read_text())
    assert again["sparsity"] == first["sparsity"]
    model, _, _ = load_run(run)
    assert type(model).__name__ == "TQC" and model.policy.actor_network().config.hidden == (8,)


def test_corrupt_checkpoint_is_reported(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                *GRID,
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
    assert main(["--output", str(run), "--resume", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot load checkpoint" in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_default_run_learns_and_prunes(tmp_path):
    """The default run; a random policy reaches the goal in 17 of 100 episodes."""
    run = tmp_path / "run"
    assert main(["--output", str(run), *DEFAULT_RUN]) == 0
    summary = json.loads((run / "summary.json").read_text())
    print(
        f"\ndefault PPO run: success {summary['success_rate']:.2f} at sparsity "
        f"{summary['sparsity']:.4f} in {summary['wall_time_s']} s"
    )
    assert summary["sparsity"] >= 0.90
    assert summary["success_rate"] >= 0.9  # a uniformly random policy: 0.17 (docstring)
    assert (run / "learning_curves.png").stat().st_size > 0
    assert len((run / "evaluations.jsonl").read_text().splitlines()) >= 2


@pytest.mark.slow
def test_the_15x15_maze_is_learned_from_its_onehot_defaults(tmp_path):
    """nspdi/GridMaze-15x15-v0 with its defaults (one input per square, shaping, 300k
    PPO steps): every one of its 96 starts is evaluated; coordinates reached 0.73."""
    run = tmp_path / "run"
    argv = ["--env", "nspdi/GridMaze-15x15-v0", "--eval-freq", "100000", "--no-progress"]
    assert main(["--output", str(run), *argv]) == 0
    summary = json.loads((run / "summary.json").read_text())
    print(f"\n15x15 onehot: success {summary['success_rate']:.3f} in {summary['wall_time_s']} s")
    assert summary["settings"]["env_kwargs"]["obs_mode"] == "onehot"
    assert summary["sparsity"] >= 0.90
    assert summary["success_rate"] >= 0.9  # an untrained policy: 0.0 to 0.1


@pytest.mark.slow
def test_sigkill_then_resume_is_as_good_as_an_uninterrupted_run(tmp_path):
    """The grid maze's run, killed after its first checkpoint and resumed, must clear
    the bar of an uninterrupted run."""
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "agents.train_maze",
        "--output",
        str(run),
        *GRID_RUN,
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
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert latest.exists(), "no checkpoint was written before the kill"
    assert not (run / "summary.json").exists()
    ckpt = run / "checkpoints" / json.loads(latest.read_text())["checkpoint"]
    state = json.loads((ckpt / "state.json").read_text())
    assert 0 < state["num_timesteps"] < 60000
    assert 0 < state["pruning"]["progress"] < 1
    assert main(["--output", str(run), "--resume", "--no-progress"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    print(
        f"\nresumed run: success {summary['success_rate']:.2f} at sparsity "
        f"{summary['sparsity']:.4f} (killed at {state['num_timesteps']} steps)"
    )
    assert summary["total_timesteps"] >= 60000
    assert summary["sparsity"] >= 0.90
    assert summary["success_rate"] >= 0.9


@pytest.mark.parametrize(
    "yaml_text, message",
    [
        ("default:\n  learning_rate: -0.001\n", "learning_rate must be > 0, got -0.001"),
        ("default:\n  gamma: 1.5\n", "gamma must be in [0, 1], got 1.5"),
        ("default:\n  batch_size: 'big'\n", "batch_size must be an integer, got 'big'"),
        ("default:\n  n_steps: 12.5\n", "n_steps must be an integer, got 12.5"),
        ("default:\n  n_timesteps: -100\n", "n_timesteps must be a positive integer, got -100"),
        ("default:\n  n_envs: true\n", "n_envs must be a positive integer, got True"),
        ("default:\n  buffer_size: 100\n", "ppo takes no 'buffer_size'"),
        ("default:\n  policy_kwargs: 'dict(spiking=dict(hiden=[8]))'\n", "unknown spiking option"),
        ("default:\n  batch_size: 1\n", "ppo refuses these settings"),
        ("- 1\n- 2\n", "must map env ids to hyperparameters"),
        ("default:\n  policy_kwargs: {critic: ann}\n", "unknown policy_kwargs critic 'ann'"),
    ],
)
def test_bad_config_values_exit_2_with_one_line_and_write_nothing(
    yaml_text, message, capsys, tmp_path
):
    config = tmp_path / "hp.yaml"
    config.write_text(yaml_text)
    run = tmp_path / "run"
    assert main(["--config", str(config), "--output", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (run / "run.json").exists()


def test_output_that_is_a_file_is_refused(capsys, tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    assert main(["--output", str(target)]) == 2
    assert "is a file, not a run folder" in capsys.readouterr().err
    assert target.read_text() == "not a folder"


def test_a_run_folder_of_the_old_format_still_resumes(tmp_path):
    """run.json of format 1 held the resolved settings alone, 'none' for no pruning."""
    run = tmp_path / "run"
    argv = [*GRID, "--total-timesteps", "64", "--hidden", "8", "--time-steps", "2", "--no-progress"]
    assert main([*argv, "--pruning", "dense", "--output", str(run)]) == 0
    settings = json.loads((run / "run.json").read_text())["settings"]
    settings["pruning"] = "none"
    (run / "run.json").write_text(json.dumps(settings))
    (run / "summary.json").unlink()
    assert main(["--output", str(run), "--resume", "--no-progress"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["pruning"] == "dense" and summary["sparsity"] == 0.0


@pytest.mark.parametrize("policy", ["spiking", "mlp"])
def test_training_envs_carry_the_agents_discount_into_the_shaping(policy: str) -> None:
    # potential-based shaping leaves the optimal policy alone only at the agent's own
    # discount: the envs the runner builds (and bench/ builds through it) take it
    from agents.train_maze import resolve, training_env

    argv = ["--env", "nspdi/PointMaze-Large-v0", "--algo", "ppo", "--policy", policy]
    settings = resolve(argv)
    gamma = settings.hyperparams["gamma"]
    assert gamma != 0.99  # the env's own default: the trap this test guards against
    venv = training_env(settings)
    try:
        assert venv.get_attr("gamma") == [gamma] * settings.n_envs
        assert venv.get_attr("shaping")[0] == settings.env_kwargs["shaping"] > 0
    finally:
        venv.close()


def test_the_benchmarks_build_what_the_runner_builds() -> None:
    from agents.train_maze import resolve
    from bench.ppo_steps import setup

    for candidate, policy in (
        ("MlpPolicy+population", "mlp-population"),
        ("SpikingMlpPolicy", "spiking"),
    ):
        settings, venv = setup(candidate, "nspdi/PointMaze-Large-v0", 3, 1000)
        argv = ["--env", "nspdi/PointMaze-Large-v0", "--algo", "ppo", "--policy", policy]
        assert settings == resolve([*argv, "--seed", "3", "--total-timesteps", "1000"])
        assert venv.get_attr("gamma")[0] == settings.hyperparams["gamma"]
        venv.close()


def test_a_sigterm_while_a_checkpoint_is_written_stops_the_run_once_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the race the experiment driver's SIGTERM hit: raised inside torch.save, the
    # interrupt left the zip writer half-closed and the run crashed with a RuntimeError
    from agents import train_maze
    from runtime.stopping import interrupt_on_sigterm

    written = []

    class Saved:
        folder = tmp_path / "step_1"

    def save(run_dir, model, state):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the checkpoint is written
        time.sleep(0.05)
        written.append(state)
        return Saved()

    class Model:
        num_timesteps = 1

    monkeypatch.setattr(train_maze.Checkpoint, "save", save)
    callback = train_maze.RunCallback(tmp_path, settings=None, pruning=None)
    callback.model = Model()
    with interrupt_on_sigterm(), pytest.raises(KeyboardInterrupt):
        callback.checkpoint()
    assert written == [None]  # the checkpoint was finished before the run stopped
