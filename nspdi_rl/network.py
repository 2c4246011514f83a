"""Spiking networks built from NDI layers, Norse LIF neurons and a leaky-integrator readout.

A network is described by a :class:`SpikingNetConfig` (plain, serialisable
dataclasses) and built by :func:`build_network`. Tensors inside are time-first,
``(T, B, ...)``: each layer projects all T steps in one call, then the LIF
neurons run over time. By default every forward call starts from a fresh
neuron state (one sample / one environment step); ``stateful=True`` keeps the
state across calls until :func:`reset_states` is called on that model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F
from norse.torch.functional.lif import LIFParameters
from torch import nn

from nspdi_rl.functional import (
    SURROGATES,
    check_lif_parameters,
    li_kernel,
    li_sequence,
    lif_sequence,
    lif_summed,
    scalar_lif_constants,
)
from nspdi_rl.inference import compiled_forward, global_hooks
from nspdi_rl.layers import NDIConv2d, NDILinear, NSPConfig

__all__ = [
    "ENCODERS",
    "READOUTS",
    "Encoder",
    "LIFConfig",
    "LIFLayer",
    "LIReadout",
    "SpikingNetConfig",
    "SpikingNetwork",
    "build_network",
    "reset_states",
]

ENCODERS = ("direct", "rate", "population", "events")
READOUTS = ("mean", "last", "max", "spike_count")


@dataclass(frozen=True)
class LIFConfig:
    """Constants of Norse's current-based LIF neuron (its defaults) and the surrogate.

    :param tau_syn_inv: inverse synaptic time constant, 1/s. Default 200.
    :param tau_mem_inv: inverse membrane time constant, 1/s. Default 100.
    :param v_th: threshold. Default 1.0.
    :param v_reset: reset potential (hard reset). Default 0.0.
    :param v_leak: leak potential. Default 0.0.
    :param dt: time step, s. Default 1e-3.
    :param surrogate: surrogate gradient (``superspike``, ``sigmoid``, ``atan``, ``triangle``).
    :param alpha: surrogate sharpness. Default 100 (Norse's).
    """

    tau_syn_inv: float = 200.0
    tau_mem_inv: float = 100.0
    v_th: float = 1.0
    v_reset: float = 0.0
    v_leak: float = 0.0
    dt: float = 1e-3
    surrogate: str = "superspike"
    alpha: float = 100.0

    def __post_init__(self) -> None:
        if self.surrogate not in SURROGATES:
            raise ValueError(
                f"unknown surrogate {self.surrogate!r}; accepted: {sorted(SURROGATES)}"
            )
        if not (math.isfinite(self.alpha) and self.alpha > 0):
            raise ValueError(f"surrogate alpha must be > 0, got {self.alpha}")
        if not self.v_th > self.v_reset:
            raise ValueError(
                f"v_th must exceed v_reset, got v_th={self.v_th} v_reset={self.v_reset}"
            )
        check_lif_parameters(self.norse_parameters(), self.dt)

    def norse_parameters(self) -> LIFParameters:
        return LIFParameters(
            tau_syn_inv=torch.as_tensor(self.tau_syn_inv),
            tau_mem_inv=torch.as_tensor(self.tau_mem_inv),
            v_leak=torch.as_tensor(self.v_leak),
            v_th=torch.as_tensor(self.v_th),
            v_reset=torch.as_tensor(self.v_reset),
        )


@dataclass(frozen=True)
class SpikingNetConfig:
    """Architecture of a spiking network (MLP, or conv stack then MLP).

    :param input_shape: shape of one sample, without batch (and time) dims:
        ``(features,)`` for an MLP, ``(channels, height, width)`` for a conv net.
    :param n_outputs: readout size.
    :param hidden: widths of the hidden NDI dense layers. Default (128,).
    :param conv_channels: output channels of the NDI conv blocks (empty: no convs).
    :param kernel_size: conv kernel size (padding keeps the size). Default 3.
    :param pool: max-pool factor after each conv block (1: none). Default 2.
    :param time_steps: T, steps per sample for static inputs. Default 8.
    :param encoder: ``direct`` (constant current), ``rate`` (Bernoulli spikes),
        ``population`` (Gaussian receptive fields as constant current) or ``events``
        (input is already ``(T, B, ...)``).
    :param input_low: lower bound of the input values (rate / population). Default 0.
    :param input_high: upper bound of the input values (rate / population). Default 1.
    :param population_size: receptive fields per input value (population). Default 8.
    :param ndi: use the dendritic product term in every layer. Default True.
    :param v_init_scale: V's init relative to W's. Default 0.1.
    :param weight_scale: gain on the default ``U(+-1/sqrt(fan_in))`` init of every
        layer. Default 4.0: with Norse's constants a neuron needs
        input currents of order 1 to spike, which spike inputs through the plain
        init rarely give.
    :param nsp: the synapse parameterisation of every layer.
    :param lif: the LIF neuron constants.
    :param readout: how the leaky-integrator readout becomes the output:
        ``mean``, ``last`` or ``max`` of its membrane over T, or ``spike_count``
        (a LIF output layer's spike counts / T).
    :param readout_ndi: use the product term in the readout layer too. Default False.
    """

    input_shape: tuple[int, ...]
    n_outputs: int
    hidden: tuple[int, ...] = (128,)
    conv_channels: tuple[int, ...] = ()
    kernel_size: int = 3
    pool: int = 2
    time_steps: int = 8
    encoder: str = "direct"
    input_low: float = 0.0
    input_high: float = 1.0
    population_size: int = 8
    ndi: bool = True
    v_init_scale: float = 0.1
    weight_scale: float = 4.0
    nsp: NSPConfig = field(default_factory=NSPConfig)
    lif: LIFConfig = field(default_factory=LIFConfig)
    readout: str = "mean"
    readout_ndi: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "conv_channels", tuple(int(c) for c in self.conv_channels))
        if not self.input_shape or any(s <= 0 for s in self.input_shape):
            raise ValueError(
                f"input_shape must be non-empty positive sizes, got {self.input_shape}"
            )
        if self.conv_channels and len(self.input_shape) != 3:
            raise ValueError(
                "a conv network needs input_shape (channels, height, width), "
                f"got {self.input_shape}"
            )
        for name in ("n_outputs", "time_steps", "kernel_size", "pool", "population_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if any(h <= 0 for h in self.hidden) or any(c <= 0 for c in self.conv_channels):
            raise ValueError(
                f"layer sizes must be positive, got hidden={self.hidden} conv={self.conv_channels}"
            )
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; accepted: {ENCODERS}")
        if self.readout not in READOUTS:
            raise ValueError(f"unknown readout {self.readout!r}; accepted: {READOUTS}")
        if not (
            math.isfinite(self.input_low)
            and math.isfinite(self.input_high)
            and self.input_low < self.input_high
        ):
            raise ValueError(
                f"need input_low < input_high, got {self.input_low}, {self.input_high}"
            )
        if not (math.isfinite(self.weight_scale) and self.weight_scale > 0):
            raise ValueError(f"weight_scale must be > 0, got {self.weight_scale}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpikingNetConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(
                f"unknown SpikingNetConfig keys {sorted(unknown)}; accepted: {sorted(known)}"
            )
        data = dict(data)
        if isinstance(data.get("nsp"), dict):
            data["nsp"] = NSPConfig.from_dict(data["nsp"])
        if isinstance(data.get("lif"), dict):
            data["lif"] = LIFConfig(**data["lif"])
        return cls(**data)


class Encoder(nn.Module):
    """Turns a static batch ``(B, ...)`` into time-first input ``(T, B, ...)``."""

    centres: torch.Tensor

    def __init__(
        self,
        kind: str,
        time_steps: int,
        low: float = 0.0,
        high: float = 1.0,
        population_size: int = 8,
    ) -> None:
        super().__init__()
        if kind not in ENCODERS:
            raise ValueError(f"unknown encoder {kind!r}; accepted: {ENCODERS}")
        self.kind = kind
        self.time_steps = time_steps
        self.low = low
        self.high = high
        self.population_size = population_size
        centres = torch.linspace(0.0, 1.0, population_size)
        self.register_buffer("centres", centres, persistent=False)

    def _check_range(self, x: torch.Tensor) -> None:
        if not x.numel():
            return
        low, high = (float(v) for v in torch.aminmax(x.detach()))
        if low < self.low or high > self.high:
            raise ValueError(
                f"{self.kind} encoder expects inputs in [{self.low}, {self.high}], "
                f"got values in [{low:.4g}, {high:.4g}]"
            )

    @property
    def constant_over_time(self) -> bool:
        """True when every step carries the same input (direct and population coding)."""
        return self.kind in ("direct", "population")

    def encode_static(self, x: torch.Tensor) -> torch.Tensor:
        """The input of one step, ``(B, ...)``, for the encoders constant over time."""
        if self.kind == "direct":
            return x
        if self.kind != "population":
            raise ValueError(f"the {self.kind!r} encoder changes over time; use forward()")
        self._check_range(x)
        unit = (x - self.low) / (self.high - self.low)
        # Gaussian receptive fields tiling [0, 1], width = their spacing
        width = 1.0 / max(self.population_size - 1, 1)
        act = torch.exp(-0.5 * ((unit.unsqueeze(-1) - self.centres) / width) ** 2)
        return act.reshape(*x.shape[:-1], x.shape[-1] * self.population_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "events":
            return x
        t = self.time_steps
        if self.constant_over_time:
            step = self.encode_static(x)
            return step.unsqueeze(0).expand(t, *step.shape)
        self._check_range(x)
        unit = (x - self.low) / (self.high - self.low)
        return torch.bernoulli(unit.unsqueeze(0).expand(t, *x.shape).contiguous())


class LIFLayer(nn.Module):
    """Norse's LIF neurons over a time-first current ``(T, B, ...)``; returns spikes."""

    def __init__(self, config: LIFConfig, stateful: bool = False) -> None:
        super().__init__()
        self.config = config
        self.p = config.norse_parameters()
        #: the loop's scalar constants (None: per-neuron parameters)
        self.constants = scalar_lif_constants(self.p, config.dt)
        self.stateful = stateful
        self.state: tuple[torch.Tensor, torch.Tensor] | None = None

    def reset_state(self) -> None:
        self.state = None

    def forward(self, currents: torch.Tensor) -> torch.Tensor:
        c = self.config
        state = self.state if self.stateful else None
        if state is not None and state[0].shape != currents.shape[1:]:
            raise ValueError(
                f"stateful LIF layer holds state of shape {tuple(state[0].shape)} but got input "
                f"{tuple(currents.shape)}; call reset_states(model) when the batch changes"
            )
        spikes, new_state = lif_sequence(currents, self.p, c.dt, c.surrogate, c.alpha, state)
        if self.stateful:
            self.state = new_state
        return spikes


class LIReadout(nn.Module):
    """Non-spiking leaky integrator; reduces its membrane over time (``mean``/``last``/``max``)."""

    def __init__(self, config: LIFConfig, reduce: str = "mean", stateful: bool = False) -> None:
        super().__init__()
        if reduce not in ("mean", "last", "max"):
            raise ValueError(
                f"unknown readout reduction {reduce!r}; accepted: ('mean', 'last', 'max')"
            )
        self.config = config
        self.p = config.norse_parameters()
        self.reduce = reduce
        self.stateful = stateful
        self.state: tuple[torch.Tensor, torch.Tensor] | None = None
        self._reductions: dict[tuple[Any, ...], tuple[torch.Tensor, torch.Tensor]] = {}

    def reset_state(self) -> None:
        self.state = None

    def forward(self, currents: torch.Tensor) -> torch.Tensor:
        if not self.stateful:  # LIFConfig's constants are scalars: the kernel applies
            return self._forward_from_rest(currents)
        v, self.state = li_sequence(currents, self.p, self.config.dt, self.state)
        if self.reduce == "mean":
            return v.mean(0)
        if self.reduce == "last":
            return v[-1]
        return v.max(0).values

    def _forward_from_rest(self, currents: torch.Tensor) -> torch.Tensor:
        # the integrator is linear: one weighted sum over time replaces the step loop
        if self.reduce == "max":
            kernel, offset = li_kernel(currents.shape[0], self.p, self.config.dt, currents.dtype)
            kernel, offset = kernel.to(currents.device), offset.to(currents.device)
            v = torch.tensordot(kernel, currents, dims=1) + offset.reshape(
                -1, *[1] * (currents.dim() - 1)
            )
            return v.max(0).values
        weights, bias = self.reduction(currents.shape[0], currents)
        return torch.tensordot(weights, currents, dims=1) + bias

    def reduction(self, steps: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The integrator from rest over ``steps`` steps, reduced (``mean`` / ``last``),
        as ``tensordot(weights, currents, dims=1) + bias``: ``(weights (steps,),
        bias ())`` in ``like``'s dtype and device, computed once per kind of call."""
        if self.reduce == "max":
            raise ValueError("the 'max' readout is not a weighted sum over time")
        key = (steps, like.dtype, like.device)
        cached = self._reductions.get(key)
        if cached is None:
            kernel, offset = li_kernel(steps, self.p, self.config.dt, like.dtype)
            kernel, offset = kernel.to(like.device), offset.to(like.device)
            if self.reduce == "mean":
                cached = (kernel.mean(0), offset.mean())
            else:
                cached = (kernel[-1], offset[-1])
            self._reductions[key] = cached
        return cached


class SpikingNetwork(nn.Module):
    """NDI conv blocks (conv, LIF, max-pool), NDI dense + LIF layers, then a readout.

    ``forward(x)`` takes a static batch ``(B, *input_shape)`` (encoded to T steps)
    or, with the ``events`` encoder, a time-first ``(T, B, *input_shape)`` tensor,
    and returns ``(B, n_outputs)``.
    """

    def __init__(
        self,
        config: SpikingNetConfig,
        stateful: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.stateful = stateful
        c = config
        self.encoder = Encoder(
            c.encoder, c.time_steps, c.input_low, c.input_high, c.population_size
        )
        shape = list(c.input_shape)
        if c.encoder == "population":
            shape[-1] *= c.population_size
        # the first layer sees one step's input (B, ...) when it is the same at every
        # step: SynOps count it once per time step
        first_steps = c.time_steps if self.encoder.constant_over_time else 1
        self.convs = nn.ModuleList()
        self.conv_neurons = nn.ModuleList()
        for index, channels in enumerate(c.conv_channels):
            self.convs.append(
                NDIConv2d(
                    shape[0],
                    channels,
                    c.kernel_size,
                    1,
                    c.kernel_size // 2,
                    ndi=c.ndi,
                    nsp=c.nsp,
                    v_init_scale=c.v_init_scale,
                    weight_scale=c.weight_scale,
                    generator=generator,
                    constant_input_steps=first_steps if index == 0 else 1,
                )
            )
            self.conv_neurons.append(LIFLayer(c.lif, stateful))
            shape = [channels, shape[1] // c.pool, shape[2] // c.pool]
            if shape[1] == 0 or shape[2] == 0:
                raise ValueError(
                    f"input {c.input_shape} is too small for "
                    f"{len(c.conv_channels)} pool steps of {c.pool}"
                )
        features = int(math.prod(shape))
        self.layers = nn.ModuleList()
        self.neurons = nn.ModuleList()
        for index, width in enumerate(c.hidden):
            self.layers.append(
                NDILinear(
                    features,
                    width,
                    ndi=c.ndi,
                    nsp=c.nsp,
                    v_init_scale=c.v_init_scale,
                    weight_scale=c.weight_scale,
                    generator=generator,
                    constant_input_steps=first_steps if index == 0 and not self.convs else 1,
                )
            )
            self.neurons.append(LIFLayer(c.lif, stateful))
            features = width
        self.readout = NDILinear(
            features,
            c.n_outputs,
            ndi=c.readout_ndi,
            nsp=c.nsp,
            v_init_scale=c.v_init_scale,
            weight_scale=c.weight_scale,
            generator=generator,
            role="readout",
        )
        if c.readout == "spike_count":
            self.readout_neurons: nn.Module = LIFLayer(c.lif, stateful)
        else:
            self.readout_neurons = LIReadout(c.lif, c.readout, stateful)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Check the input's shape and turn it into ``(T, B, ...)``."""
        self._check_input(x)
        return self.encoder(x)

    def _check_input(self, x: torch.Tensor) -> None:
        sample_dims = len(self.config.input_shape)
        expected = tuple(self.config.input_shape)
        if self.config.encoder == "events":
            if x.dim() != sample_dims + 2 or tuple(x.shape[2:]) != expected:
                raise ValueError(
                    f"expected time-first input (T, B, {', '.join(map(str, expected))}), "
                    f"got shape {tuple(x.shape)}"
                )
        elif x.dim() != sample_dims + 1 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"expected input (B, {', '.join(map(str, expected))}), got shape {tuple(x.shape)}"
            )

    def _project_input(self, x: torch.Tensor, layer: nn.Module) -> torch.Tensor:
        """The first layer's current for all T steps.

        With an input that is the same at every step (direct or population coding)
        the projection is computed once and repeated, not T times.
        """
        self._check_input(x)
        if not self.encoder.constant_over_time:
            return layer(self.encoder(x))
        current = layer(self.encoder.encode_static(x))
        return current.unsqueeze(0).expand(self.config.time_steps, *current.shape)

    def forward_hidden(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes of the last hidden layer, ``(T, B, features)``."""
        h, neurons = self._last_current(x)
        return h if neurons is None else neurons(h)

    def _last_current(self, x: torch.Tensor) -> tuple[torch.Tensor, LIFLayer | None]:
        """The last dense layer's current ``(T, B, N)`` and its neurons; without dense
        layers, the last spikes (or the encoded input) and None."""
        if not self.convs and not self.layers:
            return self.encode(x), None
        h = x
        for index, (conv, neurons) in enumerate(zip(self.convs, self.conv_neurons, strict=True)):
            s = neurons(self._project_input(h, conv) if index == 0 else conv(h))
            if self.config.pool > 1:
                t, b = s.shape[:2]
                s = F.max_pool2d(s.reshape(t * b, *s.shape[2:]), self.config.pool)
                s = s.reshape(t, b, *s.shape[1:])
            h = s
        if self.convs:
            h = h.flatten(2)
        if not self.layers:
            return h, None
        last = len(self.layers) - 1
        for index, (layer, neurons) in enumerate(zip(self.layers, self.neurons, strict=True)):
            first_stage = index == 0 and not self.convs
            current = self._project_input(h, layer) if first_stage else layer(h)
            if index == last:
                assert isinstance(neurons, LIFLayer)
                return current, neurons
            h = neurons(current)
        raise AssertionError("unreachable")  # pragma: no cover

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():  # acting and evaluating: one compiled call
            compiled = compiled_forward([self], x)
            if compiled is not None:
                return compiled[0]
        current, neurons = self._last_current(x)
        if neurons is None:
            return self.read_out(current)
        if (
            self._reads_out_a_sum()
            and not neurons.stateful
            and not (neurons._forward_hooks or neurons._forward_pre_hooks)
        ):
            # the readout needs only the spikes' weighted sum over time: the LIF loop
            # takes it as it goes, without storing the spikes (see lif_summed)
            readout = self.readout_neurons
            assert isinstance(readout, LIReadout)
            weights, offset = readout.reduction(current.shape[0], current)
            c = neurons.config
            summed = lif_summed(current, weights, neurons.p, c.dt, c.surrogate, c.alpha)
            return self._read_out_sum(summed, weights, offset)
        return self.read_out(neurons(current))

    def _reads_out_a_sum(self) -> bool:
        """Whether the readout is linear in the spikes' weighted sum over time (see
        :meth:`read_out`)."""
        neurons, layer = self.readout_neurons, self.readout
        return (
            isinstance(neurons, LIReadout)
            and not neurons.stateful
            and neurons.reduce != "max"
            and isinstance(layer, NDILinear)
            and layer.v is None
            and not (layer._forward_hooks or layer._forward_pre_hooks or global_hooks())
        )

    def _read_out_sum(
        self, summed: torch.Tensor, weights: torch.Tensor, offset: torch.Tensor
    ) -> torch.Tensor:
        """The readout from the spikes summed over time with the integrator's ``weights``."""
        layer = self.readout
        out = layer(summed)
        if layer.bias is not None:
            out = out + layer.bias * (weights.sum() - 1)
        return out + offset

    def read_out(self, h: torch.Tensor) -> torch.Tensor:
        """The output from the last hidden layer's spikes ``h`` (``(T, B, N)``).

        A linear readout into the leaky integrator from rest is linear in the spikes:
        ``sum_t k_t (W h_t + b) + c = W (sum_t k_t h_t) + b sum_t k_t + c``, so the
        spikes are summed over time first and the readout runs once instead of T times
        (the same output up to float rounding; gradients too). A readout with the
        product term, a spiking or stateful or ``max`` readout, and hooks on the readout
        (SynOps counting sees every time step) take the step-by-step path.
        """
        if self._reads_out_a_sum():
            neurons = self.readout_neurons
            assert isinstance(neurons, LIReadout)
            weights, offset = neurons.reduction(h.shape[0], h)
            return self._read_out_sum(torch.tensordot(weights, h, dims=1), weights, offset)
        neurons, layer = self.readout_neurons, self.readout
        out = neurons(layer(h))
        return out.mean(0) if self.config.readout == "spike_count" else out

    def batch_size(self, x: torch.Tensor) -> int:
        """Number of samples in an input batch (for per-sample metrics)."""
        return int(x.shape[1] if self.config.encoder == "events" else x.shape[0])


def build_network(
    config: SpikingNetConfig, stateful: bool = False, seed: int | None = None
) -> SpikingNetwork:
    """Build the :class:`SpikingNetwork` a config describes.

    :param stateful: keep neuron state across forward calls until :func:`reset_states`.
    :param seed: seed for the weight and ``a`` draws (None: torch's global RNG).
    """
    generator = None
    if seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    return SpikingNetwork(config, stateful=stateful, generator=generator)


def reset_states(model: nn.Module) -> int:
    """Reset the neuron state of every spiking module inside ``model`` (and only there).

    :return: the number of modules reset.
    """
    count = 0
    for module in model.modules():
        reset = getattr(module, "reset_state", None)
        if callable(reset):
            reset()
            count += 1
    return count
