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
    assert any((tmp_path / "cache").rglob("*.hdf5"))


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
