"""Speech loaders on recordings (synthetic, and real ones where present) in the real formats."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf
import torch

from nspdi_rl.checkpoint import atomic_torch_save
from tasks.data import DataError, TaskData
from tasks.speech import speechcommands
from tasks.speech.features import AudioFeatures, DeltaSpikes, read_clip
from tasks.speech.shd import load_shd
from tasks.speech.speechcommands import (
    ALL_WORDS,
    SILENCE,
    UNKNOWN,
    find_dataset_folder,
    load_speechcommands,
)
from tests.tasks.cache_checks import entry_times, read_all, rewritten, same_samples
from tests.tasks.conftest import random_shd_samples, write_shd_file, write_speechcommands


# ---------------------------------------------------------------- audio + features
def test_recordings_read_as_one_second_clips(clips: Path) -> None:
    raw, rate = sf.read(clips / "yes_30ms.wav", dtype="float32")
    assert rate == 16_000 and len(raw) == 480
    clip = read_clip(clips / "yes_30ms.wav")
    assert clip.shape == (16_000,)
    assert np.array_equal(clip[:480], raw) and not clip[480:].any()
    full = read_clip(clips / "yes_1000ms.wav")
    assert full.shape == (16_000,) and np.abs(full).max() > 0.05


def test_logmel_and_mfcc_frames(clips: Path) -> None:
    wave = torch.from_numpy(read_clip(clips / "no_1000ms.wav"))
    logmel = AudioFeatures()(wave)
    assert logmel.shape == (51, 40)  # 1 s / 20 ms + 1 frames, 40 bands
    assert torch.isfinite(logmel).all()
    mfcc = AudioFeatures(kind="mfcc", n_mfcc=13)(wave)
    assert mfcc.shape == (51, 13)
    # the word is louder than the silence recording in every frame-average sense
    quiet = AudioFeatures()(torch.from_numpy(read_clip(clips / "silence_1000ms.wav")))
    assert logmel.mean() > quiet.mean() + 1.0


def test_delta_spikes_mark_level_crossings() -> None:
    x = torch.tensor([[0.0], [0.6], [1.3], [1.2], [0.2], [-0.7]])  # one feature over 6 frames
    spikes = DeltaSpikes(0.5)(x)
    assert spikes.shape == (6, 2)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    # levels floor(x / 0.5): 0 1 2 2 0 -2 -> up at frames 1, 2; down at 4, 5
    assert spikes[:, 0].tolist() == [0, 1, 1, 0, 0, 0]
    assert spikes[:, 1].tolist() == [0, 0, 0, 0, 1, 1]
    with pytest.raises(ValueError, match="threshold"):
        DeltaSpikes(0.0)


# ---------------------------------------------------------------- speech commands
def test_speechcommands_splits_from_list_files(tmp_path: Path, clips: Path) -> None:
    root = write_speechcommands(tmp_path / "sc", clips)
    data = load_speechcommands(root, classes=12)
    assert data.classes[-2:] == [SILENCE, UNKNOWN] and data.n_classes == 12
    assert data.input_shape == (40,)
    x, _ = data.train[0]
    assert x.shape == (51, 40)
    labels = {s: sorted(int(y) for _, y in getattr(data, s)) for s in ("train", "val", "test")}
    yes, no, silence = 0, 1, data.classes.index(SILENCE)
    # training: speaker aaaa0001's 1 s and 30 ms clips of each word; silence clips
    # about one keyword class's size (2 clips / 10 keywords, at least 1)
    assert labels["train"] == sorted([yes, yes, no, no, silence])
    assert labels["val"] == sorted([yes, no, silence])
    assert labels["test"] == sorted([yes, no, silence])
    # normalised with the training split's statistics
    train_x = torch.stack([x for x, _ in data.train])
    assert train_x.mean(dim=(0, 1)).abs().max() < 1e-4


def test_speechcommands_features_equal_direct_computation(tmp_path: Path, clips: Path) -> None:
    """A cached, normalised test sample is the file's log-mel frames, z-scored."""
    root = write_speechcommands(tmp_path / "sc", clips)
    data = load_speechcommands(root, classes=12, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 3
    again = load_speechcommands(root, classes=12, cache_dir=tmp_path / "cache")
    assert torch.equal(data.test[0][0], again.test[0][0])  # read back from the cache
    raw = AudioFeatures()(torch.from_numpy(read_clip(clips / "yes_1000ms.wav")))
    mean = torch.tensor(data.info["feature_mean"])
    std = torch.tensor(data.info["feature_std"])
    yes = next(x for x, y in data.test if int(y) == 0)
    assert torch.allclose(yes * std + mean, raw, atol=1e-4)


def test_speechcommands_delta_encoding_is_binary(tmp_path: Path, clips: Path) -> None:
    root = write_speechcommands(tmp_path / "sc", clips)
    data = load_speechcommands(root, encoding="delta")
    x, _ = data.train[0]
    assert x.shape == (51, 80) and data.binary
    assert set(x.unique().tolist()) <= {0.0, 1.0}


def test_speechcommands_torchaudio_root_layout(tmp_path: Path, synthetic_clips: Path) -> None:
    inner = tmp_path / "SpeechCommands" / "speech_commands_v0.02"
    write_speechcommands(inner, synthetic_clips)
    assert find_dataset_folder(tmp_path) == inner


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("no_dir", "does not exist"),
        ("no_lists", "no validation_list.txt"),
        ("rate", "8000 Hz; expected 16000 Hz"),
        ("empty", "holds no audio samples"),
        ("corrupt", "cannot read audio file"),
        ("no_noise", "_background_noise_"),
    ],
)
def test_speechcommands_bad_inputs(
    tmp_path: Path, synthetic_clips: Path, damage: str, message: str
) -> None:
    root = write_speechcommands(tmp_path / "sc", synthetic_clips)
    target = root / "yes" / "aaaa0001_nohash_0.wav"
    if damage == "no_dir":
        root = tmp_path / "missing"
    elif damage == "no_lists":
        (root / "testing_list.txt").unlink()
    elif damage == "rate":
        sf.write(target, np.zeros(8000, dtype=np.float32), 8000, subtype="PCM_16")
    elif damage == "empty":
        sf.write(target, np.zeros(0, dtype=np.float32), 16000, subtype="PCM_16")
    elif damage == "corrupt":
        target.write_bytes(b"RIFF not really a wav file")
    elif damage == "no_noise":
        for p in (root / "_background_noise_").glob("*.wav"):
            p.unlink()
    with pytest.raises(DataError, match=message):
        load_speechcommands(root)


