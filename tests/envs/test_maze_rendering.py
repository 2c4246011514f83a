"""Frames, text pictures, GIF and PNG strip of solved episodes."""

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

import envs  # noqa: F401
from envs.grid_maze import GridMazeEnv
from envs.point_maze import PointMazeEnv
from envs.recording import record_episode, save_gif, save_png_strip
from envs.rendering import AGENT_RGB, FLOOR_RGB, GOAL_RGB, PATH_RGB, WALL_RGB


def _bfs_policy(obs, env):
    return env.unwrapped.optimal_action()


def _centre(frame, cell, px):
    return tuple(frame[cell[0] * px + px // 2, cell[1] * px + px // 2])


def test_rgb_frame_shows_walls_agent_goal_and_path():
    env = GridMazeEnv(layout="grid9", render_mode="rgb_array", cell_px=8)
    env.reset(options={"start": (1, 1)})
    env.step(1)
    env.step(1)  # path (1, 1) -> (1, 2) -> (1, 3)
    frame = env.render()
    assert frame.shape == (72, 72, 3) and frame.dtype == np.uint8
    assert _centre(frame, (0, 0), 8) == WALL_RGB
    assert _centre(frame, (7, 7), 8) == GOAL_RGB
    assert _centre(frame, (1, 3), 8) == AGENT_RGB
    assert tuple(frame[1 * 8, 3 * 8]) == PATH_RGB  # agent's square corner shows the path
    assert _centre(frame, (1, 1), 8) == PATH_RGB and _centre(frame, (1, 2), 8) == PATH_RGB
    assert _centre(frame, (1, 4), 8) == FLOOR_RGB


def test_ansi_picture():
    env = GridMazeEnv(layout="umaze", render_mode="ansi")
    env.reset(options={"start": (3, 1)})
    env.step(1)
    assert env.render() == "#####\n#G..#\n###.#\n#oA.#\n#####\n"


def test_gif_and_png_strip_of_a_solved_episode(tmp_path):
    env = gym.make("nspdi/GridMaze-v0", render_mode="rgb_array")
    frames, info = record_episode(env, _bfs_policy, options={"start": (1, 1)})
    assert info["is_success"] and len(frames) == info["optimal_length"] + 1 == 17
    last = frames[-1]
    px = env.unwrapped.cell_px
    assert _centre(last, (7, 7), px) == AGENT_RGB  # the agent stands on the goal
    assert _centre(last, (1, 1), px) == PATH_RGB and _centre(last, (0, 0), px) == WALL_RGB

    gif = save_gif(frames, tmp_path / "episode.gif")
    with Image.open(gif) as im:
        assert im.n_frames == len(frames) and im.size == (9 * px, 9 * px)
        im.seek(0)
        first = np.asarray(im.convert("RGB"))
    assert _centre(first, (1, 1), px) == AGENT_RGB and _centre(first, (7, 7), px) == GOAL_RGB

    strip = save_png_strip(frames, tmp_path / "episode.png", max_frames=5, gap_px=2)
    with Image.open(strip) as im:
        assert im.size == (5 * 9 * px + 4 * 2, 9 * px)


def test_point_maze_frame_and_ansi():
    env = PointMazeEnv(layout="umaze", render_mode="rgb_array", start_noise=0.0, cell_px=32)
    env.reset(options={"start": (3, 1)})
    for _ in range(5):
        env.step(np.array([1.0, 0.0], dtype=np.float32))
    frame = env.render()
    assert frame.shape == (160, 160, 3) and frame.dtype == np.uint8
    assert tuple(frame[48, 48]) == GOAL_RGB and tuple(frame[5, 5]) == WALL_RGB
    x, y = env.position
    assert tuple(frame[int(y * 32), int(x * 32)]) == AGENT_RGB
    assert tuple(frame[int(3.5 * 32), int(1.5 * 32)]) == PATH_RGB  # the start point
    text = PointMazeEnv(layout="umaze", render_mode="ansi")
    text.reset(options={"start": (3, 3)})
    assert text.render() == "#####\n#G..#\n###.#\n#..A#\n#####\n"


def test_human_mode_shows_the_rgb_frame_and_closes_its_window():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")  # no display in tests: drawing must still work
    import matplotlib.pyplot as plt

    env = GridMazeEnv(render_mode="human")
    twin = GridMazeEnv(render_mode="rgb_array")
    for e in (env, twin):
        e.reset(seed=0)
        e.step(0)
    assert env.render() is None
    window = env._window
    np.testing.assert_array_equal(np.asarray(window._image.get_array()), twin.render())
    number = window._fig.number
    env.close()
    assert env._window is None and not plt.fignum_exists(number)


def test_render_without_mode_returns_none():
    env = GridMazeEnv()
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="without a render_mode"):
        assert env.render() is None


def test_recording_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="render_mode None cannot be recorded"):
        record_episode(GridMazeEnv())
    with pytest.raises(ValueError, match="frames is empty"):
        save_gif([], tmp_path / "x.gif")
    with pytest.raises(ValueError, match=r"frame of shape \(4, 4\) .* \(H, W, 3\) uint8"):
        save_png_strip([np.zeros((4, 4))], tmp_path / "x.png")
