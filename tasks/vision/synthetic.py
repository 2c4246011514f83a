"""``synthetic-dvs`` and ``synthetic-dvs-hard``: event recordings made on the fly from
scikit-learn's 8x8 digits.

Each digit image is upscaled and moved along three short saccades (the
N-MNIST recipe, with a seeded jitter per sample) in front of a simulated DVS
pixel array: a pixel emits an ON (OFF) event each time its log intensity rises
(falls) by ``threshold`` from the level of its last event. The events are
tonic structured arrays (``x``, ``y``, ``p``, ``t`` in microseconds), so tonic's
transforms bin them like any recorded dataset.

``synthetic-dvs-hard`` (a :class:`Difficulty` given to :class:`SyntheticDVS`)
makes the same images into a harder task, in the manner of DVS gestures: the
class is the digit *and* the way it moves (the triangle of ``synthetic-dvs`` or
its mirror image: 20 classes), and each recording has a shifted, more jittered
path, its own contrast, background brightness and event threshold (with a
per-pixel mismatch), a textured square crossing the sensor that belongs to no
class, and sensor noise: background events at random pixels and times, and a
few hot pixels firing throughout. A dense network of the runner's defaults
scores well short of perfect on it, which leaves pruning methods room to differ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["EVENT_DTYPE", "MOTIONS", "Difficulty", "SyntheticDVS", "dvs_events"]

EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)])
SPLITS = ("train", "val", "test")
STEP_US = 10_000  # time between rendered frames

#: the saccade paths, as corners in units of the amplitude (a sixteenth of the sensor's
#: side; x right, y down); the path runs corner to corner and back to the start.
#: ``triangle`` is synthetic-dvs's (right-down, left, right-up); each path's legs point
#: in directions the others' do not, so a frame's ON / OFF edges tell them apart without
#: the order of the legs
MOTIONS: dict[str, tuple[tuple[float, float], ...]] = {
    "triangle": ((0, 0), (1, 1), (-1, 1), (0, 0)),
    "mirror": ((0, 0), (-1, 1), (1, 1), (0, 0)),
    "vertical": ((0, 0), (0, 1), (0, -1), (0, 0)),
    "horizontal": ((0, 0), (1, 0), (-1, 0), (0, 0)),
}


@dataclass(frozen=True)
class Difficulty:
    """What makes ``synthetic-dvs-hard`` harder than ``synthetic-dvs``; defaults: the hard set.

    Ranges are ``(low, high)``, drawn uniformly once per recording.

    :param motions: number of motion classes, the first of :data:`MOTIONS`; the
        label is ``motion * 10 + digit``. Default 2.
    :param jitter_px: standard deviation of the two inner saccade corners, pixels
        (synthetic-dvs: 0.3). Default 0.5.
    :param shift_px: the whole path is shifted by up to this much along x and y,
        pixels. Default 1.
    :param contrast: brightness of the digit (synthetic-dvs: 1). Default (0.5, 1).
    :param background: brightness of the empty scene (synthetic-dvs: 0). Default (0, 0.2).
    :param threshold: log-intensity change per event (synthetic-dvs: 0.2).
        Default (0.15, 0.3).
    :param mismatch: per-pixel threshold spread: each pixel's threshold is the
        recording's times ``exp(mismatch * N(0, 1))``. Default 0.1.
    :param distractors: textured squares (side 3 to 6 pixels) crossing the sensor
        in straight lines at 0.3 to 1 pixel per frame. Default 1.
    :param noise_hz: background events per pixel per second, ON and OFF alike. Default 2.
    :param hot_pixels: pixels firing at ``hot_pixel_hz`` all through a recording,
        drawn per recording. Default 3.
    :param hot_pixel_hz: events per second of a hot pixel. Default 100.
    """

    motions: int = 2
    jitter_px: float = 0.5
    shift_px: float = 1.0
    contrast: tuple[float, float] = (0.5, 1.0)
    background: tuple[float, float] = (0.0, 0.2)
    threshold: tuple[float, float] = (0.15, 0.3)
    mismatch: float = 0.1
    distractors: int = 1
    noise_hz: float = 2.0
    hot_pixels: int = 3
    hot_pixel_hz: float = 100.0

    def __post_init__(self) -> None:
        if not 1 <= self.motions <= len(MOTIONS):
            raise ValueError(
                f"motions must be in 1..{len(MOTIONS)} ({list(MOTIONS)}), got {self.motions}"
            )
        for name in ("jitter_px", "shift_px", "mismatch", "noise_hz", "hot_pixel_hz"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("distractors", "hot_pixels"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("contrast", "background", "threshold"):
            low, high = getattr(self, name)
            if not 0 <= low <= high or (low == 0 and name != "background"):
                least = "0 <=" if name == "background" else "0 <"
                raise ValueError(
                    f"{name} must be a range (low, high) with {least} low <= high, "
                    f"got {(low, high)}"
                )

    @property
    def classes(self) -> list[str]:
        """Class names in label order: ``<digit>-<motion>``."""
        return [f"{d}-{m}" for m in list(MOTIONS)[: self.motions] for d in range(10)]


def dvs_events(
    frames: np.ndarray, threshold: float | np.ndarray = 0.2, step_us: int = STEP_US
) -> np.ndarray:
    """Events of a DVS watching ``frames`` (``(steps, H, W)`` intensities >= 0, 1: a full
    digit stroke).

    :param threshold: log-intensity change per event: one for every pixel, or an
        ``(H, W)`` array of each pixel's own. Default 0.2.
    :param step_us: time between frames, microseconds. Default 10,000.
    """
    if frames.ndim != 3 or len(frames) < 2:
        raise ValueError(f"need frames (steps >= 2, H, W), got shape {frames.shape}")
    thresholds = np.broadcast_to(np.asarray(threshold, dtype=np.float64), frames.shape[1:])
    if not (thresholds > 0).all():
        raise ValueError(f"threshold must be > 0 at every pixel, got min {thresholds.min()}")
    log_i = np.log(frames.astype(np.float64) + 0.05)
    reference = log_i[0].copy()
    chunks = []
    for step in range(1, len(log_i)):
        change = log_i[step] - reference
        count = np.trunc(change / thresholds).astype(np.int64)  # crossings since the last event
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
            reference[y, x] += count[y, x] * thresholds[y, x]
    if not chunks:
        return np.zeros(0, dtype=EVENT_DTYPE)
    events = np.concatenate(chunks)
    return events[np.argsort(events["t"], kind="stable")]


class SyntheticDVS(Dataset):
    """The synthetic event dataset, split 80 / 10 / 10 by image (seeded).

    :param split: ``train``, ``val`` or ``test``.
    :param size: sensor width and height, pixels. Default 32.
    :param steps: rendered frames per recording (10 ms apart). Default 30.
    :param seed: seed of the split and of every recording's random draws.
    :param transform: applied to the events (tonic transforms).
    :param difficulty: None (default): ``synthetic-dvs``, 10 classes; a
        :class:`Difficulty`: ``synthetic-dvs-hard`` and its kin, whose motion
        classes take turns along the split's seeded order of images.
    """

    sensor_size: tuple[int, int, int]

    def __init__(
        self,
        split: str = "train",
        size: int = 32,
        steps: int = 30,
        seed: int = 0,
        transform: Callable[[np.ndarray], Any] | None = None,
        difficulty: Difficulty | None = None,
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
        part = SPLITS.index(split)
        chosen = np.split(order, cut)[part]
        self.images = digits.images[chosen] / 16.0
        self.digits = digits.target[chosen].astype(int)
        #: index into :data:`MOTIONS` of each recording's path (all ``triangle`` without
        #: a difficulty); balanced over the digits by the random order of the images
        self.motions = np.zeros(len(chosen), dtype=int)
        if difficulty is not None:
            self.motions = np.split(np.arange(len(order)) % difficulty.motions, cut)[part]
        self.targets = self.motions * 10 + self.digits
        self.classes = [str(d) for d in range(10)] if difficulty is None else difficulty.classes
        self.size, self.steps, self.seed, self.transform = size, steps, seed, transform
        self.difficulty = difficulty
        self.sensor_size = (size, size, 2)
        self._indices = chosen

    def __len__(self) -> int:
        return len(self.targets)

    def recording(self, index: int) -> np.ndarray:
        """The events of sample ``index`` (without the transform)."""
        if self.difficulty is not None:
            return self._hard_recording(index, self.difficulty)
        glyph = self._glyph(index)
        rng = np.random.default_rng([self.seed, int(self._indices[index])])
        # three saccades: right-down, left-down, up (a triangle), jittered per sample
        corners = np.array(MOTIONS["triangle"], dtype=float) * (self.size / 16)
        corners[1:3] += rng.normal(0.0, 0.3, size=(2, 2))
        frames = np.zeros((self.steps, self.size, self.size))
        origin = (self.size - glyph.shape[0]) / 2
        for k, (dx, dy) in enumerate(self._path(corners)):
            frames[k] = _place(glyph, origin + dx, origin + dy, self.size)
        return dvs_events(frames)

    def _glyph(self, index: int) -> np.ndarray:
        """The digit image of sample ``index``, upscaled to 3/4 of the sensor (bilinear)."""
        scale = (self.size * 3 // 4) // 8
        return torch.nn.functional.interpolate(
            torch.from_numpy(self.images[index]).float()[None, None],
            scale_factor=scale,
            mode="bilinear",
            align_corners=False,
        )[0, 0].numpy()

    def _path(self, corners: np.ndarray) -> np.ndarray:
        """``(steps, 2)`` positions along the three legs between ``corners``, in equal time."""
        steps_per_leg = np.diff(np.linspace(0, self.steps, 4).astype(int))
        return np.concatenate(
            [
                np.linspace(corners[i], corners[i + 1], steps_per_leg[i], endpoint=False)
                for i in range(3)
            ]
        )

    def _hard_recording(self, index: int, difficulty: Difficulty) -> np.ndarray:
        image = int(self._indices[index])
        # one stream per kind of draw, so that turning one nuisance off leaves the others
        # as they were (the tests rely on it); synthetic-dvs's stream is [seed, image]
        scene_rng, clutter_rng, noise_rng = (
            np.random.default_rng([self.seed, image, stream]) for stream in (1, 2, 3)
        )
        size, d = self.size, difficulty
        motion = list(MOTIONS)[self.motions[index]]
        corners = np.array(MOTIONS[motion], dtype=float) * (size / 16)
        corners[1:3] += scene_rng.normal(0.0, d.jitter_px, size=(2, 2))
        corners += scene_rng.uniform(-d.shift_px, d.shift_px, size=2)
        glyph = self._glyph(index) * scene_rng.uniform(*d.contrast)
        background = scene_rng.uniform(*d.background)
        threshold = scene_rng.uniform(*d.threshold) * np.exp(
            d.mismatch * scene_rng.standard_normal((size, size))
        )
        frames = np.zeros((self.steps, size, size))
        origin = (size - glyph.shape[0]) / 2
        for k, (dx, dy) in enumerate(self._path(corners)):
            frames[k] = _place(glyph, origin + dx, origin + dy, size)
        for _ in range(d.distractors):
            frames = np.maximum(frames, _crossing_square(clutter_rng, self.steps, size))
        events = dvs_events(background + frames, threshold)
        events = np.concatenate([events, _noise_events(noise_rng, d, self.steps, size)])
        return events[np.argsort(events["t"], kind="stable")]

    def __getitem__(self, index: int) -> tuple[Any, int]:
        events = self.recording(index)
        if self.transform is not None:
            events = self.transform(events)
        return events, int(self.targets[index])


def _crossing_square(rng: np.random.Generator, steps: int, size: int) -> np.ndarray:
    """``(steps, size, size)`` frames of a textured square moving in a straight line.

    Side 3 to 6 pixels, pixel brightness 0.3 to 1, 0.3 to 1 pixel per frame in
    any direction, at a random place of the sensor half way through; the parts
    outside the sensor are cut off.
    """
    side = int(rng.integers(3, 7))
    texture = rng.uniform(0.3, 1.0, size=(side, side))
    middle = rng.uniform(0, size - side, size=2)
    angle, speed = rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 1.0)
    velocity = speed * np.array([np.cos(angle), np.sin(angle)])
    pad = side + 1  # drawn on a larger canvas, so it leaves the sensor instead of stopping
    frames = np.zeros((steps, size, size))
    for k in range(steps):
        x, y = middle + (k - steps / 2) * velocity + pad
        frames[k] = _place(texture, x, y, size + 2 * pad)[pad : pad + size, pad : pad + size]
    return frames


def _noise_events(
    rng: np.random.Generator, difficulty: Difficulty, steps: int, size: int
) -> np.ndarray:
    """Background events at random pixels and times, and the events of a few hot pixels."""
    duration_us = (steps - 1) * STEP_US  # the span of the rendered events
    n_background = rng.poisson(difficulty.noise_hz * size * size * duration_us * 1e-6)
    hot = rng.integers(0, size, size=(difficulty.hot_pixels, 2))
    per_hot = rng.poisson(difficulty.hot_pixel_hz * duration_us * 1e-6, size=len(hot))
    events = np.zeros(n_background + int(per_hot.sum()), dtype=EVENT_DTYPE)
    events["x"][:n_background] = rng.integers(0, size, n_background)
    events["y"][:n_background] = rng.integers(0, size, n_background)
    events["x"][n_background:] = np.repeat(hot[:, 0], per_hot)
    events["y"][n_background:] = np.repeat(hot[:, 1], per_hot)
    events["p"] = rng.integers(0, 2, len(events)).astype(bool)
    events["t"] = rng.integers(0, duration_us, len(events))
    return events


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
