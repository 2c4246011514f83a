"""The supervised training loop every task runner shares.

:func:`train_task` builds nothing itself: it takes a network config and a
:class:`~tasks.data.TaskData`, trains with Adam while a
:class:`~nspdi_rl.pruning.PruningDriver` moves the model to the target sparsity,
checkpoints after every epoch (and on Ctrl-C or SIGTERM, mid-epoch), evaluates
the validation split each epoch and the test split at the end, and writes
``summary.json``, ``history.json`` and the plots into the run folder. Read it
top to bottom: a :class:`TrainState` (what ``checkpoint.pt`` holds) is made or
restored, then each epoch trains (:func:`_train_epoch`), validates and is
recorded (:func:`_end_epoch`), and :func:`_final_report` writes the results.

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
import pickle
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from nspdi_rl.checkpoint import atomic_torch_save, save_model, write_json
from nspdi_rl.metrics import (
    SynOpsCounter,
    connectivity_per_layer,
    energy_pj,
    information_efficiency,
    layer_stats,
    sparsity,
    survivor_summary,
)
from nspdi_rl.network import SpikingNetConfig, SpikingNetwork, build_network
from nspdi_rl.pruning import FREEZE_CHOICES, PruningDriver, PruningSchedule
from runtime.cli import common_summary
from runtime.stopping import interrupts_held
from tasks.data import TaskData
from tasks.distributed import SINGLE, Workers, derived_seed
from tasks.plots import plot_training

__all__ = [
    "CHECKPOINT_FILE",
    "FREEZE_CHOICES",
    "Interrupted",
    "TrainConfig",
    "TrainState",
    "evaluate",
    "resolve_device",
    "train_task",
]

CHECKPOINT_FILE = "checkpoint.pt"
CHECKPOINT_KEYS = (
    "model",
    "optimizer",
    "scheduler",
    "pruner",
    "history",
    "epoch",
    "batch",
    "running",
    "elapsed_s",
)


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
    :param pruning: the sparsity schedule over training (``target_sparsity`` mode);
        its ``final`` is the sparsity of the pruned layers, and 0 turns pruning off.
        Default :class:`~nspdi_rl.pruning.PruningSchedule`'s: 0.9, cubic, reached at
        ``end`` = 0.8 of training (the rest fine-tunes at the target), ``layer`` scope.
    :param freeze_mask: ``end`` (silent synapses may regrow until training ends) or
        ``reached`` (the mask is fixed once the target is reached). Default ``end``.
    :param seed: seed of the weights, the shuffling and the spike draws. Default 0.
    :param eval_batch_size: batch size of validation and test passes. Default 256.
    :param num_workers: DataLoader worker processes. Default 0 (in-process).
    """

    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.0
    pruning: PruningSchedule = field(default_factory=PruningSchedule)
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
        if not isinstance(self.pruning, PruningSchedule):
            raise ValueError(
                f"pruning must be a PruningSchedule, got {type(self.pruning).__name__}"
            )
        # the history and summary report a target sparsity, not a threshold
        if self.pruning.mode != "target_sparsity":
            raise ValueError(
                f"task runs prune to a target sparsity: pruning mode must be "
                f"'target_sparsity', got {self.pruning.mode!r}"
            )
        if self.freeze_mask not in FREEZE_CHOICES:
            raise ValueError(
                f"unknown freeze_mask {self.freeze_mask!r}; accepted: {FREEZE_CHOICES}"
            )

    @property
    def prunes(self) -> bool:
        """Whether the run prunes at all (a final sparsity of 0 does not)."""
        return self.pruning.final > 0

    def steps_per_epoch(self, n_train: int) -> int:
        """Optimiser steps in one pass over ``n_train`` training samples."""
        return math.ceil(n_train / self.batch_size)


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


