"""Spiking Heidelberg Digits through ``tonic.datasets.SHD``.

Each recording (700 cochlea channels, up to about 1.4 s) is binned with tonic's
``ToFrame`` into T frames over a fixed window ``[0, duration]`` (so a frame is
the same length of time in every sample), optionally downsampled in channels
with ``Downsample``, and clamped to binary spikes. The binned samples are
cached on disk (:class:`~tasks.data.SourceCache`) in a folder keyed by these
settings, each entry by its ``.h5`` file's path, size, inode and modification /
status-change times (:func:`~tasks.data.source_stamp`) and its row: replacing
or rewriting ``shd_train.h5`` rebuilds every entry of that file on its next
read. SHD has no validation split: a seeded 10 % of the training file is held
out for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import tonic

from tasks.data import (
    CACHE_SCHEME,
    DataError,
    SourceCache,
    SpikeFrames,
    TaskData,
    settings_key,
    split_indices,
    subset,
)

__all__ = ["SHD_CHANNELS", "CheckEvents", "load_shd"]

SHD_CHANNELS = 700
FILES = ("shd_train.h5", "shd_test.h5")
REQUIRED_KEYS = ("spikes/times", "spikes/units", "labels", "extra/keys", "extra/speaker")


@dataclass(frozen=True)
class CheckEvents:
    """Reject a recording whose events lie outside the sensor or have no valid time.

    :param channels: number of input channels (events need ``0 <= x < channels``).
    """

    channels: int = SHD_CHANNELS

    def __call__(self, events: np.ndarray) -> np.ndarray:
        if len(events):
            x, t = events["x"], events["t"]
            if x.min() < 0 or x.max() >= self.channels:
                raise DataError(
                    f"SHD events must have channels in [0, {self.channels}), found "
                    f"[{x.min()}, {x.max()}]"
                )
            if not np.isfinite(t).all() or t.min() < 0:
                raise DataError("SHD event times must be finite and >= 0")
        return events


def _check_files(folder: Path) -> None:
    expected = [folder / name for name in FILES] + [folder / f"{name}.zip" for name in FILES]
    missing = [str(p) for p in expected if not p.is_file()]
    if missing:
        raise DataError(
            f"SHD files missing: {', '.join(missing)}. tonic expects the extracted "
            "shd_train.h5 / shd_test.h5 in <data-dir>/SHD/ with their archives "
            "shd_train.h5.zip / shd_test.h5.zip beside them; download both archives from "
            "https://zenkelab.org/datasets/ into that folder and unzip them there"
        )
    for name in FILES:
        path = folder / name
        try:
            with h5py.File(path, "r") as f:
                absent = [key for key in REQUIRED_KEYS if key not in f]
                if absent:
                    raise DataError(f"{path} lacks the SHD datasets {absent}")
                n = len(f["labels"])
                if n == 0:
                    raise DataError(f"{path} holds no samples")
                if len(f["spikes/times"]) != n or len(f["spikes/units"]) != n:
                    raise DataError(
                        f"{path}: spikes/times, spikes/units and labels differ in length"
                    )
                labels = np.asarray(f["labels"])
                n_classes = len(f["extra/keys"])
                if labels.min() < 0 or labels.max() >= n_classes:
                    raise DataError(
                        f"{path}: labels must lie in [0, {n_classes}) (one per extra/keys "
                        f"entry), found [{labels.min()}, {labels.max()}]"
                    )
        except OSError as err:
            raise DataError(f"cannot read {path} as HDF5: {err}") from None


@dataclass(frozen=True)
class _RowOf:
    """Sample ``index`` of an SHD split is row ``index`` of ``file`` (picklable, for workers)."""

    file: Path

    def __call__(self, index: int) -> tuple[Path, str]:
        return self.file, str(index)


def load_shd(
    data_dir: str | Path,
    time_steps: int = 100,
    duration_s: float = 1.4,
    channels: int = SHD_CHANNELS,
    seed: int = 0,
    cache_dir: str | Path | None = None,
) -> TaskData:
    """Load SHD as binary spike frames ``(T, channels)``.

    :param data_dir: folder holding tonic's ``SHD/`` folder.
    :param time_steps: frames T over ``[0, duration_s]``. Default 100 (14 ms each).
    :param duration_s: binned window, s; later events are dropped. Default 1.4.
    :param channels: input channels after downsampling (divides 700). Default 700.
    :param seed: seed of the validation hold-out.
    :param cache_dir: frame cache folder. Default: ``<data_dir>/SHD/.nspdi_cache``.
    :raises DataError: missing or malformed files.
    """
    if time_steps <= 0:
        raise ValueError(f"time_steps must be > 0, got {time_steps}")
    if not duration_s > 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    if channels <= 0 or SHD_CHANNELS % channels:
        raise ValueError(f"channels must divide {SHD_CHANNELS}, got {channels}")
    data_dir = Path(data_dir)
    folder = data_dir / "SHD"
    _check_files(folder)
    steps: list[Any] = [CheckEvents(SHD_CHANNELS)]
    if channels != SHD_CHANNELS:
        steps.append(tonic.transforms.Downsample(spatial_factor=channels / SHD_CHANNELS))
    steps.append(
        tonic.transforms.ToFrame(
            sensor_size=(channels, 1, 1),
            time_window=duration_s * 1e6 / time_steps,
            start_time=0.0,
            end_time=duration_s * 1e6,  # tonic's SHD times are microseconds
        )
    )
    transform = tonic.transforms.Compose(steps)
    key = settings_key(
        {"scheme": CACHE_SCHEME, "T": time_steps, "duration_s": duration_s, "channels": channels}
    )
    cache = Path(cache_dir) if cache_dir is not None else folder / ".nspdi_cache"
    splits = {}
    for train in (True, False):
        dataset = tonic.datasets.SHD(str(data_dir), train=train, transform=transform)
        name = "train" if train else "test"
        file = folder / ("shd_train.h5" if train else "shd_test.h5")
        cached = SourceCache(dataset, cache / f"shd-{key}" / name, _RowOf(file))
        splits[name] = SpikeFrames(cached, flatten=True)
        if train:
            classes = [k.decode() if isinstance(k, bytes) else str(k) for k in dataset.classes]
    rest, held = split_indices(len(splits["train"]), 0.1, seed)
    info = {
        "folder": str(folder),
        "time_steps": time_steps,
        "duration_s": duration_s,
        "channels": channels,
        "samples": {"train": len(rest), "val": len(held), "test": len(splits["test"])},
    }
    return TaskData(
        name="shd",
        train=subset(splits["train"], rest),
        val=subset(splits["train"], held),
        test=splits["test"],
        input_shape=(channels,),
        classes=classes,
        sequence=True,
        binary=True,
        info=info,
    )
