"""Sparsity, SynOps, energy and information-transfer efficiency (docs/method.md section 8).

- connectivity of a layer = non-zero effective weights / all weights, with W and
  V of an NDI layer both counted; sparsity = 1 - connectivity. Model figures are
  weighted by weight count over the hidden layers; readouts are reported apart.
  Plain ``torch.nn.Linear`` / ``torch.nn.Conv2d`` layers are measured too (the
  zeros of their ``weight``, e.g. from ``torch.nn.utils.prune``, count as pruned),
  so any model can be compared; having no role, they always count as hidden.
- SynOps are counted from the real inputs of every NSP layer during a forward
  pass: an accumulate (AC) per input spike per non-zero outgoing synapse when the
  input is binary, a multiply-accumulate (MAC) per non-zero input per non-zero
  synapse otherwise, and one MAC per output element for the NDI product.
- Energy (45 nm, Horowitz 2014): 0.9 pJ per AC, 4.6 pJ per MAC.
- Survivors: for each weight tensor, how many synapses live, how many output
  neurons still get input, and how strong the live weights are (mean ``|w|``
  beside mean ``|theta|``: NSP and STDS subtract ``d1`` from every survivor, so
  the gap is what the shift took) and on which channels' ``a`` they sit.
- Information transfer: mutual information between true and predicted label, in
  bits, from the confusion matrix; per kilo-SynOp and per non-zero synapse.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn.parameter import is_lazy

from nspdi_rl.layers import NSPConv2d, NSPLayer

__all__ = [
    "ENERGY_PER_AC_PJ",
    "ENERGY_PER_MAC_PJ",
    "PLAIN_LAYERS",
    "LayerStats",
    "SurvivorStats",
    "SynOpsCounter",
    "connectivity_per_layer",
    "energy_pj",
    "information_efficiency",
    "layer_stats",
    "mutual_information_bits",
    "sparsity",
    "survivor_stats",
    "survivor_summary",
]

ENERGY_PER_AC_PJ = 0.9
ENERGY_PER_MAC_PJ = 4.6


#: plain torch layers the sparsity figures measure beside the NSP layers
PLAIN_LAYERS = (nn.Linear, nn.Conv2d)


@dataclass(frozen=True)
class LayerStats:
    """Weight counts of one layer (W and V together for NDI layers).

    ``role`` is the NSP layer's (``hidden`` or ``readout``); plain layers have none
    and are reported as ``hidden``.
    """

    name: str
    role: str
    nonzero: int
    total: int

    @property
    def connectivity(self) -> float:
        return self.nonzero / self.total if self.total else 0.0

    @property
    def sparsity(self) -> float:
        return 1.0 - self.connectivity


def _nsp_layers(model: nn.Module) -> Iterator[tuple[str, NSPLayer]]:
    for name, module in model.named_modules():
        if isinstance(module, NSPLayer):
            yield name or type(module).__name__, module


def _measured_weights(model: nn.Module) -> Iterator[tuple[str, str, list[torch.Tensor]]]:
    """``(name, role, effective weights)`` of every NSP layer and plain layer of ``model``."""
    for name, module in model.named_modules():
        label = name or type(module).__name__
        if isinstance(module, NSPLayer):
            yield label, module.role, [w() for w in module.nsp_weights()]
        elif isinstance(module, PLAIN_LAYERS):
            # torch.nn.utils.prune keeps weight = weight_orig * weight_mask in ``weight``
            if is_lazy(module.weight):
                raise ValueError(
                    f"layer {label!r} ({type(module).__name__}) has not been initialised yet; "
                    "run one forward pass before measuring it"
                )
            yield label, "hidden", [module.weight]


@torch.no_grad()
def layer_stats(model: nn.Module) -> list[LayerStats]:
    """Non-zero and total effective weights of every layer of ``model`` that has synapses.

    Covers the NSP layers (W and V of an NDI layer) and plain ``torch.nn.Linear`` /
    ``torch.nn.Conv2d`` layers (their ``weight``: zeros count as pruned), in module
    order; biases are not counted.
    """
    return [
        LayerStats(
            name,
            role,
            int(sum(int(torch.count_nonzero(w)) for w in weights)),
            int(sum(w.numel() for w in weights)),
        )
        for name, role, weights in _measured_weights(model)
    ]


def connectivity_per_layer(model: nn.Module) -> dict[str, float]:
    """``{layer name: connectivity}`` for every layer :func:`layer_stats` covers, readout
    included."""
    return {s.name: s.connectivity for s in layer_stats(model)}


def sparsity(model: nn.Module, include_readout: bool = False) -> float:
    """Global sparsity: 1 - non-zero / all effective weights, weighted by weight count.

    Counts the layers :func:`layer_stats` covers. Plain ``nn.Linear`` / ``nn.Conv2d``
    layers have no role and always count, a plain model's output layer included: to
    compare an NSP model with one, pass ``include_readout=True`` for the NSP model.

    :param include_readout: count the NSP readout layer too (reported apart by default).
    """
    every = layer_stats(model)
    stats = [s for s in every if include_readout or s.role != "readout"]
    total = sum(s.total for s in stats)
    if total == 0:
        left_out = " (the readout left out)" if len(stats) < len(every) else ""
        raise ValueError(
            f"model {type(model).__name__} has no weights to measure{left_out}: "
            "sparsity covers NSP layers, torch.nn.Linear and torch.nn.Conv2d"
        )
    return 1.0 - sum(s.nonzero for s in stats) / total


@dataclass(frozen=True)
class SurvivorStats:
    """What pruning left of one weight tensor (``layer.w`` or an NDI layer's ``layer.v``).

    :param fed: output channels (neurons) with at least one live synapse.
    :param read: input columns (presynaptic units; for a conv, input channel and kernel
        position) with at least one live synapse.
    :param mean_abs_weight: mean effective ``|w|`` over the live synapses.
    :param mean_abs_theta: mean ``|theta|`` over the live synapses.
    :param a_live: mean ``a`` of the live synapses' output channels.
    :param a_all: mean ``a`` over all output channels.

    The means are NaN when no synapse lives.
    """

    name: str
    method: str
    live: int
    total: int
    fed: int
    outputs: int
    read: int
    inputs: int
    d1: float
    d2: float
    mean_abs_weight: float
    mean_abs_theta: float
    a_live: float
    a_all: float


@torch.no_grad()
def survivor_stats(model: nn.Module, include_readout: bool = False) -> list[SurvivorStats]:
    """:class:`SurvivorStats` of every NSP weight tensor of ``model``.

    :param include_readout: the readout's weights too (not pruned by default).
    """
    stats = []
    for name, layer in _nsp_layers(model):
        if layer.role == "readout" and not include_readout:
            continue
        for tag, weight in zip(("w", "v"), layer.nsp_weights(), strict=False):
            w = weight().flatten(1)
            theta = weight.theta.detach().flatten(1)
            live = w != 0
            a = weight.a.detach().reshape(-1, 1).expand_as(w)
            n = int(live.sum())
            nan = float("nan")
            stats.append(
                SurvivorStats(
                    name=f"{name}.{tag}",
                    method=weight.config.method,
                    live=n,
                    total=w.numel(),
                    fed=int(live.any(1).sum()),
                    outputs=w.shape[0],
                    read=int(live.any(0).sum()),
                    inputs=w.shape[1],
                    d1=float(weight.d1),
                    d2=float(weight.d2),
                    mean_abs_weight=float(w[live].abs().mean()) if n else nan,
                    mean_abs_theta=float(theta[live].abs().mean()) if n else nan,
                    a_live=float(a[live].mean()) if n else nan,
                    a_all=float(weight.a.mean()),
                )
            )
    return stats


def survivor_summary(model: nn.Module) -> dict[str, float]:
    """Three numbers that say how pruning left the synaptic weights ``W`` of the pruned
    layers: ``mean_abs_w_live``, the mean effective ``|w|`` of the live synapses,
    ``neurons_fed``, the share of their neurons with at least one live synapse, and
    ``inputs_read``, the share of their inputs (presynaptic units) that reach at least
    one neuron through a live synapse (an input no synapse reads is invisible to the
    layer: with a one-hot maze square, the agent is blind on that square).

    NaN when the model has no pruned ``W`` (or none lives).
    """
    stats = [s for s in survivor_stats(model) if s.name.endswith(".w")]
    live = sum(s.live for s in stats)
    outputs = sum(s.outputs for s in stats)
    inputs = sum(s.inputs for s in stats)
    weighted = sum(s.mean_abs_weight * s.live for s in stats if s.live)
    return {
        "mean_abs_w_live": weighted / live if live else float("nan"),
        "neurons_fed": sum(s.fed for s in stats) / outputs if outputs else float("nan"),
        "inputs_read": sum(s.read for s in stats) / inputs if inputs else float("nan"),
    }


def energy_pj(
    acs: float,
    macs: float,
    pj_per_ac: float = ENERGY_PER_AC_PJ,
    pj_per_mac: float = ENERGY_PER_MAC_PJ,
) -> float:
    """Energy estimate in picojoules for a number of accumulates and multiply-accumulates."""
    if acs < 0 or macs < 0:
        raise ValueError(f"operation counts must be >= 0, got acs={acs} macs={macs}")
    return acs * pj_per_ac + macs * pj_per_mac


@dataclass
class SynOpsCounter:
    """Counts ACs and MACs of every NSP layer during forward passes.

    Use as a context manager around the forward passes to measure::

        with SynOpsCounter(model) as counter:
            model(x)
        counter.synops_per_sample, counter.energy_per_sample_pj

    Samples are counted from the model's ``batch_size(x)`` when it has one
    (every :class:`~nspdi_rl.network.SpikingNetwork` does), else from ``x.shape[0]``.
    """

    model: nn.Module
    acs: float = 0.0
    macs: float = 0.0
    samples: int = 0
    per_layer: dict[str, dict[str, float]] = field(default_factory=dict)
    _handles: list = field(default_factory=list, repr=False)

    def __enter__(self) -> SynOpsCounter:
        self._handles.append(self.model.register_forward_pre_hook(self._count_samples))
        for name, layer in _nsp_layers(self.model):
            self.per_layer.setdefault(name, {"acs": 0.0, "macs": 0.0})
            self._handles.append(layer.register_forward_hook(self._make_hook(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _count_samples(self, module: nn.Module, args: tuple) -> None:
        x = args[0]
        size = getattr(module, "batch_size", None)
        self.samples += int(size(x)) if callable(size) else int(x.shape[0])

    def _make_hook(self, name: str):  # noqa: ANN202
        def hook(layer: NSPLayer, args: tuple, output: torch.Tensor) -> None:
            with torch.no_grad():
                x = args[0]
                binary = bool(((x == 0) | (x == 1)).all())
                active = (x != 0).to(x.dtype)
                ops = 0.0
                for w in layer.nsp_weights():
                    # (active inputs x non-zero synapses) summed: one entry per synaptic event
                    ops += float(layer.project(active, (w() != 0).to(x.dtype)).sum())
                product_macs = float(output.numel()) if layer.v is not None else 0.0
                if x.dim() == (4 if isinstance(layer, NSPConv2d) else 2):
                    # one step's input standing for all T steps of a constant input
                    repeat = float(layer.constant_input_steps)
                    ops, product_macs = ops * repeat, product_macs * repeat
                acs = ops if binary else 0.0
                macs = (0.0 if binary else ops) + product_macs
                self.acs += acs
                self.macs += macs
                self.per_layer[name]["acs"] += acs
                self.per_layer[name]["macs"] += macs

        return hook

    @property
    def synops(self) -> float:
        return self.acs + self.macs

    def _per_sample(self, value: float) -> float:
        if self.samples == 0:
            raise ValueError("no samples were counted: run a forward pass inside the counter")
        return value / self.samples

    @property
    def synops_per_sample(self) -> float:
        return self._per_sample(self.synops)

    @property
    def energy_per_sample_pj(self) -> float:
        return self._per_sample(energy_pj(self.acs, self.macs))


def mutual_information_bits(confusion: np.ndarray | torch.Tensor) -> float:
    """Mutual information (bits) between true label (rows) and prediction (columns).

    Plug-in estimate from the joint distribution the confusion matrix gives.
    """
    c = np.asarray(confusion, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"confusion matrix must be square 2-D, got shape {c.shape}")
    if (c < 0).any() or c.sum() <= 0:
        raise ValueError("confusion matrix must be non-negative counts with a positive total")
    joint = c / c.sum()
    p_true = joint.sum(axis=1, keepdims=True)
    p_pred = joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    # >= 0 in exact arithmetic; rounding leaves -1e-17 where prediction ignores the label
    return max(0.0, float((joint[nz] * np.log2(joint[nz] / (p_true @ p_pred)[nz])).sum()))


def information_efficiency(
    confusion: np.ndarray | torch.Tensor, synops_per_sample: float, nonzero_synapses: int
) -> dict[str, float]:
    """Information-transfer efficiency: MI in bits, per kilo-SynOp and per non-zero synapse."""
    if synops_per_sample <= 0 or nonzero_synapses <= 0:
        raise ValueError(
            f"need positive SynOps and synapse counts, got synops_per_sample={synops_per_sample} "
            f"nonzero_synapses={nonzero_synapses}"
        )
    bits = mutual_information_bits(confusion)
    return {
        "mutual_information_bits": bits,
        "bits_per_ksynop": bits / (synops_per_sample / 1000.0),
        "bits_per_synapse": bits / nonzero_synapses,
    }
