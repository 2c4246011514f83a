"""Record an episode's ``rgb_array`` frames and save them as a GIF or a PNG strip.

Pillow is imported only when a file is written, so the environments themselves
keep to numpy and Gymnasium.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

Policy = Callable[[np.ndarray, gym.Env], Any]


def record_episode(
    env: gym.Env,
    policy: Policy | None = None,
    *,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    max_steps: int = 1000,
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Run one episode and collect a frame after the reset and after every step.

    :param env: an environment made with ``render_mode="rgb_array"``.
    :param policy: ``policy(obs, env) -> action``; default: random actions
        from ``env.action_space``.
    :param seed: passed to ``env.reset``.
    :param options: passed to ``env.reset``.
    :param max_steps: stop after this many steps even if the episode goes on.
    :return: ``(frames, last_info)``; ``len(frames) == steps + 1``.
    """
    if env.render_mode != "rgb_array":
        raise ValueError(
            f"render_mode {env.render_mode!r} cannot be recorded; accepted is 'rgb_array'"
        )
    obs, info = env.reset(seed=seed, options=options)
    frames = [_rgb(env)]
    for _ in range(max_steps):
        action = env.action_space.sample() if policy is None else policy(obs, env)
        obs, _, terminated, truncated, info = env.step(action)
        frames.append(_rgb(env))
        if terminated or truncated:
            break
    return frames, info


def save_gif(frames: Sequence[np.ndarray], path: str | Path, fps: int = 8) -> Path:
    """Write ``frames`` (each ``(H, W, 3)`` uint8) as a looping GIF.

    Pillow merges consecutive identical frames into one longer frame, so a GIF
    of an episode with wall bumps may hold fewer frames than were passed.

    :param frames: at least one frame, all of the same shape.
    :param path: output file, usually ``*.gif``.
    :param fps: frames per second.
    """
    from PIL import Image

    images = [Image.fromarray(_check_frame(f)) for f in _non_empty(frames)]
    path = Path(path)
    images[0].save(
        path,
        save_all=True,
        append_images=images[1:],
        duration=max(1, round(1000 / fps)),
        loop=0,
    )
    return path


def save_png_strip(
    frames: Sequence[np.ndarray], path: str | Path, max_frames: int = 16, gap_px: int = 2
) -> Path:
    """Write up to ``max_frames`` evenly spaced frames side by side as one PNG.

    :param frames: at least one frame, all of the same shape.
    :param path: output file, usually ``*.png``.
    :param max_frames: frames kept, always including the first and last.
    :param gap_px: white pixels between frames.
    """
    from PIL import Image

    frames = [_check_frame(f) for f in _non_empty(frames)]
    keep = np.unique(np.linspace(0, len(frames) - 1, min(max_frames, len(frames))).round())
    chosen = [frames[int(i)] for i in keep]
    h, w, _ = chosen[0].shape
    strip = np.full((h, len(chosen) * (w + gap_px) - gap_px, 3), 255, dtype=np.uint8)
    for k, frame in enumerate(chosen):
        strip[:, k * (w + gap_px) : k * (w + gap_px) + w] = frame
    path = Path(path)
    Image.fromarray(strip).save(path)
    return path


def _rgb(env: gym.Env) -> np.ndarray:
    frame = env.render()
    assert isinstance(frame, np.ndarray)  # guaranteed by render_mode="rgb_array"
    return frame


def _non_empty(frames: Sequence[np.ndarray]) -> Sequence[np.ndarray]:
    if len(frames) == 0:
        raise ValueError("frames is empty; accepted is a sequence of at least one frame")
    return frames


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(
            f"frame of shape {frame.shape} and dtype {frame.dtype} is not accepted; "
            "accepted are (H, W, 3) uint8 arrays"
        )
    return frame
