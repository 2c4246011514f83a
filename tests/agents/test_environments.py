"""Any registered Gymnasium id for the agents: env kwargs, gym packages, Dict and
unbounded observations (gymnasium-robotics' PointMaze), normalisation saved with the model."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces

from agents.environments import (
    NORMALIZED_OBS_BOUND,
    NORMALIZER_FILE,
    check_env_id,
    import_gym_packages,
    is_unbounded,
    parse_env_kwargs,
    step_success,
)
from agents.evaluate_maze import main as evaluate_main
from agents.evaluation import evaluate_maze, load_run
from agents.train_maze import main
from runtime.errors import UsageError

# found, not imported: importing it registers ids for every later test
if importlib.util.find_spec("gymnasium_robotics") is None:
    pytest.skip("the maze2d extra (gymnasium-robotics) is not installed", allow_module_level=True)
ROBOTICS = ["--gym-packages", "gymnasium_robotics"]


def test_env_kwargs_are_literals_or_text() -> None:
    kwargs = parse_env_kwargs(["shaping:1.0", "continuing_task:False", "obs_mode:coords",
                               "size:[3, 4]", "name:'x'"])  # fmt: skip
    assert kwargs == {"shaping": 1.0, "continuing_task": False, "obs_mode": "coords",
                      "size": [3, 4], "name": "x"}  # fmt: skip
    for bad in ("shaping=1.0", ":1", "1x:2"):
        with pytest.raises(ValueError, match=f"env kwarg '{bad}' is not KEY:VALUE"):
            parse_env_kwargs([bad])


def test_packages_and_ids_are_checked_with_a_hint() -> None:
    with pytest.raises(ValueError, match="cannot import gym package 'no_such_pkg'"):
        import_gym_packages(["no_such_pkg"])
    with pytest.raises(ValueError, match="need --gym-packages gymnasium_robotics"):
        check_env_id("PointMaze_Giant-v9")
    check_env_id("nspdi/GridMaze-v0")


def test_a_packages_notices_about_other_envs_are_dropped_the_rest_of_its_stderr_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import farama_notifications

    notices = {"0.1": "The hand envs' rewards changed.", "0.2": "PointMaze's reward changed."}
    monkeypatch.setitem(farama_notifications.notifications, "noisy_gym_pkg", notices)
    (tmp_path / "noisy_gym_pkg.py").write_text(
        "import sys\n"
        'print("The hand envs\' rewards changed.", file=sys.stderr)\n'
        'print("PointMaze\'s reward changed.", file=sys.stderr)\n'
        "print('registered 3 ids', file=sys.stderr)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "noisy_gym_pkg", raising=False)
    import_gym_packages(["noisy_gym_pkg"])
    assert capsys.readouterr().err == "PointMaze's reward changed.\nregistered 3 ids\n"


def test_unbounded_spaces_and_success_keys() -> None:
    box = spaces.Box(-1, 1, (2,))
    free = spaces.Box(-np.inf, np.inf, (2,))
    assert not is_unbounded(box) and is_unbounded(free)
    assert is_unbounded(spaces.Dict({"a": box, "b": free}))
    assert not is_unbounded(spaces.Dict({"a": box})) and not is_unbounded(spaces.Discrete(3))
    assert step_success({"is_success": True}) and step_success({"success": True})
    assert not step_success({"success": False}) and not step_success({})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--env", "PointMaze_Giant-v9"], "need --gym-packages gymnasium_robotics"),
        (["--gym-packages", "no_such_pkg"], "cannot import gym package 'no_such_pkg'"),
        (["--env-kwargs", "shaping=1"], "is not KEY:VALUE"),
        (["--env-kwargs", "no_such_option:1"], "refuses --env-kwargs"),
        (["--env", "nspdi/GridMaze-v0", "--obs-mode", "full", "--env-kwargs", "obs_mode:'local'"],
         "give the observation once"),
        (["--env", "nspdi/PointMaze-v0", "--obs-mode", "full"],
         "--obs-mode is an option of the grid mazes; nspdi/PointMaze-v0 has none"),
        ([*ROBOTICS, "--env", "PointMaze_UMaze-v3", "--no-normalize"],
         "unbounded observations and the 'population' encoder needs a range"),
        ([*ROBOTICS, "--env", "PointMaze_UMaze-v3", "--algo", "sac", "--config", "HER"],
         "HerReplayBuffer needs learning_starts > the episode length (300 steps"),
        ([*ROBOTICS, "--env", "PointMaze_UMaze-v3", "--env-kwargs", "shaping:1.0", "--config",
          "NOCOPY"], "with HER needs replay_buffer_kwargs copy_info_dict True"),
        (["--env", "CartPole-v1", "--env-kwargs", "shaping:1.0"],
         "shaping is for the nspdi/ mazes and gymnasium-robotics' mazes; CartPole-v1 is neither"),
    ],
)  # fmt: skip
def test_bad_env_options_are_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configs = {
        "HER": "default:\n  replay_buffer_class: HerReplayBuffer\n  learning_starts: 300\n",
        "NOCOPY": "default:\n  replay_buffer_kwargs: {copy_info_dict: false}\n",
    }
    for name, text in configs.items():
        if name in argv:
            (tmp_path / f"{name}.yaml").write_text(text)
            argv = [str(tmp_path / f"{name}.yaml") if a == name else a for a in argv]
    assert main([*argv, "--output", str(tmp_path / "run")]) == 2
    # the last line; gymnasium-robotics 1.4.2 prints a notice of its own on import
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("python -m agents.train_maze: error:")
    assert not any("Traceback" in line for line in err)
    assert not (tmp_path / "run").exists()


def test_point_maze_v3_trains_and_evaluates_with_its_saved_statistics(tmp_path: Path) -> None:
    run = tmp_path / "run"
    argv = [*ROBOTICS, "--env", "PointMaze_UMazeDense-v3", "--algo", "ppo",
            "--total-timesteps", "512", "--n-envs", "2", "--eval-episodes", "20",
            "--eval-freq", "100000", "--checkpoint-freq", "256",
            "--output", str(run), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((run / "summary.json").read_text())
    settings = summary["settings"]
    assert settings["normalize"] is True and settings["gym_packages"] == ["gymnasium_robotics"]
    spiking = settings["policy_kwargs"]["spiking"]
    assert (spiking["input_low"], spiking["input_high"]) == (
        -NORMALIZED_OBS_BOUND,
        NORMALIZED_OBS_BOUND,
    )
    assert (run / NORMALIZER_FILE).is_file()
    assert all((c / NORMALIZER_FILE).is_file() for c in (run / "checkpoints").glob("step_*"))
    assert summary["n_episodes"] == 20
    # the loaded model sees the observations as in training: the same 20 episodes
    # (dense reward, so any other action would change the return)
    model, info, _ = load_run(run)
    again = evaluate_maze(model, info["env_id"], info["env_kwargs"], info["eval_episodes"])
    assert again["mean_return"] == pytest.approx(summary["mean_return"], abs=1e-9)
    assert again["success_rate"] == summary["success_rate"]
    assert again["normalized_score"] is None  # D4RL scores the sparse mazes only
    shown = evaluate_maze(model, info["env_id"], info["env_kwargs"], 1, gif_path=tmp_path / "e.gif")
    assert (tmp_path / "e.gif").stat().st_size > 0
    assert shown["gif_drawn_by"].startswith(("the env's rgb_array", "top-down picture"))
    # without the statistics the same model acts differently
    model.env = None
    model._vec_normalize_env = None
    raw = evaluate_maze(model, info["env_id"], info["env_kwargs"])
    assert raw["mean_return"] != pytest.approx(summary["mean_return"], abs=1e-6)


def test_any_registered_id_is_accepted() -> None:
    from agents.train_maze import parse_args, settings_from_args

    # CartPole's velocities are unbounded: normalised, so the population encoder has a range
    settings = settings_from_args(parse_args(["--env", "CartPole-v1"]))
    assert settings.env_id == "CartPole-v1" and settings.normalize and settings.env_kwargs == {}
    grid = settings_from_args(
        parse_args(["--env", "nspdi/GridMaze-v0", "--env-kwargs", "shaping:1.0"])
    )
    # shaping at the agent's discount (PPO's 0.97), unless gamma is given
    assert grid.env_kwargs == {"shaping": 1.0, "obs_mode": "coords", "gamma": 0.97}
    assert not grid.normalize


def test_d4rl_normalised_score_only_under_d4rls_protocol() -> None:
    from agents.evaluation import d4rl_score
    from envs.robotics import d4rl_maze_map, protocol_of

    d4rl = {e: {"maze_map": d4rl_maze_map(e)} for e in ("PointMaze_UMaze-v3", "PointMaze_Large-v3")}
    assert d4rl_score("PointMaze_UMaze-v3", d4rl["PointMaze_UMaze-v3"], 161.86) == pytest.approx(
        100.0
    )
    assert d4rl_score("PointMaze_UMaze-v3", d4rl["PointMaze_UMaze-v3"], 23.85) == pytest.approx(0.0)
    assert d4rl_score("PointMaze_Large-v3", d4rl["PointMaze_Large-v3"], 140.345) == pytest.approx(
        50.0
    )
    # the ids' own protocol (a random goal every episode) is another task: no score
    assert protocol_of("PointMaze_UMaze-v3", {}) == "gymnasium-robotics"
    assert d4rl_score("PointMaze_UMaze-v3", {}, 161.86) is None
    # shaping is dropped for evaluation; changed task options are another task
    assert protocol_of("PointMaze_Large-v3", {**d4rl["PointMaze_Large-v3"], "shaping": 5}) == "d4rl"
    assert d4rl_score("PointMaze_UMaze-v3", {"continuing_task": False}, 100.0) is None
    assert protocol_of("PointMaze_UMaze-v3", {"continuing_task": False}) is None
    # a planner reading the map, or a map of one's own, is not D4RL's task
    assert d4rl_score("PointMaze_Medium-v3", {"waypoints": True}, 200.0) is None
    assert protocol_of("PointMaze_Medium-v3", {"waypoints": True}) is None
    assert d4rl_score("PointMaze_Medium-v3", {"maze_map": [[1, 1], [1, 0]]}, 200.0) is None
    assert d4rl_score("PointMaze_UMazeDense-v3", {}, 100.0) is None
    assert d4rl_score("nspdi/PointMaze-v0", {}, 100.0) is None
    assert protocol_of("nspdi/PointMaze-v0", {}) is None


def test_d4rls_maps_are_gymnasium_robotics_walls_with_d4rls_goal() -> None:
    from gymnasium_robotics.envs.maze import maps

    from envs.robotics import d4rl_maze_map

    for env_id, own, goal in (
        ("PointMaze_UMaze-v3", maps.U_MAZE, (1, 1)),
        ("PointMaze_Medium-v3", maps.MEDIUM_MAZE, (6, 6)),
        ("PointMaze_Large-v3", maps.LARGE_MAZE, (7, 9)),
    ):
        grid = d4rl_maze_map(env_id)
        assert grid[goal[0]][goal[1]] == "g" and sum(row.count("g") for row in grid) == 1
        assert [[0 if c == "g" else c for c in row] for row in grid] == own
    with pytest.raises(ValueError, match="D4RL has no maze2d task on PointMaze_Open-v3"):
        d4rl_maze_map("PointMaze_Open-v3")


def test_a_robotics_maze_is_drawn_top_down_from_positions() -> None:
    import gymnasium as gym

    from envs.rendering import AGENT_RGB, GOAL_RGB, PATH_RGB, WALL_RGB
    from envs.robotics import is_robotics_maze, record_top_down

    import_gym_packages(["gymnasium_robotics"])
    env = gym.make("PointMaze_UMaze-v3")
    assert is_robotics_maze(env) and not is_robotics_maze(gym.make("nspdi/PointMaze-v0"))
    env.action_space.seed(3)  # the random walk's path: one that leaves the agent's disc
    frames = record_top_down(env, lambda obs, e: e.action_space.sample(), seed=3, max_steps=40)
    assert len(frames) == 41  # the reset and 40 steps (the task goes on after the goal)
    maze = env.unwrapped.maze
    assert frames[0].shape == (len(maze.maze_map) * 32, len(maze.maze_map[0]) * 32, 3)
    last = frames[-1].reshape(-1, 3)
    for colour in (AGENT_RGB, GOAL_RGB, PATH_RGB, WALL_RGB):
        assert (last == colour).all(axis=1).any(), colour
    # the border of the map is wall
    assert (frames[0][:32] == WALL_RGB).all()
    # steered by waypoints, the picture still shows the env's goal
    from agents.environments import make_env

    steered = make_env("PointMaze_Medium-v3", {"waypoints": True})
    first = record_top_down(steered, lambda obs, e: np.zeros(2), seed=3, max_steps=1)[0]
    gx, gy = steered.get_wrapper_attr("frame").squares(steered.unwrapped.goal)
    assert (first[int(gy * 32), int(gx * 32)] == GOAL_RGB).all()


@pytest.mark.slow
def test_the_robotics_umaze_is_learned_by_the_pruned_spiking_actor(tmp_path: Path) -> None:
    """D4RL's Maze2D U-maze as gymnasium-robotics keeps it, with its defaults (spiking
    actor pruned to 90 %, SAC with HER), cut to 8k steps (about 4 minutes). A random
    policy succeeds in 25 of 100 episodes, the spiking critics' agent in 14 to 32 after
    30k steps; a broken encoder, actor or normalisation stays there. Measured: 0.88 in
    319 s beside two other runs. Its protocol is the id's own (a random goal every
    episode), so it has no D4RL score."""
    run = tmp_path / "run"
    argv = ["--env", "PointMaze_UMaze-v3", "--total-timesteps", "8000", "--eval-freq",
            "100000", "--checkpoint-freq", "100000", "--eval-episodes", "50",
            "--output", str(run), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((run / "summary.json").read_text())
    print(
        f"\nPointMaze_UMaze-v3, 8k steps: success {summary['success_rate']:.2f}, "
        f"sparsity {summary['sparsity']:.3f}"
    )
    assert summary["algo"] == "sac" and summary["settings"]["policy_kwargs"]["critic"] == "mlp"
    assert summary["sparsity"] >= 0.9 and summary["n_episodes"] == 50
    assert summary["success_rate"] >= 0.6  # 0.88 here (319 s, beside two other runs)
    assert summary["protocol"] == "gymnasium-robotics" and summary["normalized_score"] is None


def test_geodesic_shaping_of_a_robotics_maze_is_potential_based() -> None:
    """The added terms telescope (gamma 1): their sum is the drop of the scaled way to
    the goal around the walls, whatever the agent does; the evaluation leaves them out."""
    import gymnasium as gym

    from agents.environments import make_env
    from envs.robotics import GeodesicShaping

    import_gym_packages(["gymnasium_robotics"])
    env = make_env("PointMaze_Medium-v3", {"shaping": 2.0, "gamma": 1.0})
    plain = gym.make("PointMaze_Medium-v3")
    assert isinstance(env, GeodesicShaping)
    obs, _ = env.reset(seed=3)
    plain.reset(seed=3)
    start = env.get_wrapper_attr("_before")
    added = 0.0
    rng = np.random.default_rng(0)
    for _ in range(60):
        action = rng.uniform(-1, 1, size=2).astype(np.float32)
        obs, reward, *_ = env.step(action)
        _, raw, *_ = plain.step(action)
        added += reward - raw
    geodesic = env.get_wrapper_attr("_geodesic")
    scale = 2.0 / geodesic.max
    assert added == pytest.approx(scale * (start - env.get_wrapper_attr("_before")), abs=1e-9)
    # the way goes around the walls: from the goal's square centre it is the BFS count
    r, c = geodesic.goal_cell
    assert geodesic.max >= 4 and geodesic(c + 0.5, r + 0.5) < 1
    with pytest.raises(ValueError, match="shaping 0 is not accepted"):
        GeodesicShaping(plain, 0, 0.99)
    with pytest.raises(ValueError, match="needs a gymnasium-robotics maze"):
        GeodesicShaping(gym.make("nspdi/PointMaze-v0"), 1.0, 0.99)


@pytest.mark.parametrize("continuing", [True, False])
def test_shaping_gives_her_the_same_reward_for_any_goal(continuing: bool) -> None:
    """compute_reward, which HER calls with relabelled goals, adds the term ``step``
    adds: for the episode's own goal it repeats the step rewards, one by one and in a
    batch; for another goal it is the term measured to that goal."""
    from agents.environments import make_env
    from envs.maze import GeodesicDistance, square_of
    from envs.robotics import ACHIEVED_BEFORE

    import_gym_packages(["gymnasium_robotics"])
    env = make_env("PointMaze_UMaze-v3", {"shaping": 3.0, "gamma": 0.9,
                                          "continuing_task": continuing})  # fmt: skip
    obs, _ = env.reset(seed=1)
    rng = np.random.default_rng(1)
    achieved, desired, infos, rewards = [], [], [], []
    for _ in range(300):  # towards the goal, so that the episodic task may end
        push = obs["desired_goal"] - obs["achieved_goal"]
        action = np.clip(push + rng.normal(0, 0.5, 2), -1, 1).astype(np.float32)
        obs, reward, terminated, truncated, info = env.step(action)
        achieved.append(obs["achieved_goal"])
        desired.append(obs["desired_goal"])
        infos.append(info)
        rewards.append(reward)
        if terminated or truncated:
            break
    assert terminated is not continuing  # the goal reached: the end of the episodic task
    compute = env.get_wrapper_attr("compute_reward")
    batch = compute(np.array(achieved), np.array(desired), infos)
    np.testing.assert_allclose(batch, rewards, atol=1e-9)
    assert compute(achieved[5], desired[5], infos[5]) == pytest.approx(rewards[5], abs=1e-9)
    # a relabelled goal: the sparse reward there plus the term to it
    goal = achieved[len(achieved) // 2]
    squares = env.get_wrapper_attr("frame").squares
    walls = env.get_wrapper_attr("frame").walls
    g = tuple(squares(goal).tolist())
    way = GeodesicDistance(walls, square_of(walls.shape, *g), g)
    step = 3
    before, after = (
        way(*squares(xy).tolist()) for xy in (infos[step][ACHIEVED_BEFORE], achieved[step])
    )
    sparse = float(np.linalg.norm(achieved[step] - goal) <= 0.45)
    expected = sparse + 3.0 / way.max * (before - 0.9 * after)
    assert compute(achieved[step], goal, infos[step]) == pytest.approx(expected, abs=1e-9)
    with pytest.raises(ValueError, match="achieved_goal_before"):
        compute(achieved[step], goal, {})


def test_her_trains_on_shaped_relabelled_rewards(tmp_path: Path) -> None:
    """SAC with HER and shaping: SB3 finds the wrapper's compute_reward through the
    vectorised, normalised env, so the replayed rewards carry the term."""
    from envs.robotics import ACHIEVED_BEFORE

    config = tmp_path / "her.yaml"
    config.write_text("default:\n  learning_starts: 301\n  buffer_size: 1000\n")
    run = tmp_path / "run"
    argv = [*ROBOTICS, "--env", "PointMaze_UMaze-v3", "--policy", "mlp", "--hidden", "8",
            "--config", str(config), "--env-kwargs", "shaping:5", "--total-timesteps", "400",
            "--eval-episodes", "2", "--eval-freq", "100000", "--checkpoint-freq", "100000",
            "--output", str(run), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    kwargs = json.loads((run / "run.json").read_text())["settings"]["hyperparams"]
    assert kwargs["replay_buffer_kwargs"]["copy_info_dict"] is True  # set for the shaping
    # HER's own call (HerReplayBuffer._get_virtual_samples) reaches the wrapper
    model, _, _ = load_run(run, device="cpu")
    env = model.get_env()
    assert env is not None
    infos = np.array([{ACHIEVED_BEFORE: np.full(2, 0.5)}])
    reward = env.env_method("compute_reward", np.zeros((1, 2)), np.ones((1, 2)), infos,
                            indices=[0])[0]  # fmt: skip
    assert reward.shape == (1,) and reward[0] not in (0.0, 1.0)  # sparse 0 plus the term


@pytest.mark.parametrize(
    "normalize, policy",
    [("--normalize", "mlp"), ("--no-normalize", "mlp"), ("--normalize", "mlp-population")],
)
def test_a_saved_her_run_evaluates(normalize: str, policy: str, tmp_path: Path) -> None:
    """SB3 rebuilds a HER model only around an env: loading one from its folder must
    give it one (with or without saved statistics) instead of failing in SB3; the MLP
    fed the population code reads the Dict observation as the spiking agent does."""
    config = tmp_path / "her.yaml"
    config.write_text("default:\n  learning_starts: 301\n  buffer_size: 1000\n")
    run = tmp_path / "run"
    argv = [*ROBOTICS, "--env", "PointMaze_UMaze-v3", "--policy", policy, "--hidden", "8",
            normalize, "--config", str(config), "--total-timesteps", "400",
            "--eval-episodes", "2", "--eval-freq", "100000", "--checkpoint-freq", "100000",
            "--output", str(run), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    settings = json.loads((run / "run.json").read_text())["settings"]
    assert settings["hyperparams"]["replay_buffer_class"] == "HerReplayBuffer"
    model, _, _ = load_run(run, device="cpu")
    assert model.replay_buffer is not None
    assert evaluate_main([str(run), "--episodes", "2"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["n_episodes"] == 2 and summary["total_timesteps"] == 400


def _follow(obs: dict[str, np.ndarray]) -> np.ndarray:
    """A PD controller towards the goal the observation names."""
    push = 3 * (obs["desired_goal"] - obs["achieved_goal"]) - 0.5 * obs["observation"][..., 2:]
    return np.clip(push, -1, 1).astype(np.float32)


@pytest.mark.parametrize("env_id", ["PointMaze_Medium-v3", "PointMaze_Large-v3"])
def test_waypoints_lead_around_the_walls_to_the_real_goal(env_id: str) -> None:
    """The goal the agent sees is a square ahead on the shortest way (never through a
    wall) or the real goal near it; a controller that only reaches nearby points
    solves the medium and the large maze with them. Rewards are for the waypoint; the env's own
    reward and success stay in info."""
    from agents.environments import make_env
    from envs.robotics import ENV_REWARD, WaypointGoal

    import_gym_packages(["gymnasium_robotics"])
    env = make_env(env_id, {"waypoints": True})
    assert isinstance(env, WaypointGoal)
    squares = env.get_wrapper_attr("frame").squares
    walls = env.get_wrapper_attr("frame").walls
    for episode in range(10):
        obs, _ = env.reset(seed=episode)
        real = env.unwrapped.goal.copy()
        for _ in range(env.spec.max_episode_steps):
            here, ahead = squares(obs["achieved_goal"]), squares(obs["desired_goal"])
            if not np.allclose(obs["desired_goal"], real):
                # a neighbouring square's centre, one BFS step closer to the goal
                cell = np.floor(ahead).astype(int)
                assert np.allclose(ahead, cell + 0.5) and not walls[cell[1], cell[0]]
                assert np.abs(np.floor(here) - cell).sum() == 1
            action = _follow(obs)
            obs, reward, _, _, info = env.step(action)
            near = np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"]) <= 0.45
            assert reward == float(near)
            assert info[ENV_REWARD] == float(np.linalg.norm(obs["achieved_goal"] - real) <= 0.45)
            if info["success"]:
                break
        assert info["success"], f"episode {episode} did not reach the goal"
    with pytest.raises(ValueError, match="waypoints is for gymnasium-robotics' mazes"):
        make_env("CartPole-v1", {"waypoints": True})
    with pytest.raises(ValueError, match="waypoints 'yes' is not accepted"):
        make_env("PointMaze_Medium-v3", {"waypoints": "yes"})


@pytest.mark.parametrize("protocol", ["gymnasium-robotics", "d4rl"])
def test_the_way_curriculum_starts_near_the_goal_then_hands_over(protocol: str) -> None:
    """Starts lie at most ``reach`` squares around the walls from the goal, the reach
    growing from 1 to the longest way over the curriculum's steps; the goals are the
    env's (D4RL's fixed one under its map); after the curriculum, the env's own draw."""
    from agents.environments import make_env
    from envs.maze import bfs_distances
    from envs.robotics import MazeFrame, WayCurriculum, d4rl_maze_map

    import_gym_packages(["gymnasium_robotics"])
    kwargs = {"maze_map": d4rl_maze_map("PointMaze_Medium-v3")} if protocol == "d4rl" else {}
    env = make_env("PointMaze_Medium-v3", {**kwargs, "curriculum": 400})
    curriculum = env
    while not isinstance(curriculum, WayCurriculum):
        curriculum = curriculum.env
    frame = MazeFrame.of(env)
    walls = frame.walls
    assert curriculum.longest == max(
        int(bfs_distances(walls, g)[s]) for g in set(curriculum.goals) for s in curriculum.starts
    )
    goals, ways = set(), []
    obs, _ = env.reset(seed=0)
    while curriculum.taken < 400:
        goal, start = curriculum.last
        way = int(bfs_distances(walls, goal)[start])
        assert 1 <= way <= curriculum.reach
        # the episode is where the curriculum put it (the env adds its noise in a square)
        assert tuple(np.floor(frame.squares(obs["desired_goal"])).astype(int)[::-1]) == goal
        assert tuple(np.floor(frame.squares(obs["achieved_goal"])).astype(int)[::-1]) == start
        goals.add(goal)
        ways.append(way)
        for _ in range(40):  # short episodes: many draws
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        obs, _ = env.reset()
    assert ways[0] == 1 and max(ways) > 1
    if protocol == "d4rl":
        assert goals == {(6, 6)}  # D4RL's goal square
    else:
        assert len(goals) >= 5  # the env's random goals
    env.reset()
    assert curriculum.last is None  # handed over to the env's own draw
    # a training help: the run keeps its protocol, and evaluation drops it
    from agents.train_maze import resolve
    from envs.robotics import protocol_of

    settings = resolve(["--env", "PointMaze_Medium-v3", "--protocol", protocol,
                        "--env-kwargs", "curriculum:400"])  # fmt: skip
    assert settings.wrappers.curriculum == 400
    assert protocol_of(settings.env_id, settings.env_options()) == protocol
    assert settings.wrappers.for_evaluation().curriculum is None