def test_speechcommands_35_classes_need_every_word(tmp_path: Path, synthetic_clips: Path) -> None:
    root = write_speechcommands(tmp_path / "sc", synthetic_clips)
    with pytest.raises(DataError, match="35-class setup needs all"):
        load_speechcommands(root, classes=35)
    with pytest.raises(ValueError, match="unknown class setup 7"):
        load_speechcommands(root, classes=7)


def test_speechcommands_35_classes_label_every_word(tmp_path: Path, synthetic_clips: Path) -> None:
    """Every word is a class and no ``_silence_`` clips are added (there is no such class)."""
    root = tmp_path / "sc35"
    for word in ALL_WORDS:
        (root / word).mkdir(parents=True)
        for speaker in ("aaaa0001", "bbbb0002", "cccc0003"):
            shutil.copy(synthetic_clips / "yes_1000ms.wav", root / word / f"{speaker}_nohash_0.wav")
    for split, speaker in (("validation", "bbbb0002"), ("testing", "cccc0003")):
        (root / f"{split}_list.txt").write_text(
            "".join(f"{word}/{speaker}_nohash_0.wav\n" for word in ALL_WORDS)
        )
    data = load_speechcommands(root, classes=35, cache_dir=tmp_path / "cache", progress=False)
    assert data.classes == list(ALL_WORDS) and data.n_classes == 35
    for split in (data.train, data.val, data.test):
        assert sorted(int(y) for _, y in split) == list(range(35))


def count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The clips the Speech Commands loader reads (really) from now on, in order."""
    read: list[Path] = []
    real = speechcommands.read_clip

    def counted(path: Path, sample_rate: int = 16_000) -> np.ndarray:
        read.append(Path(path))
        return real(path, sample_rate)

    monkeypatch.setattr(speechcommands, "read_clip", counted)
    return read


def replace_file(target: Path, source: Path) -> None:
    """Rename a copy of ``source`` over ``target``, keeping ``target``'s modification time."""
    times = target.stat()
    partial = target.with_name(target.name + ".new")
    shutil.copyfile(source, partial)
    os.utime(partial, ns=(times.st_atime_ns, times.st_mtime_ns))
    os.replace(partial, target)


