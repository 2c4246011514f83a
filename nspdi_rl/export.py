"""Export of pruned networks: a compressed file, and an inference path that runs faster.

:func:`export_pruned` writes only the non-zero effective weights of every
dense NSP / NDI layer (CSR: row pointers, column indices, values), plus the
network config; :func:`load_pruned` rebuilds the network for inference with
each such layer replaced by a :class:`CompressedLinear`. A compressed layer
multiplies with a sparse (CSR or COO) matrix, with the dense one, or (compiled)
over only the non-zero inputs and synapses, whichever is fastest for the input's
row count: the first call with a new size times them
and keeps the winner, so a sparse path is used only where it pays. Conv layers keep
their (zero-holding) dense kernels.

:func:`to_nir` / :func:`export_nir` write a dense network as a NIR graph (the
neuromorphic intermediate representation) in the specification's units, so that
other simulators run it; NDI layers use one extension node (:data:`NDI_PRODUCT`).
:func:`read_nir` reads such a file and :func:`from_nir` rebuilds the network from it.
"""

from __future__ import annotations

import functools
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nspdi_rl.backend import kernel_for, kernels
from nspdi_rl.checkpoint import atomic_torch_save
from nspdi_rl.layers import NSPConfig, NSPConv2d, NSPLayer, NSPLinear
from nspdi_rl.network import LIFConfig, SpikingNetConfig, SpikingNetwork, build_network

__all__ = [
    "NDI_PRODUCT",
    "NIR_DISCRETISATION",
    "NIR_ENCODERS",
    "NIR_FORMAT",
    "NIR_READOUTS",
    "PRUNED_FORMAT",
    "CompressedLinear",
    "export_nir",
    "export_pruned",
    "from_nir",
    "load_pruned",
    "ndi_product_type",
    "read_nir",
    "to_nir",
]

PRUNED_FORMAT = "nspdi-rl/pruned-network"
MODES = ("auto", "sparse", "dense")


def _to_csr(weight: torch.Tensor) -> dict[str, Any]:
    # conv kernels are stored as (out, in * kh * kw) matrices
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        csr = weight.detach().reshape(weight.shape[0], -1).to_sparse_csr()
    return {
        "shape": tuple(weight.shape),
        "crow": csr.crow_indices().to(torch.int32),
        "col": csr.col_indices().to(torch.int32),
        "values": csr.values().clone(),
    }


def _from_csr(data: dict[str, Any]) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        return torch.sparse_csr_tensor(
            data["crow"].to(torch.int64),
            data["col"].to(torch.int64),
            data["values"],
            size=(data["shape"][0], math.prod(data["shape"][1:])),
        )


