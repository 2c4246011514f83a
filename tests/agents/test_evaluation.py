"""Tests of agents.evaluation (evaluate_maze, load_run, write_summary) and agents.plots."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image
from stable_baselines3 import PPO

import envs
from agents.evaluation import (
    DEFAULT_RANDOM_EPISODES,
    MAX_MEASURED_OBSERVATIONS,
    MEASURE_KEYS,
    RunError,
    evaluate_maze,
    load_run,
    write_summary,
)
from agents.plots import load_evaluations, plot_learning_curves

gym.register_envs(envs)

GRID = "nspdi/GridMaze-v0"
N_FREE = len(gym.make(GRID).unwrapped.free_cells())  # 31 squares, one of them the goal


def _save_run(run_dir: Path, model: PPO, **run_info: object) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    model.save(run_dir / "model.zip")
    info = {"algo": "ppo", "env_id": GRID, "env_kwargs": {}, "seed": 0, **run_info}
    (run_dir / "run.json").write_text(json.dumps(info))
    return run_dir


@pytest.fixture(scope="module")
def untrained() -> PPO:
    return PPO("MlpPolicy", gym.make(GRID), seed=0)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, untrained: PPO) -> Path:
    return _save_run(tmp_path_factory.mktemp("runs") / "ppo_mlp", untrained)


class OracleAgent:
    """Follows the BFS shortest path; reads its square from ``coords`` observations."""

    def __init__(self) -> None:
        self.maze = gym.make(GRID, obs_mode="coords").unwrapped
        self.policy = object()  # no measure(): the cost metrics stay None
        self.batch_sizes: list[int] = []

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        h, w = self.maze.walls.shape
        self.batch_sizes.append(len(obs))
        rows = np.rint(obs[:, 0] * (h - 1)).astype(int)
        cols = np.rint(obs[:, 1] * (w - 1)).astype(int)
        actions = [
            self.maze.optimal_action((int(r), int(c))) for r, c in zip(rows, cols, strict=True)
        ]
        return np.array(actions), None


class StillAgent:
    """Pushes with zero force in a point maze (never reaches the goal)."""

    policy = None

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        return np.zeros((len(obs), 2), dtype=np.float32), None


# ---------------------------------------------------------------------- evaluate_maze
def test_every_free_start_once_with_mlp_policy(untrained: PPO) -> None:
    summary = evaluate_maze(untrained, GRID)
    assert summary["start_mode"] == "every_free_start"
    assert summary["n_episodes"] == N_FREE - 1 == 30
    # the same episodes played one by one here, from each free start in turn
    outcomes = [_play(untrained, start) for start in _free_starts()]
    assert summary["success_rate"] == pytest.approx(np.mean([won for won, _, _ in outcomes]))
    assert summary["mean_episode_length"] == pytest.approx(np.mean([n for _, n, _ in outcomes]))
    assert summary["mean_return"] == pytest.approx(np.mean([r for _, _, r in outcomes]))
    assert 0.0 <= summary["mean_path_optimality"] <= summary["success_rate"]
    # SB3's MLP (64-64) acting on the local view: dense multiply-accumulates, 4.6 pJ each
    inputs = untrained.observation_space.shape[0]
    macs = inputs * 64 + 64 * 64 + 64 * 4
    assert summary["sparsity"] == 0.0
    assert summary["synops_per_step"] == summary["macs_per_step"] == macs
    assert summary["energy_per_step_pj"] == pytest.approx(4.6 * macs)
    assert set(summary["connectivity_per_layer"].values()) == {1.0}
    json.dumps(summary)  # JSON-ready as returned


def _free_starts() -> list[tuple[int, int]]:
    maze = gym.make(GRID).unwrapped
    return [cell for cell in maze.free_cells() if cell != maze.goal_pos]


def _play(model: PPO, start: tuple[int, int]) -> tuple[bool, int, float]:
    """One deterministic episode from ``start``: (reached the goal, steps, return)."""
    env = gym.make(GRID)
    obs, _ = env.reset(options={"start": start})
    steps, total, done = 0, 0.0, False
    while not done:
        action, _ = model.predict(obs[None], deterministic=True)
        obs, reward, terminated, truncated, _ = env.step(int(action[0]))
        steps, total, done = steps + 1, total + float(reward), terminated or truncated
    return bool(terminated), steps, total


def test_oracle_reaches_goal_on_shortest_path_from_every_start() -> None:
    oracle = OracleAgent()
    summary = evaluate_maze(oracle, GRID, {"obs_mode": "coords"})
    maze = oracle.maze
    starts = [c for c in maze.free_cells() if c != maze.goal_pos]
    assert summary["success_rate"] == 1.0
    assert summary["mean_path_optimality"] == pytest.approx(1.0)
    assert summary["success_by_way"] is None  # the MuJoCo mazes' (grid mazes: optimality)
    lengths = [maze.shortest_path_length(s) for s in starts]
    assert summary["mean_episode_length"] == pytest.approx(np.mean(lengths))
    # Each episode: +1 at the goal, -0.01 for each of the other steps.
    assert summary["mean_return"] == pytest.approx(np.mean([1 - 0.01 * (n - 1) for n in lengths]))
    # Lockstep: the first predict sees every episode at once.
    assert oracle.batch_sizes[0] == len(starts)
    # no network to measure
    assert all(summary[key] is None for key in MEASURE_KEYS)


def test_random_starts_are_seeded(untrained: PPO) -> None:
    first = evaluate_maze(untrained, GRID, n_episodes=5, seed=3)
    again = evaluate_maze(untrained, GRID, n_episodes=5, seed=3)
    assert first["start_mode"] == "random_starts"
    assert first["n_episodes"] == 5
    assert first["requested_episodes"] == 5
    assert first == again


def test_validation_episodes_come_from_starts_no_test_episode_uses(untrained: PPO) -> None:
    from agents.evaluation import VALIDATION_SEED, validation_split

    test = evaluate_maze(untrained, GRID, n_episodes=6, seed=3)
    split = validation_split(untrained, test)
    val = evaluate_maze(untrained, GRID, n_episodes=6, seed=VALIDATION_SEED)
    assert split == {
        "val": val["success_rate"],
        "val_episodes": 6,
        "test": test["success_rate"],
        "test_episodes": 6,
    }
    # every free start: the starts' own halves, no episodes of its own
    assert validation_split(untrained, evaluate_maze(untrained, "nspdi/GridMaze-v0")) is None


def test_point_maze_defaults_to_random_starts_without_optimality() -> None:
    summary = evaluate_maze(StillAgent(), "nspdi/PointMaze-Open-v0")
    assert summary["start_mode"] == "random_starts"
    assert summary["n_episodes"] == DEFAULT_RANDOM_EPISODES
    assert summary["mean_path_optimality"] is None
    assert summary["mean_episode_length"] == 150  # Open: truncated at 150 steps
    assert summary["success_rate"] == 0.0


def test_measure_is_called_on_visited_observations_and_merged(
    untrained: PPO, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[np.ndarray] = []

    def fake_measure(observations: np.ndarray) -> dict:
        seen.append(observations)
        return {
            "sparsity": np.float32(0.9),
            "connectivity_per_layer": {"layers.0": 0.1, "readout": 1.0},
            "synops_per_step": 123.0,
            "energy_per_step_pj": 456.0,
        }

    monkeypatch.setattr(untrained.policy, "measure", fake_measure, raising=False)
    summary = evaluate_maze(untrained, GRID)
    assert summary["sparsity"] == pytest.approx(0.9)
    assert isinstance(summary["sparsity"], float)  # numpy scalar converted
    assert summary["connectivity_per_layer"] == {"layers.0": 0.1, "readout": 1.0}
    assert summary["synops_per_step"] == 123.0
    assert summary["energy_per_step_pj"] == 456.0
    (batch,) = seen
    obs_dim = untrained.observation_space.shape[0]
    # An untrained agent wanders: 30 episodes x up to 124 steps, capped.
    assert batch.shape == (MAX_MEASURED_OBSERVATIONS, obs_dim)
    assert summary["n_measured_observations"] == MAX_MEASURED_OBSERVATIONS


def test_gif_records_the_farthest_start(tmp_path: Path) -> None:
    oracle = OracleAgent()
    gif = tmp_path / "episode.gif"
    summary = evaluate_maze(oracle, GRID, {"obs_mode": "coords"}, gif_path=gif)
    assert summary["gif_path"] == str(gif)
    maze = oracle.maze
    farthest = max(maze.shortest_path_length(c) for c in maze.free_cells() if c != maze.goal_pos)
    with Image.open(gif) as image:
        assert image.format == "GIF"
        # One frame after the reset and one per step (the oracle never bumps a wall).
        assert image.n_frames == farthest + 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"env_id": "nspdi/NoSuchMaze-v0"}, "unknown env id 'nspdi/NoSuchMaze-v0'.*GridMaze-v0"),
        ({"n_episodes": 0}, "n_episodes 0 is not accepted; accepted are ints >= 1"),
        ({"n_episodes": -3}, "n_episodes -3"),
        ({"env_kwargs": {"obs_mode": "coords"}}, r"shape \(77,\).*gives \(4,\)"),
        ({"env_kwargs": {"colour": "red"}}, "unknown GridMazeEnv options"),
    ],
)
def test_bad_arguments_raise_value_error(untrained: PPO, kwargs: dict, match: str) -> None:
    arguments = {"env_id": GRID, **kwargs}
    with pytest.raises(ValueError, match=match):
        evaluate_maze(untrained, **arguments)


# ---------------------------------------------------------------------- load_run
def test_load_run_from_directory_and_from_zip(run_dir: Path) -> None:
    for path in (run_dir, run_dir / "model.zip", str(run_dir)):
        model, info, model_path = load_run(path)
        assert isinstance(model, PPO)
        assert info["algo"] == "ppo" and info["env_id"] == GRID and info["env_kwargs"] == {}
        assert model_path == run_dir / "model.zip"


def test_load_run_defaults_env_kwargs(tmp_path: Path, untrained: PPO) -> None:
    run = _save_run(tmp_path / "run", untrained)
    (run / "run.json").write_text(json.dumps({"algo": "ppo", "env_id": GRID}))
    assert load_run(run)[1]["env_kwargs"] == {}


@pytest.mark.parametrize(
    ("breakage", "match"),
    [
        ("missing_path", "no such run directory or model file"),
        ("no_model", "run directory has no model.zip"),
        ("garbage_zip", "cannot be loaded as a PPO model"),
        ("wrong_algo", "cannot be loaded as a DQN model"),
        ("unknown_algo", r"unknown algo 'xyz'; accepted are \['a2c', 'dqn', 'ppo', 'sac', 'tqc'\]"),
        ("no_run_json", "run.json: not found"),
        ("bad_json", "run.json: not valid JSON"),
        ("no_env_id", r"missing keys \['env_id'\]"),
    ],
)
def test_load_run_errors_name_the_path(
    tmp_path: Path, untrained: PPO, breakage: str, match: str
) -> None:
    run = _save_run(tmp_path / "run", untrained)
    if breakage == "missing_path":
        run = tmp_path / "nowhere"
    elif breakage == "no_model":
        (run / "model.zip").unlink()
    elif breakage == "garbage_zip":
        (run / "model.zip").write_bytes(b"this is not a zip file" * 8)
    elif breakage == "wrong_algo":
        (run / "run.json").write_text(json.dumps({"algo": "dqn", "env_id": GRID}))
    elif breakage == "unknown_algo":
        (run / "run.json").write_text(json.dumps({"algo": "xyz", "env_id": GRID}))
    elif breakage == "no_run_json":
        (run / "run.json").unlink()
    elif breakage == "bad_json":
        (run / "run.json").write_text("{not json")
    elif breakage == "no_env_id":
        (run / "run.json").write_text(json.dumps({"algo": "ppo"}))
    with pytest.raises(RunError, match=match) as err:
        load_run(run)
    message = str(err.value)
    assert str(run) in message
    assert "\n" not in message


# ---------------------------------------------------------------------- write_summary
def test_write_summary_is_atomic_json(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_text("old")
    summary = {"success_rate": np.float64(0.5), "n": np.int64(3), "per_layer": {"a": np.ones(2)}}
    assert write_summary(summary, path) == path
    assert json.loads(path.read_text()) == {
        "success_rate": 0.5,
        "n": 3,
        "per_layer": {"a": [1.0, 1.0]},
    }
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary file left


def test_write_summary_leaves_no_temporary_file_on_error(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    with pytest.raises(TypeError):
        write_summary({"bad": object()}, path)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- plots
EVALUATIONS = [
    {"timesteps": 1000, "success_rate": 0.1, "mean_return": -1.0, "sparsity": 0.2},
    {"timesteps": 3000, "success_rate": 0.8, "mean_return": 0.5, "sparsity": 0.9},
    {"timesteps": 2000, "success_rate": 0.4, "mean_return": -0.2, "sparsity": 0.6},
]


def test_plot_learning_curves_writes_png(tmp_path: Path) -> None:
    out = plot_learning_curves(EVALUATIONS, tmp_path / "curves.png", title="ppo")
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (1200, 320)  # three 4 x 3.2 inch panels at 100 dpi


def test_plot_learning_curves_skips_null_sparsity_and_reads_jsonl(tmp_path: Path) -> None:
    jsonl = tmp_path / "evaluations.jsonl"
    records = [{**r, "sparsity": None} for r in EVALUATIONS]
    jsonl.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    assert load_evaluations(jsonl) == records
    out = plot_learning_curves(jsonl, tmp_path / "curves.png")
    with Image.open(out) as image:
        assert image.size == (800, 320)  # two panels: no sparsity


@pytest.mark.parametrize(
    ("evaluations", "match"),
    [
        ([], "evaluations is empty"),
        ([{"success_rate": 0.5}], "record 0 .* has no 'timesteps'"),
        ([{"timesteps": 1, "sparsity": None}], "no evaluation record has a value"),
    ],
)
def test_plot_learning_curves_rejects_bad_records(
    tmp_path: Path, evaluations: list, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        plot_learning_curves(evaluations, tmp_path / "curves.png")


def test_load_evaluations_names_bad_line(tmp_path: Path) -> None:
    jsonl = tmp_path / "evaluations.jsonl"
    jsonl.write_text('{"timesteps": 1}\n{oops\n')
    with pytest.raises(ValueError, match=r"evaluations.jsonl:2: not valid JSON"):
        load_evaluations(jsonl)