def test_the_evaluation_keeps_the_waypoints_and_scores_the_envs_reward() -> None:
    """The waypoints are the agent's (not stripped like shaping); returns and the D4RL
    score are the env's own reward."""

    import gymnasium as gym

    import_gym_packages(["gymnasium_robotics"])

    class Controller:
        observation_space = gym.make("PointMaze_Medium-v3").observation_space

        def predict(self, obs: dict[str, np.ndarray], deterministic: bool = True):
            return _follow(obs), None

    summary = evaluate_maze(Controller(), "PointMaze_Medium-v3", {"waypoints": True},
                            n_episodes=5)  # fmt: skip
    assert summary["success_rate"] == 1.0
    # continuing_task: the point stays on the goal after reaching it, 1 per step there
    assert summary["mean_return"] > 300
    # the planner reads the map: its work would count as the agent's in D4RL's score
    assert summary["normalized_score"] is None
    plain = evaluate_maze(Controller(), "PointMaze_Medium-v3", {}, n_episodes=5)
    assert plain["success_rate"] < 1.0  # straight at the goal: into the walls
    # success by the length of the way around the walls: the same episodes in both
    by_way, plain_by_way = summary["success_by_way"], plain["success_by_way"]
    assert [g["episodes"] for g in by_way] == [g["episodes"] for g in plain_by_way]
    assert sum(g["episodes"] for g in by_way) == 5
    assert all(g["success_rate"] == 1.0 for g in by_way)
    assert any(g["success_rate"] < 1.0 and g["way"] != "0-3" for g in plain_by_way)