class CompressedLinear(nn.Module):
    """Inference-only dense NDI layer on fixed, pruned weights.

    :param weight: effective W, or W and V stacked (``(2 out, in)``) when ``ndi``.
    :param bias: the bias or None.
    :param ndi: the weight holds W over V; apply ``I = Wx + b + (Wx)(Vx)``.
    :param mode: ``auto`` (per input size, the fastest of dense, CSR, COO and, where the
        compiled kernels are built, the product over the non-zero inputs (``events``:
        spikes are sparse too) and the product over W's rows in tiles of input rows
        (``tiles``), timed on the first call with that size), ``sparse`` (CSR) or
        ``dense``.
    """

    dense_weight: torch.Tensor
    bias: torch.Tensor | None

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        ndi: bool,
        mode: str = "auto",
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown inference mode {mode!r}; accepted: {MODES}")
        self.register_buffer("dense_weight", weight.detach().clone())
        csr = _to_csr(weight)
        self.sparse_weight = _from_csr(csr)
        self.coo_weight = weight.detach().to_sparse().coalesce()
        # the compiled products: by input column (the CSR of W^T) over the non-zero
        # inputs, and by output row (W's CSR) over row tiles of the input
        csc = _to_csr(weight.t().contiguous())
        self.csc = (csc["crow"], csc["col"], csc["values"])
        self.csr = (csr["crow"], csr["col"], csr["values"])
        self.register_buffer("bias", None if bias is None else bias.detach().clone())
        self.ndi = ndi
        self.mode = mode
        self.in_features = weight.shape[1]
        self.out_features = weight.shape[0] // (2 if ndi else 1)
        # row-count bucket -> "dense" | "csr" | "coo" | "events" | "tiles"
        self.choice: dict[int, str] = {}

    # Each product comes in its natural layout: dense and events (M, out), CSR and COO
    # (out, M); _combine applies the NDI term and the bias in that layout. The tiles
    # kernel includes both and writes (M, out).
    def _dense(self, x2d: torch.Tensor) -> torch.Tensor:
        return self._combine(F.linear(x2d, self.dense_weight), -1)

    def _csr(self, x2d: torch.Tensor) -> torch.Tensor:
        return self._combine(torch.sparse.mm(self.sparse_weight, x2d.t()), 0).t()

    def _coo(self, x2d: torch.Tensor) -> torch.Tensor:
        return self._combine(torch.sparse.mm(self.coo_weight, x2d.t()), 0).t()

    def _events(self, x2d: torch.Tensor) -> torch.Tensor:
        kernel = kernels()
        assert kernel is not None  # offered by _paths only then
        y = kernel.event_matmul(x2d.contiguous(), *self.csc, self.dense_weight.shape[0])
        return self._combine(y, -1)

    def _tiles(self, x2d: torch.Tensor) -> torch.Tensor:
        kernel = kernels()
        assert kernel is not None  # offered by _paths only then
        return kernel.csr_tile_matmul(x2d.contiguous(), *self.csr, self.bias, self.ndi)

    def _paths(self) -> dict[str, Any]:
        """Each path's current ``(M, out)`` (a view of ``(out, M)`` for CSR and COO)."""
        paths = {"dense": self._dense, "csr": self._csr, "coo": self._coo}
        if kernel_for(self.dense_weight) is not None:
            paths["events"] = self._events
            paths["tiles"] = self._tiles
        return paths

    def _pick(self, x2d: torch.Tensor, shape: tuple[int, ...]) -> str:
        if self.mode != "auto":
            return "csr" if self.mode == "sparse" else "dense"
        bucket = 1 << max(0, math.ceil(math.log2(max(1, x2d.shape[0]))))
        if bucket not in self.choice:
            # each path timed as the layer runs it: product, NDI term, bias, and the
            # copy into the (..., out) layout that the next layer reads
            paths = {name: self._shaped(fn, shape) for name, fn in self._paths().items()}
            best: dict[str, float] = {name: math.inf for name in paths}
            for fn in paths.values():
                fn(x2d)  # warm-up
            for _ in range(5):  # interleaved, so a slow moment hits every path alike
                for name, fn in paths.items():
                    start = time.perf_counter()
                    fn(x2d)
                    best[name] = min(best[name], time.perf_counter() - start)
            sparse = min((name for name in paths if name != "dense"), key=best.__getitem__)
            # a sparse path must win clearly: otherwise the dense one is kept
            self.choice[bucket] = sparse if best[sparse] < 0.9 * best["dense"] else "dense"
        return self.choice[bucket]

    def _shaped(self, fn: Any, shape: tuple[int, ...]) -> Any:
        return lambda x2d: fn(x2d).reshape(*shape, self.out_features)

    def _combine(self, y: torch.Tensor, out_dim: int) -> torch.Tensor:
        if self.ndi:
            wx, vx = y.chunk(2, dim=out_dim)
            y = torch.addcmul(wx, wx, vx)
        if self.bias is not None:
            y = y + (self.bias if out_dim == -1 else self.bias[:, None])
        return y

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"expected {self.in_features} input features, got shape {tuple(x.shape)}"
            )
        x2d = x.reshape(-1, self.in_features)
        shape = tuple(x.shape[:-1])
        path = self._paths()[self._pick(x2d, shape)]
        return path(x2d).reshape(*shape, self.out_features)


def _effective(layer: NSPLayer) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([w() for w in layer.nsp_weights()])


