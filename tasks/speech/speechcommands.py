"""Google Speech Commands keyword spotting, through ``torchaudio.datasets.SPEECHCOMMANDS``.

torchaudio gives the splits (its ``validation_list.txt`` / ``testing_list.txt``
reading) and each clip's metadata (``get_metadata``); the audio is read with
soundfile. Two setups:

- ``12`` classes: the ten keywords, ``_silence_`` (1 s crops of the files in
  ``_background_noise_``) and ``_unknown_`` (every other word). Unknown and
  silence clips are drawn, seeded, to about the size of one keyword class in
  each split, the usual balancing for this setup.
- ``35`` classes: every word of Speech Commands v0.02.

Features of each split are cached (one ``.pt`` per split, named by the dataset
folder and the feature settings), then normalised with the training split's
per-feature mean and standard deviation. The cache holds each clip's features
under the clip's :func:`~tasks.data.source_stamp` (path, size, inode,
modification and status-change times), and the ``_silence_`` clips under the
stamps of the noise files, the seed and their count: at each load the split's
clips are listed afresh, clips whose stamp is in the cache are read from it, and
only new or changed clips are decoded (and checked) again; a split file without
stamps (written before), or a damaged one, is rebuilt whole.
"""

from __future__ import annotations

import pickle
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset
from torchaudio.datasets import SPEECHCOMMANDS
from tqdm import tqdm

from nspdi_rl.checkpoint import atomic_torch_save
from tasks.data import CACHE_SCHEME, DataError, TaskData, settings_key, source_stamp
from tasks.speech.features import (
    ENCODINGS,
    AudioFeatures,
    DeltaSpikes,
    StackFrames,
    read_audio,
    read_clip,
)

__all__ = [
    "ALL_WORDS",
    "CLASS_SETUPS",
    "KEYWORDS",
    "SILENCE",
    "UNKNOWN",
    "find_dataset_folder",
    "load_speechcommands",
]

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
AUXILIARY_WORDS = (
    "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow",
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "backward", "forward", "follow", "learn", "visual",
)  # fmt: skip
ALL_WORDS = KEYWORDS + AUXILIARY_WORDS
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
NOISE_FOLDER = "_background_noise_"
CLASS_SETUPS = (12, 35)
SUBSETS = ("training", "validation", "testing")
SAMPLE_RATE = 16_000

LAYOUT_HELP = (
    "expected the extracted Speech Commands layout: DIR/<word>/<speaker>_nohash_<n>.wav "
    "with DIR/validation_list.txt, DIR/testing_list.txt and DIR/_background_noise_/*.wav "
    "(or torchaudio's DIR/SpeechCommands/speech_commands_v0.02/...). Get it from "
    "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz, or synthesise a "
    "keyword set with: python -m tasks.speech.make_espeak_kws DIR"
)