def test_the_protocol_option_sets_the_task_and_drops_the_planner() -> None:
    from agents.train_maze import resolve
    from envs.robotics import d4rl_maze_map, protocol_of

    robotics = [*ROBOTICS, "--env", "PointMaze_Medium-v3"]
    planner = resolve([*robotics, "--env-kwargs", "waypoints:True"])
    assert planner.wrappers.waypoints and protocol_of(planner.env_id, planner.env_options()) is None
    d4rl = resolve([*robotics, "--protocol", "d4rl"])
    assert not d4rl.wrappers.waypoints and d4rl.env_kwargs["maze_map"] == d4rl_maze_map(
        "PointMaze_Medium-v3"
    )
    assert protocol_of(d4rl.env_id, d4rl.env_options()) == "d4rl"
    # the defaults' goal offset is for random goals: D4RL's fixed goal drops it, unless
    # it is asked for
    assert resolve(robotics).wrappers.goal_offset and not d4rl.wrappers.goal_offset
    asked = resolve([*robotics, "--protocol", "d4rl", "--env-kwargs", "goal_offset:True"])
    assert asked.wrappers.goal_offset and protocol_of(asked.env_id, asked.env_options()) == "d4rl"
    own = resolve([*robotics, "--protocol", "gymnasium-robotics"])
    assert "maze_map" not in own.env_kwargs and not own.wrappers.waypoints
    assert own.wrappers.goal_offset and own == resolve(robotics)
    assert protocol_of(own.env_id, own.env_options()) == "gymnasium-robotics"
    for argv, message in (
        (["--protocol", "d5rl"], "unknown --protocol 'd5rl'"),
        (["--protocol", "d4rl", "--env-kwargs", "waypoints:True"], "puts the waypoint planner"),
        (["--protocol", "d4rl", "--env-kwargs", "continuing_task:False"], "fixes the task"),
    ):
        with pytest.raises(UsageError, match=message):
            resolve([*robotics, *argv])
    with pytest.raises(UsageError, match="not nspdi/PointMaze-v0"):
        resolve(["--env", "nspdi/PointMaze-v0", "--protocol", "d4rl"])
    with pytest.raises(UsageError, match="D4RL has no maze2d task on PointMaze_Open-v3"):
        resolve([*ROBOTICS, "--env", "PointMaze_Open-v3", "--protocol", "d4rl"])


def test_an_evaluation_names_its_protocol_and_scores_d4rls_only() -> None:
    import gymnasium as gym

    from envs.robotics import d4rl_maze_map

    import_gym_packages(["gymnasium_robotics"])

    class StandStill:
        observation_space = gym.make("PointMaze_UMaze-v3").observation_space

        def predict(self, obs, deterministic=True):
            n = len(next(iter(obs.values())))
            return np.zeros((n, 2), dtype=np.float32), None

    own = evaluate_maze(StandStill(), "PointMaze_UMaze-v3", {}, n_episodes=2)
    assert own["protocol"] == "gymnasium-robotics" and own["normalized_score"] is None
    d4rl = {"maze_map": d4rl_maze_map("PointMaze_UMaze-v3")}
    fixed = evaluate_maze(StandStill(), "PointMaze_UMaze-v3", d4rl, n_episodes=2)
    assert fixed["protocol"] == "d4rl" and fixed["normalized_score"] is not None
