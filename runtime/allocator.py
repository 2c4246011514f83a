"""Keep freed tensor memory in the process instead of handing it back to the OS.

A training step on the CPU allocates and frees tensors of a few MB each (effective
weights, their gradients, the stacked ``[W; V]``). glibc's ``malloc`` serves such
blocks by ``mmap`` and trims the top of its heap after each step, so the next step
touches fresh pages and pays a page fault per 4 KiB: at width 512 and T = 8 about
a fifth of a training step (``bench/spiking_train.py``). PyTorch's CPU tuning guide
answers this with jemalloc or tcmalloc preloaded; :func:`retain_freed_memory` does
the same job with glibc's own switches (``mallopt``), with no library to install.

The cost is resident memory: what a step freed stays with the process (at most
the peak of one step) until it exits. The runners turn it on; a library user
chooses.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["retain_freed_memory"]

# glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# the largest mmap threshold glibc accepts on 64-bit systems (HEAP_MAX_SIZE / 2)
_MAX_MMAP_THRESHOLD = 32 << 20


def retain_freed_memory(trim_threshold_mb: int = 256) -> bool:
    """Serve blocks up to 32 MB from the heap and keep up to ``trim_threshold_mb``
    of freed heap memory for reuse (glibc only; process-wide).

    :param trim_threshold_mb: freed memory at the top of the heap kept before it
        is returned to the OS, in MiB, in [1, 2047]. Default 256.
    :returns: True where glibc took the settings; False elsewhere (macOS, musl,
        Windows), where nothing changes.
    """
    if isinstance(trim_threshold_mb, bool) or not isinstance(trim_threshold_mb, int):
        raise ValueError(f"trim_threshold_mb must be an int, got {trim_threshold_mb!r}")
    if not 1 <= trim_threshold_mb <= 2047:
        raise ValueError(f"trim_threshold_mb must be in [1, 2047], got {trim_threshold_mb}")
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:  # pragma: no cover - every glibc system has one
        return False
    libc = ctypes.CDLL(name)
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None or not _is_glibc(libc):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # both calls also switch off glibc's own adjustment of the two thresholds
    return bool(
        mallopt(_M_MMAP_THRESHOLD, _MAX_MMAP_THRESHOLD)
        and mallopt(_M_TRIM_THRESHOLD, trim_threshold_mb << 20)
    )


def _is_glibc(libc: ctypes.CDLL) -> bool:
    """musl has no ``gnu_get_libc_version`` (and its ``mallopt`` does nothing)."""
    return getattr(libc, "gnu_get_libc_version", None) is not None