def export_pruned(model: SpikingNetwork, path: str | os.PathLike[str]) -> Path:
    """Write the network's non-zero effective weights (CSR) and config to ``path``."""
    if not isinstance(model, SpikingNetwork):
        raise ValueError(f"export_pruned expects a SpikingNetwork, got {type(model).__name__}")
    layers: dict[str, Any] = {}
    for name, module in model.named_modules():
        if isinstance(module, NSPLayer):
            layers[name] = {
                "weight": _to_csr(_effective(module)),
                "bias": None if module.bias is None else module.bias.detach().clone(),
                "ndi": len(module.nsp_weights()) == 2,
                "conv": isinstance(module, NSPConv2d),
            }
    payload = {
        "format": PRUNED_FORMAT,
        "version": 1,
        "config": model.config.to_dict(),
        "layers": layers,
    }
    return atomic_torch_save(payload, path)


def load_pruned(path: str | os.PathLike[str], mode: str = "auto") -> SpikingNetwork:
    """Rebuild an exported network for inference with compressed dense layers.

    :param mode: ``auto`` (per layer and input size, the faster of sparse and
        dense), ``sparse`` or ``dense``.
    :raises FileNotFoundError: no file at ``path``.
    :raises ValueError: not a pruned-network file, or weights that do not fit the config.
    """
    if mode not in MODES:
        raise ValueError(f"unknown inference mode {mode!r}; accepted: {MODES}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no pruned network at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise ValueError(
            f"{path} is not a readable pruned network ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != PRUNED_FORMAT:
        raise ValueError(f"{path} is not an nspdi-rl pruned network (format {PRUNED_FORMAT!r})")
    model = build_network(SpikingNetConfig.from_dict(payload["config"]))
    model.eval()
    for name, module in list(model.named_modules()):
        if not isinstance(module, NSPLayer):
            continue
        entry = payload["layers"].get(name)
        if entry is None:
            raise ValueError(f"{path}: no weights for layer {name!r}")
        weight = _from_csr(entry["weight"]).to_dense().reshape(entry["weight"]["shape"])
        expected = _effective(module).shape
        if tuple(weight.shape) != tuple(expected):
            raise ValueError(
                f"{path}: layer {name!r} has weights {tuple(weight.shape)}, "
                f"the config needs {tuple(expected)}"
            )
        if entry["conv"]:
            _load_dense_conv(module, weight, entry["bias"])
            continue
        compressed = CompressedLinear(weight, entry["bias"], entry["ndi"], mode)
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, compressed)
    return model