def find_dataset_folder(data_dir: str | Path) -> Path:
    """The folder holding the word folders and list files, under ``data_dir``.

    :raises DataError: no such folder, or no list files in it.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"Speech Commands folder {data_dir} does not exist; {LAYOUT_HELP}")
    candidates = [data_dir] + [
        data_dir / "SpeechCommands" / version
        for version in ("speech_commands_v0.02", "speech_commands_v0.01")
    ]
    for folder in candidates:
        if (folder / "validation_list.txt").is_file() and (folder / "testing_list.txt").is_file():
            return folder
    raise DataError(f"no validation_list.txt / testing_list.txt under {data_dir}; {LAYOUT_HELP}")


def _split_files(folder: Path, subset: str) -> list[tuple[Path, str, str]]:
    """``(path, word, speaker)`` of every clip torchaudio puts in ``subset``."""
    # torchaudio joins root / folder_in_archive / (URL basename minus ".tar.gz")
    dataset = SPEECHCOMMANDS(
        folder.parent, url=f"{folder.name}.tar.gz", folder_in_archive="", subset=subset
    )
    files = []
    for index in range(len(dataset)):
        relpath, _, word, speaker, _ = dataset.get_metadata(index)
        files.append((folder.parent / relpath, word, speaker))
    return files


def _class_names(setup: int) -> list[str]:
    if setup == 12:
        return [*KEYWORDS, SILENCE, UNKNOWN]
    return list(ALL_WORDS)


def _choose(
    files: list[tuple[Path, str, str]], setup: int, subset: str, seed: int
) -> tuple[list[tuple[Path, str, str]], int]:
    """The clips of one split in this class setup and how many silence clips to add."""
    words = {word for _, word, _ in files}
    if setup == 35:
        missing = sorted(set(ALL_WORDS) - words)
        if missing:
            raise DataError(
                f"the 35-class setup needs all Speech Commands v0.02 words; the {subset} "
                f"split has no clips of {missing}"
            )
        return files, 0
    keyword_clips = [f for f in files if f[1] in KEYWORDS]
    if not keyword_clips:
        raise DataError(f"the {subset} split holds none of the keywords {list(KEYWORDS)}")
    per_class = max(1, round(len(keyword_clips) / len(KEYWORDS)))
    unknown = [f for f in files if f[1] not in KEYWORDS]
    rng = np.random.default_rng([seed, SUBSETS.index(subset), 12])
    if len(unknown) > per_class:
        keep = sorted(rng.choice(len(unknown), per_class, replace=False).tolist())
        unknown = [unknown[i] for i in keep]
    return keyword_clips + unknown, per_class


def _noise_files(folder: Path) -> list[Path]:
    files = sorted((folder / NOISE_FOLDER).glob("*.wav"))
    if not files:
        raise DataError(
            f"the 12-class setup draws its {SILENCE} class from {folder / NOISE_FOLDER}/*.wav, "
            "and there are none"
        )
    return files


def _silence_clips(
    noise: list[np.ndarray], count: int, rng: np.random.Generator
) -> list[np.ndarray]:
    clips = []
    for _ in range(count):
        source = noise[int(rng.integers(len(noise)))]
        start = int(rng.integers(0, max(1, len(source) - SAMPLE_RATE + 1)))
        clip = source[start : start + SAMPLE_RATE]
        clip = np.pad(clip, (0, SAMPLE_RATE - len(clip)))
        clips.append(clip * float(rng.uniform(0.0, 1.0)))
    return clips


def _features_of(
    clips: list[np.ndarray], features: AudioFeatures, shape: tuple[int, int]
) -> torch.Tensor:
    """Features of 1 s clips, 256 at a time (one clip's features do not depend on its batch)."""
    if not clips:
        return torch.zeros(0, *shape)
    frames = [
        features(torch.from_numpy(np.stack(clips[start : start + 256])))
        for start in range(0, len(clips), 256)
    ]
    return torch.cat(frames).to(torch.float32)


def _read_split_cache(path: Path) -> dict[str, Any]:
    """A split's cached features, or an empty cache when absent or not of this scheme."""
    empty: dict[str, Any] = {"stamps": [], "features": None, "silence_stamp": "", "silence": None}
    if not path.is_file():
        return empty
    try:
        cached = torch.load(path, weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):
        return empty  # damaged: rebuilt like a missing file
    if not isinstance(cached, dict) or cached.get("scheme") != CACHE_SCHEME:
        return empty
    if len(cached["stamps"]) != len(cached["features"]):
        return empty
    return cached


def _load_split(
    folder: Path,
    subset: str,
    setup: int,
    features: AudioFeatures,
    seed: int,
    cache: Path,
    progress: bool,
) -> dict[str, torch.Tensor]:
    """A split's features and labels, reusing cached features of unchanged clips."""
    files, silence = _choose(_split_files(folder, subset), setup, subset, seed)
    classes = _class_names(setup)
    labels = [classes.index(word if word in classes else UNKNOWN) for _, word, _ in files]
    if silence:  # the 35-class setup adds none and has no such class
        labels += [classes.index(SILENCE)] * silence
    if not labels:
        raise DataError(f"the {subset} split of {folder} holds no clips")
    shape = (int(features(torch.zeros(SAMPLE_RATE)).shape[0]), features.size)
    stamps = [source_stamp(path) for path, _, _ in files]
    cached = _read_split_cache(cache)
    row = {stamp: i for i, stamp in enumerate(cached["stamps"])}
    missing = [i for i, stamp in enumerate(stamps) if stamp not in row]
    clips = [
        read_clip(files[i][0], SAMPLE_RATE)
        for i in tqdm(
            missing, desc=f"features {subset}", leave=False, dynamic_ncols=True,
            disable=not progress,
        )
    ]  # fmt: skip
    fresh = _features_of(clips, features, shape)
    frames = torch.zeros(len(files), *shape)
    if len(missing) < len(files):
        kept = [i for i in range(len(files)) if stamps[i] in row]
        frames[kept] = cached["features"][[row[stamps[i]] for i in kept]]
    frames[missing] = fresh
    # the silence clips are crops of the noise files drawn with the seed
    noise = _noise_files(folder) if silence else []
    silence_stamp = "|".join([f"{seed}", f"{silence}", *(source_stamp(p) for p in noise)])
    if silence_stamp == cached["silence_stamp"]:
        quiet = cached["silence"]
    else:
        rng = np.random.default_rng([seed, SUBSETS.index(subset), 0])
        sources = [read_audio(p, SAMPLE_RATE) for p in noise]
        quiet = _features_of(_silence_clips(sources, silence, rng), features, shape)
    if stamps != cached["stamps"] or quiet is not cached["silence"]:
        split = {
            "scheme": CACHE_SCHEME,
            "stamps": stamps,
            "features": frames,
            "silence_stamp": silence_stamp,
            "silence": quiet,
        }
        atomic_torch_save(split, cache)
    return {
        "features": torch.cat([frames, quiet]),
        "labels": torch.tensor(labels, dtype=torch.long),
    }


def load_speechcommands(
    data_dir: str | Path,
    classes: int = 12,
    features: AudioFeatures | None = None,
    encoding: str = "direct",
    delta_threshold: float = 0.5,
    context: int = 1,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> TaskData:
    """Load Speech Commands (or a set in its layout) as normalised feature sequences.

    :param data_dir: the extracted dataset folder (or torchaudio's root above it).
    :param classes: 12 (keywords + silence + unknown) or 35 (every word).
    :param features: the frame features. Default: 40 log-mel bands, 30 ms / 20 ms.
    :param encoding: ``direct`` (normalised features as input currents) or ``delta``
        (ON/OFF threshold-crossing spikes, twice the channels).
    :param delta_threshold: quantisation step of the delta encoding, in standard deviations.
    :param context: frames stacked into each step (:class:`StackFrames`). Default 1.
    :param seed: seed of the unknown / silence draws.
    :param cache_dir: feature cache folder. Default: ``<dataset folder>/.nspdi_cache``.
    :param progress: show a progress bar while features are computed.
    :raises DataError: missing or malformed dataset files.
    """
    if classes not in CLASS_SETUPS:
        raise ValueError(f"unknown class setup {classes!r}; accepted: {CLASS_SETUPS}")
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}; accepted: {ENCODINGS}")
    features = features or AudioFeatures()
    delta = DeltaSpikes(delta_threshold) if encoding == "delta" else None
    stack = StackFrames(context)
    folder = find_dataset_folder(data_dir).resolve()
    splits = _feature_splits(folder, classes, features, seed, cache_dir, progress)
    datasets, mean, std = _encode_splits(splits, delta, stack)
    train = splits["training"]["features"]
    names = _class_names(classes)
    info: dict[str, Any] = {
        "folder": str(folder),
        "classes": classes,
        "features": asdict(features),
        "encoding": encoding,
        "delta_threshold": delta_threshold if delta is not None else None,
        "context": context,
        "frames": int(train.shape[1]),
        "feature_mean": mean.tolist(),
        "feature_std": std.tolist(),
        "samples": {s: len(d) for s, d in datasets.items()},
    }
    return TaskData(
        name="speechcommands",
        train=datasets["training"],
        val=datasets["validation"],
        test=datasets["testing"],
        input_shape=(features.size * (2 if delta is not None else 1) * context,),
        classes=names,
        sequence=True,
        binary=delta is not None,
        info=info,
    )


def _feature_splits(
    folder: Path,
    classes: int,
    features: AudioFeatures,
    seed: int,
    cache_dir: str | Path | None,
    progress: bool,
) -> dict[str, dict[str, torch.Tensor]]:
    """Each split's features and labels, from the cache or computed and cached."""
    # the split lists and the clips are read at every load, so they are not in the key
    key = settings_key(
        {
            "scheme": CACHE_SCHEME,
            "folder": str(folder),
            "classes": classes,
            "seed": seed,
            **asdict(features),
        }
    )
    cache = Path(cache_dir) if cache_dir is not None else folder / ".nspdi_cache"
    return {
        subset: _load_split(
            folder,
            subset,
            classes,
            features,
            seed,
            cache / f"speechcommands-{key}-{subset}.pt",
            progress,
        )
        for subset in SUBSETS
    }


def _encode_splits(
    splits: dict[str, dict[str, torch.Tensor]], delta: DeltaSpikes | None, stack: StackFrames
) -> tuple[dict[str, TensorDataset], torch.Tensor, torch.Tensor]:
    """Every split normalised by the training split's per-channel mean and standard
    deviation, delta-encoded when ``delta`` is given, frames stacked; and those
    statistics."""
    train = splits["training"]["features"]
    mean = train.mean(dim=(0, 1))
    std = train.std(dim=(0, 1)).clamp_min(1e-5)
    datasets = {}
    for subset, split in splits.items():
        x = (split["features"] - mean) / std
        if delta is not None:
            x = delta(x)
        datasets[subset] = TensorDataset(stack(x), split["labels"])
    return datasets, mean, std
