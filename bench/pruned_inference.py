"""Pruned inference: the exported compressed network against the dense model, in one process.

A 3-layer NDI MLP (width n -> n -> n -> 10, T = 8, spike input) pruned by the
target-sparsity controller to each sparsity, then exported with
:func:`nspdi_rl.export.export_pruned` and loaded with ``mode="auto"`` (per layer
and input size the fastest of CSR, COO and dense). The reference is the same
network unpruned on fixed weights with dense matmuls (``mode="dense"``). Prints
median forward times over repeats, the two models measured alternately, and
their ratio.

Run: ``python -m bench.pruned_inference [--repeats 20]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from nspdi_rl import Pruner, PruningSchedule, SpikingNetConfig, build_network
from nspdi_rl.export import export_pruned, load_pruned

STEPS = 8


@torch.no_grad()
def median_times(
    a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor, repeats: int
) -> tuple[float, float]:
    """Median forward times of two models, measured alternately so drift hits both."""
    a(x), b(x)  # warm-up (and the auto mode's choice of path)
    times_a, times_b = [], []
    for _ in range(repeats):
        for model, times in ((a, times_a), (b, times_b)):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times_a), statistics.median(times_b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} threads, os.cpu_count()={os.cpu_count()}, "
        f"T = {STEPS}, spike input (rate 0.2), median of {args.repeats}"
    )
    print("| width | batch | sparsity | dense ms | compressed ms | speed-up | paths chosen |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (256, 1024):
            cfg = SpikingNetConfig(
                input_shape=(n,), n_outputs=10, hidden=(n, n), time_steps=STEPS, encoder="events"
            )
            for batch in (1, 64):
                x = torch.bernoulli(torch.full((STEPS, batch, n), 0.2))
                # the reference: the unpruned network on fixed weights with dense matmuls
                dense_path = export_pruned(build_network(cfg, seed=0), Path(tmp) / "dense.pt")
                dense = load_pruned(dense_path, mode="dense")
                for target in (0.0, 0.9, 0.95, 0.99):
                    model = build_network(cfg, seed=0)
                    if target > 0:
                        Pruner(model, PruningSchedule(final=target)).step(1.0)
                    fast = load_pruned(export_pruned(model, Path(tmp) / "m.pt"), mode="auto")
                    t_dense, t_fast = median_times(dense, fast, x, args.repeats)
                    chosen = sorted(
                        {c for m in fast.modules() for c in getattr(m, "choice", {}).values()}
                    )
                    print(
                        f"| {n} | {batch} | {target:.2f} | {t_dense * 1e3:.2f} "
                        f"| {t_fast * 1e3:.2f} | {t_dense / t_fast:.2f}x | {', '.join(chosen)} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