def splits_of(data: TaskData) -> list[list[tuple[torch.Tensor, int]]]:
    return [read_all(data.train), read_all(data.val), read_all(data.test)]


def test_speechcommands_cache_follows_added_removed_and_replaced_clips(
    tmp_path: Path, synthetic_clips: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_speechcommands(tmp_path / "sc", synthetic_clips)
    cache = tmp_path / "cache"
    decodes = count_decodes(monkeypatch)
    first = load_speechcommands(root, cache_dir=cache, progress=False)
    assert len(decodes) == 8  # 4 training, 2 validation, 2 testing clips
    again = load_speechcommands(root, cache_dir=cache, progress=False)
    assert len(decodes) == 8  # all read from the cache
    for a, b in zip(splits_of(again), splits_of(first), strict=True):
        assert same_samples(a, b)

    added = root / "no" / "dddd0004_nohash_0.wav"
    shutil.copyfile((synthetic_clips / "no_1000ms.wav"), added)
    (root / "no" / "aaaa0001_nohash_1.wav").unlink()
    # the same size, the same modification time, other sounds
    replaced = root / "yes" / "aaaa0001_nohash_0.wav"
    replace_file(replaced, (synthetic_clips / "noise_1000ms.wav"))
    replace_file(root / "_background_noise_" / "noise.wav", (synthetic_clips / "yes_1000ms.wav"))
    assert replaced.stat().st_size == (synthetic_clips / "yes_1000ms.wav").stat().st_size
    del decodes[:]
    data = load_speechcommands(root, cache_dir=cache, progress=False)
    assert sorted(decodes) == sorted([added, replaced])  # only the new and the changed clip
    fresh = load_speechcommands(root, cache_dir=tmp_path / "empty", progress=False)
    for a, b in zip(splits_of(data), splits_of(fresh), strict=True):
        assert same_samples(a, b)
    assert data.info == fresh.info
    assert data.info["feature_mean"] != first.info["feature_mean"]
    # the replaced clip's frames are the noise recording's, under its "yes" label
    raw = AudioFeatures()(torch.from_numpy(read_clip(synthetic_clips / "noise_1000ms.wav")))
    mean, std = torch.tensor(data.info["feature_mean"]), torch.tensor(data.info["feature_std"])
    matches = [y for x, y in data.train if torch.allclose(x * std + mean, raw, atol=1e-4)]
    assert matches == [data.classes.index("yes")]


@pytest.mark.parametrize("damage", ["old_scheme", "truncated"])
def test_speechcommands_cache_without_stamps_is_rebuilt(
    tmp_path: Path, synthetic_clips: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    """A split file as the earlier scheme wrote it (features and labels, no
    stamps), or cut short by a full disk."""
    root = write_speechcommands(tmp_path / "sc", synthetic_clips)
    cache = tmp_path / "cache"
    fresh = load_speechcommands(root, cache_dir=cache, progress=False)
    for path in cache.glob("*.pt"):
        if damage == "truncated":
            path.write_bytes(path.read_bytes()[:100])
            continue
        old = torch.load(path, weights_only=True)
        n = len(old["stamps"]) + len(old["silence"])
        stale = {"features": torch.zeros(n, 51, 40), "labels": torch.zeros(n, dtype=torch.long)}
        atomic_torch_save(stale, path)
    decodes = count_decodes(monkeypatch)
    data = load_speechcommands(root, cache_dir=cache, progress=False)
    assert len(decodes) == 8
    for a, b in zip(splits_of(data), splits_of(fresh), strict=True):
        assert same_samples(a, b)


# ---------------------------------------------------------------- SHD
def test_shd_frames_through_tonic(shd_dir: Path) -> None:
    data = load_shd(shd_dir, time_steps=50, duration_s=1.0, cache_dir=shd_dir / "cache")
    assert data.n_classes == 20 and data.input_shape == (700,) and data.binary
    assert len(data.train) == 54 and len(data.val) == 6 and len(data.test) == 20
    x, y = data.test[3]
    times, units, label = random_shd_samples(20, seed=1)[3]
    assert y == label and x.shape == (50, 700)
    expected = torch.zeros(50, 700)
    # tonic bins [0, 1 s) into 50 frames of 20 ms
    expected[np.minimum((times * 50).astype(int), 49), units.astype(int)] = 1.0
    assert torch.equal(x, expected)
    assert any((shd_dir / "cache").rglob("*.h5"))  # the disk cache was used


def test_shd_downsampled_channels(shd_dir: Path) -> None:
    data = load_shd(shd_dir, time_steps=20, channels=70)
    x, _ = data.train[0]
    assert x.shape == (20, 70) and data.input_shape == (70,)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", "SHD files missing"),
        ("no_zip", "shd_test.h5.zip"),
        ("keys", "lacks the SHD datasets"),
        ("empty", "holds no samples"),
        ("corrupt", "cannot read"),
        ("labels", "labels must lie in"),
    ],
)
def test_shd_bad_files(tmp_path: Path, damage: str, message: str) -> None:
    root = tmp_path / "data"
    write_shd_file(root / "SHD" / "shd_train.h5", random_shd_samples(10, seed=0))
    test = root / "SHD" / "shd_test.h5"
    if damage == "missing":
        pass
    elif damage == "no_zip":
        write_shd_file(test, random_shd_samples(4, seed=1), archive=False)
    elif damage == "keys":
        write_shd_file(test, random_shd_samples(4, seed=1))
        with h5py.File(test, "a") as f:
            del f["extra/speaker"]
    elif damage == "empty":
        write_shd_file(test, [])
    elif damage == "corrupt":
        write_shd_file(test, random_shd_samples(4, seed=1))
        test.write_bytes(b"not an hdf5 file")
    elif damage == "labels":
        write_shd_file(test, [(np.array([0.1]), np.array([3]), 25)])
    with pytest.raises(DataError, match=message):
        load_shd(root)


