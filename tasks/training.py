"""The supervised training loop every task runner shares.

:func:`train_task` builds nothing itself: it takes a network config and a
:class:`~tasks.data.TaskData`, trains with Adam while a
:class:`~nspdi_rl.pruning.Pruner` moves the model to the target sparsity,
checkpoints after every epoch (and on Ctrl-C or SIGTERM, mid-epoch), evaluates
the validation split each epoch and the test split at the end, and writes
``summary.json``, ``history.json`` and the plots into the run folder.

Shuffling is a permutation seeded by ``(seed, epoch)``, and spike draws are
seeded per step, so a resumed run sees the same batches in the same order, and
draws the same spikes, as an uninterrupted one.

Under ``torchrun`` (see :mod:`tasks.distributed`) every process draws the same
global batch, trains on its slice through ``DistributedDataParallel``, and
evaluates its slice of each split; losses, counts, confusion matrices and
SynOps are summed over the processes, so the numbers are those of the whole
split, and only rank 0 writes the run folder.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from nspdi_rl.checkpoint import atomic_torch_save, save_model, write_json
from nspdi_rl.cli import common_summary
from nspdi_rl.metrics import (
    SynOpsCounter,
    connectivity_per_layer,
    energy_pj,
    information_efficiency,
    layer_stats,
    sparsity,
)
from nspdi_rl.network import SpikingNetConfig, SpikingNetwork, build_network
from nspdi_rl.pruning import SCHEDULE_SHAPES, SCOPES, Pruner, PruningSchedule
from nspdi_rl.stopping import interrupts_held
from tasks.data import TaskData
from tasks.distributed import SINGLE, Workers, derived_seed
from tasks.plots import plot_training

__all__ = [
    "CHECKPOINT_FILE",
    "FREEZE_CHOICES",
    "Interrupted",
    "TrainConfig",
    "evaluate",
    "resolve_device",
    "train_task",
]

CHECKPOINT_FILE = "checkpoint.pt"
FREEZE_CHOICES = ("end", "reached")


class Interrupted(Exception):
    """Training stopped by Ctrl-C or SIGTERM after its state was saved; ``--resume``
    continues it."""


@dataclass(frozen=True)
class TrainConfig:
    """How a task network is trained and pruned.

    :param epochs: passes over the training split. Default 20.
    :param batch_size: training batch size. Default 64.
    :param lr: Adam learning rate (cosine-annealed to 0 over training). Default 2e-3.
    :param weight_decay: Adam weight decay. Default 0.
    :param target_sparsity: final sparsity of the pruned layers, in [0, 1); 0 turns
        pruning off. Default 0.9.
    :param schedule: sparsity schedule shape (``cubic``, ``linear``, ``sine``, ``constant``).
    :param prune_end: fraction of training at which the target is reached; the rest
        fine-tunes at the target. Default 0.8.
    :param scope: ``global`` (one threshold over all pruned layers) or ``layer``.
    :param freeze_mask: ``end`` (silent synapses may regrow until training ends) or
        ``reached`` (the mask is fixed once the target is reached).
    :param seed: seed of the weights, the shuffling and the spike draws. Default 0.
    :param eval_batch_size: batch size of validation and test passes. Default 256.
    :param num_workers: DataLoader worker processes. Default 0 (in-process).
    """

    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.0
    target_sparsity: float = 0.9
    schedule: str = "cubic"
    prune_end: float = 0.8
    scope: str = "layer"
    freeze_mask: str = "end"
    seed: int = 0
    eval_batch_size: int = 256
    num_workers: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ValueError(f"num_workers must be an int >= 0, got {self.num_workers!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0.0 <= self.target_sparsity < 1.0:
            raise ValueError(f"target_sparsity must be in [0, 1), got {self.target_sparsity}")
        if self.schedule not in SCHEDULE_SHAPES:
            raise ValueError(f"unknown schedule {self.schedule!r}; accepted: {SCHEDULE_SHAPES}")
        if not 0.0 < self.prune_end <= 1.0:
            raise ValueError(f"prune_end must be in (0, 1], got {self.prune_end}")
        if self.scope not in SCOPES:
            raise ValueError(f"unknown scope {self.scope!r}; accepted: {SCOPES}")
        if self.freeze_mask not in FREEZE_CHOICES:
            raise ValueError(
                f"unknown freeze_mask {self.freeze_mask!r}; accepted: {FREEZE_CHOICES}"
            )

    @property
    def pruning(self) -> bool:
        return self.target_sparsity > 0

    def pruning_schedule(self) -> PruningSchedule:
        return PruningSchedule(
            final=self.target_sparsity,
            shape=self.schedule,
            end=self.prune_end,
            scope=self.scope,
        )


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for, but torch sees no CUDA device")
        return torch.device("cuda")
    raise ValueError(f"unknown device {name!r}; accepted: auto, cpu, cuda")


def _batches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The training batches of one epoch: a permutation seeded by (seed, epoch)."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(n, generator=generator).tolist()
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def _to_network(x: torch.Tensor, data: TaskData, device: torch.device) -> torch.Tensor:
    x = x.to(device, non_blocking=True).float()
    # loaders give (B, T, ...); the network runs time-first
    return x.transpose(0, 1).contiguous() if data.sequence else x


def _loader(
    dataset: Dataset, batches: list[list[int]], workers: int, device: torch.device
) -> DataLoader:
    return DataLoader(
        dataset, batch_sampler=batches, num_workers=workers, pin_memory=device.type == "cuda"
    )


@torch.no_grad()
def evaluate(
    model: SpikingNetwork,
    dataset: Dataset,
    data: TaskData,
    device: torch.device,
    batch_size: int = 256,
    num_workers: int = 0,
    count_synops: bool = False,
    workers: Workers = SINGLE,
) -> dict[str, Any]:
    """Loss, accuracy and confusion matrix of ``model`` on ``dataset``.

    :param num_workers: DataLoader worker processes.
    :param count_synops: also count SynOps and energy per sample (slower).
    :param workers: under ``torchrun``, each process evaluates its slice and the
        results are summed; every process returns the whole split's figures.
    """
    model.eval()
    k = data.n_classes
    confusion = np.zeros((k, k), dtype=np.int64)
    loss_sum, n = 0.0, 0
    mine = list(range(workers.rank, len(dataset), workers.world_size))  # type: ignore[arg-type]
    batches = [mine[i : i + batch_size] for i in range(0, len(mine), batch_size)]
    counter = SynOpsCounter(model)
    with counter if count_synops else contextlib.nullcontext():
        for x, y in _loader(dataset, batches, num_workers, device):
            y = y.to(device)
            logits = model(_to_network(x, data, device))
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            n += len(y)
            pred = logits.argmax(1)
            np.add.at(confusion, (y.cpu().numpy(), pred.cpu().numpy()), 1)
    model.train()
    totals = workers.sum(
        [loss_sum, n, counter.acs, counter.macs, counter.samples, *confusion.ravel()], device
    )
    loss_sum, n, acs, macs, samples = totals[0], int(totals[1]), *totals[2:5]
    confusion = np.rint(totals[5:]).astype(np.int64).reshape(k, k)
    if n == 0:
        raise ValueError("cannot evaluate on an empty split")
    result: dict[str, Any] = {
        "loss": loss_sum / n,
        "accuracy": float(np.trace(confusion)) / n,
        "samples": n,
        "confusion": confusion,
    }
    if count_synops:
        result["synops_per_sample"] = (acs + macs) / samples
        result["energy_per_sample_pj"] = energy_pj(acs, macs) / samples
    return result


def train_task(
    data: TaskData,
    net_config: SpikingNetConfig,
    config: TrainConfig,
    run_dir: Path,
    device: torch.device,
    resume: bool = False,
    progress: bool = True,
    settings: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
    workers: Workers = SINGLE,
) -> dict[str, Any]:
    """Train, prune, evaluate and write the run folder; return the summary.

    :param data: the task's splits.
    :param net_config: the network (its ``input_shape`` / ``n_outputs`` must fit ``data``).
    :param config: the training settings.
    :param run_dir: output folder (must exist).
    :param device: where to train.
    :param resume: continue from ``run_dir/checkpoint.pt``.
    :param progress: show a progress bar per epoch.
    :param settings: the CLI settings, copied into the summary.
    :param log: where one-line progress messages go (rank 0 only).
    :param workers: this process's place under ``torchrun``; ``config.batch_size``
        stays the global batch, split over the processes.
    :raises Interrupted: on Ctrl-C, after the state was saved.
    """
    if tuple(net_config.input_shape) != tuple(data.input_shape):
        raise ValueError(
            f"network input_shape {net_config.input_shape} does not match the data's "
            f"{data.input_shape}"
        )
    if net_config.n_outputs != data.n_classes:
        raise ValueError(f"network has {net_config.n_outputs} outputs for {data.n_classes} classes")
    n_train = len(data.train)  # type: ignore[arg-type]
    if n_train == 0:
        raise ValueError(f"the {data.name} training split is empty")
    start = time.perf_counter()
    model = build_network(net_config, seed=config.seed).to(device)
    net: torch.nn.Module = model
    if workers.distributed:
        net = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if not workers.main:
        log, progress = (lambda _message: None), False
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(n_train / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    pruner = Pruner(model, config.pruning_schedule()) if config.pruning else None
    history: list[dict[str, Any]] = []
    epoch, done_batches, elapsed = 0, 0, 0.0
    running = [0.0, 0, 0]  # loss sum, correct, seen: the epoch so far

    checkpoint_path = run_dir / CHECKPOINT_FILE
    if resume:
        state = torch.load(checkpoint_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if pruner is not None:
            pruner.load_state_dict(state["pruner"])
        history = list(state["history"])
        epoch, done_batches, elapsed = state["epoch"], state["batch"], state["elapsed_s"]
        running = list(state["running"])
        log(f"resumed {run_dir} at epoch {epoch + 1}, batch {done_batches}")

    def save_checkpoint(at_epoch: int, at_batch: int) -> None:
        if not workers.main:
            return
        atomic_torch_save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "pruner": pruner.state_dict() if pruner is not None else None,
                "history": history,
                "epoch": at_epoch,
                "batch": at_batch,
                "running": running,
                "elapsed_s": elapsed + time.perf_counter() - start,
            },
            checkpoint_path,
        )

    model.train()
    while epoch < config.epochs:
        batches = _batches(n_train, config.batch_size, config.seed, epoch)
        step = epoch * steps_per_epoch + done_batches
        bar = tqdm(
            total=len(batches),
            initial=done_batches,
            desc=f"epoch {epoch + 1}/{config.epochs}",
            disable=not progress,
            leave=False,
            dynamic_ncols=True,
        )
        todo = batches[done_batches:]
        shards = [workers.shard(b) for b in todo]
        loader = _loader(data.train, [part for part, _ in shards], config.num_workers, device)
        try:
            for (x, y), (_, real), batch in zip(loader, shards, todo, strict=True):
                if pruner is not None and not pruner.frozen:
                    pruner.step(min(1.0, step / total_steps))
                    if config.freeze_mask == "reached" and step / total_steps >= config.prune_end:
                        pruner.freeze()
                torch.manual_seed(derived_seed(config.seed, step, workers.rank))
                y = y.to(device)
                logits = net(_to_network(x, data, device))
                losses = F.cross_entropy(logits, y, reduction="none")
                if not real:
                    losses = losses * 0.0
                # the mean over the global batch once DDP averages over the processes
                loss = losses.sum() * (workers.world_size / len(batch))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                step += 1
                done_batches += 1
                correct = int((logits.argmax(1) == y).sum()) if real else 0
                seen = len(y) if real else 0
                # every process keeps the whole batch's figures, so a checkpoint holds them
                totals = workers.sum([float(losses.detach().sum()), correct, seen], device)
                running = [r + t for r, t in zip(running, totals, strict=True)]
                bar.update(1)
                bar.set_postfix(
                    loss=f"{running[0] / running[2]:.3f}", acc=f"{running[1] / running[2]:.3f}"
                )
            bar.close()
            torch.manual_seed(derived_seed(config.seed, step, workers.rank, 1))
            val = evaluate(
                model,
                data.val,
                data,
                device,
                config.eval_batch_size,
                config.num_workers,
                workers=workers,
            )
        except KeyboardInterrupt:
            bar.close()
            save_checkpoint(epoch, done_batches)
            raise Interrupted(
                f"interrupted at epoch {epoch + 1}, batch {done_batches}; state saved in "
                f"{checkpoint_path}"
            ) from None
        try:
            # the epoch's checkpoint is written whole: a stop here takes effect after it
            with interrupts_held():
                loss_sum, correct, seen = running
                entry = {
                    "epoch": epoch + 1,
                    "train_loss": loss_sum / seen if seen else float("nan"),
                    "train_accuracy": correct / seen if seen else float("nan"),
                    "val_loss": val["loss"],
                    "val_accuracy": val["accuracy"],
                    "sparsity": sparsity(model),
                    "target_sparsity": pruner.schedule.value(pruner.progress) if pruner else 0.0,
                    "lr": scheduler.get_last_lr()[0],
                    "wall_time_s": elapsed + time.perf_counter() - start,
                }
                history.append(entry)
                log(
                    f"epoch {epoch + 1}/{config.epochs}: loss {entry['train_loss']:.4f} "
                    f"train acc {entry['train_accuracy']:.4f} val acc {val['accuracy']:.4f} "
                    f"sparsity {entry['sparsity']:.4f}"
                )
                epoch, done_batches, running = epoch + 1, 0, [0.0, 0, 0]
                save_checkpoint(epoch, 0)
                if workers.main:
                    write_json({"history": history}, run_dir / "history.json")
        except KeyboardInterrupt:
            raise Interrupted(
                f"interrupted after epoch {epoch}; state saved in {checkpoint_path}"
            ) from None

    try:
        if pruner is not None and not pruner.frozen:
            # a run too short to reach prune_end still ends at its target sparsity
            pruner.step(1.0)
            pruner.freeze()
        torch.manual_seed(derived_seed(config.seed, total_steps, workers.rank, 2))
        test = evaluate(
            model,
            data.test,
            data,
            device,
            config.eval_batch_size,
            config.num_workers,
            count_synops=True,
            workers=workers,
        )
        nonzero = sum(s.nonzero for s in layer_stats(model))
        efficiency = information_efficiency(test["confusion"], test["synops_per_sample"], nonzero)
        summary: dict[str, Any] = common_summary(
            metric="accuracy",
            score=test["accuracy"],
            sparsity=sparsity(model),
            connectivity_per_layer=connectivity_per_layer(model),
            synops_per_inference=test["synops_per_sample"],
            energy_per_inference_pj=test["energy_per_sample_pj"],
            wall_time_s=elapsed + time.perf_counter() - start,
            settings=settings or {},
        )
        summary |= {
            "dataset": data.name,
            "accuracy": test["accuracy"],
            "test_loss": test["loss"],
            "test_samples": test["samples"],
            "val_accuracy": history[-1]["val_accuracy"] if history else None,
            "sparsity_with_readout": sparsity(model, include_readout=True),
            "nonzero_synapses": nonzero,
            "mutual_information_bits": efficiency["mutual_information_bits"],
            "bits_per_ksynop": efficiency["bits_per_ksynop"],
            "bits_per_synapse": efficiency["bits_per_synapse"],
            "confusion": test["confusion"],
            "classes": list(data.classes),
            "device": str(device),
            "processes": workers.world_size,
            "epochs": config.epochs,
            "train": asdict(config),
            "network": net_config.to_dict(),
            "data": data.info,
        }
        if workers.main:
            save_model(model, run_dir / "model.pt", pruner, extra={"classes": list(data.classes)})
            write_json(summary, run_dir / "summary.json")
            plot_training(history, run_dir)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted in the final evaluation; the trained state is in {checkpoint_path}"
        ) from None
    return summary