def _load_dense_conv(module: NSPLayer, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    # conv kernels stay dense: write the effective weights into theta with a = 1, d1 = 0
    with torch.no_grad():
        for w, part in zip(
            module.nsp_weights(), weight.chunk(len(module.nsp_weights())), strict=True
        ):
            w.config = type(w.config)(method="dense")
            w.theta.copy_(part)
        if bias is not None and module.bias is not None:
            module.bias.copy_(bias)


# NIR (the neuromorphic intermediate representation; nir, a dev extra, is imported only
# where it is used)

#: ``metadata["format"]`` of the graphs :func:`to_nir` writes
NIR_FORMAT = "nspdi-rl/nir"
#: the node type under which NDI's product term is written: an nspdi_rl extension of NIR
NDI_PRODUCT = "nspdi_rl.NDIProduct"
#: the encoders whose output a NIR graph takes as it is, one time step per input
NIR_ENCODERS = ("direct", "events")
#: how the graph's continuous-time nodes become the model's steps (``metadata["discretisation"]``)
NIR_DISCRETISATION = (
    "forward Euler at dt; an input is held over its step; nodes update in graph order, so a "
    "membrane integrates the synaptic current of the same step (Norse's LIF order)"
)
#: how the output node's values over the T steps become the network's output
#: (``metadata["readout_reduction"]``); NIR has no node for it
NIR_READOUTS = {
    "mean": "the mean over the T steps of the output node's value (the CubaLI membrane)",
    "last": "the output node's value at the last of the T steps (the CubaLI membrane)",
    "max": "the maximum over the T steps of the output node's value (the CubaLI membrane)",
    "spike_count": "the output node's (CubaLIF) spikes summed over the T steps, divided by T",
}
_WHY_NOT_NIR = {
    "rate": "it draws random Bernoulli spikes",
    "population": "its Gaussian receptive fields are no NIR node",
}


@functools.cache
def ndi_product_type() -> Any:
    """The NIR node class of NDI's product term (type :data:`NDI_PRODUCT` in a file).

    ``NDIProduct(bias)`` takes the ``2N`` values ``[Wx; Vx]`` that the ``nir.Affine``
    before it computes with the stacked weight ``[W; V]`` (and a zero bias) and gives
    the layer's current ``Wx + b + (Wx) * (Vx)`` (``N`` values; ``b`` is its ``bias``),
    as :func:`nspdi_rl.functional.stacked_ndi_current` does. A consumer of NIR can map
    this class in its node table (a ``nirtorch`` node map, say) to run NDI graphs.
    """
    import nir

    @dataclass(eq=False)
    class NDIProduct(nir.NIRNode):
        """NDI's product term: ``[Wx; Vx] (2N) -> Wx + b + (Wx) * (Vx) (N)``.

        :param bias: ``b``, shape ``(N,)``.
        """

        bias: np.ndarray

        def __post_init__(self) -> None:
            self.bias = np.asarray(self.bias)
            if self.bias.ndim != 1:
                raise ValueError(f"NDIProduct's bias must be 1-D, got shape {self.bias.shape}")
            n = int(self.bias.shape[0])
            self.input_type = {"input": np.array([2 * n])}
            self.output_type = {"output": np.array([n])}

        def to_dict(self) -> dict[str, Any]:
            data: dict[str, Any] = super().to_dict()
            data["type"] = NDI_PRODUCT
            return data

        @classmethod
        def from_dict(cls, kwargs: dict[str, Any]) -> Any:
            kwargs = {k: v for k, v in kwargs.items() if k != "type"}
            return cls(**kwargs)

    NDIProduct.__module__ = __name__
    NDIProduct.__qualname__ = "NDIProduct"
    return NDIProduct


def _check_nir_exportable(model: SpikingNetwork) -> None:
    """Refuse, in one line naming it, the first part of ``model`` NIR cannot express."""
    if not isinstance(model, SpikingNetwork):
        raise ValueError(f"to_nir expects a SpikingNetwork, got {type(model).__name__}")
    config = model.config
    if model.stateful:
        raise ValueError(
            "the network is stateful (build_network(..., stateful=True)): its neuron state "
            "carries over between calls, which a NIR graph cannot say; export it built "
            "with stateful=False"
        )
    for name, module in model.named_modules():
        if isinstance(module, NSPConv2d):
            raise ValueError(
                f"layer {name!r} is a convolution: NIR export covers dense networks only "
                "(a conv block's max-pooling of spikes has no NIR node)"
            )
    if config.encoder not in NIR_ENCODERS:
        raise ValueError(
            f"the {config.encoder!r} encoder cannot be written in NIR "
            f"({_WHY_NOT_NIR[config.encoder]}); NIR export accepts the encoders {NIR_ENCODERS}"
        )
    if len(config.input_shape) != 1:
        raise ValueError(
            f"input_shape {config.input_shape} is not a vector: NIR export covers dense "
            "networks on (features,) inputs"
        )


def _dense_parts(layer: nn.Module, name: str) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """A dense layer's weight (``[W; V]`` stacked for NDI), bias (zeros if none) and
    whether it has the product term."""
    weight: torch.Tensor
    bias: torch.Tensor | None
    if isinstance(layer, NSPLinear):
        weight, bias, ndi = _effective(layer), layer.bias, layer.v is not None
    elif isinstance(layer, CompressedLinear):
        weight, bias, ndi = layer.dense_weight, layer.bias, layer.ndi
    else:
        raise ValueError(
            f"layer {name!r} is a {type(layer).__name__}: NIR export covers NSP dense "
            "layers and the compressed ones of load_pruned"
        )
    out = weight.shape[0] // (2 if ndi else 1)
    if bias is None:
        bias = torch.zeros(out, dtype=weight.dtype)
    return weight.detach().cpu(), bias.detach().cpu(), ndi


def _full(n: int, value: float) -> Any:
    return np.full(n, value, dtype=np.float64)


class _Chain:
    """The nodes and edges of a NIR graph built as one chain from its input node."""

    def __init__(self, n_in: int) -> None:
        import nir

        self.nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([n_in])})}
        self.edges: list[tuple[str, str]] = []
        self.last = "input"
        self.uses_ndi = False

    def add(self, name: str, node: Any) -> None:
        self.nodes[name] = node
        self.edges.append((self.last, name))
        self.last = name

    def dense(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor,
        ndi: bool,
        *,
        module: str,
        affine: str,
        ndi_name: str,
    ) -> int:
        """Add a dense layer: an ``Affine`` (of ``[W; V]`` and a zero bias for NDI, then
        the product node holding the bias). :return: the layer's output size."""
        import nir

        w = weight.numpy()
        self.add(
            affine,
            nir.Affine(
                weight=w,
                bias=np.zeros(w.shape[0], dtype=w.dtype) if ndi else bias.numpy(),
                metadata={"nonzero": int(np.count_nonzero(w)), "module": module},
            ),
        )
        if ndi:
            self.uses_ndi = True
            product = ndi_product_type()(
                bias=bias.numpy(),
                metadata={
                    "computes": "[Wx; Vx] (2N) -> Wx + bias + Wx * Vx (N)",
                    "reader": "nspdi_rl.export.read_nir",
                },
            )
            self.add(ndi_name, product)
        return int(bias.shape[0])


