"""``python -m tasks.vision``: train and prune an NDI convolutional spiking network.

Examples::

    python -m tasks.vision --dataset synthetic-dvs --data-dir data --output runs/sdvs
    python -m tasks.vision --dataset dvsgesture --data-dir data --output runs/gesture
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from runtime.cli import Preset
from tasks.cli import UsageError, canonical_settings, check_command_line, make_parser, run
from tasks.data import TaskData
from tasks.vision.datasets import ARCHITECTURES, DATASETS, load_vision

__all__ = ["canonical_settings", "PRESET", "check", "main", "parser"]

PROG = "python -m tasks.vision"
#: the runner's defaults for the shared options: hidden widths per dataset
#: (``ARCHITECTURES``), the speech runner's surrogate, and one threshold over all
#: layers: per layer, 90 % silences the small first conv (18 inputs per filter on
#: synthetic-dvs: test 0.09 vs 0.59 after 6 epochs)
PRESET = Preset(hidden=None, alpha=20.0, scope="global")


def parser() -> argparse.ArgumentParser:
    p = make_parser(
        PROG,
        "Train an NDI convolutional spiking network on event vision (or CIFAR10) while "
        "NSP prunes it online. Defaults per dataset: "
        + "; ".join(
            f"{name}: {arch['size']}x{arch['size']} frames, T={arch['time_steps']}, "
            f"conv {list(arch['conv_channels'])}, hidden {list(arch['hidden'])}, "
            f"batch {arch['batch_size']}, {arch['epochs']} epochs"
            for name, arch in ARCHITECTURES.items()
        ),
        PRESET,
        per_dataset=("epochs", "batch_size"),
    )
    p.add_argument("--dataset", default=None, help=f"one of {DATASETS} (required)")
    p.add_argument("--size", type=int, default=None, help="frame side (default: per dataset)")
    p.add_argument(
        "--time-steps", type=int, default=None, help="frames / steps T (default: per dataset)"
    )
    p.add_argument(
        "--conv-channels",
        type=int,
        nargs="+",
        default=None,
        help="channels of the NDI conv blocks (default: per dataset)",
    )
    return p


def fill_defaults(args: argparse.Namespace) -> None:
    """Replace the options left at None by the dataset's defaults."""
    if args.dataset not in DATASETS:
        raise UsageError(f"unknown --dataset {args.dataset!r}; accepted: {DATASETS}")
    defaults = ARCHITECTURES[args.dataset]
    for name in ("size", "time_steps", "conv_channels", "hidden", "batch_size", "epochs"):
        if getattr(args, name) is None:
            value = defaults[name]
            setattr(args, name, list(value) if isinstance(value, tuple) else value)
    if not args.conv_channels or any(c <= 0 for c in args.conv_channels):
        raise UsageError(f"--conv-channels must be positive, got {args.conv_channels}")


def load(args: argparse.Namespace) -> TaskData:
    return load_vision(
        args.dataset,
        args.data_dir,
        size=args.size,
        time_steps=args.time_steps,
        seed=args.seed,
        cache_dir=args.cache_dir,
    )


def arch(args: argparse.Namespace, data: TaskData) -> dict[str, Any]:
    return {
        "conv_channels": tuple(args.conv_channels),
        "weight_scale": ARCHITECTURES[data.name]["weight_scale"],
        "time_steps": data.info["time_steps"],
    }


def check(argv: Sequence[str]) -> dict[str, Any]:
    """Check a command line as :func:`main` would, reading no data.

    :return: the settings the run would record (its summary's ``settings``).
    :raises UsageError, ValueError: naming the bad option.
    """
    return check_command_line(parser(), argv, fill_defaults)


def main(argv: Sequence[str] | None = None) -> int:
    return run(PROG, parser(), argv, load, arch, fill_defaults)
