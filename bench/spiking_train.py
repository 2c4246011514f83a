"""Training step (forward + backward) of a spiking network: nspdi_rl vs plain Norse vs snnTorch.

The same architecture in each: input n -> n -> n -> 10, LIF hidden layers,
leaky-integrator (or snnTorch membrane) readout averaged over T, batch 16,
cross-entropy. nspdi_rl runs it with NDI and NSP (two weight tensors per layer
and the NSP map: more work than the references); Norse as ``nn.Linear`` + its
``LIF`` / ``LI`` modules; snnTorch as ``nn.Linear`` + ``Leaky`` stepped in a
Python loop. Prints median seconds per step over repeats (the three stepped
alternately in one process) and the ratios, plus the peak memory of training
at each setting: the rise of the resident set over three steps (Linux VmHWM,
reset before measuring), each setting in a fresh subprocess.

Freed memory is kept for reuse for all three (``--allocator retain``, as the
runners do); ``--allocator default`` measures glibc's own behaviour, where every
step of the larger networks page-faults on fresh allocations.

Run: ``python -m bench.spiking_train [--repeats 7] [--allocator default]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

from runtime.allocator import retain_freed_memory

BATCH = 16
KINDS = ("nspdi", "norse", "snntorch")
ALLOCATORS = ("retain", "default")
CLASSES = 10


def build(kind: str, n: int, steps: int) -> tuple[nn.Module, object]:
    if kind == "nspdi":
        from nspdi_rl import SpikingNetConfig, build_network

        cfg = SpikingNetConfig(input_shape=(n,), n_outputs=CLASSES, hidden=(n, n), time_steps=steps)
        return build_network(cfg, seed=0), None
    if kind == "norse":
        from norse.torch import LI, LIF, SequentialState

        net = SequentialState(
            nn.Linear(n, n), LIF(), nn.Linear(n, n), LIF(), nn.Linear(n, CLASSES), LI()
        )
        return net, None
    import snntorch as snn

    class SnnTorchNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(n, n), nn.Linear(n, n), nn.Linear(n, CLASSES)
            self.lif1, self.lif2 = snn.Leaky(beta=0.9), snn.Leaky(beta=0.9)
            self.out = snn.Leaky(beta=0.9, reset_mechanism="none")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            m1, m2, m3 = self.lif1.init_leaky(), self.lif2.init_leaky(), self.out.init_leaky()
            total = 0.0
            for t in range(x.shape[0]):
                s1, m1 = self.lif1(self.fc1(x[t]), m1)
                s2, m2 = self.lif2(self.fc2(s1), m2)
                _, m3 = self.out(self.fc3(s2), m3)
                total = total + m3
            return total / x.shape[0]

    return SnnTorchNet(), None


def step_fn(
    kind: str, net: nn.Module, x_static: torch.Tensor, x_seq: torch.Tensor, target: torch.Tensor
):
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad()
        if kind == "nspdi":
            out = net(x_static)
        elif kind == "norse":
            v, _ = net(x_seq)
            out = v.mean(0)
        else:
            out = net(x_seq)
        nn.functional.cross_entropy(out, target).backward()
        opt.step()

    return step


def make_step(kind: str, n: int, steps: int):  # noqa: ANN201
    torch.manual_seed(0)
    net, _ = build(kind, n, steps)
    x_static = torch.rand(BATCH, n) * 2
    x_seq = x_static.unsqueeze(0).expand(steps, BATCH, n).contiguous()  # the same direct input
    target = torch.randint(0, CLASSES, (BATCH,))
    return step_fn(kind, net, x_static, x_seq, target)


def time_interleaved(n: int, steps: int, repeats: int) -> dict[str, float]:
    """Median seconds per training step of each kind, the kinds stepped alternately so
    that a slow moment of the machine hits all of them alike."""
    fns = {kind: make_step(kind, n, steps) for kind in KINDS}
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for _ in range(repeats):
        for kind, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[kind].append(time.perf_counter() - start)
    return {kind: statistics.median(t) for kind, t in times.items()}


def peak_memory(kind: str, n: int, steps: int) -> float:
    """Rise of the resident set over a few training steps (run in a fresh process)."""
    step = make_step(kind, n, steps)
    baseline_mb = _reset_peak_rss()
    for _ in range(3):
        step()
    return _peak_rss_mb() - baseline_mb


def _reset_peak_rss() -> float:
    """Reset Linux's peak-RSS counter (VmHWM) and return the current RSS in MB."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_mb("VmRSS")


def _peak_rss_mb() -> float:
    return _status_mb("VmHWM")


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--allocator",
        choices=ALLOCATORS,
        default="retain",
        help="retain: freed memory kept for reuse, as the runners do "
        "(runtime.allocator.retain_freed_memory); default: glibc's own behaviour "
        "(default: %(default)s)",
    )
    parser.add_argument("--one", nargs=3, metavar=("KIND", "N", "T"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    retained = args.allocator == "retain" and retain_freed_memory()
    if args.one:  # child process: the memory of one setting
        kind, n, steps = args.one[0], int(args.one[1]), int(args.one[2])
        print(json.dumps({"peak_mb": peak_memory(kind, n, steps)}))
        return
    print(
        f"torch {torch.__version__}, {args.threads} threads, os.cpu_count()={os.cpu_count()}, "
        f"batch {BATCH}, median of {args.repeats} training steps (kinds alternated), "
        "memory from a fresh process per setting, freed memory "
        + ("retained for reuse (all kinds)" if retained else "returned as glibc decides")
    )
    print(
        "| T | width | nspdi_rl (NDI+NSP) s | plain Norse s | snnTorch s | vs Norse | vs snnTorch "
        "| training peak MB nspdi / Norse / snnTorch |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for steps in (8, 32, 100):
        for n in (128, 512):
            t = time_interleaved(n, steps, args.repeats)
            mem = []
            for kind in KINDS:
                out = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bench.spiking_train",
                        "--one",
                        kind,
                        str(n),
                        str(steps),
                        "--threads",
                        str(args.threads),
                        "--allocator",
                        args.allocator,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                mem.append(json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"])
            a, b, c = t["nspdi"], t["norse"], t["snntorch"]
            print(
                f"| {steps} | {n} | {a:.4f} | {b:.4f} | {c:.4f} | {b / a:.2f}x | {c / a:.2f}x "
                f"| {' / '.join(f'{m:.0f}' for m in mem)} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
