"""The NSPDI maths as pure functions: NSP weights, the NDI current, surrogate spikes, LIF.

Everything here is a function of tensors and plain parameters; the modules in
:mod:`nspdi_rl.layers` and :mod:`nspdi_rl.network` are thin wrappers around it.
See ``docs/method.md`` (sections 1, 2 and 4) for the definitions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch
from norse.torch.functional.lif import LIFParameters

from nspdi_rl.backend import NONE, kernel_for, lif_loop

__all__ = [
    "SURROGATES",
    "check_lif_parameters",
    "lif_sequence",
    "lif_summed",
    "lif_sequence_reference",
    "li_kernel",
    "li_sequence",
    "ndi_current",
    "stacked_ndi_current",
    "nsp_weight",
    "scalar_lif_constants",
    "spike_fn",
]


# --------------------------------------------------------------------------- NSP


def _channel_view(a: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape a per-output-channel vector so it broadcasts over ``like``'s first dim."""
    return a.reshape((-1,) + (1,) * (like.dim() - 1))


class _NSPWeight(torch.autograd.Function):
    """``w = s * relu(a * (m - d1))`` followed by the ``|w| < d2`` cut.

    ``m`` is ``|theta|`` with ``s = sign(theta)`` (NSP / STDS), or ``theta`` itself
    with fixed signs ``s`` (Grad R). The backward pass is hand-written so that the
    straight-through variant costs no more than the exact one. On the CPU in float32
    both passes run compiled (:mod:`nspdi_rl.kernels`: one pass over the weights
    each way instead of some ten tensor operations, the same arithmetic in the same
    order); the tensor operations below are the fallback.
    """

    @staticmethod
    def forward(
        ctx: Any,
        theta: torch.Tensor,
        a: torch.Tensor,
        d1: float,
        d2: float,
        straight_through: bool,
        fixed_sign: torch.Tensor | None,
    ) -> torch.Tensor:
        ctx.straight_through = straight_through
        ctx.has_fixed_sign = fixed_sign is not None
        kernel = _nsp_kernel(theta, a, fixed_sign)
        ctx.kernel = kernel
        if kernel is not None:
            ctx.d1, ctx.d2 = d1, d2
            fixed = theta.new_empty(0) if fixed_sign is None else fixed_sign
            ctx.save_for_backward(theta, a, fixed)
            return kernel.nsp_forward(theta, a, d1, d2, fixed)
        a_b = _channel_view(a, theta)
        if fixed_sign is None:
            sign = torch.sign(theta)
            magnitude = theta.abs()
        else:
            sign = fixed_sign
            magnitude = theta
        shifted = magnitude - d1
        w = sign * torch.relu(a_b * shifted)
        alive = shifted > 0
        if d2 > 0.0:
            alive = alive & (w.abs() >= d2)
            w = w * alive
        ctx.save_for_backward(a_b, sign, shifted, alive)
        return w

    @staticmethod
    def backward(ctx: Any, grad_w: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        need_theta, need_a = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if ctx.kernel is not None:
            theta, a, fixed = ctx.saved_tensors
            grad_theta, grad_a = ctx.kernel.nsp_backward(
                grad_w.contiguous(), theta, a, ctx.d1, ctx.d2, fixed,
                ctx.straight_through, need_theta, need_a,
            )  # fmt: skip
            return grad_theta, grad_a, None, None, None, None
        a_b, sign, shifted, alive = ctx.saved_tensors
        grad_theta = grad_a = None
        if need_theta:
            # d w / d theta = a on the active branch; |theta|' = sign(theta) cancels
            # the leading sign for NSP, and is 1 (times the fixed sign) for Grad R.
            g = grad_w * a_b
            if ctx.has_fixed_sign:
                g = g * sign
            if not ctx.straight_through:
                g = g * alive
            grad_theta = g
        if need_a:
            # a only scales active synapses: its gradient is exact in both modes.
            contrib = grad_w * sign * shifted * alive
            grad_a = contrib.reshape(contrib.shape[0], -1).sum(dim=1)
        return grad_theta, grad_a, None, None, None, None


def _nsp_kernel(
    theta: torch.Tensor, a: torch.Tensor, fixed_sign: torch.Tensor | None
) -> Any | None:
    tensors = (theta, a) if fixed_sign is None else (theta, a, fixed_sign)
    return kernel_for(*tensors, contiguous=True)


def nsp_weight(
    theta: torch.Tensor,
    a: torch.Tensor | float,
    d1: float = 0.0,
    d2: float = 0.0,
    straight_through: bool = True,
    fixed_sign: torch.Tensor | None = None,
) -> torch.Tensor:
    """Effective weight of nonlinear synaptic pruning (NSP).

    ``w = sign(theta) * relu(a * (|theta| - d1))``, then ``w = 0`` where ``|w| < d2``.

    :param theta: latent spine parameters, output channels on the first dim
        (``(out, in)`` for dense, ``(out, in, kh, kw)`` for conv).
    :param a: state-transition ratio, one positive value per output channel
        (shape ``(out,)``) or a positive scalar (homogeneous ``a``).
    :param d1: transition threshold (>= 0); ``|theta| <= d1`` gives ``w == 0``.
    :param d2: pruning cut on the effective weight (>= 0); ``|w| < d2`` gives 0.
    :param straight_through: if True (STDS style) the relu and the ``d2`` cut
        pass gradient ``a`` to silent synapses so they can regrow; if False the
        gradient is exact (zero for silent synapses). ``a`` always gets its exact
        gradient.
    :param fixed_sign: Grad R mode: a tensor of +-1 shaped like ``theta``; the
        map becomes ``fixed_sign * relu(a * (theta - d1))`` (theta may be negative).
    :return: the effective weight, same shape as ``theta``.
    """
    if not isinstance(theta, torch.Tensor) or theta.dim() < 1:
        raise ValueError(f"theta must be a tensor with at least 1 dim, got {theta!r:.80}")
    if not isinstance(a, torch.Tensor):
        if not math.isfinite(float(a)) or float(a) <= 0:
            raise ValueError(f"a must be positive, got {a}")
        a = torch.full((theta.shape[0],), float(a), dtype=theta.dtype, device=theta.device)
    elif a.dim() == 0:
        a = a.expand(theta.shape[0])
    if a.dim() != 1 or a.shape[0] != theta.shape[0]:
        raise ValueError(
            f"a must have one value per output channel (shape ({theta.shape[0]},)), "
            f"got shape {tuple(a.shape)}"
        )
    if bool((a <= 0).any()):
        raise ValueError(f"a must be positive, got minimum {float(a.detach().min()):.4g}")
    d1 = float(d1)
    d2 = float(d2)
    if not d1 >= 0.0:
        raise ValueError(f"d1 must be >= 0, got {d1}")
    if not d2 >= 0.0:
        raise ValueError(f"d2 must be >= 0, got {d2}")
    if fixed_sign is not None and fixed_sign.shape != theta.shape:
        raise ValueError(
            f"fixed_sign must have theta's shape {tuple(theta.shape)}, "
            f"got {tuple(fixed_sign.shape)}"
        )
    return nsp_weight_unchecked(theta, a, d1, d2, straight_through, fixed_sign)


def nsp_weight_unchecked(
    theta: torch.Tensor,
    a: torch.Tensor,
    d1: float,
    d2: float,
    straight_through: bool,
    fixed_sign: torch.Tensor | None,
) -> torch.Tensor:
    """:func:`nsp_weight` without input checks, for callers whose values are valid by
    construction (an :class:`~nspdi_rl.layers.NSPWeight` on every forward pass)."""
    return _NSPWeight.apply(theta, a, d1, d2, bool(straight_through), fixed_sign)


# --------------------------------------------------------------------------- NDI


def ndi_current(wx: torch.Tensor, vx: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """Input current with nonlinear dendritic integration: ``I = Wx + b + (Wx) * (Vx)``.

    :param wx: the synaptic sum ``W x``.
    :param vx: the dendritic branch ``V x`` (same shape as ``wx``).
    :param b: bias broadcast over ``wx`` (for conv pass it shaped ``(C, 1, 1)``), or None.
    """
    if wx.shape != vx.shape:
        raise ValueError(
            f"wx and vx must have the same shape, got {tuple(wx.shape)} and {tuple(vx.shape)}"
        )
    current = torch.addcmul(wx, wx, vx)
    return current if b is None else current + b


class _StackedNDICurrent(torch.autograd.Function):
    """``Wx + (Wx) * (Vx)`` from one projection ``y`` holding ``Wx`` and ``Vx`` as its
    two halves along ``dim``.

    The forward is :func:`ndi_current`'s arithmetic; the backward writes the two
    halves' gradients into one tensor shaped like ``y``, where autograd through
    ``chunk`` would compute them apart and then copy them together.
    """

    @staticmethod
    def forward(ctx: Any, y: torch.Tensor, dim: int) -> torch.Tensor:
        wx, vx = y.chunk(2, dim=dim)
        ctx.dim = dim
        ctx.save_for_backward(y)
        return torch.addcmul(wx, wx, vx)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (y,) = ctx.saved_tensors
        wx, vx = y.chunk(2, dim=ctx.dim)
        grad_y = torch.empty_like(y)
        grad_wx, grad_vx = grad_y.chunk(2, dim=ctx.dim)
        # d/dWx = 1 + Vx and d/dVx = Wx, summed as autograd sums addcmul's two paths
        torch.mul(grad, vx, out=grad_wx)
        grad_wx.add_(grad)
        torch.mul(grad, wx, out=grad_vx)
        return grad_y, None


def stacked_ndi_current(
    y: torch.Tensor, dim: int = -1, b: torch.Tensor | None = None
) -> torch.Tensor:
    """:func:`ndi_current` of ``Wx`` and ``Vx`` stacked in one tensor ``y`` (``Wx`` the
    first half along ``dim``, ``Vx`` the second), as one matmul over the stacked
    weights gives them.

    :param y: the stacked projections.
    :param dim: the dim that stacks them (its size must be even). Default -1.
    :param b: bias broadcast over the current, or None.
    """
    if y.shape[dim] % 2:
        raise ValueError(
            f"y must stack Wx and Vx along dim {dim}, but its size there is odd: "
            f"shape {tuple(y.shape)}"
        )
    if torch.is_grad_enabled() and y.requires_grad:
        current = _StackedNDICurrent.apply(y, dim)
    else:
        wx, vx = y.chunk(2, dim=dim)
        current = torch.addcmul(wx, wx, vx)
    return current if b is None else current + b


# --------------------------------------------------------------------------- spikes


class _Surrogate(torch.autograd.Function):
    """Heaviside forward, a chosen smooth derivative backward."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        derivative: Callable[[torch.Tensor, float], torch.Tensor],
        alpha: float,
    ) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.derivative = derivative
        ctx.alpha = alpha
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        (x,) = ctx.saved_tensors
        return grad * ctx.derivative(x, ctx.alpha), None, None


def _superspike(x: torch.Tensor, alpha: float) -> torch.Tensor:
    # Zenke & Ganguli 2018: fast sigmoid derivative 1 / (alpha |x| + 1)^2
    return 1.0 / (alpha * x.abs() + 1.0).square()


def _sigmoid(x: torch.Tensor, alpha: float) -> torch.Tensor:
    s = torch.sigmoid(alpha * x)
    return alpha * s * (1.0 - s)


def _atan(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return (alpha / 2.0) / (1.0 + (math.pi / 2.0 * alpha * x).square())


def _triangle(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return alpha * torch.relu(1.0 - alpha * x.abs())


SURROGATES: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "superspike": _superspike,
    "sigmoid": _sigmoid,
    "atan": _atan,
    "triangle": _triangle,
}


def spike_fn(x: torch.Tensor, method: str = "superspike", alpha: float = 100.0) -> torch.Tensor:
    """Heaviside step ``x > 0`` with a surrogate gradient.

    Unlike Norse 1.1.0's SuperSpike, ``alpha`` (the sharpness) is used by every
    surrogate: a larger ``alpha`` concentrates the gradient near the threshold.

    :param x: membrane potential minus threshold.
    :param method: one of ``superspike``, ``sigmoid``, ``atan``, ``triangle``.
    :param alpha: sharpness (> 0).
    """
    try:
        derivative = SURROGATES[method]
    except KeyError:
        raise ValueError(
            f"unknown surrogate method {method!r}; accepted: {sorted(SURROGATES)}"
        ) from None
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"surrogate alpha must be a positive number, got {alpha!r}")
    return _Surrogate.apply(x, derivative, float(alpha))


# --------------------------------------------------------------------------- neurons


def check_lif_parameters(p: LIFParameters, dt: float) -> None:
    """Raise ValueError when LIF constants cannot describe a stable neuron."""
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    for name in ("tau_syn_inv", "tau_mem_inv"):
        value = torch.as_tensor(getattr(p, name))
        if bool((value <= 0).any()) or bool((value * dt > 1).any()):
            raise ValueError(
                f"LIF {name} must satisfy 0 < {name} * dt <= 1, got {name}={value.tolist()} dt={dt}"
            )


class _LIFSequence(torch.autograd.Function):
    """The whole LIF time loop as one autograd node (scalar neuron constants).

    The forward pass runs Norse's update in place without recording a graph; the
    backward pass is the hand-written adjoint of the same update (reset term
    included), with every factor that does not depend on the running gradient
    (surrogate derivative, reset factor) computed for all T steps at once.
    ``v > v_th`` equals Norse's ``v - v_th > 0`` and ``where(z, v_reset, v)`` its
    ``(1 - z) v + z v_reset`` exactly, so the spikes are bit for bit Norse's.

    On the CPU both passes run compiled (:mod:`nspdi_rl.kernels`, the same
    arithmetic in the same order) where :func:`nspdi_rl.backend.kernel_for` says so;
    elsewhere the forward pass is :func:`nspdi_rl.backend.lif_loop`'s tensor loop, and
    the backward pass below (also that of surrogates other than SuperSpike).
    """

    @staticmethod
    def forward(
        ctx: Any,
        currents: torch.Tensor,
        v: torch.Tensor,
        i: torch.Tensor,
        constants: tuple[float, float, float, float, float],
        derivative: Callable[[torch.Tensor, float], torch.Tensor],
        alpha: float,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        keep_v_pre = any(ctx.needs_input_grad[:3])  # what backward needs, if it runs
        kernel = kernel_for(currents, v, i)
        spikes, v, i, v_pre = lif_loop(kernel, currents, v, i, constants, keep_v_pre)
        ctx.save_for_backward(v_pre, spikes)
        ctx.constants, ctx.derivative, ctx.alpha = constants, derivative, alpha
        ctx.kernel = kernel
        return spikes, v, i

    @staticmethod
    def backward(
        ctx: Any, grad_spikes: torch.Tensor, grad_v: torch.Tensor, grad_i: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        v_pre, spikes = ctx.saved_tensors
        mem, keep_i, _, v_th, v_reset = ctx.constants
        if ctx.kernel is not None and ctx.derivative is _superspike:
            empty = v_pre.new_empty(0)
            grad_currents, g_v, g_i = ctx.kernel.lif_backward(
                v_pre,
                spikes,
                empty if grad_spikes is None else grad_spikes.contiguous(),
                empty if grad_v is None else grad_v.contiguous(),
                empty if grad_i is None else grad_i.contiguous(),
                mem,
                keep_i,
                v_th,
                v_reset,
                ctx.alpha,
                NONE,
            )
            return grad_currents, g_v, g_i, None, None, None
        surrogate = ctx.derivative(v_pre - v_th, ctx.alpha)
        reset_factor = torch.sub(v_reset, v_pre)  # d v_after / d z
        no_spike = torch.sub(1.0, spikes)  # d v_after / d v_before
        g_v = torch.zeros_like(v_pre[0]) if grad_v is None else grad_v.clone()
        g_i = torch.zeros_like(v_pre[0]) if grad_i is None else grad_i.clone()
        grad_currents = torch.empty_like(v_pre)
        for t in range(v_pre.shape[0] - 1, -1, -1):
            g_z = g_v * reset_factor[t]
            if grad_spikes is not None:
                g_z += grad_spikes[t]
            g_va = g_v.mul_(no_spike[t]).addcmul_(g_z, surrogate[t])
            # i_after = i + keep_i * i  ->  d/d i = 1 + keep_i
            g_ia = torch.add(g_i, g_i, alpha=keep_i, out=grad_currents[t])
            g_ia.add_(g_va, alpha=mem)
            g_i = g_ia
            g_v = g_va.mul_(1.0 - mem)
        return grad_currents, g_v, g_i.clone(), None, None, None


class _LIFSummed(torch.autograd.Function):
    """The LIF time loop from rest with its spikes summed over time, ``sum_t w_t z_t``,
    as one autograd node on the compiled kernel (SuperSpike surrogate, scalar
    constants, float32 on the CPU): what a linear readout makes of the last hidden
    layer's spikes, without storing them. The same spikes as :class:`_LIFSequence`;
    the gradient flowing into each spike is ``w_t`` times the sum's, the product
    ``tensordot``'s backward forms."""

    @staticmethod
    def forward(
        ctx: Any,
        currents: torch.Tensor,
        weights: torch.Tensor,
        constants: tuple[float, float, float, float, float],
        alpha: float,
        kernel: Any,
    ) -> torch.Tensor:
        steps = currents.shape[0]
        if steps > 1 and currents.stride(0) == 0:  # the same current at every step
            currents = currents[:1]
        shape = currents.shape[1:]
        v = torch.full(shape, constants[2], dtype=currents.dtype)
        i = torch.zeros(shape, dtype=currents.dtype)
        summed, _, _, v_pre = kernel.lif_forward(
            currents.contiguous(), steps, v, i, *constants, True, weights
        )
        ctx.save_for_backward(v_pre, weights)
        ctx.constants, ctx.alpha, ctx.kernel = constants, alpha, kernel
        return summed

    @staticmethod
    def backward(ctx: Any, grad_summed: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        v_pre, weights = ctx.saved_tensors
        mem, keep_i, _, v_th, v_reset = ctx.constants
        grad_currents, _, _ = ctx.kernel.lif_backward(
            v_pre,
            NONE,
            grad_summed.contiguous(),
            NONE,
            NONE,
            mem,
            keep_i,
            v_th,
            v_reset,
            ctx.alpha,
            weights,
        )
        return grad_currents, None, None, None, None


def lif_summed(
    currents: torch.Tensor,
    weights: torch.Tensor,
    p: LIFParameters,
    dt: float = 1e-3,
    surrogate: str = "superspike",
    alpha: float = 100.0,
) -> torch.Tensor:
    """The spikes of :func:`lif_sequence` from rest, summed over time with ``weights``:
    ``tensordot(weights, spikes, dims=1)``, ``(B, ...)``.

    A leaky-integrator readout from rest is linear in its input, so it needs no more
    of the last hidden layer than this sum (see ``SpikingNetwork.read_out``). On the
    compiled kernel (SuperSpike, scalar constants, float32 on the CPU) the sum is
    taken inside the time loop and the spikes are never stored: the same spikes and
    gradients (the sum's float rounding aside); elsewhere it is the plain composition.

    :param currents: input currents ``(T, B, ...)``.
    :param weights: one weight per time step, ``(T,)``.
    :raises ValueError: for weights that are not ``(T,)``.
    """
    if weights.shape != currents.shape[:1]:
        raise ValueError(
            f"weights must be one per time step ({currents.shape[0]},), got {tuple(weights.shape)}"
        )
    kernel = kernel_for(currents, weights)
    constants = scalar_lif_constants(p, dt)
    if kernel is None or constants is None or surrogate != "superspike" or currents.dim() < 2:
        spikes, _ = lif_sequence(currents, p, dt, surrogate, alpha)
        return torch.tensordot(weights, spikes, dims=1)
    return _LIFSummed.apply(currents, weights.contiguous(), constants, float(alpha), kernel)


def scalar_lif_constants(
    p: LIFParameters, dt: float
) -> tuple[float, float, float, float, float] | None:
    """The LIF loop's constants ``(mem, keep_i, v_leak, v_th, v_reset)`` as Norse's
    float32 products give them (``mem = dt tau_mem_inv``, ``keep_i = -dt tau_syn_inv``),
    or None where a parameter is per neuron."""
    values = []
    for name in ("tau_mem_inv", "tau_syn_inv", "v_leak", "v_th", "v_reset"):
        value = torch.as_tensor(getattr(p, name))
        if value.numel() != 1:
            return None
        values.append(float(value))
    return _loop_constants(float(dt), *values)


@functools.lru_cache(maxsize=64)
def _loop_constants(
    dt: float, tau_mem_inv: float, tau_syn_inv: float, v_leak: float, v_th: float, v_reset: float
) -> tuple[float, float, float, float, float]:
    # Norse's float32 products, computed once per set of constants
    mem = float(torch.tensor(dt) * torch.tensor(tau_mem_inv))
    keep_i = float(-torch.tensor(dt) * torch.tensor(tau_syn_inv))
    return mem, keep_i, v_leak, v_th, v_reset


def lif_sequence(
    currents: torch.Tensor,
    p: LIFParameters,
    dt: float = 1e-3,
    surrogate: str = "superspike",
    alpha: float = 100.0,
    state: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Run Norse's current-based LIF neuron over a time-first input.

    Same update, order and hard reset as ``norse.torch.functional.lif``'s
    feed-forward step (the input joins the synaptic current, the membrane
    integrates it, then the current decays), with the surrogate of :func:`spike_fn`.
    The time loop is one autograd node with a hand-written backward pass
    (:func:`lif_sequence_reference` is the step-by-step autograd version; both give
    the same spikes and, within float rounding, the same gradients).

    :param currents: input currents ``(T, B, ...)``.
    :param p: Norse ``LIFParameters`` (tau_syn_inv, tau_mem_inv, v_leak, v_th, v_reset).
    :param dt: integration step in seconds.
    :param state: ``(v, i)`` to continue from; zeros (``v = v_leak``) when None.
    :return: spikes ``(T, B, ...)`` and the final ``(v, i)``.
    """
    v, i, derivative = _lif_setup(currents, p, surrogate, state)
    constants = scalar_lif_constants(p, dt)
    if constants is None or currents.dtype != torch.float32:
        # per-neuron constants or other precisions: the step-by-step path
        return lif_sequence_reference(currents, p, dt, surrogate, alpha, state)
    spikes, v, i = _LIFSequence.apply(currents, v, i, constants, derivative, float(alpha))
    return spikes, (v, i)


def _lif_setup(
    currents: torch.Tensor,
    p: LIFParameters,
    surrogate: str,
    state: tuple[torch.Tensor, torch.Tensor] | None,
) -> tuple[torch.Tensor, torch.Tensor, Callable[[torch.Tensor, float], torch.Tensor]]:
    if currents.dim() < 2:
        raise ValueError(
            f"currents must be time-first (T, B, ...), got shape {tuple(currents.shape)}"
        )
    derivative = SURROGATES.get(surrogate)
    if derivative is None:
        raise ValueError(f"unknown surrogate method {surrogate!r}; accepted: {sorted(SURROGATES)}")
    if state is None:
        return torch.zeros_like(currents[0]) + p.v_leak, torch.zeros_like(currents[0]), derivative
    return state[0], state[1], derivative


def lif_sequence_reference(
    currents: torch.Tensor,
    p: LIFParameters,
    dt: float = 1e-3,
    surrogate: str = "superspike",
    alpha: float = 100.0,
    state: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """:func:`lif_sequence` step by step through autograd: the reference the fast path
    is tested against."""
    v, i, derivative = _lif_setup(currents, p, surrogate, state)
    mem = dt * p.tau_mem_inv
    # written in Norse's evaluation order so results match it bit for bit
    neg_syn = -dt * p.tau_syn_inv
    spikes = []
    for t in range(currents.shape[0]):
        i = i + currents[t]
        v = v + mem * ((p.v_leak - v) + i)
        i = i + neg_syn * i
        z = _Surrogate.apply(v - p.v_th, derivative, float(alpha))
        v = (1.0 - z) * v + z * p.v_reset
        spikes.append(z)
    return torch.stack(spikes), (v, i)


def li_sequence(
    currents: torch.Tensor,
    p: LIFParameters,
    dt: float = 1e-3,
    state: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Leaky integrator (non-spiking readout), Norse's ``li_feed_forward_step`` order.

    :return: membrane potentials ``(T, B, ...)`` and the final ``(v, i)``.
    """
    if currents.dim() < 2:
        raise ValueError(
            f"currents must be time-first (T, B, ...), got shape {tuple(currents.shape)}"
        )
    if state is None:
        v = torch.zeros_like(currents[0]) + p.v_leak
        i = torch.zeros_like(currents[0])
    else:
        v, i = state
    mem = dt * p.tau_mem_inv
    # written in Norse's evaluation order so results match it bit for bit
    neg_syn = -dt * p.tau_syn_inv
    out = []
    for t in range(currents.shape[0]):
        i = i + currents[t]
        v = v + mem * ((p.v_leak - v) + i)
        i = i + neg_syn * i
        out.append(v)
    return torch.stack(out), (v, i)


_LI_KERNELS: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def li_kernel(
    steps: int, p: LIFParameters, dt: float = 1e-3, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """The leaky integrator from rest as a linear map over time: ``v = K @ I + c``.

    ``K[t, s]`` is the membrane at step t after a unit input at step s, ``c[t]`` the
    membrane with no input (non-zero only for ``v_leak != 0``). Computed once per
    (T, constants, dtype) by running :func:`li_sequence` on impulses.

    :return: ``K`` of shape ``(T, T)`` and ``c`` of shape ``(T,)``.
    """
    constants = tuple(float(getattr(p, name)) for name in ("tau_syn_inv", "tau_mem_inv", "v_leak"))
    key = (steps, float(dt), constants, dtype)
    if key not in _LI_KERNELS:
        with torch.no_grad():
            impulses = torch.eye(steps, dtype=torch.float64).unsqueeze(-1)  # (T, T, 1)
            v, _ = li_sequence(impulses, p, dt)
            c, _ = li_sequence(torch.zeros(steps, 1, dtype=torch.float64), p, dt)
            kernel = (v[..., 0] - c).to(dtype)  # column s: the response to an impulse at s
        _LI_KERNELS[key] = (kernel, c[:, 0].to(dtype))
    return _LI_KERNELS[key]
