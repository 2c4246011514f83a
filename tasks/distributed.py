"""Data-parallel training under ``torchrun``: who this process is, and the sums
the processes share.

``torchrun --nproc_per_node N -m tasks.vision ...`` starts N copies of a
runner with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address
in the environment. :func:`from_environment` joins them into one process group
(gloo on the CPU, nccl on CUDA, one GPU per process). Every process then draws
the same global batches, takes its own slice of each, and PyTorch's
``DistributedDataParallel`` averages the gradients, so the parameters, and with
them the pruning thresholds each process computes, stay identical everywhere.
Only rank 0 writes files and prints.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["SINGLE", "Workers", "derived_seed", "from_environment"]


@dataclass(frozen=True)
class Workers:
    """This process's place among the data-parallel processes.

    :param rank: global rank, 0 to ``world_size - 1``; rank 0 writes the run folder.
    :param world_size: number of processes.
    :param local_rank: rank on this machine (the CUDA device it uses).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} does not fit world size {self.world_size}")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: Sequence[int]) -> tuple[list[int], bool]:
        """This process's slice of a global batch, and whether it holds real samples.

        A batch smaller than the world leaves some processes without a sample;
        they run the batch's first sample with zero loss weight, so every process
        still joins the gradient all-reduce.
        """
        part = list(batch[self.rank :: self.world_size])
        return (part, True) if part else ([batch[0]], False)

    def sum(self, values: Sequence[float], device: torch.device) -> list[float]:
        """Element-wise sum of ``values`` over all processes (float64)."""
        if not self.distributed:
            return [float(v) for v in values]
        # nccl reduces CUDA tensors only, gloo CPU ones
        where = device if dist.get_backend() == "nccl" else torch.device("cpu")
        total = torch.tensor(list(values), dtype=torch.float64, device=where)
        dist.all_reduce(total)
        return total.tolist()

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


SINGLE = Workers()


def _env_int(name: str) -> int:
    value = os.environ[name]
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from None


def from_environment(device: torch.device) -> tuple[Workers, torch.device]:
    """Join the ``torchrun`` process group when ``WORLD_SIZE`` > 1.

    :param device: the device asked for; on CUDA each process takes the GPU of its
        ``LOCAL_RANK``.
    :returns: this process's :class:`Workers` and the device it trains on.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return SINGLE, device
    workers = Workers(_env_int("RANK"), _env_int("WORLD_SIZE"), _env_int("LOCAL_RANK"))
    if device.type == "cuda":
        if workers.local_rank >= torch.cuda.device_count():
            raise ValueError(
                f"LOCAL_RANK {workers.local_rank} has no GPU: torch sees "
                f"{torch.cuda.device_count()}; start at most that many processes per node"
            )
        device = torch.device("cuda", workers.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return workers, device


def derived_seed(*keys: int) -> int:
    """A seed for the spike draws of rate encoders, derived from ``keys`` (e.g. the
    run's seed, the step and the rank).

    Derived, not saved: a run resumed mid-epoch draws what the uninterrupted run drew.
    """
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])
