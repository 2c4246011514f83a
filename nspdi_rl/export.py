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
"""

from __future__ import annotations

import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nspdi_rl.checkpoint import atomic_torch_save
from nspdi_rl.kernels import compiled_kernels
from nspdi_rl.layers import NSPConv2d, NSPLayer, NSPLinear
from nspdi_rl.network import SpikingNetConfig, SpikingNetwork, build_network

__all__ = [
    "PRUNED_FORMAT",
    "CompressedLinear",
    "export_nir",
    "export_pruned",
    "load_pruned",
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
        kernels = compiled_kernels()
        assert kernels is not None  # offered by _paths only then
        y = kernels.event_matmul(x2d.contiguous(), *self.csc, self.dense_weight.shape[0])
        return self._combine(y, -1)

    def _tiles(self, x2d: torch.Tensor) -> torch.Tensor:
        kernels = compiled_kernels()
        assert kernels is not None  # offered by _paths only then
        return kernels.csr_tile_matmul(x2d.contiguous(), *self.csr, self.bias, self.ndi)

    def _paths(self) -> dict[str, Any]:
        """Each path's current ``(M, out)`` (a view of ``(out, M)`` for CSR and COO)."""
        paths = {"dense": self._dense, "csr": self._csr, "coo": self._coo}
        if compiled_kernels() is not None and self.dense_weight.dtype == torch.float32:
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


def to_nir(model: SpikingNetwork) -> Any:
    """The network as a NIR graph (the neuromorphic intermediate representation).

    Dense layers become ``nir.Affine`` holding the effective weights (pruned
    synapses are exact zeros), the LIF layers ``nir.CubaLIF`` and the readout
    ``nir.LI``, with Norse's conventions (``tau = dt / tau_inv``, ``r = 1``). The
    graph's input is the encoded input current of one step. NIR has no node for
    the NDI product term, so a network using it cannot be exported.

    :raises ValueError: naming the first layer NIR cannot express (an NDI layer,
        or a conv layer, which this exporter does not cover yet).
    """
    import nir
    import numpy as np

    if not isinstance(model, SpikingNetwork):
        raise ValueError(f"to_nir expects a SpikingNetwork, got {type(model).__name__}")
    for name, module in model.named_modules():
        if isinstance(module, NSPConv2d):
            raise ValueError(
                f"layer {name!r} is a convolution: NIR export covers dense networks only"
            )
        if isinstance(module, NSPLayer) and module.v is not None:
            raise ValueError(
                f"layer {name!r} uses nonlinear dendritic integration (I = Wx + b + (Wx)(Vx)), "
                "which NIR cannot express; export a network built with ndi=False"
            )
    p = model.config.lif

    def affine(layer: NSPLinear) -> Any:
        weight = _effective(layer).numpy()
        bias = (
            np.zeros(weight.shape[0], dtype=weight.dtype)
            if layer.bias is None
            else layer.bias.detach().numpy()
        )
        return nir.Affine(
            weight=weight, bias=bias, metadata={"nonzero": int(np.count_nonzero(weight))}
        )

    def full(n: int, value: float) -> Any:
        return np.full(n, value, dtype=np.float32)

    first = model.layers[0] if model.layers else model.readout
    assert isinstance(first, NSPLinear) and isinstance(model.readout, NSPLinear)
    nodes: dict[str, Any] = {
        "input": nir.Input(input_type={"input": np.array([first.in_features])})
    }
    edges: list[tuple[str, str]] = []
    previous = "input"
    hidden: list[NSPLinear] = [m for m in model.layers if isinstance(m, NSPLinear)]
    for index, layer in enumerate(hidden):
        n = int(layer.out_features)
        nodes[f"affine{index}"] = affine(layer)
        nodes[f"lif{index}"] = nir.CubaLIF(
            tau_syn=full(n, p.dt / p.tau_syn_inv),
            tau_mem=full(n, p.dt / p.tau_mem_inv),
            r=full(n, 1.0),
            v_leak=full(n, p.v_leak),
            v_threshold=full(n, p.v_th),
            v_reset=full(n, p.v_reset),
        )
        edges += [(previous, f"affine{index}"), (f"affine{index}", f"lif{index}")]
        previous = f"lif{index}"
    n_out = model.readout.out_features
    nodes["readout"] = affine(model.readout)
    nodes["li"] = nir.LI(
        tau=full(n_out, p.dt / p.tau_mem_inv), r=full(n_out, 1.0), v_leak=full(n_out, p.v_leak)
    )
    nodes["output"] = nir.Output(output_type={"output": np.array([n_out])})
    edges += [(previous, "readout"), ("readout", "li"), ("li", "output")]
    return nir.NIRGraph(
        nodes=nodes,
        edges=edges,
        metadata={"source": "nspdi_rl", "dt": p.dt, "time_steps": model.config.time_steps},
    )


def export_nir(model: SpikingNetwork, path: str | os.PathLike[str]) -> Path:
    """Write :func:`to_nir`'s graph to a NIR (HDF5) file."""
    import nir

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nir.write(str(path), to_nir(model))
    return path
