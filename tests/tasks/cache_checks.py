"""What the cache tests share: reading a whole dataset, which cache entries a load
wrote, and replacing a file the way ``cp -p`` does."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import Dataset


def read_all(dataset: Dataset) -> list[tuple[torch.Tensor, int]]:
    """Every sample of ``dataset``, in index order (fills a lazy cache)."""
    return [(x, int(y)) for x, y in (dataset[i] for i in range(len(dataset)))]  # type: ignore[arg-type]


def entry_times(folder: Path) -> dict[Path, int]:
    """Modification time (ns) of every cache entry under ``folder``."""
    return {path: path.stat().st_mtime_ns for path in folder.rglob("*.h5")}


def rewritten(before: dict[Path, int], after: dict[Path, int]) -> set[Path]:
    """Entries written (new or again) between two :func:`entry_times` snapshots."""
    return {path for path, time in after.items() if before.get(path) != time}


def overwrite_keeping_mtime(target: Path, content: bytes) -> None:
    """Write ``content`` over ``target`` in place, then set its old access and
    modification times back, as ``cp -p`` leaves a copied-in file."""
    before = target.stat()
    target.write_bytes(content)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert target.stat().st_mtime_ns == before.st_mtime_ns


def same_samples(a: list[tuple[torch.Tensor, int]], b: list[tuple[torch.Tensor, int]]) -> bool:
    """Equal lengths, and every sample's input and label equal."""
    return len(a) == len(b) and all(
        torch.equal(xa, xb) and ya == yb for (xa, ya), (xb, yb) in zip(a, b, strict=True)
    )