def to_nir(model: SpikingNetwork) -> Any:
    """The network as a NIR graph that the NIR specification runs as the model does.

    Per dense layer an ``nir.Affine`` holding the effective weights (pruned synapses
    are exact zeros; ``metadata["nonzero"]`` counts the rest), then the neurons: each
    LIF layer an ``nir.CubaLIF``, the leaky-integrator readout an ``nir.CubaLI`` (a
    ``spike_count`` readout a ``CubaLIF``). The graph's input is one time step of the
    encoded input (``direct``: the sample itself at every step; ``events``: one frame).

    The parameters follow the specification's units: ``tau_syn = 1 / tau_syn_inv`` and
    ``tau_mem = 1 / tau_mem_inv`` in seconds, ``r = 1``, and ``w_in = tau_syn / dt``.
    With these, the specification's ``tau_syn dI/dt = -I + w_in S`` and
    ``tau_mem dv/dt = (v_leak - v) + r I``, stepped by forward Euler at dt with each
    input held over its step and the nodes updated in graph order, are the model's
    update: the synaptic current the membrane integrates jumps by the input ``x`` and
    then decays by ``1 - dt / tau_syn`` per step, as in Norse's LIF (docs/method.md,
    section 7). What NIR cannot say is in ``metadata``: ``dt`` (s), ``time_steps``
    (T), ``encoder``, ``readout`` and ``readout_reduction`` (how the output node's
    values over the T steps become the output: mean, last, max or spike count / T),
    ``discretisation``.

    An NDI layer (``I = Wx + b + (Wx)(Vx)``; NIR has no product node) is an
    ``nir.Affine`` of the stacked ``[W; V]`` with a zero bias, computing ``[Wx; Vx]``,
    followed by the extension node of :func:`ndi_product_type` (type
    :data:`NDI_PRODUCT`, holding ``b``), whose output alone feeds the neurons: a
    consumer that cannot run the product cannot reach them through another path.
    ``metadata["extensions"]`` names the extension when the graph uses it.

    :raises ValueError: naming the part NIR cannot express: a conv layer, a stateful
        network, a ``rate`` or ``population`` encoder.
    """
    import nir

    _check_nir_exportable(model)
    config = model.config
    p = config.lif
    tau_syn, tau_mem = 1.0 / p.tau_syn_inv, 1.0 / p.tau_mem_inv
    # Norse adds an input x to the synaptic current as a jump of x; the specification's
    # synapse, stepped by forward Euler with x held over dt, adds dt * w_in / tau_syn * x
    w_in = tau_syn / p.dt
    names = [f"layers.{index}" for index in range(len(model.layers))] + ["readout"]
    parts = [
        _dense_parts(layer, name)
        for name, layer in zip(names, [*model.layers, model.readout], strict=True)
    ]
    chain = _Chain(int(parts[0][0].shape[1]))

    def neurons(n: int, spiking: bool) -> Any:
        common = {
            "tau_syn": _full(n, tau_syn),
            "tau_mem": _full(n, tau_mem),
            "r": _full(n, 1.0),
            "v_leak": _full(n, p.v_leak),
            "w_in": _full(n, w_in),
        }
        if not spiking:
            return nir.CubaLI(**common)
        return nir.CubaLIF(**common, v_threshold=_full(n, p.v_th), v_reset=_full(n, p.v_reset))

    def dense(index: int, affine: str, ndi_name: str) -> int:
        return chain.dense(*parts[index], module=names[index], affine=affine, ndi_name=ndi_name)

    for index in range(len(model.layers)):
        n = dense(index, f"affine{index}", f"ndi{index}")
        chain.add(f"lif{index}", neurons(n, spiking=True))
    n_out = dense(len(model.layers), "readout", "readout_ndi")
    if config.readout == "spike_count":
        chain.add("readout_lif", neurons(n_out, spiking=True))
    else:
        chain.add("li", neurons(n_out, spiking=False))
    chain.add("output", nir.Output(output_type={"output": np.array([n_out])}))
    metadata = {
        "source": "nspdi_rl",
        "format": NIR_FORMAT,
        "version": 1,
        "dt": float(p.dt),
        "time_steps": int(config.time_steps),
        "encoder": config.encoder,
        "readout": config.readout,
        "readout_reduction": NIR_READOUTS[config.readout],
        "discretisation": NIR_DISCRETISATION,
        "extensions": NDI_PRODUCT if chain.uses_ndi else "",
    }
    return nir.NIRGraph(nodes=chain.nodes, edges=chain.edges, metadata=metadata)


