"""Peak memory of the full-size DVS Gesture run, on a generated set of the real shape.

Writes tonic's DVSGesture layout with the real split sizes (1,077 training and
264 test recordings, 11 gestures, 128x128 sensor, about 6 s each) and
``--events`` events per recording, then runs ``python -m tasks.vision
--dataset dvsgesture`` in this process with the default network for
``--epochs``. The first epoch fills tonic's disk cache, so every recording is
read, denoised, downsampled and binned once. Prints the resident set size
after the imports (the reference), after the data is opened, and at its peak.

The recordings are ``--distinct`` random hand-like recordings hard-linked
under all 1,341 names: the loader reads every file on its own, so memory sees
the real set, while the disk holds only the distinct ones.

Run: ``python -m bench.dvsgesture_memory [--events 450000] [--epochs 1]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

TRAIN_RECORDINGS, TEST_RECORDINGS, GESTURES = 1077, 264, 11
LIGHTING = ("fluorescent", "fluorescent_led", "lab", "led", "natural")


def rss_mb() -> float:
    """Current resident set size, MB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def recording(rng: np.random.Generator, events: int, duration_ms: int = 6000) -> np.ndarray:
    """A hand-like blob moving on a circle, plus 5 % background noise: rows [x, y, p, t_ms]."""
    t = np.sort(rng.uniform(0, duration_ms, events))
    phase = 2 * np.pi * t / rng.uniform(800, 1600)
    cx, cy = 64 + 30 * np.cos(phase), 64 + 30 * np.sin(phase)
    x = np.clip(np.rint(cx + rng.normal(0, 8, events)), 0, 127)
    y = np.clip(np.rint(cy + rng.normal(0, 8, events)), 0, 127)
    noise = rng.random(events) < 0.05
    x[noise], y[noise] = rng.integers(0, 128, noise.sum()), rng.integers(0, 128, noise.sum())
    p = rng.integers(0, 2, events)
    return np.stack([x, y, p, np.floor(t)], axis=1).astype(np.int32)


def write_set(root: Path, events: int, distinct: int, seed: int = 0) -> None:
    """tonic's DVSGesture folders with the real numbers of recordings."""
    folder = root / "DVSGesture"
    pool = folder / "pool"
    pool.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sources = []
    for i in range(distinct):
        path = pool / f"{i}.npy"
        if not path.exists():
            np.save(path, recording(rng, events))
        sources.append(path)
    for part, count, first_user in (
        ("ibmGestureTrain", TRAIN_RECORDINGS, 1),
        ("ibmGestureTest", TEST_RECORDINGS, 24),
    ):
        for i in range(count):
            trial, gesture = divmod(i, GESTURES)
            user = first_user + trial // len(LIGHTING)
            target = folder / part / f"user{user:02d}_{LIGHTING[trial % len(LIGHTING)]}"
            target.mkdir(parents=True, exist_ok=True)
            name = target / f"{gesture}.npy"
            if not name.exists():
                os.link(sources[i % distinct], name)
        archive = folder / f"{part}.tar.gz"
        if not archive.exists():
            with tarfile.open(archive, "w:gz"):
                pass  # tonic checks that the archive is there


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=450_000, help="events per recording (real mean: ~450k)"
    )
    parser.add_argument("--distinct", type=int, default=33, help="distinct recordings on disk")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--root", default=None, help="where the set goes (default: a temp dir)")
    args = parser.parse_args()
    for name in ("events", "distinct", "epochs", "threads"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be > 0, got {getattr(args, name)}")

    from tasks.vision import cli  # the reference point: torch, tonic and the runner imported

    baseline = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.root) if args.root else Path(tmp)
        start = time.perf_counter()
        write_set(root, args.events, args.distinct)
        print(
            f"wrote {TRAIN_RECORDINGS} + {TEST_RECORDINGS} recordings of {args.events:,} events "
            f"({args.distinct} distinct) in {time.perf_counter() - start:.0f} s",
            flush=True,
        )
        start = time.perf_counter()
        status = cli.main(
            ["--dataset", "dvsgesture", "--data-dir", str(root), "--output", str(root / "run"),
             "--epochs", str(args.epochs), "--threads", str(args.threads), "--no-progress"]
        )  # fmt: skip
        wall = time.perf_counter() - start
        cache = sum(f.stat().st_size for f in (root / ".nspdi_cache").rglob("*") if f.is_file())
    if status != 0:
        raise SystemExit(status)
    peak = peak_rss_mb()
    print("| reference RSS (imports) | peak RSS | peak / reference | frame cache | wall |")
    print("|---|---|---|---|---|")
    print(
        f"| {baseline:.0f} MB | {peak:.0f} MB | {peak / baseline:.2f}x | "
        f"{cache / 2**20:.0f} MB | {wall:.0f} s |"
    )


if __name__ == "__main__":
    main()
