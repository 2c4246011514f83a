"""GridMazeEnv: conformance, observations, rewards, options and bad input."""

import importlib
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs.grid_maze import OBS_MODES, GridMazeEnv, maze_split_of

NSPDI_IDS = sorted(i for i in gym.registry if i.startswith("nspdi/"))
GRID_IDS = [i for i in NSPDI_IDS if "GridMaze" in i]
POINT_IDS = [i for i in NSPDI_IDS if "PointMaze" in i]
CASES = [(i, {"obs_mode": m}) for i in GRID_IDS for m in OBS_MODES] + [(i, {}) for i in POINT_IDS]


def test_expected_ids_are_registered():
    for env_id in [
        "nspdi/GridMaze-v0",
        "nspdi/GridMaze-9x9-v0",
        "nspdi/GridMaze-15x15-v0",
        "nspdi/GridMaze-25x25-v0",
        "nspdi/PointMaze-v0",
        "nspdi/PointMaze-UMaze-v0",
        "nspdi/PointMaze-Medium-v0",
        "nspdi/PointMaze-Large-v0",
    ]:
        assert env_id in gym.registry
        assert gym.registry[env_id].max_episode_steps > 0


def test_registration_is_idempotent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(envs)
        gym.register_envs(envs)
    assert sorted(i for i in gym.registry if i.startswith("nspdi/")) == NSPDI_IDS


