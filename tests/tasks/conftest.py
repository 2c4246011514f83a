"""Small datasets in the real on-disk formats, written by the tests themselves."""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pytest

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "speech_commands_real"


def real_wav(name: str) -> Path:
    path = REAL / name
    if not path.is_file():
        pytest.fail(f"the real test recordings are missing: {path}")
    return path


def write_real_speechcommands(root: Path) -> Path:
    """A Speech Commands folder built from the real recordings in ../shared/data.

    Three speakers say "yes" and "no" (the 1 s and 30 ms clips); the noise and
    silence recordings form ``_background_noise_``. Speaker ``cccc0003`` is the
    testing speaker, ``bbbb0002`` the validation one.
    """
    for word in ("yes", "no"):
        (root / word).mkdir(parents=True)
        for speaker in ("aaaa0001", "bbbb0002", "cccc0003"):
            shutil.copy(real_wav(f"{word}_1000ms.wav"), root / word / f"{speaker}_nohash_0.wav")
        shutil.copy(real_wav(f"{word}_30ms.wav"), root / word / "aaaa0001_nohash_1.wav")
    noise = root / "_background_noise_"
    noise.mkdir()
    shutil.copy(real_wav("noise_1000ms.wav"), noise / "noise.wav")
    shutil.copy(real_wav("silence_1000ms.wav"), noise / "silence.wav")
    (root / "validation_list.txt").write_text(
        "yes/bbbb0002_nohash_0.wav\nno/bbbb0002_nohash_0.wav\n"
    )
    (root / "testing_list.txt").write_text("yes/cccc0003_nohash_0.wav\nno/cccc0003_nohash_0.wav\n")
    return root


def write_shd_file(
    path: Path,
    samples: Sequence[tuple[np.ndarray, np.ndarray, int]],
    n_classes: int = 20,
    archive: bool = True,
) -> Path:
    """An SHD HDF5 file (``spikes/times`` in s, ``spikes/units``, ``labels``, ``extra/...``).

    Same layout as the published files: variable-length float / uint16 arrays per
    sample. With ``archive``, the ``.zip`` tonic looks for is written beside it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.float32))
        units = f.create_dataset("spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u, _) in enumerate(samples):
            times[i] = np.asarray(t, dtype=np.float32)
            units[i] = np.asarray(u, dtype=np.uint16)
        f.create_dataset("labels", data=np.array([s[2] for s in samples], dtype=np.uint16))
        f.create_dataset(
            "extra/keys", data=np.array([f"digit-{i}".encode() for i in range(n_classes)])
        )
        f.create_dataset("extra/speaker", data=np.zeros(len(samples), dtype=np.uint16))
    if archive:
        with zipfile.ZipFile(path.with_name(path.name + ".zip"), "w") as z:
            z.write(path, path.name)
    return path


def random_shd_samples(
    n: int, seed: int, n_classes: int = 20
) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Class c fires channels [30c, 30c + 30) early: learnable, like a digit's formants."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        label = i % n_classes
        k = int(rng.integers(50, 200))
        units = rng.integers(30 * label, 30 * label + 30, size=k)
        times = np.sort(rng.uniform(0.0, 0.7, size=k))
        samples.append((times, units, label))
    return samples


@pytest.fixture
def shd_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write_shd_file(root / "SHD" / "shd_train.h5", random_shd_samples(60, seed=0))
    write_shd_file(root / "SHD" / "shd_test.h5", random_shd_samples(20, seed=1))
    return root
