"""The maze table: its trials, the Markdown table from finished trials, the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from agents import config
from experiments.cli import main
from experiments.execute import STALE_DIR, reconcile, trial_dir
from experiments.grid import GridError, resolve
from experiments.mazes import (
    AGENTS,
    MAZES,
    ladder_trials,
    maze_protocols,
    maze_table,
    maze_trials,
)
from nspdi_rl.checkpoint import write_json


def test_every_maze_gets_the_three_agents_with_the_runners_own_checks() -> None:
    trials = maze_trials()
    # the MLP fed the population code where the spiking agent population-codes (not on
    # the grid mazes it reads as grids: direct currents)
    fed = [dict(t.args)["env"] for t in trials if dict(t.args).get("policy") == "mlp-population"]
    rungs = [(m, p) for m in MAZES for p in maze_protocols(m)]
    assert fed == [m for m, _ in rungs if m == "nspdi/GridMaze-v0" or "GridMaze" not in m]
    assert len(trials) == len(rungs) * (len(AGENTS) - 1) + len(fed)
    assert len({t.name for t in trials}) == len(trials)
    first = trials[:3]
    assert [dict(t.args)["env"] for t in first] == [MAZES[0]] * 3
    assert [(t.pruning, t.target_sparsity) for t in first] == [
        ("nsp", 0.9),
        ("dense", 0.0),
        ("dense", 0.0),
    ]
    assert dict(first[2].args)["policy"] == "mlp"
    argv = first[0].argv()
    assert argv[argv.index("--env") + 1] == MAZES[0]


def test_point_mazes_get_their_rows_under_both_protocols_without_the_planner() -> None:
    assert maze_protocols("nspdi/GridMaze-v0") == (None,)
    trials = maze_trials(["PointMaze_Medium-v3"])
    protocols = [dict(t.args)["protocol"] for t in trials]
    assert protocols == ["d4rl"] * len(AGENTS) + ["gymnasium-robotics"] * len(AGENTS)
    for trial in trials:  # whatever the env's defaults: the agent alone is scored
        assert "waypoints" not in trial.resolved["env_kwargs"]
    d4rl, own = trials[0], trials[len(AGENTS)]
    assert d4rl.resolved["env_kwargs"]["maze_map"][6][6] == "g"
    assert "maze_map" not in own.resolved["env_kwargs"]
    # the ids' own protocol is what a run without --protocol runs where the env's
    # defaults put no planner in front: the same settings, the same trial
    plain = resolve(replace(own, args=(("env", "PointMaze_UMaze-v3"),)))
    umaze = maze_trials(["PointMaze_UMaze-v3"])[len(AGENTS)]
    assert dict(umaze.args)["protocol"] == "gymnasium-robotics" and umaze.key == plain.key


def test_unknown_maze_is_refused_naming_it() -> None:
    with pytest.raises(GridError, match="unknown maze 'nspdi/NoSuchMaze-v0'"):
        maze_trials(["nspdi/GridMaze-v0", "nspdi/NoSuchMaze-v0"])


def test_a_changed_per_env_default_runs_the_trial_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    env = "nspdi/GridMaze-15x15-v0"
    run_dir = tmp_path / "runs"
    common = ["--mazes", env, "--run-dir", str(run_dir), "--output", str(tmp_path / "t.md")]
    old = maze_trials([env])[0]
    _finish(run_dir, old, score=0.9, sparsity=0.9, settings=old.resolved)
    write_json(old.to_dict(), trial_dir(run_dir, old) / "trial.json")
    assert main(["mazes", *common, "--dry-run"]) == 0
    assert "3 trials in the maze table: 1 finished, 2 to run" in capsys.readouterr().out
    # a new per-env default: the trial resolves to other settings, so another key
    defaults = dict(config.ENV_DEFAULTS)
    shorter = replace(defaults[env], algos={"ppo": {"n_timesteps": 1_000}})
    monkeypatch.setattr(config, "ENV_DEFAULTS", ((env, shorter), *config.ENV_DEFAULTS))
    new = maze_trials([env])[0]
    assert new.stem == old.stem and new.key != old.key
    assert new.resolved["total_timesteps"] == 1_000
    assert main(["mazes", *common, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "0 finished, 3 to run" in out
    assert f"would: {trial_dir(run_dir, old)}: ran with other settings (total_timesteps: " in out
    # the old folder is set aside, not reported beside the new one
    lines = reconcile([new], run_dir)
    assert len(lines) == 1 and "moved to" in lines[0]
    assert not trial_dir(run_dir, old).exists()
    assert (run_dir / STALE_DIR / old.name / "summary.json").is_file()
    # a folder that ran with today's settings under an earlier name is renamed
    legacy = run_dir / "maze-an-earlier-name"
    _finish(run_dir, new, score=0.8, sparsity=0.9, settings=new.resolved)
    trial_dir(run_dir, new).rename(legacy)
    write_json({**new.to_dict(), "settings": None, "name": legacy.name}, legacy / "trial.json")
    assert reconcile([new], run_dir) == [
        f"{legacy}: ran with today's settings; renamed to {new.name}"
    ]
    assert json.loads((trial_dir(run_dir, new) / "trial.json").read_text())["settings"]


def _finish(run_dir: Path, trial, **summary) -> None:
    folder = trial_dir(run_dir, trial)
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary))


def test_table_rows_come_from_the_finished_trials(tmp_path: Path) -> None:
    nsp, dense, mlp, mlp_fed = maze_trials(["PointMaze_UMaze-v3"])[: len(AGENTS)]
    _finish(tmp_path, nsp, total_timesteps=50_000, score=0.93, normalized_score=104.25,
            protocol="d4rl", sparsity=0.9012, synops_per_inference=12_345.6,
            energy_per_inference_pj=56_789.0, wall_time_s=1234.4)  # fmt: skip
    # a score without D4RL's protocol (the random goals of the ids' own) is not shown
    _finish(tmp_path, mlp, total_timesteps=50_000, score=0.8, sparsity=0.0, normalized_score=90.0,
            protocol="gymnasium-robotics",
            synops_per_inference=4_608, energy_per_inference_pj=21_197,
            wall_time_s=300.0)  # fmt: skip
    lines = maze_table(tmp_path, ["PointMaze_UMaze-v3"]).splitlines()
    maze = "| PointMaze_UMaze-v3, d4rl protocol |"  # the rows of the D4RL protocol come first
    assert lines[0].startswith("| maze | agent | steps | success | D4RL score |")
    assert lines[2] == (
        maze + " spiking, NSP 0.9 | 50,000 | 0.93 | 104.2 | 0.901 | 12,346 | 56.8 | 1,234 |"
    )
    assert lines[3] == maze + " spiking, dense | not run | | | | | | |"
    assert "| MLP (SB3) | 50,000 | 0.80 | n/a | 0.000 | 4,608 | 21.2 | 300 |" in lines[4]
    assert lines[5] == (maze + " MLP (SB3), population-coded input | not run | | | | | | |")
    assert dict(mlp_fed.args)["policy"] == "mlp-population"
    # a row steered by the waypoint planner says so, and has no D4RL score
    _finish(tmp_path, dense, total_timesteps=50_000, score=0.98, normalized_score=163.8,
            sparsity=0.0, env_kwargs={"waypoints": True})  # fmt: skip
    row = maze_table(tmp_path, ["PointMaze_UMaze-v3"]).splitlines()[3]
    assert row.startswith(
        maze + " spiking, dense, steered by the waypoint planner | 50,000 | 0.98 | n/a (planner) |"
    )


def test_several_seeds_give_each_rows_mean_and_every_seeds_value(tmp_path: Path) -> None:
    maze = ["PointMaze_UMaze-v3"]
    trials = ladder_trials(maze, [0, 1, 2])
    # a row's seeds one after the other, the rows in the table's order
    assert [t.seed for t in trials[:4]] == [0, 1, 2, 0]
    assert trials[0].stem.replace("seed0", "") == trials[1].stem.replace("seed1", "")
    row = dict(protocol="d4rl", total_timesteps=50_000, sparsity=0.9, wall_time_s=100.0)
    _finish(tmp_path, trials[0], score=0.5, normalized_score=80.0, **row)
    _finish(tmp_path, trials[2], score=1.0, normalized_score=160.0, **row)
    lines = maze_table(tmp_path, maze, [0, 1, 2]).splitlines()
    assert "| success (mean; seeds 0 / 1 / 2) | D4RL score (mean; seeds 0 / 1 / 2) |" in lines[0]
    assert lines[2].endswith(
        "| spiking, NSP 0.9 | 50,000 | 0.75 (0.50 / not run / 1.00) "
        "| 120.0 (80.0 / not run / 160.0) | 0.900 | n/a | n/a | 100 |"
    )
    assert lines[3].endswith("| spiking, dense | not run | | | | | | |")
    # one seed: the table as before, whichever seed
    assert "| 50,000 | 1.00 | 160.0 |" in maze_table(tmp_path, maze, 2).splitlines()[2]
    for bad, message in (([], "no seed given"), ([1, 1], "seed 1 given twice"),
                         ([-1], "seeds must be integers >= 0, got -1")):  # fmt: skip
        with pytest.raises(GridError, match=message):
            ladder_trials(maze, bad)
        with pytest.raises(GridError, match=message):
            maze_table(tmp_path, maze, bad)


def test_cli_lists_the_trials_and_writes_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run_dir, output = tmp_path / "runs", tmp_path / "docs" / "mazes.md"
    common = ["--mazes", "nspdi/GridMaze-v0", "--run-dir", str(run_dir), "--output", str(output)]
    assert main(["mazes", *common, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "4 trials in the maze table: 0 finished, 4 to run" in out
    assert not output.exists()
    assert main(["mazes", *common, "--seeds", "0", "1", "--dry-run"]) == 0
    assert "8 trials in the maze table: 0 finished, 8 to run" in capsys.readouterr().out
    assert main(["mazes", *common, "--seed", "3", "3", "--dry-run"]) == 2
    assert "seed 3 given twice" in capsys.readouterr().err
    nsp = maze_trials(["nspdi/GridMaze-v0"])[0]
    _finish(run_dir, nsp, total_timesteps=60_416, score=1.0, sparsity=0.9, wall_time_s=40.0)
    assert main(["mazes", *common, "--table-only"]) == 0
    table = output.read_text()
    assert "| nspdi/GridMaze-v0 | spiking, NSP 0.9 | 60,416 | 1.00 | n/a | 0.900 |" in table
    assert table.count("not run") == 3
    assert main(["mazes", "--mazes", "nspdi/NoSuchMaze-v0", "--run-dir", str(run_dir)]) == 2
    assert "unknown maze 'nspdi/NoSuchMaze-v0'" in capsys.readouterr().err