@pytest.mark.parametrize(("env_id", "kwargs"), CASES, ids=[f"{i}-{k}" for i, k in CASES])
def test_env_checkers_pass_without_warnings(env_id, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(gym.make(env_id, **kwargs).unwrapped)
        sb3_check_env(gym.make(env_id, **kwargs))


@pytest.mark.parametrize("render_mode", ["rgb_array", "ansi"])
def test_gym_checker_passes_with_render_modes(render_mode):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(gym.make("nspdi/GridMaze-v0", render_mode=render_mode).unwrapped)
        gym_check_env(gym.make("nspdi/PointMaze-v0", render_mode=render_mode).unwrapped)


def test_default_task():
    env = gym.make("nspdi/GridMaze-v0")
    base = env.unwrapped
    assert env.spec.max_episode_steps == 4 * len(base.free_cells()) == 124
    assert base.walls.shape == (9, 9) and base.walls.dtype == bool
    assert base.layout_mode == "fixed" and base.obs_mode == "local"
    starts, walls = set(), base.walls.copy()
    for seed in range(40):
        _, info = env.reset(seed=seed)
        np.testing.assert_array_equal(base.walls, walls)
        assert base.goal_pos == (7, 7)
        assert isinstance(base.agent_pos[0], int) and isinstance(base.agent_pos[1], int)
        assert info["optimal_length"] == base.shortest_path_length(base.agent_pos) > 0
        starts.add(base.agent_pos)
    assert len(starts) > 10  # a random start square each episode


@pytest.mark.parametrize("obs_mode", OBS_MODES)
def test_observations_are_in_bounds_and_not_aliased(obs_mode):
    env = GridMazeEnv(obs_mode=obs_mode, size=15)
    obs, _ = env.reset(seed=3)
    first = obs.copy()
    rng = np.random.default_rng(0)
    for _ in range(300):
        new, _, terminated, _, _ = env.step(int(rng.integers(4)))
        assert new.dtype == np.float32 and env.observation_space.contains(new)
        if terminated:
            env.reset()
    np.testing.assert_array_equal(obs, first)


def test_local_observation_layout():
    env = GridMazeEnv(layout="grid9", view_size=3)
    obs, _ = env.reset(options={"start": (7, 5)})
    walls, goal, visited = obs[:9].reshape(3, 3), obs[9:18].reshape(3, 3), obs[18:27].reshape(3, 3)
    np.testing.assert_array_equal(walls, env.walls[6:9, 4:7])
    assert goal.sum() == 0 and visited[1, 1] == 1 and visited.sum() == 1
    np.testing.assert_allclose(obs[27:], [0.0, 2 / 8])
    obs, *_ = env.step(1)  # right, to (7, 6)? no: (7, 6) is a wall, so the agent stays
    assert env.agent_pos == (7, 5)
    obs, *_ = env.step(0)  # up to (6, 5)
    assert env.agent_pos == (6, 5)
    visited = obs[18:27].reshape(3, 3)
    assert visited[2, 1] == 1 and visited[1, 1] == 1


def test_coords_and_full_observations():
    env = GridMazeEnv(layout="grid9", obs_mode="coords")
    obs, _ = env.reset(options={"start": (1, 1)})
    np.testing.assert_allclose(obs, [1 / 8, 1 / 8, 7 / 8, 7 / 8])
    env = GridMazeEnv(layout="grid9", obs_mode="full")
    obs, _ = env.reset(options={"start": (1, 1)})
    full = obs.reshape(env.full_obs_shape)
    np.testing.assert_array_equal(full[0], env.walls)
    assert full[1, 1, 1] == 1 and full[1].sum() == 1 and full[2, 7, 7] == 1 and full[3].sum() == 1


def test_onehot_observation_marks_the_agent_and_the_goal_square():
    env = GridMazeEnv(layout="grid9", obs_mode="onehot")
    obs, _ = env.reset(options={"start": (1, 1)})
    agent, goal = obs.reshape(2, 9, 9)
    assert agent[1, 1] == 1 and agent.sum() == 1 and goal[7, 7] == 1 and goal.sum() == 1
    obs, *_ = env.step(2)  # down to (2, 1)
    agent, goal = obs.reshape(2, 9, 9)
    assert env.agent_pos == (2, 1) and agent[2, 1] == 1 and agent.sum() == 1
    obs, _ = env.reset(options={"start": (1, 1), "goal": (1, 3)})
    assert obs.reshape(2, 9, 9)[1, 1, 3] == 1 and obs.sum() == 2


def test_rewards_terminal_and_info():
    env = GridMazeEnv(layout="grid9", step_cost=0.05)
    env.reset(options={"start": (5, 7)})
    _, r, term, trunc, info = env.step(2)
    assert (r, term, trunc) == (-0.05, False, False) and info["distance_to_goal"] == 1
    _, r, term, _, info = env.step(2)
    assert (r, term) == (1.0, True) and info["is_success"] and info["optimal_length"] == 2


def test_shaping_is_potential_based():
    gamma = 0.9
    plain = GridMazeEnv(layout="grid9", step_cost=0.0, goal_reward=0.0)
    shaped = GridMazeEnv(layout="grid9", step_cost=0.0, goal_reward=0.0, shaping=1.0, gamma=gamma)
    d_max = int(shaped.distance_map().max())
    for env in (plain, shaped):
        env.reset(options={"start": (1, 1)})
    rng = np.random.default_rng(1)
    ret, prev = 0.0, 16
    for t in range(200):
        a = int(rng.integers(4))
        _, r0, done, _, info = plain.step(a)
        _, r1, _, _, _ = shaped.step(a)
        d = info["distance_to_goal"]
        assert r1 - r0 == pytest.approx((prev - gamma * d) / d_max)
        ret += gamma**t * (r1 - r0)
        prev = d
        if done:
            break
    # The discounted shaping return telescopes to phi(s_T) * gamma^T - phi(s_0).
    assert ret == pytest.approx((16 - gamma ** (t + 1) * prev) / d_max)


def test_layout_modes_and_maze_seed():
    fixed = GridMazeEnv(size=11, maze_seed=5)
    walls = fixed.walls.copy()
    fixed.reset(seed=1)
    fixed.reset(seed=2)
    np.testing.assert_array_equal(fixed.walls, walls)
    fixed.reset(options={"maze_seed": 6})
    assert not np.array_equal(fixed.walls, walls)
    assert fixed.maze_seed == 6

    random_env = GridMazeEnv(size=11, layout_mode="random")
    mazes = set()
    for seed in range(5):
        random_env.reset(seed=seed)
        mazes.add(random_env.walls.tobytes())
    assert len(mazes) == 5
    random_env.reset(seed=0)
    again = random_env.walls.copy()
    random_env.reset(seed=0)
    np.testing.assert_array_equal(random_env.walls, again)


def test_start_and_goal_options():
    env = GridMazeEnv(layout="grid9", start=(1, 1))
    for seed in range(3):
        env.reset(seed=seed)
        assert env.agent_pos == (1, 1)
    env.reset(options={"start": (3, 3), "goal": (1, 7)})
    assert (env.agent_pos, env.goal_pos) == ((3, 3), (1, 7))
    env.reset()
    assert env.goal_pos == (7, 7)  # options last one episode
    env = GridMazeEnv(size=9, goal="random")
    goals = set()
    for seed in range(20):
        env.reset(seed=seed)
        assert env.agent_pos != env.goal_pos
        goals.add(env.goal_pos)
    assert len(goals) > 3
    assert env.free_cells() == [tuple(c) for c in np.argwhere(~env.walls).tolist()]


def test_optimal_policy_reaches_goal_from_every_free_square():
    env = gym.make("nspdi/GridMaze-v0")
    base = env.unwrapped
    for start in base.free_cells():
        if start == base.goal_pos:
            continue
        _, info = env.reset(options={"start": start})
        steps, done = 0, False
        while not done:
            _, _, done, truncated, info = env.step(base.optimal_action())
            steps += 1
            assert not truncated
        assert steps == info["optimal_length"] == base.shortest_path_length(start)


BAD_CONSTRUCTOR = [
    ({"colour": "red"}, r"unknown GridMazeEnv options \['colour'\].*'obs_mode'"),
    ({"size": 8}, "maze size 8 .*odd ints >= 5"),
    ({"size": 3}, "maze size 3 .*odd ints >= 5"),
    ({"layout": "hard"}, "unknown layout 'hard'; accepted are .*'umaze'"),
    (
        {"obs_mode": "pixels"},
        r"unknown obs_mode 'pixels'; accepted are \['local', 'full', 'coords', 'onehot'\]",
    ),
    ({"layout_mode": "shuffled"}, "unknown layout_mode 'shuffled'; accepted are .*'random'"),
    ({"generator": "eller"}, "unknown maze generator 'eller'; accepted are .*'kruskal'"),
    ({"render_mode": "pygame"}, "render_mode 'pygame' is not offered; accepted are .*'ansi'"),
    ({"layout": "grid9", "start": (0, 0)}, r"start \(0, 0\) is a wall; accepted are the 31 free"),
    ({"layout": "grid9", "goal": (2, 2)}, r"goal \(2, 2\) is a wall"),
    ({"layout": "grid9", "goal": (9, 1)}, r"goal \(9, 1\) is outside the 9 x 9 grid"),
    ({"layout": "grid9", "start": (7, 7)}, r"start \(7, 7\) equals the goal"),
    ({"goal": "anywhere"}, "goal 'anywhere' is not accepted; accepted are None, 'random'"),
    ({"view_size": 4}, "view_size 4 is not accepted; accepted are odd ints >= 3"),
    ({"loops": -2}, "loops=-2 is not accepted"),
    ({"layout": "umaze", "layout_mode": "random"}, "layout must be None, got 'umaze'"),
    ({"layout_mode": "random", "start": (2, 1)}, r"start \(2, 1\) may be a wall in a random maze"),
]


@pytest.mark.parametrize(
    ("kwargs", "match"), BAD_CONSTRUCTOR, ids=[m[:30] for _, m in BAD_CONSTRUCTOR]
)
def test_bad_constructor_input_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GridMazeEnv(**kwargs)


def test_bad_constructor_input_through_gym_make():
    with pytest.raises(ValueError, match="unknown GridMazeEnv options"):
        gym.make("nspdi/GridMaze-v0", speed=3)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (
            {"begin": (1, 1)},
            r"unknown reset options \['begin'\]; accepted are \['start', 'goal', 'maze_seed'\]",
        ),
        ({"start": (0, 4)}, r"start \(0, 4\) is a wall"),
        ({"start": (-1, 4)}, r"start \(-1, 4\) is outside the 9 x 9 grid"),
        ({"goal": (4, 4)}, r"goal \(4, 4\) is a wall"),
        ({"start": (1, 1), "goal": (1, 1)}, r"start \(1, 1\) equals the goal"),
        ({"start": "top"}, "start 'top' is not a \\(row, col\\) pair of ints"),
        ({"maze_seed": 3}, "maze_seed 3 needs a generated maze, but layout is 'grid9'"),
    ],
)
def test_bad_reset_options_raise(options, match):
    env = GridMazeEnv(layout="grid9")
    with pytest.raises(ValueError, match=match):
        env.reset(options=options)


