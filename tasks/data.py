"""What every task loader hands to the training loop, and the errors they raise.

A loader returns a :class:`TaskData`: three map-style datasets whose items are
``(x, label)`` with ``x`` a float tensor, either a sequence ``(T, *features)``
(speech and event data, fed to the network time-first) or a static sample
``(*features)`` (CIFAR10 images, encoded by the network over its T steps).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

__all__ = ["DataError", "SpikeFrames", "TaskData", "settings_key", "split_indices", "subset"]


class DataError(Exception):
    """A missing, incomplete or malformed dataset: reported as one line by the CLIs."""


@dataclass
class TaskData:
    """The splits of one task and what the network needs to know about them.

    :param name: dataset name (``shd``, ``speechcommands``, ...).
    :param train: training split.
    :param val: validation split (evaluated every epoch).
    :param test: test split (evaluated once, at the end).
    :param input_shape: shape of one time step (sequences) or one sample (static).
    :param classes: class names, index = label.
    :param sequence: True when items are ``(T, *input_shape)`` sequences.
    :param binary: True when the input values are spikes (0/1), so the first
        layer costs accumulates rather than multiply-accumulates.
    :param info: dataset settings and sizes, copied into ``summary.json``.
    """

    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    input_shape: tuple[int, ...]
    classes: list[str]
    sequence: bool = True
    binary: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def split_indices(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """A seeded split of ``range(n)`` into ``(rest, held_out)``, ``held_out`` ~ ``fraction * n``."""
    if n <= 0:
        raise ValueError(f"cannot split an empty dataset (n={n})")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"split fraction must be in (0, 1), got {fraction}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    held = max(1, round(fraction * n))
    if held >= n:
        raise ValueError(f"a {fraction} split of {n} samples leaves no training samples")
    return sorted(order[held:]), sorted(order[:held])


def subset(dataset: Dataset, indices: list[int]) -> Subset:
    """``torch.utils.data.Subset`` (re-exported so loaders need one import)."""
    return Subset(dataset, indices)


def settings_key(settings: dict[str, Any]) -> str:
    """A short stable hash of JSON-able settings: names a cache folder for them."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


class SpikeFrames(Dataset):
    """tonic frames ``(T, ...)`` of event counts as float tensors of binary spikes.

    :param frames: a dataset of ``(frames, label)`` (e.g. a ``tonic.DiskCachedDataset``).
    :param flatten: flatten each frame to one vector (``(T, features)``), as the dense
        speech networks take it; otherwise keep ``(T, channels, height, width)``.
    """

    def __init__(self, frames: Dataset, flatten: bool) -> None:
        self.frames = frames
        self.flatten = flatten

    def __len__(self) -> int:
        return len(self.frames)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        frames, label = self.frames[index]
        x = torch.as_tensor(np.asarray(frames), dtype=torch.float32).clamp_(max=1.0)
        return (x.reshape(x.shape[0], -1) if self.flatten else x), int(label)