def export_nir(model: SpikingNetwork, path: str | os.PathLike[str]) -> Path:
    """Write :func:`to_nir`'s graph to a NIR (HDF5) file.

    ``nir.read`` reads it unless the network has NDI layers: nir 1.0 reads only its own
    node types, so a file with the :data:`NDI_PRODUCT` extension is read with
    :func:`read_nir` (or rebuilt with :func:`from_nir`).
    """
    import nir

    graph = to_nir(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nir.write(str(path), graph)
    return path


def read_nir(path: str | os.PathLike[str]) -> Any:
    """Read a NIR file, the :data:`NDI_PRODUCT` extension included, as a ``nir.NIRGraph``.

    :raises FileNotFoundError: no file at ``path``.
    :raises ValueError: not a NIR file, or a node type that neither NIR nor this
        module knows.
    """
    import h5py
    from nir.serialization import hdf2dict

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no NIR file at {path}")
    try:
        with h5py.File(path, "r") as file:
            data = hdf2dict(file["node"])
    except (OSError, KeyError) as err:
        raise ValueError(f"{path} is not a NIR file ({type(err).__name__}: {err})") from err
    return _nir_node(data, "graph")


def _nir_node(data: dict[str, Any], name: str) -> Any:
    import nir

    kind = data.get("type")
    if kind == NDI_PRODUCT:
        return ndi_product_type().from_dict(data)
    if kind == "NIRGraph":
        nodes = {str(key): _nir_node(node, str(key)) for key, node in data["nodes"].items()}
        edges = [tuple(_text(end) for end in edge) for edge in data["edges"]]
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=dict(data.get("metadata", {})))
    known = getattr(nir, str(kind), None)
    if not (isinstance(known, type) and issubclass(known, nir.NIRNode)) or kind == "NIRNode":
        raise ValueError(f"node {name!r} has the unknown NIR type {kind!r}")
    return nir.dict2NIRNode(data)


