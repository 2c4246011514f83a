"""Vision loaders on files in the real on-disk formats, and the synthetic DVS set."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from tasks.data import DataError
from tasks.vision.cli import main
from tasks.vision.datasets import CheckEvents2D, load_vision
from tasks.vision.synthetic import EVENT_DTYPE, SyntheticDVS, dvs_events
from tasks.vision.transforms import Denoise, ToFrames


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
    dv = pytest.importorskip("dv_processing")
    import tonic

    folder = root / "CIFAR10DVS"
    rng = np.random.default_rng(2)
    config = dv.io.MonoCameraWriter.EventOnlyConfig("DVS128_test", (128, 128))
    for name in tonic.datasets.CIFAR10DVS.classes:
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            store = dv.EventStore()
            n = 0 if (name == empty and i == 0) else 200
            # a small bright patch, so tonic's denoise filter keeps most events
            t = np.sort(rng.integers(0, 100_000, n))
            xs, ys = 60 + rng.integers(0, 6, n), 60 + rng.integers(0, 6, n)
            for ti, x, y, p in zip(t, xs, ys, rng.integers(0, 2, n), strict=True):
                store.push_back(int(ti), int(x), int(y), bool(p))
            path = folder / name / f"cifar10_{name}_{i}.aedat4"
            writer = dv.io.MonoCameraWriter(str(path), config)
            writer.writeEvents(store)
            del writer  # closes the file
    (folder / "CIFAR10DVS.zip").touch()  # tonic checks that the archive is there
    return root


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


def test_vision_cli_rejects_unknown_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--dataset", "mnist", "--data-dir", str(tmp_path)]) == 2
    assert "unknown --dataset 'mnist'" in capsys.readouterr().err
