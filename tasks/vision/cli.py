"""``python -m tasks.vision``: train and prune an NDI convolutional spiking network.

Examples::

    python -m tasks.vision --dataset synthetic-dvs --data-dir data --output runs/sdvs
    python -m tasks.vision --dataset dvsgesture --data-dir data --output runs/gesture
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from tasks.cli import make_parser, run
from tasks.data import TaskData
from tasks.vision.datasets import ARCHITECTURES, DATASETS, load_vision

__all__ = ["main", "parser"]

PROG = "python -m tasks.vision"


def parser() -> argparse.ArgumentParser:
    p = make_parser(
        PROG,
        "Train an NDI convolutional spiking network on event vision (or CIFAR10) while "
        "NSP prunes it online. Default networks per dataset: "
        + "; ".join(
            f"{name}: {arch['size']}x{arch['size']} frames, T={arch['time_steps']}, "
            f"conv {list(arch['conv_channels'])}, hidden {list(arch['hidden'])}"
            for name, arch in ARCHITECTURES.items()
        ),
        hidden=None,
    )
    # one threshold over all layers: per-layer 90 % silences the small first conv
    # (18 inputs per filter on synthetic-dvs: test 0.09 vs 0.59 after 6 epochs)
    p.set_defaults(scope="global")
    p.add_argument("--dataset", required=True, help=f"one of {DATASETS}")
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
    defaults = ARCHITECTURES[data.name]
    return {
        "conv_channels": tuple(args.conv_channels or defaults["conv_channels"]),
        "hidden": defaults["hidden"],
        "weight_scale": defaults["weight_scale"],
        "time_steps": data.info["time_steps"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    return run(PROG, parser(), argv, load, arch)
