"""The typed options of the wrappers around gymnasium-robotics' mazes (no MuJoCo
needed: the wrappers themselves are tested in tests/agents/test_environments.py)."""

from __future__ import annotations

import gymnasium as gym
import pytest

import envs  # noqa: F401  (registers the nspdi/ ids)
from envs.robotics import MazeWrappers


def test_split_takes_the_wrapper_options_out_of_the_env_kwargs() -> None:
    wrappers, rest = MazeWrappers.split(
        {"shaping": 1.0, "gamma": 0.9, "waypoints": True, "curriculum": 500,
         "continuing_task": False}
    )  # fmt: skip
    assert wrappers == MazeWrappers(shaping=1.0, gamma=0.9, waypoints=True, curriculum=500)
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
    assert MazeWrappers(shaping=1.0).for_evaluation().as_kwargs() == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shaping": -1.0}, "shaping -1.0 is not accepted"),
        ({"shaping": "much"}, "shaping 'much' is not accepted"),
        ({"shaping": 1.0, "gamma": 1.5}, "gamma 1.5 is not accepted; accepted is [0, 1]"),
        ({"waypoints": "yes"}, "waypoints 'yes' is not accepted; accepted: bool"),
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
