"""The typed options of the wrappers around gymnasium-robotics' mazes (no MuJoCo
needed: the wrappers themselves are tested in tests/agents/test_environments.py)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import envs  # noqa: F401  (registers the nspdi/ ids)
from envs.robotics import GOAL_OFFSET, GoalOffset, MazeWrappers


def test_split_takes_the_wrapper_options_out_of_the_env_kwargs() -> None:
    wrappers, rest = MazeWrappers.split(
        {"shaping": 1.0, "gamma": 0.9, "waypoints": True, "curriculum": 500,
         "goal_offset": True, "continuing_task": False}
    )  # fmt: skip
    assert wrappers == MazeWrappers(
        shaping=1.0, gamma=0.9, waypoints=True, curriculum=500, goal_offset=True
    )
    assert rest == {"continuing_task": False}
    assert MazeWrappers.split(wrappers.as_kwargs())[0] == wrappers
    # no options: nothing to wrap, nothing written back
    assert MazeWrappers.split({"reward_type": "dense"}) == (
        MazeWrappers(),
        {"reward_type": "dense"},
    )
    assert MazeWrappers().as_kwargs() == {}
    # gamma is an option only beside shaping (alone it is the env's, which refuses it)
    assert MazeWrappers.split({"gamma": 0.5})[1] == {"gamma": 0.5}
    # shaping 0 is no shaping
    assert MazeWrappers.split({"shaping": 0, "gamma": 0.5})[0] == MazeWrappers(gamma=0.5)


def test_evaluation_keeps_the_waypoints_and_drops_the_shaping() -> None:
    trained = MazeWrappers(shaping=2.0, gamma=0.97, waypoints=True, curriculum=100)
    assert trained.for_evaluation() == MazeWrappers(waypoints=True)
    # the goal offset is the agent's input, read from the observation: it stays
    offset = MazeWrappers(shaping=2.0, curriculum=100, goal_offset=True)
    assert offset.for_evaluation().as_kwargs() == {"goal_offset": True}
    assert MazeWrappers(shaping=1.0).for_evaluation().as_kwargs() == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shaping": -1.0}, "shaping -1.0 is not accepted"),
        ({"shaping": "much"}, "shaping 'much' is not accepted"),
        ({"shaping": 1.0, "gamma": 1.5}, "gamma 1.5 is not accepted; accepted is [0, 1]"),
        ({"waypoints": "yes"}, "waypoints 'yes' is not accepted; accepted: bool"),
        ({"goal_offset": 1}, "goal_offset 1 is not accepted; accepted: bool"),
        ({"curriculum": 0}, "curriculum 0 is not accepted; accepted is a step count > 0"),
        ({"curriculum": 1.5}, "curriculum 1.5 is not accepted"),
    ],
)
def test_bad_options_are_refused_naming_the_value(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        MazeWrappers.split(kwargs)


def test_options_on_an_env_that_is_no_robotics_maze_are_refused_and_it_is_closed() -> None:
    env = gym.make("nspdi/GridMaze-v0")
    assert MazeWrappers().apply(env) is env  # nothing asked: untouched
    with pytest.raises(ValueError, match="waypoints is for gymnasium-robotics' mazes; grid is"):
        MazeWrappers(waypoints=True).apply(env, "grid")
    with pytest.raises(ValueError, match="curriculum is for gymnasium-robotics' mazes; grid is"):
        MazeWrappers(curriculum=10).apply(gym.make("nspdi/GridMaze-v0"), "grid")
    with pytest.raises(ValueError, match="shaping is for the nspdi/ mazes and .* grid is neither"):
        MazeWrappers(shaping=1.0).apply(gym.make("nspdi/GridMaze-v0"), "grid")
    with pytest.raises(ValueError, match="goal_offset is for gymnasium-robotics' mazes; grid"):
        MazeWrappers(goal_offset=True).apply(gym.make("nspdi/GridMaze-v0"), "grid")


class _GoalEnv(gym.Env):
    """A goal-conditioned env's face without MuJoCo: the point walks by its action."""

    def __init__(self) -> None:
        box = spaces.Box(-5.0, 5.0, (2,), dtype=np.float64)
        self.observation_space = spaces.Dict(
            {"achieved_goal": box, "desired_goal": box, "observation": box}
        )
        self.action_space = box
        self.point = np.zeros(2)

    def _obs(self) -> dict:
        goal = np.array([1.5, -2.0])
        return {"achieved_goal": self.point.copy(), "desired_goal": goal,
                "observation": self.point.copy()}  # fmt: skip

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.point = np.zeros(2)
        return self._obs(), {}

    def step(self, action):
        self.point = self.point + np.asarray(action)
        return self._obs(), 0.0, False, False, {}


def test_the_goal_offset_is_the_goal_seen_from_the_point() -> None:
    env = GoalOffset(_GoalEnv())
    assert GOAL_OFFSET in env.observation_space.spaces
    assert env.observation_space[GOAL_OFFSET].shape == (2,)
    obs, _ = env.reset(seed=0)
    assert np.array_equal(obs[GOAL_OFFSET], [1.5, -2.0])
    obs, *_ = env.step(np.array([0.5, 1.0]))
    assert np.array_equal(obs[GOAL_OFFSET], [1.0, -3.0])
    assert env.observation_space.contains(obs)
    with pytest.raises(ValueError, match="needs Dict observations with achieved_goal"):
        GoalOffset(gym.make("nspdi/GridMaze-v0"))
    with pytest.raises(ValueError, match="already has a 'goal_offset' key"):
        GoalOffset(env)
