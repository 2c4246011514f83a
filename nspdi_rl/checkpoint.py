"""Save and load a spiking network with its NSP state and config.

A checkpoint is one ``torch.save`` file holding only tensors and plain Python
values (it loads with ``weights_only=True``): the network config, the state
dict (theta, log a, d1, d2, frozen masks, biases), the pruner's schedule
position and any extra JSON-like data. Files are written atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nspdi_rl.network import SpikingNetConfig, SpikingNetwork, build_network
from nspdi_rl.pruning import Pruner

__all__ = [
    "CHECKPOINT_FORMAT",
    "atomic_torch_save",
    "json_ready",
    "load_model",
    "save_model",
    "write_json",
]

CHECKPOINT_FORMAT = "nspdi-rl/spiking-network"
CHECKPOINT_VERSION = 1


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``.

    A crash mid-write leaves the previous file intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(data: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``data`` as indented JSON, atomically (a temporary file, then ``os.replace``).

    A reader never sees a half-written file, even if the writer is killed.
    numpy and torch scalars and arrays are converted (:func:`json_ready`).

    :param data: a JSON-ready mapping (numpy / torch values allowed).
    :param path: the output file; its directory must exist.
    :return: ``path`` as a ``Path``.
    """
    path = Path(path)
    text = json.dumps(json_ready(data), indent=2) + "\n"
    # A unique name in the same directory: os.replace is atomic only within one
    # file system. Plain open() keeps the usual umask permissions, which
    # tempfile.mkstemp would narrow to owner-only.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        with open(tmp, "x") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def json_ready(value: Any) -> Any:
    """``value`` with numpy / torch scalars and arrays turned into plain Python values."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray | torch.Tensor):
        return json_ready(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_model(
    model: SpikingNetwork,
    path: str | os.PathLike[str],
    pruner: Pruner | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (config + NSP state), the pruner position and ``extra`` to ``path``."""
    if not isinstance(model, SpikingNetwork):
        raise ValueError(f"save_model expects a SpikingNetwork, got {type(model).__name__}")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": model.config.to_dict(),
        "state_dict": model.state_dict(),
        "pruner": None if pruner is None else pruner.state_dict(),
        "extra": extra or {},
    }
    return atomic_torch_save(payload, path)


def load_model(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu", stateful: bool = False
) -> tuple[SpikingNetwork, dict[str, Any]]:
    """Rebuild the network saved at ``path``.

    :param map_location: device the tensors are loaded onto. Default ``cpu``.
    :param stateful: build the network stateful (see :func:`~nspdi_rl.network.build_network`).
    :return: the model and a dict with the saved ``pruner`` state (or None) and ``extra``.
    :raises FileNotFoundError: no file at ``path``.
    :raises ValueError: the file is not a readable nspdi-rl checkpoint, or its
        weights do not fit the config it carries.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise ValueError(
            f"{path} is not a readable nspdi-rl checkpoint ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is not an nspdi-rl checkpoint (format {CHECKPOINT_FORMAT!r} expected)"
        )
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path} has checkpoint version {payload.get('version')!r}; "
            f"this release reads version {CHECKPOINT_VERSION}"
        )
    config = SpikingNetConfig.from_dict(payload["config"])
    model = build_network(config, stateful=stateful)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{path}: saved weights do not fit the network config: {err}") from err
    return model, {"pruner": payload.get("pruner"), "extra": payload.get("extra", {})}
