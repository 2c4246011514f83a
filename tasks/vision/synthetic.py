"""``synthetic-dvs``: event recordings made on the fly from scikit-learn's 8x8 digits.

Each digit image is upscaled and moved along three short saccades (the
N-MNIST recipe, with a seeded jitter per sample) in front of a simulated DVS
pixel array: a pixel emits an ON (OFF) event each time its log intensity rises
(falls) by ``threshold`` from the level of its last event. The events are
tonic structured arrays (``x``, ``y``, ``p``, ``t`` in microseconds), so tonic's
transforms bin them like any recorded dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["EVENT_DTYPE", "SyntheticDVS", "dvs_events"]

EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)])
SPLITS = ("train", "val", "test")


def dvs_events(frames: np.ndarray, threshold: float = 0.2, step_us: int = 10_000) -> np.ndarray:
    """Events of a DVS watching ``frames`` (``(steps, H, W)`` intensities in [0, 1]).

    :param threshold: log-intensity change per event.
    :param step_us: time between frames, microseconds.
    """
    if frames.ndim != 3 or len(frames) < 2:
        raise ValueError(f"need frames (steps >= 2, H, W), got shape {frames.shape}")
    log_i = np.log(frames.astype(np.float64) + 0.05)
    reference = log_i[0].copy()
    chunks = []
    for step in range(1, len(log_i)):
        change = log_i[step] - reference
        count = np.trunc(change / threshold).astype(np.int64)  # crossings since the last event
        y, x = np.nonzero(count)
        if len(x):
            n = np.abs(count[y, x])
            reps = np.repeat(np.arange(len(x)), n)
            ev = np.zeros(len(reps), dtype=EVENT_DTYPE)
            ev["x"], ev["y"] = x[reps], y[reps]
            ev["p"] = count[y, x][reps] > 0
            # the k-th of a pixel's n crossings in a step lands k / n of the way through it
            rank = np.arange(len(reps)) - np.repeat(np.cumsum(n) - n, n)
            ev["t"] = ((step - 1 + rank / n[reps]) * step_us).astype(np.int64)
            chunks.append(ev)
            reference[y, x] += count[y, x] * threshold
    if not chunks:
        return np.zeros(0, dtype=EVENT_DTYPE)
    events = np.concatenate(chunks)
    return events[np.argsort(events["t"], kind="stable")]


class SyntheticDVS(Dataset):
    """The synthetic event dataset, split 80 / 10 / 10 by image (seeded).

    :param split: ``train``, ``val`` or ``test``.
    :param size: sensor width and height, pixels. Default 32.
    :param steps: rendered frames per recording (10 ms apart). Default 30.
    :param seed: seed of the split and of every recording's saccade jitter.
    :param transform: applied to the events (tonic transforms).
    """

    sensor_size: tuple[int, int, int]

    def __init__(
        self,
        split: str = "train",
        size: int = 32,
        steps: int = 30,
        seed: int = 0,
        transform: Callable[[np.ndarray], Any] | None = None,
    ) -> None:
        from sklearn.datasets import load_digits

        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; accepted: {SPLITS}")
        if size < 16:
            raise ValueError(f"size must be >= 16 pixels, got {size}")
        if steps < 3:
            raise ValueError(f"steps must be >= 3, got {steps}")
        digits = load_digits()
        order = np.random.default_rng(seed).permutation(len(digits.target))
        cut = [int(0.8 * len(order)), int(0.9 * len(order))]
        chosen = np.split(order, cut)[SPLITS.index(split)]
        self.images = digits.images[chosen] / 16.0
        self.targets = digits.target[chosen].astype(int)
        self.classes = [str(d) for d in range(10)]
        self.size, self.steps, self.seed, self.transform = size, steps, seed, transform
        self.sensor_size = (size, size, 2)
        self._indices = chosen

    def __len__(self) -> int:
        return len(self.targets)

    def recording(self, index: int) -> np.ndarray:
        """The events of sample ``index`` (without the transform)."""
        scale = (self.size * 3 // 4) // 8
        glyph = torch.nn.functional.interpolate(
            torch.from_numpy(self.images[index]).float()[None, None],
            scale_factor=scale,
            mode="bilinear",
            align_corners=False,
        )[0, 0].numpy()
        rng = np.random.default_rng([self.seed, int(self._indices[index])])
        amplitude = self.size / 16
        # three saccades: right-down, left-down, up (a triangle), jittered per sample
        corners = np.array([[0, 0], [1, 1], [-1, 1], [0, 0]], dtype=float) * amplitude
        corners[1:3] += rng.normal(0.0, 0.3, size=(2, 2))
        steps_per_leg = np.diff(np.linspace(0, self.steps, 4).astype(int))
        path = np.concatenate(
            [
                np.linspace(corners[i], corners[i + 1], steps_per_leg[i], endpoint=False)
                for i in range(3)
            ]
        )
        frames = np.zeros((len(path), self.size, self.size))
        origin = (self.size - glyph.shape[0]) / 2
        for k, (dx, dy) in enumerate(path):
            shifted = _place(glyph, origin + dx, origin + dy, self.size)
            frames[k] = shifted
        return dvs_events(frames)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        events = self.recording(index)
        if self.transform is not None:
            events = self.transform(events)
        return events, int(self.targets[index])


def _place(glyph: np.ndarray, x: float, y: float, size: int) -> np.ndarray:
    """``glyph`` drawn at sub-pixel position (x, y) on a black canvas (bilinear)."""
    h, w = glyph.shape
    x, y = min(max(x, 0.0), size - w - 1e-6), min(max(y, 0.0), size - h - 1e-6)
    canvas = np.zeros((size + 1, size + 1))
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    fx, fy = x - x0, y - y0
    for oy, ox, weight in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)),
                           (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):  # fmt: skip
        top, left = y0 + oy, x0 + ox
        canvas[top : top + h, left : left + w] += weight * glyph
    return canvas[:size, :size]
