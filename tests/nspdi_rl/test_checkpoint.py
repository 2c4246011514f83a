"""Save / load of a network with its NSP state, and the errors for bad files."""

import pytest
import torch

from nspdi_rl.checkpoint import load_model, save_model
from nspdi_rl.layers import NSPConfig
from nspdi_rl.metrics import sparsity
from nspdi_rl.network import SpikingNetConfig, build_network
from nspdi_rl.pruning import Pruner, PruningSchedule


def make(hidden=(16,)):
    cfg = SpikingNetConfig(
        input_shape=(5,), n_outputs=3, hidden=hidden, nsp=NSPConfig(learnable_a=True, d2=0.001)
    )
    return build_network(cfg, seed=0)


def test_round_trip_keeps_weights_thresholds_mask_and_schedule_position(tmp_path):
    model = make()
    pruner = Pruner(model, PruningSchedule(final=0.8))
    pruner.step(0.6)
    pruner.freeze()
    path = save_model(model, tmp_path / "m.pt", pruner, extra={"epoch": 3})
    loaded, rest = load_model(path)
    x = torch.rand(4, 5)
    assert torch.equal(loaded(x), model(x))
    assert sparsity(loaded) == sparsity(model)
    assert all(w.frozen_mask is not None for w in [loaded.layers[0].w, loaded.layers[0].v])
    assert rest["extra"] == {"epoch": 3}
    assert rest["pruner"]["progress"] == 0.6 and rest["pruner"]["frozen"]
    resumed = Pruner(loaded, PruningSchedule(final=0.8))
    resumed.load_state_dict(rest["pruner"])
    assert resumed.progress == 0.6 and resumed.frozen
    with pytest.raises(ValueError, match="saved for"):
        Pruner(loaded, PruningSchedule(final=0.5)).load_state_dict(rest["pruner"])


def test_missing_corrupt_and_foreign_files_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file at"):
        load_model(tmp_path / "absent.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="is not a readable nspdi-rl checkpoint"):
        load_model(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ValueError, match="is not an nspdi-rl checkpoint"):
        load_model(foreign)


def test_weights_of_another_shape_raise_a_clear_error(tmp_path):
    path = save_model(make(), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["config"]["hidden"] = (32,)
    torch.save(payload, path)
    with pytest.raises(ValueError, match="saved weights do not fit the network config"):
        load_model(path)


def test_truncated_file_raises_and_atomic_save_leaves_no_temp_files(tmp_path):
    path = save_model(make(), tmp_path / "m.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable"):
        load_model(path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
