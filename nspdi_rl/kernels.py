"""Compiled kernels in C++ (``csrc/kernels.cpp``), for float32 on the CPU: the LIF time
loop (forward and adjoint), NSP's weight map (forward and backward), and the no-grad
forward of spiking MLPs in one call. Each does the same arithmetic in the same order
as the tensor operations it replaces (the tests compare them bit for bit).

Built with PyTorch's C++ extension tooling the first time it is needed (about a
minute; ``scripts/ensure_env.py`` builds it when it makes the environment) and
cached under ``$TORCH_EXTENSIONS_DIR`` (default ``~/.cache/torch_extensions``), in
a folder per source file and contents. Where it cannot be built (no C++
compiler), a warning says why once and the tensor operations run instead;
``NSPDI_KERNELS=0`` turns the kernels off (the benchmarks compare both).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from types import ModuleType

__all__ = ["SOURCE", "compiled_kernels", "kernels_enabled"]

SOURCE = Path(__file__).with_name("csrc") / "kernels.cpp"
# a new name for every change of the source's interface keeps old builds apart
_NAME = "nspdi_kernels_v3"
_built: ModuleType | None = None
_failed: str | None = None


_CFLAGS = ("-O3", "-march=native", "-ffp-contract=off")
#: a build lock older than this is taken for one that a killed build left behind
STALE_LOCK_S = 1800.0


def _build_directory(root: Path) -> Path:
    """A build folder per source file and its contents: two checkouts (a worktree, a
    CI clone) sharing one folder would rebuild it in turn, each build waiting on the
    other's lock, as the build commands name the source's path."""
    key = hashlib.sha256()
    for part in (str(SOURCE.resolve()), SOURCE.read_text(), " ".join(_CFLAGS), sys.version):
        key.update(part.encode())
    folder = root / f"{_NAME}-{key.hexdigest()[:16]}"
    folder.mkdir(parents=True, exist_ok=True)
    # PyTorch waits for a build's lock file without a time limit; a build that was
    # killed leaves it behind (a live one takes a minute or two)
    lock = folder / "lock"
    if lock.exists() and time.time() - lock.stat().st_mtime > STALE_LOCK_S:
        warnings.warn(
            f"removing {lock}, left by a build that stopped", RuntimeWarning, stacklevel=3
        )
        lock.unlink(missing_ok=True)
    return folder


def kernels_enabled() -> bool:
    """Whether ``NSPDI_KERNELS`` allows the compiled kernels (default: yes)."""
    value = os.environ.get("NSPDI_KERNELS", "1").strip().lower()
    if value not in ("0", "1", "false", "true", "no", "yes", "off", "on", ""):
        raise ValueError(f"NSPDI_KERNELS={value!r}; accepted: 1 / 0 (or true / false)")
    return value not in ("0", "false", "no", "off")


def compiled_kernels() -> ModuleType | None:
    """The compiled kernels' module, built on first use; None where they are turned
    off or cannot be built (then a warning, once, says why)."""
    global _built, _failed
    if not kernels_enabled():
        return None
    if _built is not None or _failed is not None:  # built, or failed and said so
        return _built
    try:
        logger = logging.getLogger("torch.utils.cpp_extension")
        level = logger.level
        logger.setLevel(logging.ERROR)  # its import notes that CUDA is absent: not our case
        try:
            from torch.utils.cpp_extension import get_default_build_root, load
        finally:
            logger.setLevel(level)
        _built = load(
            name=_NAME,
            sources=[str(SOURCE)],
            # no fused multiply-adds where the tensor code rounds twice (same results);
            # built on the machine that runs it, so its vector instructions are fine
            extra_cflags=list(_CFLAGS),
            build_directory=str(_build_directory(Path(get_default_build_root()))),
            verbose=False,
        )
    except Exception as err:  # a missing compiler or headers fail in many ways
        _failed = " ".join(str(err).split())[:300] or type(err).__name__
        warnings.warn(
            f"the compiled kernels could not be built ({_failed}); the tensor operations "
            "run instead (same results, slower)",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return _built
