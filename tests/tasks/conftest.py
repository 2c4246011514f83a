"""Small datasets in the real on-disk formats, written by the tests themselves.

The Speech Commands tests build their folders from six clips: synthesised here
(always), or the real recordings in ``../shared/data`` (only where that folder
sits beside the clone, as in CI; skipped otherwise).
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

#: Six real Speech Commands recordings (16 kHz mono PCM WAV, the TensorFlow Lite Micro
#: ``micro_speech`` test clips), kept in ``shared/data`` beside the clone where CI runs.
#: They are optional: a test that needs them is skipped, with the reason, when they are absent.
REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "speech_commands_real"
#: The clips a Speech Commands test folder is built from, real or synthetic.
CLIP_NAMES = (
    "yes_1000ms.wav",
    "no_1000ms.wav",
    "yes_30ms.wav",
    "no_30ms.wav",
    "noise_1000ms.wav",
    "silence_1000ms.wav",
)
CLIP_SOURCES = ("synthetic", "real")
RATE = 16_000


def real_clips() -> Path:
    """The folder of the real recordings; skips the calling test when any is missing."""
    if not REAL.is_dir():
        pytest.skip(f"optional real recordings absent: no {REAL} (CI has ../shared by the clone)")
    missing = [name for name in CLIP_NAMES if not (REAL / name).is_file()]
    if missing:
        pytest.skip(f"optional real recordings incomplete: {REAL} lacks {', '.join(missing)}")
    return REAL


def _word(rng: np.random.Generator, f_start: float, f_end: float, hiss: bool) -> np.ndarray:
    """A 1 s "word": a harmonic glide under a smooth envelope, optionally ending in a hiss."""
    t = np.arange(RATE) / RATE
    # the word fills 0.25-0.75 s, like a centred Speech Commands utterance
    envelope = np.clip(np.sin(np.pi * (t - 0.25) / 0.5), 0.0, None) * ((t > 0.25) & (t < 0.75))
    phase = 2 * np.pi * np.cumsum(np.interp(t, [0.25, 0.75], [f_start, f_end])) / RATE
    voiced = sum(np.sin(k * phase) / k for k in (1, 2, 3, 4))
    wave = 0.3 * envelope * voiced
    if hiss:
        tail = (t > 0.6) & (t < 0.75)
        wave = wave + 0.1 * tail * rng.standard_normal(RATE)
    return wave + 1e-3 * rng.standard_normal(RATE)


def write_synthetic_clips(folder: Path) -> Path:
    """The six clips of :data:`CLIP_NAMES`, synthesised (seeded) with the real ones' format.

    "yes" glides up and ends in a hiss, "no" glides down; the 30 ms clips are the
    first 30 ms of the words' voiced part; the noise is white, the silence a faint hum.
    """
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    yes, no = _word(rng, 180.0, 320.0, hiss=True), _word(rng, 260.0, 150.0, hiss=False)
    voiced = slice(int(0.4 * RATE), int(0.4 * RATE) + 480)
    t = np.arange(RATE) / RATE
    clips = {
        "yes_1000ms.wav": yes,
        "no_1000ms.wav": no,
        "yes_30ms.wav": yes[voiced],
        "no_30ms.wav": no[voiced],
        "noise_1000ms.wav": 0.05 * rng.standard_normal(RATE),
        "silence_1000ms.wav": 2e-4 * np.sin(2 * np.pi * 50.0 * t)
        + 1e-4 * rng.standard_normal(RATE),
    }
    for name, wave in clips.items():
        sf.write(folder / name, np.clip(wave, -1.0, 1.0).astype(np.float32), RATE, "PCM_16")
    return folder


@pytest.fixture(scope="session")
def synthetic_clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic clips, written once per test session."""
    return write_synthetic_clips(tmp_path_factory.mktemp("synthetic_clips"))


@pytest.fixture(params=CLIP_SOURCES)
def clips(request: pytest.FixtureRequest, synthetic_clips: Path) -> Path:
    """The clips folder, once synthetic and once real (that one skipped without the files)."""
    return synthetic_clips if request.param == "synthetic" else real_clips()


def write_speechcommands(root: Path, clips: Path) -> Path:
    """A Speech Commands folder built from the six clips in ``clips``.

    Three speakers say "yes" and "no" (the 1 s and 30 ms clips); the noise and
    silence recordings form ``_background_noise_``. Speaker ``cccc0003`` is the
    testing speaker, ``bbbb0002`` the validation one.
    """
    for word in ("yes", "no"):
        (root / word).mkdir(parents=True)
        for speaker in ("aaaa0001", "bbbb0002", "cccc0003"):
            shutil.copy(clips / f"{word}_1000ms.wav", root / word / f"{speaker}_nohash_0.wav")
        shutil.copy(clips / f"{word}_30ms.wav", root / word / "aaaa0001_nohash_1.wav")
    noise = root / "_background_noise_"
    noise.mkdir()
    shutil.copy(clips / "noise_1000ms.wav", noise / "noise.wav")
    shutil.copy(clips / "silence_1000ms.wav", noise / "silence.wav")
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
