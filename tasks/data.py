"""What every task loader hands to the training loop, and the errors they raise.

A loader returns a :class:`TaskData`: three map-style datasets whose items are
``(x, label)`` with ``x`` a float tensor, either a sequence ``(T, *features)``
(speech and event data, fed to the network time-first) or a static sample
``(*features)`` (CIFAR10 images, encoded by the network over its T steps).

Caches never serve a sample whose recording changed: every cached entry carries
the :func:`source_stamp` of the file it was decoded from, and is rebuilt when
the file's stamp differs from the one stored (:class:`SourceCache`).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset, Subset

__all__ = [
    "CACHE_SCHEME",
    "DataError",
    "SourceCache",
    "SpikeFrames",
    "TaskData",
    "settings_key",
    "source_stamp",
    "split_indices",
    "subset",
]

# Part of every cache key: caches written before the entries carried source
# stamps (tonic's index-keyed ``DiskCachedDataset`` folders, the speech ``.pt``
# files without stamps) live under other names and are never read.
CACHE_SCHEME = 2


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


def source_stamp(path: str | os.PathLike[str]) -> str:
    """What a cached sample remembers of the file it was decoded from.

    The absolute path, size, inode number, modification time and status-change
    time (both in ns) of the file (a symlink is followed). Any write,
    replacement (a new file renamed over the old one: a new inode), truncation
    or ``touch`` changes the stamp, so the entry is rebuilt. The status-change
    time is set by the kernel on every change to the file and no copying tool
    can set it back, so even a different recording of the same size copied in
    with its old modification time kept (``cp -p``, ``rsync -t``, ``tar x``) is
    seen. Stamps cost one ``stat`` per sample, where a content hash would read
    every recording at each start; the price is that a ``chmod`` or a copy of
    the whole data folder also rebuilds the cache.

    :raises DataError: the file does not exist (any more).
    """
    absolute = os.path.abspath(path)
    try:
        st = os.stat(absolute)
    except OSError as err:
        raise DataError(f"cannot read {absolute}: {err.strerror}") from None
    return f"{absolute}|{st.st_size}|{st.st_ino}|{st.st_mtime_ns}|{st.st_ctime_ns}"


class SourceCache(Dataset):
    """``(frames, label)`` samples of a dataset cached on disk, one HDF5 file per sample.

    Each sample is cached under a name derived from its source (the file it is
    read from, and which part of that file), with the source's
    :func:`source_stamp` stored beside the frames. A read serves the entry only
    when the stored stamp equals the source's stamp now; otherwise (the file was
    replaced or edited, an entry of an older scheme, a damaged or half-written
    entry) the sample is decoded again and its entry rewritten. Entries are
    written to a temporary file and renamed, so parallel readers (DataLoader
    workers, torchrun ranks) never see half an entry. An index therefore always
    yields the frames of the file the dataset maps it to now, however the files
    were added, removed or reordered since the entry was written. Frames are
    lzf-compressed, as tonic's ``DiskCachedDataset`` does.

    :param dataset: map-style dataset of ``(frames, label)``; its transforms
        decide the frames, so ``folder`` must be specific to their settings.
    :param folder: the cache folder of these settings (created on first write).
    :param source: ``index -> (file, part)``: the file sample ``index`` is
        decoded from and what tells it apart from other samples of that file
        (``""`` when a file holds one sample). ``file`` is None for a generated
        sample, which then depends on ``part`` (and the folder's settings) alone.
    """

    def __init__(
        self,
        dataset: Dataset,
        folder: str | os.PathLike[str],
        source: Callable[[int], tuple[str | os.PathLike[str] | None, str]],
    ) -> None:
        self.dataset = dataset
        self.folder = Path(folder)
        self.source = source

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def entry(self, index: int) -> tuple[Path, str]:
        """The entry file of sample ``index`` and the stamp it must carry to be served."""
        file, part = self.source(index)
        stamp = ("" if file is None else source_stamp(file)) + f"#{part}"
        name = ("" if file is None else os.path.abspath(file)) + f"#{part}"
        digest = hashlib.sha1(name.encode()).hexdigest()[:24]
        return self.folder / f"{digest}.h5", stamp

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        path, stamp = self.entry(index)
        try:
            with h5py.File(path, "r") as f:
                if f.attrs.get("source") == stamp:
                    return f["frames"][()], int(f["label"][()])
        except (OSError, KeyError):
            pass  # absent, half-written or of another layout: decode again
        frames, label = self.dataset[index]
        frames = np.asarray(frames)
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with h5py.File(partial, "w") as f:
                f.create_dataset("frames", data=frames, compression="lzf")
                f.create_dataset("label", data=int(label))
                f.attrs["source"] = stamp
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return frames, int(label)


class SpikeFrames(Dataset):
    """tonic frames ``(T, ...)`` of event counts as float tensors of binary spikes.

    :param frames: a dataset of ``(frames, label)`` (e.g. a :class:`SourceCache`).
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