def _text(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


@dataclass
class _Stage:
    """One dense layer of a graph and its neurons, as :func:`from_nir` reads them."""

    name: str
    weight: Any  # (N, in), or (2N, in) stacking W over V
    bias: Any  # (N,)
    ndi: bool
    neurons_name: str
    neurons: Any


def from_nir(graph: Any) -> SpikingNetwork:
    """Rebuild the network a :func:`to_nir` graph (or an :func:`export_nir` file) holds.

    The weights, sizes and neuron constants come from the nodes; T, the encoder and the
    readout reduction, which NIR cannot say, from the graph's metadata. The network
    holds the effective weights as dense NSP weights (``NSPConfig(method="dense")``),
    so it computes what the exported one computed, NDI layers included; training
    settings (the NSP parameterisation, the surrogate) are not part of a graph.

    :param graph: a ``nir.NIRGraph`` or the path of a NIR file.
    :raises ValueError: a graph that is not a chain
        ``Input -> (Affine [-> NDIProduct] -> CubaLIF)* -> Affine [-> NDIProduct] ->
        CubaLI | CubaLIF -> Output`` with one set of neuron constants, ``r = 1`` and
        ``w_in = tau_syn / dt``, or metadata that lacks what NIR cannot say.
    """
    import nir

    if isinstance(graph, (str, os.PathLike)):
        graph = read_nir(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise ValueError(f"from_nir expects a nir.NIRGraph or a path, got {type(graph).__name__}")
    meta = graph.metadata or {}
    missing = [key for key in ("dt", "time_steps", "encoder", "readout") if key not in meta]
    if missing:
        raise ValueError(
            f"the graph's metadata lacks {missing}, which NIR cannot say: from_nir rebuilds "
            "graphs written by nspdi_rl's to_nir"
        )
    dt, encoder, readout = float(meta["dt"]), _text(meta["encoder"]), _text(meta["readout"])
    if encoder not in NIR_ENCODERS:
        raise ValueError(f"metadata encoder {encoder!r}; accepted: {NIR_ENCODERS}")
    if readout not in NIR_READOUTS:
        raise ValueError(f"metadata readout {readout!r}; accepted: {tuple(NIR_READOUTS)}")
    stages = _stages(_chain(graph))
    *hidden, last = stages
    for stage in hidden:
        if not isinstance(stage.neurons, nir.CubaLIF):
            raise ValueError(
                f"node {stage.neurons_name!r} is a {type(stage.neurons).__name__}: hidden "
                "layers need CubaLIF neurons"
            )
    wanted = nir.CubaLIF if readout == "spike_count" else nir.CubaLI
    if not isinstance(last.neurons, wanted):
        raise ValueError(
            f"node {last.neurons_name!r} is a {type(last.neurons).__name__}: the "
            f"{readout!r} readout needs {wanted.__name__}"
        )
    if len({stage.ndi for stage in hidden}) > 1:
        raise ValueError(
            "the hidden layers mix NDI and plain ones; a SpikingNetwork has one ndi flag"
        )
    sizes = [int(stage.bias.shape[0]) for stage in stages]
    config = SpikingNetConfig(
        input_shape=(int(stages[0].weight.shape[1]),),
        n_outputs=sizes[-1],
        hidden=tuple(sizes[:-1]),
        time_steps=int(meta["time_steps"]),
        encoder=encoder,
        ndi=bool(hidden and hidden[0].ndi),
        nsp=NSPConfig(method="dense"),
        lif=_lif_config(stages, dt),
        readout=readout,
        readout_ndi=last.ndi,
    )
    model = build_network(config, seed=0)  # a seed: leaves torch's global generator alone
    layers: list[NSPLayer] = [*model.layers, model.readout]
    with torch.no_grad():
        for layer, stage in zip(layers, stages, strict=True):
            weight = torch.as_tensor(np.asarray(stage.weight))
            for w, part in zip(
                layer.nsp_weights(), weight.chunk(2 if stage.ndi else 1), strict=True
            ):
                if tuple(part.shape) != tuple(w.shape):
                    raise ValueError(
                        f"node {stage.name!r} has weights {tuple(part.shape)} where "
                        f"{tuple(w.shape)} fit the layer before it"
                    )
                w.theta.copy_(part)
            assert layer.bias is not None
            layer.bias.copy_(torch.as_tensor(np.asarray(stage.bias)))
    return model.eval()


def _chain(graph: Any) -> list[tuple[str, Any]]:
    """The graph's nodes from its Input to its Output, if they form one chain."""
    import nir

    successors: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for source, target in graph.edges:
        successors[source].append(target)
    inputs = [name for name, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"from_nir needs one Input node, the graph has {len(inputs)}")
    chain = [inputs[0]]
    while not isinstance(graph.nodes[chain[-1]], nir.Output):
        following = successors[chain[-1]]
        if len(following) != 1 or following[0] in chain:
            raise ValueError(
                f"from_nir reads a chain of nodes; node {chain[-1]!r} is followed by {following}"
            )
        chain.append(following[0])
    if len(chain) != len(graph.nodes):
        rest = sorted(set(graph.nodes) - set(chain))
        raise ValueError(f"from_nir reads a chain of nodes; {rest} lie outside it")
    return [(name, graph.nodes[name]) for name in chain]


def _stages(chain: list[tuple[str, Any]]) -> list[_Stage]:
    import nir

    product = ndi_product_type()
    body = chain[1:-1]
    stages: list[_Stage] = []
    while body:
        name, affine = body.pop(0)
        if not isinstance(affine, nir.Affine):
            raise ValueError(
                f"node {name!r} is a {type(affine).__name__} where an Affine was expected"
            )
        weight, bias, ndi = np.asarray(affine.weight), np.asarray(affine.bias), False
        if body and isinstance(body[0][1], product):
            if np.any(bias != 0):
                raise ValueError(
                    f"node {name!r} feeds an NDIProduct and must have a zero bias "
                    "(the product holds b)"
                )
            bias, ndi = np.asarray(body.pop(0)[1].bias), True
        if not body or not isinstance(body[0][1], (nir.CubaLIF, nir.CubaLI)):
            found = type(body[0][1]).__name__ if body else "the Output"
            raise ValueError(f"node {name!r} is followed by {found}, not by CubaLIF / CubaLI")
        neurons_name, neurons = body.pop(0)
        if weight.ndim != 2 or weight.shape[0] != bias.shape[0] * (2 if ndi else 1):
            raise ValueError(
                f"node {name!r} has weights {weight.shape} for {bias.shape[0]} neurons"
            )
        stages.append(_Stage(name, weight, bias, ndi, neurons_name, neurons))
    if not stages:
        raise ValueError("the graph holds no Affine -> neurons layer")
    return stages


def _lif_config(stages: list[_Stage], dt: float) -> LIFConfig:
    """The one :class:`LIFConfig` all the graph's neurons share."""
    import nir

    def scalar(name: str, node: Any, field: str) -> float:
        values = np.asarray(getattr(node, field), dtype=np.float64)
        if values.size == 0 or np.any(values != values.flat[0]):
            raise ValueError(
                f"node {name!r} has per-neuron {field}; a SpikingNetwork's neurons share "
                "one set of constants"
            )
        return float(values.flat[0])

    found: dict[str, float] = {}
    for stage in stages:
        name, node = stage.neurons_name, stage.neurons
        fields = ["tau_syn", "tau_mem", "r", "v_leak", "w_in"]
        if isinstance(node, nir.CubaLIF):
            fields += ["v_threshold", "v_reset"]
        for field in fields:
            value = scalar(name, node, field)
            if field in found and value != found[field]:
                raise ValueError(
                    f"node {name!r} has {field}={value}, another node {found[field]}; "
                    "a SpikingNetwork's neurons share one set of constants"
                )
            found[field] = value
        if found["r"] != 1.0:
            raise ValueError(f"node {name!r} has r={found['r']}; the model's neurons have r = 1")
        expected = found["tau_syn"] / dt
        if not math.isclose(found["w_in"], expected, rel_tol=1e-9):
            raise ValueError(
                f"node {name!r} has w_in={found['w_in']}; at dt={dt} s the model's synapse "
                f"needs w_in = tau_syn / dt = {expected}"
            )
    defaults = LIFConfig()
    return LIFConfig(
        tau_syn_inv=1.0 / found["tau_syn"],
        tau_mem_inv=1.0 / found["tau_mem"],
        v_th=found.get("v_threshold", defaults.v_th),
        v_reset=found.get("v_reset", defaults.v_reset),
        v_leak=found["v_leak"],
        dt=dt,
    )