@dataclass
class TrainState:
    """A run's learned state and where it stands: what ``checkpoint.pt`` holds.

    :param model: the network being trained.
    :param optimizer: its Adam optimiser.
    :param scheduler: the cosine learning-rate schedule.
    :param pruning: the pruning driver; None when the run does not prune.
    :param history: one entry per finished epoch.
    :param epoch: the epoch under way, from 0 (``epochs`` once training is done).
    :param batch: batches of that epoch already trained.
    :param running: loss sum, correct and seen samples of that epoch so far.
    :param elapsed_s: seconds the run trained before this process took it over.
    :param started: ``time.perf_counter()`` when this process took it over.
    """

    model: SpikingNetwork
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    pruning: PruningDriver | None
    history: list[dict[str, Any]] = field(default_factory=list)
    epoch: int = 0
    batch: int = 0
    running: list[float] = field(default_factory=lambda: [0.0, 0, 0])
    elapsed_s: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def new(
        cls,
        net_config: SpikingNetConfig,
        config: TrainConfig,
        total_steps: int,
        device: torch.device,
        started: float,
    ) -> TrainState:
        """A fresh run: the seeded network, Adam, the cosine schedule over
        ``total_steps`` optimiser steps and, if ``config`` prunes, the driver."""
        model = build_network(net_config, seed=config.seed).to(device)
        optimizer = torch.optim.Adam(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
        pruning = (
            PruningDriver(model, config.pruning, total_steps, freeze_mask=config.freeze_mask)
            if config.prunes
            else None
        )
        return cls(model, optimizer, scheduler, pruning, started=started)

    @property
    def wall_time_s(self) -> float:
        """Seconds of training so far, over every process that ran it."""
        return self.elapsed_s + time.perf_counter() - self.started

    def save(self, path: Path) -> None:
        """Write the state to ``path`` atomically (a crash leaves the previous file)."""
        atomic_torch_save(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "pruner": None if self.pruning is None else self.pruning.state_dict(),
                "history": self.history,
                "epoch": self.epoch,
                "batch": self.batch,
                "running": self.running,
                "elapsed_s": self.wall_time_s,
            },
            path,
        )

    def load(self, path: Path, device: torch.device) -> None:
        """Continue from the state saved in ``path`` (by :meth:`save`).

        :raises ValueError: in one line, when ``path`` cannot be read or holds the
            state of another kind of run.
        """
        try:
            saved = torch.load(path, map_location=device, weights_only=True)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
            raise ValueError(f"cannot read the checkpoint {path}: {_first_line(err)}") from None
        missing = [k for k in CHECKPOINT_KEYS if k not in saved] if isinstance(saved, dict) else []
        if not isinstance(saved, dict) or missing:
            raise ValueError(f"{path} is not a task runner's checkpoint: it lacks {missing}")
        if (saved["pruner"] is None) != (self.pruning is None):
            raise ValueError(
                f"{path} was saved by a run that "
                f"{'did not prune' if saved['pruner'] is None else 'pruned'}; this one "
                f"{'does not' if self.pruning is None else 'does'}"
            )
        try:
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
        except (RuntimeError, ValueError) as err:
            raise ValueError(f"{path} does not fit this network: {_first_line(err)}") from None
        self.scheduler.load_state_dict(saved["scheduler"])
        if self.pruning is not None:
            self.pruning.load_state_dict(saved["pruner"])
        self.history = list(saved["history"])
        self.epoch, self.batch = saved["epoch"], saved["batch"]
        self.running = list(saved["running"])
        self.elapsed_s = saved["elapsed_s"]


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


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
    :raises Interrupted: on Ctrl-C or SIGTERM, after the state was saved.
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
    started = time.perf_counter()
    if not workers.main:
        log, progress = (lambda _message: None), False
    total_steps = config.steps_per_epoch(n_train) * config.epochs
    state = TrainState.new(net_config, config, total_steps, device, started)
    net: torch.nn.Module = state.model
    if workers.distributed:
        net = DistributedDataParallel(
            state.model, device_ids=[device.index] if device.type == "cuda" else None
        )
    checkpoint = run_dir / CHECKPOINT_FILE
    if resume:
        state.load(checkpoint, device)
        log(f"resumed {run_dir} at epoch {state.epoch + 1}, batch {state.batch}")

    state.model.train()
    while state.epoch < config.epochs:
        try:
            _train_epoch(state, net, data, config, device, workers, progress)
            val = _validate(state, data, config, device, workers)
        except KeyboardInterrupt:
            if workers.main:
                state.save(checkpoint)
            raise Interrupted(
                f"interrupted at epoch {state.epoch + 1}, batch {state.batch}; state saved in "
                f"{checkpoint}"
            ) from None
        try:
            _end_epoch(state, val, config, run_dir, workers, log)
        except KeyboardInterrupt:
            raise Interrupted(
                f"interrupted after epoch {state.epoch}; state saved in {checkpoint}"
            ) from None
    try:
        return _final_report(state, data, net_config, config, run_dir, device, workers, settings)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted in the final evaluation; the trained state is in {checkpoint}"
        ) from None


