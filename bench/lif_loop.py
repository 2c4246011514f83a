"""The compiled LIF time loop against the tensor loop, in one process.

For each size, the two run alternately (``NSPDI_KERNELS=1`` / ``0``); the table
gives the best of ``--repeats`` rounds of ``--calls`` calls each, in microseconds
per call, and the speed-up. ``grad``: forward and backward (a training step's
loop), otherwise forward only without autograd (a rollout).
Run: ``python -m bench.lif_loop [--repeats R]``.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from norse.torch.functional.lif import LIFParameters

from nspdi_rl.backend import kernels
from nspdi_rl.functional import lif_sequence

# (T, batch, neurons, with gradient): a maze rollout, PPO updates, a task's training step
SIZES = ((8, 8, 128, False), (8, 256, 128, True), (8, 64, 512, True), (100, 16, 512, True))


def per_call_us(t: int, b: int, n: int, grad: bool, calls: int, compiled: bool) -> float:
    os.environ["NSPDI_KERNELS"] = "1" if compiled else "0"
    generator = torch.Generator().manual_seed(0)
    currents = torch.randn(t, b, n, generator=generator) * 3
    v0, i0 = torch.zeros(b, n), torch.zeros(b, n)
    weights = torch.randn(t, b, n, generator=generator)
    p = LIFParameters()  # Norse's defaults
    start = time.perf_counter()
    for _ in range(calls):
        x = currents.clone().requires_grad_(grad)
        with torch.set_grad_enabled(grad):
            spikes, _ = lif_sequence(x, p, 1e-3, "superspike", 20.0, state=(v0, i0))
            if grad:
                (spikes * weights).sum().backward()
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if kernels() is None:
        raise SystemExit("the compiled LIF loop is not available here (see the warning)")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"best of {args.repeats} x {args.calls} calls, kinds alternated")  # fmt: skip
    print("| T | batch | neurons | gradient | tensor loop us | compiled us | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for t, b, n, grad in SIZES:
        loop, compiled = [], []
        for _ in range(args.repeats):
            loop.append(per_call_us(t, b, n, grad, args.calls, compiled=False))
            compiled.append(per_call_us(t, b, n, grad, args.calls, compiled=True))
        best_loop, best_compiled = min(loop), min(compiled)
        print(f"| {t} | {b} | {n} | {'yes' if grad else 'no'} | {best_loop:,.0f} | "
              f"{best_compiled:,.0f} | {best_loop / best_compiled:.1f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