@pytest.mark.parametrize("action", [4, -1, 1.0, True, "up", np.array([1]), None])
def test_bad_actions_raise(action):
    env = GridMazeEnv()
    env.reset(seed=0)
    with pytest.raises(
        ValueError, match="is not in Discrete\\(4\\); accepted are the ints 0 \\(up\\)"
    ):
        env.step(action)


def test_numpy_integer_actions_act_as_the_same_int():
    env, twin = GridMazeEnv(), GridMazeEnv()
    env.reset(seed=0)
    twin.reset(seed=0)
    for action in (np.int64(1), np.int32(2), np.array(3)):
        obs, reward, terminated, truncated, info = env.step(action)
        ref_obs, ref_reward, ref_terminated, ref_truncated, ref_info = twin.step(int(action))
        np.testing.assert_array_equal(obs, ref_obs)
        assert (reward, terminated, truncated) == (ref_reward, ref_terminated, ref_truncated)
        assert info == ref_info


@pytest.mark.parametrize("split", ["train", "test"])
def test_random_mazes_of_a_split_never_come_from_the_other(split):
    env = GridMazeEnv(layout_mode="random", maze_split=split)
    drawn = set()
    for seed in range(40):
        env.reset(seed=seed)
        assert maze_split_of(env.walls) == split
        drawn.add(env.walls.tobytes())
    assert len(drawn) > 30  # still many different mazes


def test_the_split_is_fixed_and_about_a_tenth_is_held_out():
    env = GridMazeEnv(layout_mode="random")
    splits = []
    for seed in range(400):
        env.reset(seed=seed)
        splits.append(maze_split_of(env.walls))
        assert maze_split_of(env.walls.copy()) == splits[-1]
    assert 0.05 < splits.count("test") / len(splits) < 0.2


def test_a_split_needs_random_mazes():
    with pytest.raises(ValueError, match="maze_split 'train' splits random mazes"):
        GridMazeEnv(maze_split="train")
    with pytest.raises(ValueError, match="unknown maze_split 'dev'"):
        GridMazeEnv(layout_mode="random", maze_split="dev")
