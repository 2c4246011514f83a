"""The one place that chooses between the compiled kernels and the tensor operations.

Every fast path of the package asks :func:`kernel_for` whether the compiled kernels
(:mod:`nspdi_rl.kernels`, built on first use) take its tensors; where they do not
(turned off with ``NSPDI_KERNELS=0``, no compiler, another dtype or device) the same
arithmetic runs in tensor operations, with the same results. The rule:

- the kernels are float32 and CPU only, so every tensor passed must be both;
- kernels that index raw memory also need contiguous tensors (``contiguous=True``);
- nothing else: which routine a caller runs (the LIF loop, the NSP weight, the
  whole no-grad MLP forward of :mod:`nspdi_rl.inference`, the sparse products of
  :mod:`nspdi_rl.export`) is the caller's.

:func:`lif_loop` is the LIF time loop behind this seam: the compiled loop or the
tensor one, the same spikes bit for bit.
"""

from __future__ import annotations

from types import ModuleType

import torch

from nspdi_rl.kernels import compiled_kernels

__all__ = ["kernel_for", "kernels", "lif_loop"]

LIFConstants = tuple[float, float, float, float, float]

# an empty tensor: "none" for the kernels' optional tensor arguments
NONE = torch.empty(0)


def kernels() -> ModuleType | None:
    """The compiled kernels' module; None where they are turned off or cannot be built
    (a warning, once, says why)."""
    return compiled_kernels()


def kernel_for(*tensors: torch.Tensor, contiguous: bool = False) -> ModuleType | None:
    """The compiled kernels where they take ``tensors`` (float32 on the CPU, and
    contiguous when ``contiguous``), else None: the caller runs tensor operations."""
    for t in tensors:
        if t.device.type != "cpu" or t.dtype != torch.float32:
            return None
        if contiguous and not t.is_contiguous():
            return None
    return compiled_kernels()


def lif_loop(
    kernel: ModuleType | None,
    currents: torch.Tensor,
    v: torch.Tensor,
    i: torch.Tensor,
    constants: LIFConstants,
    keep_v_pre: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Norse's LIF update over the T steps of ``currents`` ``(T, B, ...)`` from ``(v, i)``,
    on ``kernel`` (from :func:`kernel_for`) or, when it is None, in tensor operations.

    :param constants: ``(mem, keep_i, v_leak, v_th, v_reset)``
        (:func:`nspdi_rl.functional.scalar_lif_constants`).
    :param keep_v_pre: also return the membrane before each reset (what a backward
        pass needs); without it the compiled loop returns an empty tensor there.
    :return: spikes, the final ``v`` and ``i``, the membrane before each reset.
    """
    if kernel is None:
        return _tensor_lif_loop(currents, v, i, constants)
    steps = currents.shape[0]
    if steps > 1 and currents.stride(0) == 0:
        # the same current at every step (an expanded tensor): pass it once
        currents = currents[:1]
    spikes, v, i, v_pre = kernel.lif_forward(
        currents.contiguous(), steps, v.contiguous(), i.contiguous(), *constants, keep_v_pre, NONE
    )
    return spikes, v, i, v_pre


def _tensor_lif_loop(
    currents: torch.Tensor, v: torch.Tensor, i: torch.Tensor, constants: LIFConstants
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    mem, keep_i, v_leak, v_th, v_reset = constants
    v = v.clone()
    i = i.clone()
    fired = torch.empty(currents.shape, dtype=torch.bool, device=currents.device)
    v_pre = torch.empty_like(currents)  # membrane before the reset: what backward needs
    for t in range(currents.shape[0]):
        i += currents[t]
        # Norse: v + mem * ((v_leak - v) + i), in the same order
        step = torch.sub(v_leak, v) if v_leak != 0.0 else torch.neg(v)
        step += i
        v.add_(step.mul_(mem))
        i += i * keep_i
        v_pre[t] = v
        torch.gt(v, v_th, out=fired[t])
        v.masked_fill_(fired[t], v_reset)
    return fired.to(currents.dtype), v, i, v_pre
