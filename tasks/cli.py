"""What the task command lines share: the training / network options, the run
folder (``run.json``, ``--resume``), one-line errors and the final report.

A runner (``tasks.speech``, ``tasks.vision``) adds its dataset options to the
parser from :func:`make_parser`, and passes :func:`run` a function that loads
its :class:`~tasks.data.TaskData` from the parsed options.

Started by ``torchrun --nproc_per_node N``, the same command trains
data-parallel (:mod:`tasks.distributed`): rank 0 checks the run folder and
fills the data caches first, the others follow, and only rank 0 writes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from nspdi_rl.checkpoint import write_json
from nspdi_rl.layers import A_DISTRIBUTIONS, PRUNING_METHODS, NSPConfig
from nspdi_rl.network import READOUTS, LIFConfig, SpikingNetConfig
from nspdi_rl.pruning import SCHEDULE_SHAPES, SCOPES, PruningSchedule
from nspdi_rl.stopping import interrupt_on_sigterm
from tasks.data import DataError, TaskData
from tasks.distributed import SINGLE, from_environment
from tasks.training import (
    CHECKPOINT_FILE,
    FREEZE_CHOICES,
    Interrupted,
    TrainConfig,
    resolve_device,
    train_task,
)

__all__ = ["RUN_FILE", "UsageError", "check_options", "make_parser", "run"]

RUN_FILE = "run.json"
# options whose default a runner may leave to the dataset
PER_DATASET = frozenset({"epochs", "batch_size", "hidden"})
# options that may change between a run and its resumption
RUNTIME_OPTIONS = frozenset(
    {
        "output",
        "resume",
        "device",
        "num_workers",
        "no_progress",
        "threads",
        "cache_dir",
        "eval_batch_size",
    }
)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each default, except None (the help text says what None means)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


class UsageError(Exception):
    """A bad command line or run folder: reported as one line, exit status 2."""


def make_parser(
    prog: str, description: str, per_dataset: Collection[str] = ()
) -> argparse.ArgumentParser:
    """A parser with the options every task runner has; the runner adds its dataset's.

    :param per_dataset: options among ``epochs``, ``batch_size`` and ``hidden`` whose
        default depends on the dataset: they default to None, which the runner's
        ``fill_defaults`` (see :func:`run`) replaces.
    """
    unknown = set(per_dataset) - PER_DATASET
    if unknown:
        raise ValueError(f"per_dataset options must be among {sorted(PER_DATASET)}: {unknown}")
    train = TrainConfig()

    def default(name: str, value: Any, help: str) -> dict[str, Any]:
        if name in per_dataset:
            return {"default": None, "help": f"{help} (default: per dataset, see above)"}
        return {"default": value, "help": help}

    p = argparse.ArgumentParser(
        prog=prog,
        description=description,
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--data-dir", required=True, help="dataset folder")
    p.add_argument("--output", default=None, help="run folder (default: runs/<dataset>-<time>)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --output (same options as the run that started it)",
    )
    p.add_argument(
        "--epochs", type=int, **default("epochs", train.epochs, "passes over the training split")
    )
    p.add_argument(
        "--batch-size",
        type=int,
        **default("batch_size", train.batch_size, "training batch (all processes together)"),
    )
    p.add_argument("--lr", type=float, default=train.lr, help="Adam learning rate (cosine decay)")
    p.add_argument("--weight-decay", type=float, default=train.weight_decay)
    p.add_argument(
        "--target-sparsity",
        type=float,
        default=train.pruning.final,
        help="final sparsity of the hidden layers in [0, 1); 0 turns pruning off",
    )
    p.add_argument("--schedule", default=train.pruning.shape, help=f"one of {SCHEDULE_SHAPES}")
    p.add_argument(
        "--prune-end",
        type=float,
        default=train.pruning.end,
        help="fraction of training at which the target is reached",
    )
    p.add_argument(
        "--scope", default=train.pruning.scope, help=f"pruning threshold scope, one of {SCOPES}"
    )
    p.add_argument("--freeze-mask", default=train.freeze_mask, help=f"one of {FREEZE_CHOICES}")
    p.add_argument(
        "--method", default="nsp", help=f"synapse parameterisation, one of {PRUNING_METHODS}"
    )
    p.add_argument(
        "--a-dist",
        default=NSPConfig.a_dist,
        help=f"distribution of the transition ratio a, one of {A_DISTRIBUTIONS} "
        "(constant = homogeneous)",
    )
    p.add_argument("--no-ndi", action="store_true", help="drop the dendritic product term")
    p.add_argument("--hidden", type=int, nargs="+", **default("hidden", [256], "hidden widths"))
    p.add_argument("--readout", default="mean", help=f"one of {READOUTS}")
    p.add_argument("--alpha", type=float, default=20.0, help="surrogate gradient sharpness")
    p.add_argument("--seed", type=int, default=train.seed)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument(
        "--eval-batch-size",
        type=int,
        default=train.eval_batch_size,
        help="batch of the validation and test passes (their activations set peak memory)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument(
        "--cache-dir", default=None, help="feature / frame cache (default: inside the data folder)"
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return p


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in sorted(vars(args).items()) if k not in RUNTIME_OPTIONS}


def _train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        pruning=PruningSchedule(
            final=args.target_sparsity, shape=args.schedule, end=args.prune_end, scope=args.scope
        ),
        freeze_mask=args.freeze_mask,
        seed=args.seed,
        eval_batch_size=args.eval_batch_size,
        num_workers=args.num_workers,
    )


def _neuron_configs(args: argparse.Namespace) -> tuple[NSPConfig, LIFConfig]:
    """The synapse and neuron settings, checked before any data is read."""
    if args.readout not in READOUTS:
        raise UsageError(f"unknown --readout {args.readout!r}; accepted: {READOUTS}")
    if args.hidden is not None and (not args.hidden or any(h <= 0 for h in args.hidden)):
        raise UsageError(f"--hidden widths must be positive, got {args.hidden}")
    return NSPConfig(method=args.method, a_dist=args.a_dist), LIFConfig(alpha=args.alpha)


def network_config(args: argparse.Namespace, data: TaskData, **arch: Any) -> SpikingNetConfig:
    """The network for ``data`` from the common options; ``arch`` adds conv settings etc."""
    nsp, lif = _neuron_configs(args)
    return SpikingNetConfig(
        input_shape=data.input_shape,
        n_outputs=data.n_classes,
        hidden=tuple(args.hidden),
        encoder="events" if data.sequence else "direct",
        ndi=not args.no_ndi,
        nsp=nsp,
        lif=lif,
        readout=args.readout,
        **arch,
    )


def _prepare_run_dir(args: argparse.Namespace, dataset: str, settings: dict[str, Any]) -> Path:
    if args.output is None:
        if args.resume:
            raise UsageError("--resume needs --output, the run folder to continue")
        return Path("runs") / f"{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(args.output)
    saved_path = run_dir / RUN_FILE
    if not args.resume:
        if saved_path.exists():
            raise UsageError(
                f"{run_dir} already holds a run; add --resume to continue it, or choose "
                "another --output"
            )
        return run_dir
    if not (run_dir / CHECKPOINT_FILE).is_file() or not saved_path.is_file():
        raise UsageError(f"nothing to resume in {run_dir}: no {RUN_FILE} and {CHECKPOINT_FILE}")
    saved = json.loads(saved_path.read_text())
    changed = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
    if changed:
        detail = ", ".join(f"{k}: {saved.get(k)!r} -> {settings.get(k)!r}" for k in changed)
        raise UsageError(f"{run_dir} was started with other options ({detail})")
    return run_dir


def check_options(
    args: argparse.Namespace,
    fill_defaults: Callable[[argparse.Namespace], None] | None = None,
) -> TrainConfig:
    """Fill the per-dataset defaults and check every option that needs no data.

    :raises UsageError, ValueError: naming the bad option.
    """
    if fill_defaults is not None:
        fill_defaults(args)
    train_config = _train_config(args)
    _neuron_configs(args)
    if args.threads is not None and args.threads <= 0:
        raise UsageError(f"--threads must be > 0, got {args.threads}")
    return train_config


def run(
    prog: str,
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    load: Callable[[argparse.Namespace], TaskData],
    arch: Callable[[argparse.Namespace, TaskData], dict[str, Any]] | None = None,
    fill_defaults: Callable[[argparse.Namespace], None] | None = None,
) -> int:
    """Parse, load the data, train, report. Returns the exit status (2: bad input).

    :param load: the runner's data loader.
    :param arch: extra network settings (conv layers, ...) for the loaded data.
    :param fill_defaults: replaces the per-dataset defaults (None) in the parsed
        options before anything else reads them, so ``run.json`` holds real values.
    """
    args = parser.parse_args(argv)
    workers = SINGLE
    try:
        train_config = check_options(args, fill_defaults)
        settings = _settings(args)
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        workers, device = from_environment(resolve_device(args.device))
        if workers.distributed and args.output is None:
            raise UsageError("under torchrun, give --output: every process must use one folder")
        # rank 0 checks the folder and fills the caches before the others read them
        if not workers.main:
            workers.barrier()
        run_dir = (
            _prepare_run_dir(args, args.dataset, settings) if workers.main else Path(args.output)
        )
        data = load(args)
        net_config = network_config(args, data, **(arch(args, data) if arch else {}))
        if workers.main:
            run_dir.mkdir(parents=True, exist_ok=True)
            if not args.resume:
                write_json(settings, run_dir / RUN_FILE)
            print(
                f"{data.name}: {len(data.train)} train / {len(data.val)} val / "  # type: ignore[arg-type]
                f"{len(data.test)} test samples, {data.n_classes} classes; "  # type: ignore[arg-type]
                f"run folder {run_dir}, device {device}"
                + (f", {workers.world_size} processes" if workers.distributed else ""),
                flush=True,
            )
            workers.barrier()
        with interrupt_on_sigterm():  # a kill saves the checkpoint, as Ctrl-C does
            summary = train_task(
                data,
                net_config,
                train_config,
                run_dir,
                device,
                resume=args.resume,
                progress=not args.no_progress,
                settings=settings,
                workers=workers,
            )
    except (UsageError, DataError, ValueError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except Interrupted as stop:
        print(f"{prog}: {stop}; continue with --resume", file=sys.stderr)
        return 130
    finally:
        if workers.distributed and dist.is_initialized():
            dist.destroy_process_group()
    if workers.main:
        print(
            f"test accuracy {summary['accuracy']:.4f} at sparsity {summary['sparsity']:.4f}; "
            f"{summary['synops_per_sample']:.0f} SynOps and "
            f"{summary['energy_per_sample_pj'] / 1e6:.3f} uJ per sample; "
            f"{summary['bits_per_ksynop']:.4f} bits/kSynOp; "
            f"{summary['wall_time_s']:.0f} s; wrote {run_dir / 'summary.json'}"
        )
    return 0