def _train_epoch(
    state: TrainState,
    net: torch.nn.Module,
    data: TaskData,
    config: TrainConfig,
    device: torch.device,
    workers: Workers,
    progress: bool,
) -> None:
    """Train the batches of epoch ``state.epoch`` not yet trained (all, unless resumed).

    ``net`` is ``state.model``, or its ``DistributedDataParallel`` wrapper.
    """
    n_train = len(data.train)  # type: ignore[arg-type]
    batches = _batches(n_train, config.batch_size, config.seed, state.epoch)
    todo = batches[state.batch :]
    shards = [workers.shard(b) for b in todo]
    loader = _loader(data.train, [part for part, _ in shards], config.num_workers, device)
    step = state.epoch * config.steps_per_epoch(n_train) + state.batch
    with tqdm(
        total=len(batches),
        initial=state.batch,
        desc=f"epoch {state.epoch + 1}/{config.epochs}",
        disable=not progress,
        leave=False,
        dynamic_ncols=True,
    ) as bar:
        for (x, y), (_, real), batch in zip(loader, shards, todo, strict=True):
            if state.pruning is not None:
                state.pruning.update(step)
            torch.manual_seed(derived_seed(config.seed, step, workers.rank))
            y = y.to(device)
            logits = net(_to_network(x, data, device))
            losses = F.cross_entropy(logits, y, reduction="none")
            if not real:
                losses = losses * 0.0
            # the mean over the global batch once DDP averages over the processes
            loss = losses.sum() * (workers.world_size / len(batch))
            state.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            state.optimizer.step()
            state.scheduler.step()
            step += 1
            state.batch += 1
            correct = int((logits.argmax(1) == y).sum()) if real else 0
            seen = len(y) if real else 0
            # every process keeps the whole batch's figures, so a checkpoint holds them
            totals = workers.sum([float(losses.detach().sum()), correct, seen], device)
            state.running = [r + t for r, t in zip(state.running, totals, strict=True)]
            bar.update(1)
            loss_sum, correct_sum, seen_sum = state.running
            bar.set_postfix(loss=f"{loss_sum / seen_sum:.3f}", acc=f"{correct_sum / seen_sum:.3f}")


def _validate(
    state: TrainState, data: TaskData, config: TrainConfig, device: torch.device, workers: Workers
) -> dict[str, Any]:
    """The validation split's figures after the epoch's last batch."""
    step = state.epoch * config.steps_per_epoch(len(data.train)) + state.batch  # type: ignore[arg-type]
    torch.manual_seed(derived_seed(config.seed, step, workers.rank, 1))
    return evaluate(
        state.model,
        data.val,
        data,
        device,
        config.eval_batch_size,
        config.num_workers,
        workers=workers,
    )


def _end_epoch(
    state: TrainState,
    val: dict[str, Any],
    config: TrainConfig,
    run_dir: Path,
    workers: Workers,
    log: Callable[[str], None],
) -> None:
    """Record the finished epoch in the history, move on to the next and checkpoint."""
    # the epoch's checkpoint is written whole: a stop here takes effect after it
    with interrupts_held():
        loss_sum, correct, seen = state.running
        entry = {
            "epoch": state.epoch + 1,
            "train_loss": loss_sum / seen if seen else float("nan"),
            "train_accuracy": correct / seen if seen else float("nan"),
            "val_loss": val["loss"],
            "val_accuracy": val["accuracy"],
            "sparsity": sparsity(state.model),
            "target_sparsity": state.pruning.target if state.pruning is not None else 0.0,
            "lr": state.scheduler.get_last_lr()[0],
            "wall_time_s": state.wall_time_s,
        }
        state.history.append(entry)
        log(
            f"epoch {state.epoch + 1}/{config.epochs}: loss {entry['train_loss']:.4f} "
            f"train acc {entry['train_accuracy']:.4f} val acc {val['accuracy']:.4f} "
            f"sparsity {entry['sparsity']:.4f}"
        )
        state.epoch, state.batch, state.running = state.epoch + 1, 0, [0.0, 0, 0]
        if workers.main:
            state.save(run_dir / CHECKPOINT_FILE)
            write_json({"history": state.history}, run_dir / "history.json")


def _final_report(
    state: TrainState,
    data: TaskData,
    net_config: SpikingNetConfig,
    config: TrainConfig,
    run_dir: Path,
    device: torch.device,
    workers: Workers,
    settings: dict[str, Any] | None,
) -> dict[str, Any]:
    """Fix the final mask, evaluate the test split, write ``model.pt``, ``summary.json``
    and the plots; return the summary."""
    if state.pruning is not None:
        state.pruning.finish()
    total_steps = config.steps_per_epoch(len(data.train)) * config.epochs  # type: ignore[arg-type]
    torch.manual_seed(derived_seed(config.seed, total_steps, workers.rank, 2))
    model = state.model
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
    summary = common_summary(
        metric="accuracy",
        score=test["accuracy"],
        sparsity=sparsity(model),
        connectivity_per_layer=connectivity_per_layer(model),
        synops_per_inference=test["synops_per_sample"],
        energy_per_inference_pj=test["energy_per_sample_pj"],
        wall_time_s=state.wall_time_s,
        settings=settings or {},
    )
    summary |= {
        "dataset": data.name,
        "accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "test_samples": test["samples"],
        "val_accuracy": state.history[-1]["val_accuracy"] if state.history else None,
        "sparsity_with_readout": sparsity(model, include_readout=True),
        "survivors": survivor_summary(model),
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
        pruner = None if state.pruning is None else state.pruning.pruner
        save_model(model, run_dir / "model.pt", pruner, extra={"classes": list(data.classes)})
        write_json(summary, run_dir / "summary.json")
        plot_training(state.history, run_dir)
    return summary