def test_shd_events_outside_the_sensor(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_shd_file(root / "SHD" / "shd_train.h5", random_shd_samples(10, seed=0))
    write_shd_file(root / "SHD" / "shd_test.h5", [(np.array([0.1, 0.2]), np.array([3, 750]), 1)])
    data = load_shd(root)
    with pytest.raises(DataError, match=r"channels in \[0, 700\), found \[3, 750\]"):
        data.test[0]


def test_shd_cache_follows_rewritten_files(shd_dir: Path) -> None:
    cache = shd_dir / "cache"
    settings = {"time_steps": 50, "duration_s": 1.0, "cache_dir": cache}
    first = load_shd(shd_dir, **settings)
    train, test = read_all(first.train.dataset), read_all(first.test)
    written = entry_times(cache)
    assert len(written) == 80  # one entry per sample
    again = load_shd(shd_dir, **settings)
    assert same_samples(read_all(again.test), test) and entry_times(cache) == written

    # the test file rewritten with other recordings, one more of them
    samples = random_shd_samples(21, seed=2)
    write_shd_file(shd_dir / "SHD" / "shd_test.h5", samples)
    data = load_shd(shd_dir, **settings)
    after = read_all(data.test)
    fresh = load_shd(shd_dir, **{**settings, "cache_dir": shd_dir / "empty"})
    assert same_samples(after, read_all(fresh.test)) and len(after) == 21
    assert same_samples(read_all(data.train.dataset), train)
    changed = rewritten(written, entry_times(cache))
    assert len(changed) == 21 and all(path.parent.name == "test" for path in changed)
    times, units, label = samples[3]
    expected = torch.zeros(50, 700)
    expected[np.minimum((times * 50).astype(int), 49), units.astype(int)] = 1.0
    assert torch.equal(after[3][0], expected) and after[3][1] == label

    # then rewritten with fewer recordings, its modification time set back
    old = (shd_dir / "SHD" / "shd_test.h5").stat()
    write_shd_file(shd_dir / "SHD" / "shd_test.h5", random_shd_samples(19, seed=3))
    os.utime(shd_dir / "SHD" / "shd_test.h5", ns=(old.st_atime_ns, old.st_mtime_ns))
    fewer = read_all(load_shd(shd_dir, **settings).test)
    fresh_fewer = load_shd(shd_dir, **{**settings, "cache_dir": shd_dir / "empty2"})
    assert len(fewer) == 19 and same_samples(fewer, read_all(fresh_fewer.test))
