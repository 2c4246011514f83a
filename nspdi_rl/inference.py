"""The no-grad forward of spiking MLPs: acting in an environment, evaluating.

Without autograd a whole MLP network (encoder, NDI layers, LIF loops, leaky-integrator
readout) runs as one call of the compiled kernel where :func:`nspdi_rl.backend.kernel_for`
allows it (:func:`compiled_forward`); what does not change between calls is worked out
once per tuple of networks (:class:`_ForwardPlan`). :func:`forward_together` runs an
actor and a critic side by side: one call, or one shared LIF loop per layer where the
kernel does not apply. Both give exactly the outputs of separate ``net(x)`` calls
without autograd.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from nspdi_rl.backend import kernel_for
from nspdi_rl.layers import NDILinear

if TYPE_CHECKING:
    from nspdi_rl.network import SpikingNetwork

__all__ = ["compiled_forward", "forward_together", "global_hooks"]


def _can_share_neurons(networks: Sequence[SpikingNetwork]) -> bool:
    first = networks[0].config
    return all(
        not net.convs
        and not net.stateful
        and net.config.lif == first.lif
        and net.config.time_steps == first.time_steps
        and len(net.layers) == len(networks[0].layers)
        for net in networks
    )


def forward_together(networks: Sequence[SpikingNetwork], x: torch.Tensor) -> list[torch.Tensor]:
    """Run several MLP networks on the same input, sharing each LIF time loop.

    The LIF update is element-wise, so the hidden currents of all networks can go
    through one loop side by side: the spikes and outputs are exactly those of
    separate calls, with one Python time loop instead of one per network (an
    actor and a critic, say). Without autograd all of it is one call of the compiled
    kernel where it applies (see :func:`compiled_forward`). Falls back to separate
    calls when the networks differ in their neurons, depth or T, have conv layers,
    or are stateful, and without autograd where the batch is past the kernel's line
    (:data:`STEP_READOUT_MACS`): each network then takes the route it takes alone.
    """
    if len(networks) < 2:
        return [net(x) for net in networks]
    compiled = compiled_forward(networks, x)
    if compiled is not None:
        return compiled
    if not _can_share_neurons(networks) or _past_the_line(networks, x):
        return [net(x) for net in networks]
    hidden = [x] * len(networks)
    for depth in range(len(networks[0].layers)):
        currents = [
            net._project_input(h, net.layers[0]) if depth == 0 else net.layers[depth](h)
            for net, h in zip(networks, hidden, strict=True)
        ]
        sizes = [c.shape[-1] for c in currents]
        spikes = networks[0].neurons[depth](torch.cat(currents, dim=-1))
        hidden = list(spikes.split(sizes, dim=-1))
    return [
        net.read_out(h if net.layers else net.encode(x))
        for net, h in zip(networks, hidden, strict=True)
    ]


@dataclass(eq=False)
class _ForwardPlan:
    """What the compiled no-grad forward of some networks passes to the kernel besides
    their weights (which change between calls): made once per tuple of networks.

    :param children: the modules it was made from, compared at every call (a layer
        swapped for a compressed one, say, makes a new plan).
    :param layers: per network, its hidden layers and readout (None: the kernel does not
        apply to these networks).
    :param max_batch: the largest batch the kernel is the faster route for (None: any),
        see :data:`STEP_READOUT_MACS`.
    """

    networks: tuple[weakref.ref[SpikingNetwork], ...]
    children: tuple[nn.Module, ...]
    layers: tuple[tuple[NDILinear, ...], ...] | None = None
    encoding: tuple[Any, ...] = ()
    ndi: list[list[int]] = field(default_factory=list)
    li_weights: list[torch.Tensor] = field(default_factory=list)
    li_bias: list[torch.Tensor] = field(default_factory=list)
    constants: tuple[float, ...] = ()
    max_batch: int | None = None

    def past_the_line(self, batch: int) -> bool:
        """Whether the kernel applies to these networks but not at this batch size."""
        return self.layers is not None and self.max_batch is not None and batch > self.max_batch


# per first network, its plans by the ids of the networks run together
_plans: weakref.WeakKeyDictionary[SpikingNetwork, dict[tuple[int, ...], _ForwardPlan]] = (
    weakref.WeakKeyDictionary()
)
_NO_BIAS = torch.empty(0)

#: The kernel reads out step by step, as the modules' step-by-step path does (its
#: outputs are those bits); the modules sum a linear readout's spikes over time first
#: (``SpikingNetwork.read_out``), T times fewer multiply-adds in the readout. Where the
#: kernel's extra readout work, ``(T - 1) * batch * sum(in * out)`` over the networks'
#: readouts, would pass this many multiply-adds, the modules are the faster route and
#: the kernel is not used. Measured (``bench.sac_steps``' actor: 72 -> 128 -> 256, T =
#: 8, one thread): kernel 0.10 / 0.15 / 0.42 / 0.82 ms against the modules' 0.12 /
#: 0.13 / 0.19 / 0.28 ms at batch 8 / 16 / 64 / 128, so the line falls between batch 8
#: and 16 there; the rollouts of the runner's PPO (8 envs) and SAC (1 env) stay on the
#: kernel, SAC's target actions (batch 128) go through the modules, as its actor loss
#: does.
STEP_READOUT_MACS = 2_500_000


def _children(networks: Sequence[SpikingNetwork]) -> tuple[nn.Module, ...]:
    """The networks' submodules that a plan depends on (straight from the module dicts:
    this runs at every rollout step)."""
    found: list[nn.Module] = []
    for net in networks:
        modules = net._modules
        found += modules.values()  # type: ignore[arg-type]
        found += modules["layers"]._modules.values()  # type: ignore[union-attr,arg-type]
        found += modules["neurons"]._modules.values()  # type: ignore[union-attr,arg-type]
    return tuple(found)


def _forward_plan(networks: Sequence[SpikingNetwork]) -> _ForwardPlan:
    """The plan of ``networks``: the cached one while they are made of the same modules."""
    key = tuple(map(id, networks))
    plans = _plans.setdefault(networks[0], {})
    children = _children(networks)
    plan = plans.get(key)
    if (
        plan is None
        or plan.children != children
        or any(ref() is not net for ref, net in zip(plan.networks, networks, strict=True))
    ):
        plan = plans[key] = _make_plan(networks, children)
    return plan


def _make_plan(networks: Sequence[SpikingNetwork], children: tuple[nn.Module, ...]) -> _ForwardPlan:
    from nspdi_rl.network import LIReadout  # network imports this module

    plan = _ForwardPlan(tuple(weakref.ref(net) for net in networks), children)
    first = networks[0]
    constants = first.neurons[0].constants if first.layers else None
    encoding = _encoder_settings(first)
    if constants is None or encoding[0] not in ("direct", "population"):
        return plan
    assert isinstance(constants, tuple)
    layers, ndi, li_weights, li_bias = [], [], [], []
    for net in networks:
        readout = net.readout_neurons
        if (
            net.stateful
            or net.convs
            or len(net.config.input_shape) != 1
            or len(net.layers) != len(first.layers)
            or net.config.time_steps != first.config.time_steps
            or net.config.lif != first.config.lif
            or not isinstance(readout, LIReadout)
            or readout.reduce == "max"
            or _encoder_settings(net) != encoding
        ):
            return plan
        own = (*net.layers, net.readout)
        # NSP layers only (an exported network has compressed ones)
        if not all(isinstance(layer, NDILinear) for layer in own):
            return plan
        layers.append(own)
        ndi.append([int(layer.v is not None) for layer in own])
        weight, offset = readout.reduction(first.config.time_steps, _NO_BIAS)
        li_weights.append(weight)
        li_bias.append(offset)
    encoder = first.encoder
    population = encoder.population_size if encoder.kind == "population" else 0
    plan.layers = tuple(layers)
    plan.encoding = (population, encoder.low, encoder.high, encoder.centres)
    plan.ndi, plan.li_weights, plan.li_bias = ndi, li_weights, li_bias
    plan.constants = constants
    readouts = [own[-1] for own in layers]
    extra = (first.config.time_steps - 1) * sum(r.w.shape.numel() for r in readouts)
    if extra > 0 and all(r.v is None for r in readouts):
        plan.max_batch = max(1, STEP_READOUT_MACS // extra)
    return plan


def compiled_forward(
    networks: Sequence[SpikingNetwork], x: torch.Tensor
) -> list[torch.Tensor] | None:
    """:func:`forward_together` without autograd in one call of the compiled kernel
    (``mlp_forward`` of :func:`nspdi_rl.backend.kernel_for`), or None where it does
    not apply: gradients, no kernel, hooks on a layer (SynOps counting), encoders that
    differ or change over time, different neurons or T, a spiking readout, a stateful
    network, conv layers, inputs of more than one dim, per-neuron LIF constants, other
    than float32 on the CPU; or where it is the slower route: a batch beyond
    :data:`STEP_READOUT_MACS`'s line.

    What does not change between calls (the checks above but the hooks, the encoder's
    settings, the readout's weights over time) is worked out once per tuple of networks
    (:class:`_ForwardPlan`); the weights are each layer's cached effective ones.
    """
    if torch.is_grad_enabled():
        return None
    kernel = kernel_for(x)
    if kernel is None or global_hooks():
        return None
    plan = _forward_plan(networks)
    if plan.layers is None or plan.past_the_line(len(x)):
        return None
    weights: list[list[torch.Tensor]] = []
    for layers in plan.layers:
        own: list[torch.Tensor] = []
        for layer in layers:
            if layer._forward_hooks or layer._forward_pre_hooks:
                return None
            bias = layer._parameters.get("bias")
            own += (layer.stacked_weight(), _NO_BIAS if bias is None else bias)
        weights.append(own)
    first = networks[0]
    first._check_input(x)
    if plan.encoding[0]:
        first.encoder._check_range(x)
    steps = first.config.time_steps
    return list(
        kernel.mlp_forward(
            x.contiguous(),
            *plan.encoding,
            steps,
            weights,
            plan.ndi,
            plan.li_weights,
            plan.li_bias,
            *plan.constants,
        )
    )


def _past_the_line(networks: Sequence[SpikingNetwork], x: torch.Tensor) -> bool:
    """Whether the compiled no-grad forward stepped aside for the batch's size alone."""
    if torch.is_grad_enabled() or kernel_for(x) is None:
        return False
    return _forward_plan(networks).past_the_line(len(x))


def global_hooks() -> bool:
    """Whether hooks are registered for every module (a private torch helper; where it
    is gone, assume there are)."""
    has_hooks = getattr(nn.modules.module, "_has_any_global_hook", None)
    return True if has_hooks is None else bool(has_hooks())


def _encoder_settings(net: SpikingNetwork) -> tuple[Any, ...]:
    e = net.encoder
    return (e.kind, e.low, e.high, e.population_size)
