"""What the task command lines share beyond :mod:`runtime.cli`: the training and
data options, the run folder of a supervised run and the final report line.

A runner (``tasks.speech``, ``tasks.vision``) adds its dataset options to the
parser from :func:`make_parser`, and passes :func:`run` a function that loads
its :class:`~tasks.data.TaskData` from the parsed options.

Started by ``torchrun --nproc_per_node N``, the same command trains
data-parallel (:mod:`tasks.distributed`): rank 0 checks the run folder and
fills the data caches first, the others follow, and only rank 0 writes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import torch.distributed as dist

from nspdi_rl.network import READOUTS, LIFConfig, SpikingNetConfig
from nspdi_rl.pruning import PruningSchedule
from runtime.cli import (
    Preset,
    UsageError,
    check_folder_option,
    check_shared_options,
    exit_on_usage_error,
    nsp_config,
    parse_quietly,
    prepare_run_dir,
    run_options,
    runner_parser,
    set_up_process,
    write_run_file,
)
from runtime.compat import ADDED_OPTIONS, reject_old_flags, task_run_file_v1
from runtime.stopping import interrupt_on_sigterm
from tasks.data import DataError, TaskData
from tasks.distributed import SINGLE, Workers, from_environment
from tasks.training import (
    CHECKPOINT_FILE,
    Interrupted,
    TrainConfig,
    resolve_device,
    train_task,
)

__all__ = ["UsageError", "check_command_line", "check_options", "make_parser", "run"]

# options whose default a runner may leave to the dataset
PER_DATASET = frozenset({"epochs", "batch_size"})
# options, besides the shared run-time ones, that may change when a run is resumed
RUNTIME_OPTIONS = frozenset({"device", "num_workers", "cache_dir", "eval_batch_size"})


def make_parser(
    prog: str, description: str, preset: Preset, per_dataset: Collection[str] = ()
) -> argparse.ArgumentParser:
    """A parser with the shared options (:func:`runtime.cli.runner_parser`) and the
    training options every task runner has; the runner adds its dataset's.

    :param preset: the runner's defaults for the shared options.
    :param per_dataset: options among ``epochs`` and ``batch_size`` whose default
        depends on the dataset: they default to None, which the runner's
        ``fill_defaults`` (see :func:`run`) replaces (``hidden`` does when the
        preset leaves it None).
    """
    unknown = set(per_dataset) - PER_DATASET
    if unknown:
        raise ValueError(f"per_dataset options must be among {sorted(PER_DATASET)}: {unknown}")
    train = TrainConfig()

    def default(name: str, value: Any, help: str) -> dict[str, Any]:
        if name in per_dataset:
            return {"default": None, "help": f"{help} (default: per dataset, see above)"}
        return {"default": value, "help": help}

    p = runner_parser(prog, description, preset, output_default="runs/<dataset>-<time>")
    data = p.add_argument_group("data and training")
    data.add_argument("--data-dir", default=None, help="dataset folder (required)")
    data.add_argument(
        "--epochs", type=int, **default("epochs", train.epochs, "passes over the training split")
    )
    data.add_argument(
        "--batch-size",
        type=int,
        **default("batch_size", train.batch_size, "training batch (all processes together)"),
    )
    data.add_argument(
        "--lr", type=float, default=train.lr, help="Adam learning rate (cosine decay)"
    )
    data.add_argument("--weight-decay", type=float, default=train.weight_decay)
    data.add_argument("--readout", default="mean", help=f"one of {READOUTS}")
    data.add_argument("--device", default="auto", help="auto, cpu or cuda")
    data.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    data.add_argument(
        "--eval-batch-size",
        type=int,
        default=train.eval_batch_size,
        help="batch of the validation and test passes (their activations set peak memory)",
    )
    data.add_argument(
        "--cache-dir", default=None, help="feature / frame cache (default: inside the data folder)"
    )
    return p


def _train_config(args: argparse.Namespace, schedule: PruningSchedule) -> TrainConfig:
    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        pruning=schedule,
        freeze_mask=args.freeze_mask,
        seed=args.seed,
        eval_batch_size=args.eval_batch_size,
        num_workers=args.num_workers,
    )


def _neuron_configs(args: argparse.Namespace) -> LIFConfig:
    """The neuron settings, checked before any data is read."""
    if args.readout not in READOUTS:
        raise UsageError(f"unknown --readout {args.readout!r}; accepted: {READOUTS}")
    return LIFConfig(alpha=args.alpha)


def network_config(args: argparse.Namespace, data: TaskData, **arch: Any) -> SpikingNetConfig:
    """The network for ``data`` from the common options; ``arch`` adds conv settings etc."""
    return SpikingNetConfig(
        input_shape=data.input_shape,
        n_outputs=data.n_classes,
        hidden=tuple(args.hidden),
        encoder="events" if data.sequence else "direct",
        ndi=not args.no_ndi,
        nsp=nsp_config(args),
        lif=_neuron_configs(args),
        readout=args.readout,
        **arch,
    )


def check_options(
    args: argparse.Namespace,
    fill_defaults: Callable[[argparse.Namespace], None] | None = None,
) -> TrainConfig:
    """Fill the per-dataset defaults and check every option that needs no data.

    :raises UsageError, ValueError: naming the bad option.
    """
    for name in ("dataset", "data_dir"):
        if getattr(args, name) is None:
            raise UsageError(f"--{name.replace('_', '-')} is required")
    check_folder_option("--data-dir", args.data_dir)
    check_folder_option("--cache-dir", args.cache_dir)
    if fill_defaults is not None:
        fill_defaults(args)
    train_config = _train_config(args, check_shared_options(args).schedule)
    _neuron_configs(args)
    return train_config


def check_command_line(
    parser: argparse.ArgumentParser,
    argv: Sequence[str],
    fill_defaults: Callable[[argparse.Namespace], None] | None = None,
) -> dict[str, Any]:
    """Check a command line as the runner would, reading no data (for experiment grids).

    :return: the settings the run would record (``summary.json``'s ``settings``): every
        option with the per-dataset defaults and the method's NSP options filled in.
    :raises UsageError, ValueError: naming the bad option.
    """
    args = parse_quietly(parser, argv)
    check_options(args, fill_defaults)
    return run_options(args, RUNTIME_OPTIONS)


def canonical_settings(saved: dict[str, Any]) -> dict[str, Any]:
    """Settings a run recorded, as today's :func:`check_command_line` spells them: an NSP
    option added since takes the value runs had before it (:data:`ADDED_OPTIONS`)."""
    return {**ADDED_OPTIONS, **saved}


def _run_dir(
    args: argparse.Namespace, parser: argparse.ArgumentParser, workers: Workers
) -> tuple[Path, bool]:
    """The run folder, and whether it has a run to continue (``--resume`` with settings
    taken from its run.json). Rank 0 checks it; the others only read what rank 0 wrote.
    """
    if workers.distributed and args.output is None:
        raise UsageError("under torchrun, give --output: every process must use one folder")
    if not workers.main and not args.resume:
        return Path(args.output), False
    run_dir, saved = prepare_run_dir(
        args, parser, str(args.dataset), legacy=task_run_file_v1, runtime=RUNTIME_OPTIONS
    )
    return run_dir, saved is not None


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
    argv = list(sys.argv[1:] if argv is None else argv)
    workers = SINGLE
    summary: dict[str, Any] = {}

    def train() -> int:
        nonlocal workers, summary
        reject_old_flags(argv)
        args = parser.parse_args(argv)
        workers, device = from_environment(resolve_device(args.device))
        # rank 0 checks the folder and fills the caches before the others read them
        if not workers.main:
            workers.barrier()
        run_dir, resuming = _run_dir(args, parser, workers)
        train_config = check_options(args, fill_defaults)
        set_up_process(args)
        data = load(args)
        net_config = network_config(args, data, **(arch(args, data) if arch else {}))
        if workers.main:
            if not resuming:
                write_run_file(run_dir, args, prog, runtime=RUNTIME_OPTIONS)
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
                # a run stopped before its first checkpoint starts again from scratch
                resume=resuming and (run_dir / CHECKPOINT_FILE).is_file(),
                progress=not args.no_progress,
                settings=run_options(args, RUNTIME_OPTIONS),
                workers=workers,
            )
        if workers.main:
            print(
                f"test accuracy {summary['accuracy']:.4f} at sparsity {summary['sparsity']:.4f}; "
                f"{summary['synops_per_inference']:.0f} SynOps and "
                f"{summary['energy_per_inference_pj'] / 1e6:.3f} uJ per sample; "
                f"{summary['bits_per_ksynop']:.4f} bits/kSynOp; "
                f"{summary['wall_time_s']:.0f} s; wrote {run_dir / 'summary.json'}"
            )
        # every process leaves together, so that none tears its process group down
        # while rank 0 still writes the run folder (a rank aborted once that way in
        # gloo, "terminate called without an active exception", 3 processes, full suite)
        workers.barrier()
        return 0

    try:
        return exit_on_usage_error(prog, train, also=(DataError, ValueError))
    except Interrupted as stop:
        print(f"{prog}: {stop}; continue with --resume", file=sys.stderr)
        return 130
    finally:
        if workers.distributed and dist.is_initialized():
            dist.destroy_process_group()
