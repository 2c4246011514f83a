"""PointMazeEnv: dynamics, walls, rewards and bad input."""

import math

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.maze import LAYOUTS
from envs.point_maze import PointMazeEnv


def _inside_wall(env: PointMazeEnv) -> bool:
    """Whether the agent's square overlaps any wall square (open intervals)."""
    x, y = env.position
    r = env.radius
    rows = range(math.floor(y - r), math.ceil(y + r))
    cols = range(math.floor(x - r), math.ceil(x + r))
    return any(env.walls[i, j] for i in rows for j in cols)


@settings(deadline=None, max_examples=15)
@given(layout=st.sampled_from(sorted(LAYOUTS)), seed=st.integers(0, 2**31 - 1))
def test_random_pushes_never_enter_a_wall(layout, seed):
    env = PointMazeEnv(layout=layout)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    # Bang-bang forces reach top speed and hit walls often.
    for _ in range(200):
        action = rng.choice([-1.0, 0.0, 1.0], size=2).astype(np.float32)
        obs, _, terminated, _, _ = env.step(action)
        assert not _inside_wall(env)
        assert env.observation_space.contains(obs)
        if terminated:
            env.reset()


def test_wall_stops_the_agent_flush_and_zeroes_velocity():
    env = PointMazeEnv(layout="umaze", start_noise=0.0)
    env.reset(options={"start": (1, 3)})  # right end of the top corridor
    for _ in range(20):
        obs, *_ = env.step(np.array([1.0, 0.0], dtype=np.float32))
    assert obs[0] == pytest.approx(4 - env.radius, abs=1e-6) and obs[2] == 0.0
    assert obs[1] == pytest.approx(1.5)


def test_dynamics_of_one_step():
    env = PointMazeEnv(layout="open", start_noise=0.0)
    obs, _ = env.reset(options={"start": (2, 3)})
    np.testing.assert_allclose(obs[:4], [3.5, 2.5, 0.0, 0.0])
    obs, *_ = env.step(np.array([1.0, -0.5], dtype=np.float32))
    # v = accel * a * dt = (0.5, -0.25); x += v * dt.
    np.testing.assert_allclose(obs[:4], [3.55, 2.475, 0.5, -0.25], rtol=1e-6)


def test_rewards_and_success():
    dense = PointMazeEnv(layout="umaze", start_noise=0.0)
    obs, info = dense.reset(options={"start": (1, 2)})
    assert not info["is_success"] and info["distance"] == pytest.approx(1.0)
    _, r, term, _, info = dense.step(np.zeros(2, dtype=np.float32))
    assert r == pytest.approx(-1.0) and not term
    sparse = PointMazeEnv(layout="umaze", reward_type="sparse", start_noise=0.0)
    sparse.reset(options={"start": (1, 2)})
    rewards = []
    for _ in range(10):
        _, r, term, _, info = sparse.step(np.array([-1.0, 0.0], dtype=np.float32))
        rewards.append(r)
        if term:
            break
    assert term and info["is_success"] and rewards[-1] == 1.0 and set(rewards[:-1]) <= {0.0}


def test_goal_and_spaces():
    env = gym.make("nspdi/PointMaze-Large-v0")
    obs, _ = env.reset(seed=0)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    assert obs.shape == (6,) and obs.dtype == np.float32
    np.testing.assert_allclose(obs[4:], [10.5, 7.5])
    assert env.spec.max_episode_steps == 800


@pytest.mark.parametrize(
    "action",
    [
        np.array([1.5, 0.0], dtype=np.float32),
        np.array([0.0, -1.01]),
        np.array([np.nan, 0.0]),
        np.array([np.inf, 0.0]),
        np.zeros(3),
        [0.5],
        "left",
    ],
)
def test_bad_actions_raise(action):
    env = PointMazeEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action .* accepted are 2 finite numbers in \[-1, 1\]"):
        env.step(action)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mass": 2.0}, r"unknown PointMazeEnv options \['mass'\]; accepted are .*'layout'"),
        ({"layout": "spiral"}, "unknown layout 'spiral'; accepted are .*'medium'"),
        (
            {"reward_type": "shaped"},
            r"unknown reward_type 'shaped'; accepted are \['dense', 'sparse'\]",
        ),
        ({"render_mode": "video"}, "render_mode 'video' is not offered"),
        ({"start": (0, 0)}, r"start \(0, 0\) is a wall"),
        ({"goal": (1, 9)}, r"goal \(1, 9\) is outside the 5 x 5 grid"),
        ({"start": (1, 1)}, r"start \(1, 1\) equals the goal square"),
        ({"max_speed": 10.0}, r"max_speed \* dt = 10.0 \* 0.1 is not accepted"),
        ({"radius": 0.6}, r"radius 0.6 is not accepted; accepted is \(0, 0.5\)"),
        ({"shaping": -1.0}, r"shaping -1.0 is not accepted; accepted is a weight >= 0"),
        ({"gamma": 1.5}, r"gamma 1.5 is not accepted; accepted is \[0, 1\]"),
    ],
)
def test_bad_constructor_input_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PointMazeEnv(**kwargs)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (
            {"target": (1, 1)},
            r"unknown reset options \['target'\]; accepted are \['start', 'goal'\]",
        ),
        ({"goal": (2, 2)}, r"goal \(2, 2\) is a wall"),
        ({"start": (1, 1)}, r"start \(1, 1\) equals the goal"),
    ],
)
def test_bad_reset_options_raise(options, match):
    with pytest.raises(ValueError, match=match):
        PointMazeEnv().reset(options=options)


def test_geodesic_distance_goes_around_the_walls():
    env = PointMazeEnv(layout="large")
    env.reset(seed=0)
    goal = env.goal_cell
    steps = {}
    for r, c in env.free_cells():  # the BFS step count at every square centre
        steps[(r, c)] = env.geodesic_distance((c + 0.5, r + 0.5))
        assert steps[(r, c)] == env._geodesic.steps[r, c]
    assert steps[goal] == 0.0
    # continuous inside a square, and never shorter than the straight line
    rng = np.random.default_rng(0)
    for r, c in env.free_cells():
        for _ in range(5):
            p = np.array([c, r]) + rng.uniform(0.05, 0.95, size=2)
            assert env.geodesic_distance(p) >= math.dist(p, env.goal_xy) - 1e-9
    # from (1, 1) the way around is 15 squares, the straight line about 10.8
    assert steps[(1, 1)] == 15 and math.dist((1.5, 1.5), env.goal_xy) < 11


@pytest.mark.parametrize("terminate", [True, False])
def test_geodesic_shaping_telescopes_to_the_distance_covered(terminate):
    """With gamma 1 the shaping terms of an episode sum to (g(start) - g(end)) / g_max,
    whatever the path (potential-based shaping); sparse rewards on top."""
    env = PointMazeEnv(layout="umaze", reward_type="sparse", shaping=2.0, gamma=1.0,
                       terminate_on_success=terminate)  # fmt: skip
    plain = PointMazeEnv(layout="umaze", reward_type="sparse", terminate_on_success=terminate)
    env.reset(seed=3)
    plain.reset(seed=3)
    start = env.geodesic_distance()
    rng = np.random.default_rng(1)
    shaped_sum, done = 0.0, False
    for _ in range(300):
        action = rng.uniform(-1, 1, size=2)
        _, reward, done, _, _ = env.step(action)
        _, plain_reward, _, _, _ = plain.step(action)
        shaped_sum += reward - plain_reward
        if done:
            break
    end = 0.0 if done else env.geodesic_distance()
    assert shaped_sum == pytest.approx(2.0 * (start - end) / env._geodesic.max)
