"""Pictures of mazes shared by both environments: colours, RGB frames, text, a window.

Only numpy is needed for ``rgb_array`` and ``ansi``; the ``human`` window
imports matplotlib when it is first drawn, so the environments stay usable
(and importable) where matplotlib or a display is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: RGB colours of the frame; tests look for these exact values.
WALL_RGB = (40, 40, 60)
FLOOR_RGB = (245, 245, 245)
PATH_RGB = (150, 190, 255)
GOAL_RGB = (40, 180, 60)
AGENT_RGB = (220, 40, 40)

#: Characters of the ``ansi`` picture.
WALL_CH, FLOOR_CH, PATH_CH, GOAL_CH, AGENT_CH = "#", ".", "o", "G", "A"


def grid_frame(
    walls: np.ndarray,
    agent: tuple[int, int],
    goal: tuple[int, int],
    visited: np.ndarray,
    cell_px: int,
) -> np.ndarray:
    """An ``(H * cell_px, W * cell_px, 3)`` uint8 picture of a grid maze.

    Walls, floor, the squares visited so far (the path), the goal square and
    the agent (a square inset by a quarter cell, so the path colour shows
    around it) each have their own colour.

    :param walls: bool wall array.
    :param agent: agent ``(row, col)``.
    :param goal: goal ``(row, col)``.
    :param visited: bool array, ``True`` where the agent has been this episode.
    :param cell_px: pixels per grid square.
    """
    small = np.empty(walls.shape + (3,), dtype=np.uint8)
    small[...] = FLOOR_RGB
    small[visited] = PATH_RGB
    small[walls] = WALL_RGB
    small[goal] = GOAL_RGB
    frame = np.repeat(np.repeat(small, cell_px, axis=0), cell_px, axis=1)
    inset = cell_px // 4
    r0, c0 = agent[0] * cell_px, agent[1] * cell_px
    frame[r0 + inset : r0 + cell_px - inset, c0 + inset : c0 + cell_px - inset] = AGENT_RGB
    return frame


def point_frame(
    walls: np.ndarray,
    position: Sequence[float] | np.ndarray,
    goal: Sequence[float] | np.ndarray,
    path: Sequence[tuple[float, float]],
    radius: float,
    success_radius: float,
    cell_px: int,
) -> np.ndarray:
    """An ``(H * cell_px, W * cell_px, 3)`` uint8 picture of a point maze, top down.

    Positions are in cell units: ``(x, y)`` with x along columns and y along rows, the
    top-left corner at ``(0, 0)``. Walls, floor, the goal disc (``success_radius``),
    the path as dots and the agent (a square of half-side ``radius``).

    :param walls: bool wall array.
    :param path: the positions so far (the last one is the agent's).
    """
    px = cell_px
    h, w = walls.shape
    frame = np.empty((h * px, w * px, 3), dtype=np.uint8)
    frame[...] = FLOOR_RGB
    # pixel centres in cell units
    ys = (np.arange(h * px) + 0.5)[:, None] / px
    xs = (np.arange(w * px) + 0.5)[None, :] / px
    gx, gy = goal
    frame[(xs - gx) ** 2 + (ys - gy) ** 2 <= success_radius**2] = GOAL_RGB
    frame[np.repeat(np.repeat(walls, px, axis=0), px, axis=1)] = WALL_RGB
    dot = max(1, px // 16)
    for x, y in path[:-1]:
        cx, cy = int(x * px), int(y * px)
        frame[max(0, cy - dot) : cy + dot + 1, max(0, cx - dot) : cx + dot + 1] = PATH_RGB
    half = max(2, round(radius * px))
    cx, cy = int(position[0] * px), int(position[1] * px)
    frame[max(0, cy - half) : cy + half + 1, max(0, cx - half) : cx + half + 1] = AGENT_RGB
    return frame


def grid_text(
    walls: np.ndarray,
    agent: tuple[int, int],
    goal: tuple[int, int],
    visited: np.ndarray | None = None,
) -> str:
    """The ``ansi`` picture: ``#`` wall, ``.`` floor, ``o`` path, ``G`` goal, ``A`` agent."""
    chars = np.where(walls, WALL_CH, FLOOR_CH).astype("<U1")
    if visited is not None:
        chars[visited & ~walls] = PATH_CH
    chars[goal] = GOAL_CH
    chars[agent] = AGENT_CH
    return "\n".join("".join(row) for row in chars) + "\n"


class HumanWindow:
    """A matplotlib window that shows successive RGB frames.

    :param title: window title.
    :param fps: frames per second; each :meth:`show` pauses ``1 / fps`` seconds.
    """

    def __init__(self, title: str, fps: int) -> None:
        self.title = title
        self.fps = fps
        self._fig: Any = None
        self._image: Any = None

    def show(self, frame: np.ndarray) -> None:
        """Draw ``frame``, opening the window on the first call."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as err:  # pragma: no cover - matplotlib is a project dependency
            raise ImportError(
                "render_mode='human' needs matplotlib; use render_mode='rgb_array' or 'ansi'"
            ) from err
        if self._fig is None or not plt.fignum_exists(self._fig.number):
            plt.ion()
            self._fig, ax = plt.subplots(num=self.title)
            ax.set_axis_off()
            self._image = ax.imshow(frame)
        else:
            self._image.set_data(frame)
        self._fig.canvas.draw_idle()
        plt.pause(1.0 / self.fps)

    def close(self) -> None:
        """Close the window if one was opened."""
        if self._fig is not None:
            import matplotlib.pyplot as plt

            plt.close(self._fig)
            self._fig = None


def check_render_mode(render_mode: str | None, offered: list[str]) -> None:
    """Raise ValueError unless ``render_mode`` is None or one of ``offered``."""
    if render_mode is not None and render_mode not in offered:
        raise ValueError(
            f"render_mode {render_mode!r} is not offered; accepted are {offered} or None"
        )


class MazeRendering:
    """``render()`` and ``close()`` of the maze environments.

    An environment mixes this in before ``gym.Env`` and supplies ``_text()`` (the
    ``ansi`` picture) and ``_frame()`` (the ``rgb_array`` image); ``human`` shows
    the frame in a :class:`HumanWindow` titled ``window_title``.
    """

    render_mode: str | None
    metadata: dict[str, Any]
    window_title = "Maze"
    _window: HumanWindow | None = None

    def _text(self) -> str:
        raise NotImplementedError

    def _frame(self) -> np.ndarray:
        raise NotImplementedError

    def render(self) -> np.ndarray | str | None:
        """Draw the maze in the ``render_mode`` chosen at construction: ``rgb_array``
        returns an ``(H * cell_px, W * cell_px, 3)`` uint8 image, ``ansi`` a text
        picture, ``human`` shows the image in a matplotlib window."""
        if self.render_mode is None:
            import gymnasium as gym

            gym.logger.warn(
                "render() was called without a render_mode; pass render_mode= to the "
                f"constructor, one of {self.metadata['render_modes']}"
            )
            return None
        if self.render_mode == "ansi":
            return self._text()
        frame = self._frame()
        if self.render_mode == "rgb_array":
            return frame
        if self._window is None:
            self._window = HumanWindow(self.window_title, self.metadata["render_fps"])
        self._window.show(frame)
        return None

    def close(self) -> None:
        """Close the ``human`` window, if any."""
        if self._window is not None:
            self._window.close()
            self._window = None
