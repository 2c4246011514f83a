"""Vision loaders on files in the real on-disk formats, and the synthetic DVS set."""

from __future__ import annotations

import os
import pickle
import tarfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, Subset

from tasks.data import CACHE_SCHEME, DataError, TaskData, settings_key
from tasks.vision.cli import main
from tasks.vision.datasets import CheckEvents2D, load_vision
from tasks.vision.synthetic import EVENT_DTYPE, STEP_US, Difficulty, SyntheticDVS, dvs_events
from tasks.vision.transforms import Denoise, ToFrames
from tests.tasks.cache_checks import (
    entry_times,
    overwrite_keeping_mtime,
    read_all,
    rewritten,
    same_samples,
)


def write_cifar10(root: Path, per_batch: int = 20) -> Path:
    """The python CIFAR10 layout: pickles with byte keys, uint8 rows of 3072 pixels."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        batch = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"filenames": [f"img{i}.png".encode() for i in range(per_batch)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
             b"ship", b"truck"]  # fmt: skip
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names, b"num_vis": 3072}, f)
    return root


def write_dvsgesture(root: Path, per_part: int = 110) -> Path:
    """tonic's DVSGesture layout: userNN_<lighting>/<label>.npy arrays [x, y, p, t_ms]."""
    folder = root / "DVSGesture"
    rng = np.random.default_rng(1)
    for part in ("ibmGestureTrain", "ibmGestureTest"):
        for i in range(per_part):
            user = folder / part / f"user{1 + i // 11:02d}_fluorescent"
            user.mkdir(parents=True, exist_ok=True)
            n = 300
            events = np.stack(
                [rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n),
                 np.sort(rng.integers(0, 1500, n))], axis=1,
            )  # fmt: skip
            np.save(user / f"{i % 11}.npy", events)
        with tarfile.open(folder / f"{part}.tar.gz", "w:gz"):
            pass  # tonic checks that the archive is there, not what it holds
    return root


def write_cifar10dvs(root: Path, per_class: int = 100, empty: str | None = None) -> Path:
    """tonic's CIFAR10DVS layout: <class>/cifar10_<class>_<i>.aedat4 beside CIFAR10DVS.zip,
    the recordings written by iniVation's dv-processing (AEDAT 4.0, 128x128 DVS).

    :param empty: the class whose first recording has no events.
    """
    import tonic

    folder = root / "CIFAR10DVS"
    rng = np.random.default_rng(2)
    for name in tonic.datasets.CIFAR10DVS.classes:
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            n = 0 if (name == empty and i == 0) else 200
            write_aedat4(folder / name / f"cifar10_{name}_{i}.aedat4", patch_events(rng, n))
    (folder / "CIFAR10DVS.zip").touch()  # tonic checks that the archive is there
    return root


def patch_events(rng: np.random.Generator, n: int, corner: int = 60) -> np.ndarray:
    """``n`` events in a 6x6 patch at ``(corner, corner)`` over 0.1 s: a small bright
    patch, so tonic's denoise filter keeps most of them."""
    events = np.zeros(n, dtype=EVENT_DTYPE)
    events["t"] = np.sort(rng.integers(0, 100_000, n))
    events["x"], events["y"] = corner + rng.integers(0, 6, n), corner + rng.integers(0, 6, n)
    events["p"] = rng.integers(0, 2, n)
    return events


def write_aedat4(
    path: Path, events: np.ndarray, camera: str = "DVS128_test", resolution: tuple = (128, 128)
) -> Path:
    """An AEDAT 4.0 file written by iniVation's dv-processing: ``camera``'s event stream."""
    dv = pytest.importorskip("dv_processing")
    store = dv.EventStore()
    for t, x, y, p in zip(events["t"], events["x"], events["y"], events["p"], strict=True):
        store.push_back(int(t), int(x), int(y), bool(p))
    config = dv.io.MonoCameraWriter.EventOnlyConfig(camera, resolution)
    writer = dv.io.MonoCameraWriter(str(path), config)
    writer.writeEvents(store)
    del writer  # closes the file
    return path


