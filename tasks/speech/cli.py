"""``python -m tasks.speech``: train and prune an NDI spiking network on speech.

Examples::

    python -m tasks.speech --dataset speechcommands --data-dir data/kws --output runs/kws
    python -m tasks.speech --dataset shd --data-dir data --output runs/shd --epochs 30
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runtime.cli import Preset
from tasks.cli import UsageError, canonical_settings, check_command_line, make_parser, run
from tasks.data import TaskData
from tasks.speech.features import ENCODINGS, FEATURE_KINDS, AudioFeatures
from tasks.speech.shd import SHD_CHANNELS, load_shd
from tasks.speech.speechcommands import CLASS_SETUPS, load_speechcommands

__all__ = ["canonical_settings", "DATASETS", "PRESET", "check", "load", "main", "parse_args"]

DATASETS = ("shd", "speechcommands")
PROG = "python -m tasks.speech"
#: the runner's defaults for the shared options: one hidden layer of 256 LIF neurons;
#: a softer surrogate than Norse's (alpha 20 instead of 100) passes gradient to more
#: neurons
PRESET = Preset(hidden=(256,), alpha=20.0)


def parser() -> argparse.ArgumentParser:
    p = make_parser(
        PROG,
        "Train an NDI spiking network on SHD or Speech Commands while NSP prunes it online.",
        PRESET,
    )
    p.add_argument("--dataset", default=None, help=f"one of {DATASETS} (required)")
    kws = p.add_argument_group("speechcommands")
    kws.add_argument("--classes", type=int, default=12, help=f"class setup, one of {CLASS_SETUPS}")
    kws.add_argument("--features", default="logmel", help=f"one of {FEATURE_KINDS}")
    kws.add_argument("--n-mels", type=int, default=40, help="mel bands")
    kws.add_argument("--n-mfcc", type=int, default=20, help="cepstral coefficients (mfcc)")
    kws.add_argument("--hop-ms", type=float, default=20.0, help="frame step, ms")
    kws.add_argument("--encoding", default="direct", help=f"one of {ENCODINGS}")
    kws.add_argument(
        "--context", type=int, default=8, help="frames stacked into each time step (delay line)"
    )
    kws.add_argument(
        "--delta-threshold", type=float, default=0.5, help="delta encoding step, in std units"
    )
    shd = p.add_argument_group("shd")
    shd.add_argument("--time-steps", type=int, default=100, help="frames per recording")
    shd.add_argument("--shd-duration", type=float, default=1.4, help="binned window, s")
    shd.add_argument(
        "--shd-channels", type=int, default=SHD_CHANNELS, help="input channels (divides 700)"
    )
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    return parser().parse_args(argv)


def load(args: argparse.Namespace) -> TaskData:
    """The dataset the options name."""
    if args.dataset == "speechcommands":
        features = AudioFeatures(
            kind=args.features, n_mels=args.n_mels, n_mfcc=args.n_mfcc, hop_ms=args.hop_ms
        )
        return load_speechcommands(
            args.data_dir,
            classes=args.classes,
            features=features,
            encoding=args.encoding,
            delta_threshold=args.delta_threshold,
            context=args.context,
            seed=args.seed,
            cache_dir=args.cache_dir,
            progress=not args.no_progress,
        )
    if args.dataset == "shd":
        return load_shd(
            args.data_dir,
            time_steps=args.time_steps,
            duration_s=args.shd_duration,
            channels=args.shd_channels,
            seed=args.seed,
            cache_dir=args.cache_dir,
        )
    raise ValueError(f"unknown --dataset {args.dataset!r}; accepted: {DATASETS}")


def check_dataset(args: argparse.Namespace) -> None:
    """Refuse an unknown ``--dataset`` before anything else is read."""
    if args.dataset not in DATASETS:
        raise UsageError(f"unknown --dataset {args.dataset!r}; accepted: {DATASETS}")


def _check_without_data(args: argparse.Namespace) -> None:
    """:func:`check_dataset`, and a data folder that exists (the loader, which says what
    it expects inside, does not run here)."""
    check_dataset(args)
    if not Path(args.data_dir).exists():
        hint = (
            f" (the espeak-ng keyword set: python -m tasks.speech.make_espeak_kws {args.data_dir})"
            if args.dataset == "speechcommands"
            else ""
        )
        raise UsageError(f"--data-dir {args.data_dir} does not exist{hint}")


def check(argv: Sequence[str]) -> dict[str, Any]:
    """Check a command line as :func:`main` would, reading no data.

    :return: the settings the run would record (its summary's ``settings``).
    :raises UsageError, ValueError: naming the bad option.
    """
    return check_command_line(parser(), argv, _check_without_data)


def main(argv: Sequence[str] | None = None) -> int:
    return run(PROG, parser(), argv, load, fill_defaults=check_dataset)