def test_cifar10_pickles(tmp_path: Path) -> None:
    root = write_cifar10(tmp_path)
    data = load_vision("cifar10", root)
    assert data.classes[0] == "airplane" and data.n_classes == 10 and not data.sequence
    assert len(data.train) + len(data.val) == 100 and len(data.test) == 20
    x, y = data.test[0]
    with open(root / "cifar-10-batches-py" / "test_batch", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    expected = torch.from_numpy(raw[b"data"][0].reshape(3, 32, 32).astype(np.float32) / 255)
    assert torch.equal(x, expected) and int(y) == raw[b"labels"][0]


@pytest.mark.parametrize(
    ("damage", "message"),
    [("missing", "data_batch_3 is missing"), ("corrupt", "cannot read CIFAR10 batch"),
     ("dtype", "must be uint8 rows of 3072")],
)  # fmt: skip
def test_cifar10_bad_batches(tmp_path: Path, damage: str, message: str) -> None:
    root = write_cifar10(tmp_path)
    target = root / "cifar-10-batches-py" / "data_batch_3"
    if damage == "missing":
        target.unlink()
    elif damage == "corrupt":
        target.write_bytes(b"\x00not a pickle")
    else:
        with open(target, "wb") as f:
            pickle.dump({b"data": np.zeros((2, 3072), np.float64), b"labels": [0, 1]}, f)
    with pytest.raises(DataError, match=message):
        load_vision("cifar10", root)


def test_dvsgesture_through_tonic(tmp_path: Path) -> None:
    root = write_dvsgesture(tmp_path)
    data = load_vision("dvsgesture", root, cache_dir=tmp_path / "cache")
    assert data.n_classes == 11 and data.input_shape == (2, 32, 32)
    assert len(data.train) + len(data.val) == 110 and len(data.test) == 110
    x, _ = data.test[0]
    assert x.shape == (20, 2, 32, 32) and set(x.unique().tolist()) <= {0.0, 1.0}
    assert any((tmp_path / "cache").rglob("*.h5"))


def test_cifar10dvs_aedat4_through_tonic(tmp_path: Path) -> None:
    root = write_cifar10dvs(tmp_path / "data")
    data = load_vision("cifar10dvs", root, cache_dir=tmp_path / "cache", seed=3)
    assert data.n_classes == 10 and data.classes[0] == "airplane"
    assert data.input_shape == (2, 48, 48)
    # the documented seeded 9:1 split, then 10 % of train validates
    assert len(data.test) == 100 and len(data.train) + len(data.val) == 900
    assert len(data.val) == 90
    x, y = data.test[0]
    assert x.shape == (10, 2, 48, 48) and set(x.unique().tolist()) <= {0.0, 1.0}
    assert x.sum() > 0 and 0 <= y < 10
    again = load_vision("cifar10dvs", root, cache_dir=tmp_path / "cache", seed=3)
    assert torch.equal(again.test[0][0], x)
    assert any((tmp_path / "cache").rglob("*.h5"))


def test_empty_aedat4_recording_is_named(tmp_path: Path) -> None:
    root = write_cifar10dvs(tmp_path / "data", empty="airplane")
    data = load_vision("cifar10dvs", root, cache_dir=tmp_path / "cache")
    frames = [data.train, data.val, data.test]
    with pytest.raises(DataError, match=r"cifar10_airplane_0\.aedat4 \(empty or damaged"):
        for split in frames:
            for i in range(len(split)):
                split[i]


# ---------------------------------------------------------------- caches follow the recordings
def all_frames(data: TaskData) -> Dataset:
    """The cached frames the splits of an event set index into."""
    return data.test.dataset if isinstance(data.test, Subset) else data.test


def recording_files(frames: Dataset) -> list[str]:
    """The recording each index of :func:`all_frames` is read from (tonic's file list)."""
    return list(frames.frames.dataset.dataset.data)  # SpikeFrames > SourceCache > _Recordings


def test_cifar10dvs_cache_follows_added_removed_and_replaced_recordings(tmp_path: Path) -> None:
    root = write_cifar10dvs(tmp_path / "data")
    cache = tmp_path / "cache"
    first = read_all(all_frames(load_vision("cifar10dvs", root, cache_dir=cache)))
    assert len(first) == 1000
    written = entry_times(cache)
    assert len(written) == 1000  # one entry per recording

    again = read_all(all_frames(load_vision("cifar10dvs", root, cache_dir=cache)))
    assert same_samples(again, first) and entry_times(cache) == written  # all read back

    folder = root / "CIFAR10DVS"
    rng = np.random.default_rng(7)
    write_aedat4(folder / "cat" / "cifar10_cat_added.aedat4", patch_events(rng, 300, corner=20))
    (folder / "dog" / "cifar10_dog_5.aedat4").unlink()
    # another recording renamed over one, keeping its modification time
    replaced = folder / "bird" / "cifar10_bird_3.aedat4"
    old_times = replaced.stat()
    other = write_aedat4(tmp_path / "other.aedat4", patch_events(rng, 200, corner=100))
    os.utime(other, ns=(old_times.st_atime_ns, old_times.st_mtime_ns))
    os.replace(other, replaced)

    data = load_vision("cifar10dvs", root, cache_dir=cache)
    after = read_all(all_frames(data))
    fresh = load_vision("cifar10dvs", root, cache_dir=tmp_path / "empty")
    assert same_samples(after, read_all(all_frames(fresh)))
    classes = data.classes
    files = recording_files(all_frames(data))
    assert len(files) == 1000
    assert [y for _, y in after] == [classes.index(Path(f).parent.name) for f in files]
    # only the added and the replaced recording were decoded again
    assert len(rewritten(written, entry_times(cache))) == 2
    moved = files.index(str(replaced))
    assert after[moved][0].sum() > 0
    assert not any(torch.equal(after[moved][0], x) for x, _ in first)  # not the old frames


def test_a_320x240_recording_added_after_a_run_is_refused_like_on_a_fresh_run(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The user's case: a DVXplorer recording added to a class folder after a run."""
    root = write_cifar10dvs(tmp_path / "data")
    argv = ["--dataset", "cifar10dvs", "--data-dir", str(root), "--epochs", "1",
            "--size", "16", "--time-steps", "2", "--conv-channels", "2", "--hidden", "8",
            "--batch-size", "100", "--no-progress", "--threads", "1"]  # fmt: skip
    cache = ["--cache-dir", str(tmp_path / "cache")]
    # what a first run leaves: every recording cached (the loader, without the training)
    read_all(all_frames(load_vision("cifar10dvs", root, 16, 2, cache_dir=tmp_path / "cache")))
    written = entry_times(tmp_path / "cache")
    assert len(written) == 1000

    rng = np.random.default_rng(3)
    events = np.zeros(500, dtype=EVENT_DTYPE)
    events["t"] = np.sort(rng.integers(0, 100_000, 500))
    events["x"], events["y"] = rng.integers(0, 320, 500), rng.integers(0, 240, 500)
    events["x"][:2], events["y"][:2] = (0, 319), (0, 239)  # the whole sensor
    events["p"] = rng.integers(0, 2, 500)
    added = write_aedat4(
        root / "CIFAR10DVS" / "cat" / "dvxplorer.aedat4", events, "DVXplorer_test", (320, 240)
    )
    fresh = ["--cache-dir", str(tmp_path / "empty")]
    assert main([*argv, *fresh, "--output", str(tmp_path / "fresh")]) == 2
    refusal = capsys.readouterr().err
    assert refusal.count("\n") == 1 and str(added) in refusal
    assert "events outside the 128x128 sensor: x in [0, 319]" in refusal
    assert main([*argv, *cache, "--output", str(tmp_path / "run2")]) == 2
    assert capsys.readouterr().err == refusal
    # the second run read the first one's entries (and wrote none for the refused file)
    assert entry_times(tmp_path / "cache") == written


def test_dvsgesture_cache_follows_added_removed_and_replaced_recordings(tmp_path: Path) -> None:
    root = write_dvsgesture(tmp_path / "data")
    cache = tmp_path / "cache"
    train = root / "DVSGesture" / "ibmGestureTrain"
    first = load_vision("dvsgesture", root, cache_dir=cache, size=16, time_steps=4)
    train_before = read_all(first.train.dataset)
    test_before = read_all(first.test)
    written = entry_times(cache)
    assert len(written) == 220

    rng = np.random.default_rng(5)
    events = np.stack(
        [rng.integers(0, 128, 300), rng.integers(0, 128, 300), rng.integers(0, 2, 300),
         np.sort(rng.integers(0, 1500, 300))], axis=1,
    )  # fmt: skip
    (train / "user30_led").mkdir()
    np.save(train / "user30_led" / "4.npy", events)
    (train / "user02_fluorescent" / "3.npy").unlink()
    replaced = train / "user05_fluorescent" / "7.npy"
    np.save(tmp_path / "other.npy", events[::-1].copy())  # the same size, other frames
    overwrite_keeping_mtime(replaced, (tmp_path / "other.npy").read_bytes())

    data = load_vision("dvsgesture", root, cache_dir=cache, size=16, time_steps=4)
    fresh = load_vision("dvsgesture", root, cache_dir=tmp_path / "empty", size=16, time_steps=4)
    after = read_all(data.train.dataset)
    assert same_samples(after, read_all(fresh.train.dataset))
    assert same_samples(read_all(data.test), test_before)  # the test part did not change
    files = recording_files(data.train.dataset)
    assert len(files) == 110
    assert [y for _, y in after] == [int(Path(f).stem) for f in files]
    assert len(rewritten(written, entry_times(cache))) == 2  # the added and the replaced
    moved = files.index(str(replaced))
    assert not torch.equal(after[moved][0], train_before[moved][0])


def test_caches_of_the_old_scheme_are_not_served(tmp_path: Path) -> None:
    """Index-keyed tonic caches (the old layout), and entries without a source stamp."""
    from tonic.cached_dataset import save_to_disk_cache

    root = write_dvsgesture(tmp_path / "data")
    cache = tmp_path / "cache"
    old_key = settings_key({"dataset": "dvsgesture", "size": 16, "T": 4, "seed": 0})
    for part in ("train", "test"):
        (cache / f"dvsgesture-{old_key}" / part).mkdir(parents=True)
        for i in range(110):
            blank = np.zeros((4, 2, 16, 16), dtype=np.int16)
            save_to_disk_cache(blank, 0, cache / f"dvsgesture-{old_key}" / part / f"{i}_0.hdf5")
    fresh = read_all(
        load_vision("dvsgesture", root, cache_dir=tmp_path / "empty", size=16, time_steps=4).test
    )
    assert any(x.sum() > 0 for x, _ in fresh) and any(y > 0 for _, y in fresh)
    assert same_samples(
        read_all(load_vision("dvsgesture", root, cache_dir=cache, size=16, time_steps=4).test),
        fresh,
    )
    # an entry in the new place that carries no stamp (written by tonic), or is cut
    # short, is rebuilt
    entries = sorted(entry_times(cache))
    for entry in entries[:-1]:
        save_to_disk_cache(np.zeros((4, 2, 16, 16), dtype=np.int16), 0, entry)
    entries[-1].write_bytes(entries[-1].read_bytes()[:200])
    stale = entry_times(cache)
    data = load_vision("dvsgesture", root, cache_dir=cache, size=16, time_steps=4)
    assert same_samples(read_all(data.test), fresh)
    assert rewritten(stale, entry_times(cache)) == set(entries)


def test_synthetic_dvs_cache_is_read_back(tmp_path: Path) -> None:
    first = load_vision("synthetic-dvs", tmp_path, size=16, time_steps=4, cache_dir=tmp_path / "c")
    samples = [first.test[i] for i in range(5)]
    written = entry_times(tmp_path / "c")
    assert len(written) == 5
    again = load_vision("synthetic-dvs", tmp_path, size=16, time_steps=4, cache_dir=tmp_path / "c")
    assert same_samples([again.test[i] for i in range(5)], samples)
    assert entry_times(tmp_path / "c") == written
    other = load_vision(
        "synthetic-dvs", tmp_path, size=16, time_steps=4, seed=1, cache_dir=tmp_path / "c"
    )
    other.test[0]
    assert len(entry_times(tmp_path / "c")) == 6  # another seed, other recordings


def test_dvsgesture_missing_files_say_where(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="ibmGestureTrain.tar.gz and at least 100 recordings"):
        load_vision("dvsgesture", tmp_path)
    with pytest.raises(DataError, match="CIFAR10DVS.zip and at least 1000"):
        load_vision("cifar10dvs", tmp_path)


def test_event_checks() -> None:
    events = np.zeros(3, dtype=EVENT_DTYPE)
    events["x"] = [1, 5, 140]
    with pytest.raises(DataError, match=r"outside the 128x128 sensor: x in \[1, 140\]"):
        CheckEvents2D((128, 128, 2))(events)
    with pytest.raises(DataError, match="empty"):
        CheckEvents2D((128, 128, 2))(np.zeros(0, dtype=EVENT_DTYPE))
    with pytest.raises(DataError, match="need fields x, y, p, t"):
        CheckEvents2D((128, 128, 2))(np.zeros(3, dtype=[("a", float)]))


@pytest.mark.parametrize(
    ("n", "side", "span_us"),
    [(3000, 16, 100_000), (4000, 6, 40_000), (500, 128, 2_000_000), (1, 4, 10)],
)
def test_denoise_keeps_what_tonic_keeps(n: int, side: int, span_us: int) -> None:
    import tonic

    rng = np.random.default_rng(n)
    events = np.zeros(n, dtype=EVENT_DTYPE)
    events["x"], events["y"] = rng.integers(0, side, n), rng.integers(0, side, n)
    events["t"] = np.sort(rng.integers(0, span_us, n))
    events["p"] = rng.integers(0, 2, n)
    expected = tonic.transforms.Denoise(filter_time=10_000)(events)
    kept = Denoise(filter_time=10_000)(events)
    assert kept.dtype == events.dtype and np.array_equal(kept, expected)
    assert 0 < len(expected) or n == 1
    with pytest.raises(ValueError, match="filter_time must be > 0"):
        Denoise(filter_time=0)


def test_a_recording_the_denoiser_empties_bins_to_blank_frames() -> None:
    import tonic

    events = np.zeros(40, dtype=EVENT_DTYPE)
    events["x"], events["t"] = np.arange(40) % 16, np.arange(40) * 100
    frames = ToFrames(sensor_size=(16, 12, 2), n_time_bins=4)
    expected = tonic.transforms.ToFrame(sensor_size=(16, 12, 2), n_time_bins=4)(events)
    assert np.array_equal(frames(events), expected)
    blank = frames(events[:0])
    assert blank.shape == (4, 2, 12, 16) and blank.dtype == expected.dtype and not blank.any()


def test_dvs_events_follow_log_intensity() -> None:
    frames = np.zeros((3, 4, 4))
    frames[1, 2, 1] = 1.0  # one pixel lights up, then goes dark
    events = dvs_events(frames, threshold=1.0)
    # log(1.05) - log(0.05) = 3.04: three ON events, then three OFF events
    assert events["p"].tolist() == [True] * 3 + [False] * 3
    assert set(zip(events["x"].tolist(), events["y"].tolist(), strict=True)) == {(1, 2)}
    assert (np.diff(events["t"]) >= 0).all()


def test_synthetic_dvs_is_seeded_and_image_disjoint() -> None:
    train, test = SyntheticDVS("train"), SyntheticDVS("test")
    assert len(train) + len(SyntheticDVS("val")) + len(test) == 1797
    assert set(train._indices.tolist()).isdisjoint(test._indices.tolist())
    a, b = SyntheticDVS("test").recording(3), test.recording(3)
    assert np.array_equal(a, b) and len(a) > 100 and a.dtype == EVENT_DTYPE


def test_synthetic_dvs_recordings_are_those_of_before_the_hard_set() -> None:
    """synthetic-dvs-hard was added beside synthetic-dvs without changing a sample."""
    test = SyntheticDVS("test")
    assert test._indices[:5].tolist() == [535, 243, 1730, 501, 1163]
    assert test.targets[:5].tolist() == [9, 2, 3, 2, 6] and len(test.classes) == 10
    for index, pinned in ((0, (8419, 135420, 140705, 4288, 1223874688)),
                          (3, (7097, 103394, 128635, 3656, 1022994596))):  # fmt: skip
        events = test.recording(index)
        sums = tuple(int(events[name].sum()) for name in ("x", "y", "p", "t"))
        assert (len(events), *sums) == pinned


def test_dvs_events_take_a_threshold_per_pixel() -> None:
    frames = np.zeros((2, 1, 2))
    frames[1] = 1.0  # both pixels brighten by log(1.05 / 0.05) = 3.04
    events = dvs_events(frames, threshold=np.array([[0.5, 1.0]]))
    assert Counter(events["x"].tolist()) == {0: 6, 1: 3}
    assert np.array_equal(dvs_events(frames, 0.5), dvs_events(frames, np.full((1, 2), 0.5)))
    with pytest.raises(ValueError, match="threshold must be > 0 at every pixel, got min 0.0"):
        dvs_events(frames, threshold=np.array([[0.5, 0.0]]))


def test_synthetic_dvs_hard_classes_are_digit_and_motion() -> None:
    hard = Difficulty()
    train = SyntheticDVS("train", difficulty=hard)
    assert train.classes[:2] == ["0-triangle", "1-triangle"] and len(train.classes) == 20
    assert np.array_equal(train.targets, train.motions * 10 + train.digits)
    # every digit moves both ways, and the two motions take turns (balanced)
    pairs = Counter(zip(train.digits.tolist(), train.motions.tolist(), strict=True))
    assert len(pairs) == 20 and min(pairs.values()) >= 40
    assert abs(int(train.motions.sum()) * 2 - len(train)) <= 1
    # same images as synthetic-dvs with the same seed: the hard set is its harder view
    assert np.array_equal(train._indices, SyntheticDVS("train")._indices)
    assert len(SyntheticDVS("val", difficulty=replace(hard, motions=4)).classes) == 40


def test_synthetic_dvs_hard_labels_follow_the_motion() -> None:
    """The first saccade runs right (triangle) or left (mirror): a bright stroke moving
    right turns ON at its right edge and OFF at its left, so the mean x of the ON
    events lies right of the OFF events' for the triangle and left for the mirror."""
    quiet = replace(Difficulty(), distractors=0, noise_hz=0, hot_pixels=0)
    test = SyntheticDVS("test", difficulty=quiet)
    for index in range(40):
        events = test.recording(index)
        first = events[events["t"] < 9 * STEP_US]
        on_minus_off = first["x"][first["p"]].mean() - first["x"][~first["p"]].mean()
        assert (on_minus_off > 1.0) if test.motions[index] == 0 else (on_minus_off < -1.0)


def test_synthetic_dvs_hard_has_sensor_noise() -> None:
    hard = Difficulty()
    noisy = SyntheticDVS("val", difficulty=hard)
    clean = SyntheticDVS("val", difficulty=replace(hard, noise_hz=0, hot_pixels=0))
    seconds = 29 * STEP_US * 1e-6
    expected = hard.noise_hz * 32 * 32 * seconds + hard.hot_pixels * hard.hot_pixel_hz * seconds
    for index in range(5):
        events, signal = noisy.recording(index), clean.recording(index)
        # the noise comes on top of the scene's events, which it leaves as they were
        noise = Counter(events.tolist()) - Counter(signal.tolist())
        assert noise.total() == len(events) - len(signal)
        assert abs(noise.total() - expected) < 5 * np.sqrt(expected)
        per_pixel = Counter((x, y) for x, y, _, _ in noise.elements())
        assert len(per_pixel) > 300  # background events all over the sensor
        # the hot pixels fire about hot_pixel_hz * 0.29 s = 29 times, noise pixels once or twice
        hot = sorted(per_pixel.values())[-hard.hot_pixels :]
        assert min(hot) >= 15
        assert (np.diff(events["t"]) >= 0).all() and events["t"].max() < 29 * STEP_US


def test_synthetic_dvs_hard_is_seeded_and_its_splits_disjoint() -> None:
    hard = Difficulty()
    splits = {split: SyntheticDVS(split, difficulty=hard) for split in ("train", "val", "test")}
    images = {split: set(d._indices.tolist()) for split, d in splits.items()}
    assert sum(len(i) for i in images.values()) == len(set().union(*images.values())) == 1797
    assert images["val"].isdisjoint(images["test"])
    again = SyntheticDVS("test", difficulty=hard).recording(7)
    assert np.array_equal(again, splits["test"].recording(7))
    other_seed = SyntheticDVS("test", seed=1, difficulty=hard)
    assert not np.array_equal(other_seed.recording(7), again)
    easy = SyntheticDVS("test").recording(7)
    assert not np.array_equal(easy, again) and again.dtype == EVENT_DTYPE


@pytest.mark.parametrize(
    ("change", "message"),
    [({"motions": 5}, r"motions must be in 1..4 \(\['triangle', 'mirror'"),
     ({"noise_hz": -1.0}, "noise_hz must be >= 0, got -1.0"),
     ({"hot_pixels": -2}, "hot_pixels must be >= 0, got -2"),
     ({"contrast": (0.0, 1.0)}, r"contrast must be a range \(low, high\) with 0 < low <= high"),
     ({"background": (-0.1, 0.2)}, r"background must be .* with 0 <= low <= high, got \(-0.1,"),
     ({"threshold": (0.3, 0.2)}, r"low <= high, got \(0.3, 0.2\)")],
)  # fmt: skip
def test_difficulty_checks_itself(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Difficulty(**change)


def test_synthetic_dvs_hard_loads_through_the_runner(tmp_path: Path) -> None:
    cache = tmp_path / "c"
    data = load_vision("synthetic-dvs-hard", tmp_path, size=16, time_steps=4, cache_dir=cache)
    assert data.name == "synthetic-dvs-hard" and data.n_classes == 20
    assert data.classes[10] == "0-mirror" and data.input_shape == (2, 16, 16)
    assert data.info["samples"] == {"train": 1437, "val": 180, "test": 180}
    x, label = data.test[0]
    assert x.shape == (4, 2, 16, 16) and set(x.unique().tolist()) <= {0.0, 1.0}
    assert label == SyntheticDVS("test", difficulty=Difficulty()).targets[0]
    # its own cache, keyed by its settings; synthetic-dvs's key is as it was
    easy = load_vision("synthetic-dvs", tmp_path, size=16, time_steps=4, cache_dir=cache)
    key = settings_key({"scheme": CACHE_SCHEME, "dataset": "synthetic-dvs", "size": 16, "T": 4,
                        "seed": 0})  # fmt: skip
    assert Path(easy.info["cache"]).name == f"synthetic-dvs-{key}"
    assert Path(data.info["cache"]).name.startswith("synthetic-dvs-hard-")
    assert not torch.equal(easy.test[0][0], x)


def test_vision_cli_knows_synthetic_dvs_hard(capsys: pytest.CaptureFixture) -> None:
    from tasks.vision.cli import fill_defaults, parser

    args = parser().parse_args(["--dataset", "synthetic-dvs-hard", "--data-dir", "d"])
    fill_defaults(args)
    assert (args.epochs, args.conv_channels, args.hidden) == (15, [8, 16], [128])
    with pytest.raises(SystemExit):
        parser().parse_args(["--help"])
    assert "synthetic-dvs-hard: 32x32 frames" in " ".join(capsys.readouterr().out.split())


def test_vision_cli_rejects_unknown_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--dataset", "mnist", "--data-dir", str(tmp_path)]) == 2
    assert "unknown --dataset 'mnist'" in capsys.readouterr().err
