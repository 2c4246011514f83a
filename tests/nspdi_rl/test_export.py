"""Compressed export of pruned networks and the fast inference path."""

import pytest
import torch

from nspdi_rl.export import CompressedLinear, export_pruned, load_pruned
from nspdi_rl.network import SpikingNetConfig, build_network
from nspdi_rl.pruning import Pruner, PruningSchedule


def pruned(ndi=True, conv=False, sparsity=0.95):
    if conv:
        cfg = SpikingNetConfig(
            input_shape=(2, 8, 8),
            n_outputs=3,
            hidden=(32,),
            conv_channels=(4,),
            encoder="events",
            ndi=ndi,
        )
    else:
        cfg = SpikingNetConfig(input_shape=(20,), n_outputs=4, hidden=(256, 256), ndi=ndi)
    model = build_network(cfg, seed=0)
    Pruner(model, PruningSchedule(final=sparsity)).step(1.0)
    return model


@pytest.mark.parametrize("mode", ["sparse", "dense", "auto"])
@pytest.mark.parametrize("ndi", [True, False])
def test_exported_network_gives_the_same_spikes_and_outputs(tmp_path, mode, ndi):
    model = pruned(ndi)
    path = export_pruned(model, tmp_path / "net.pt")
    fast = load_pruned(path, mode=mode)
    assert isinstance(fast.layers[1], CompressedLinear)
    x = torch.rand(16, 20) * 2
    with torch.no_grad():
        assert torch.equal(fast.forward_hidden(x), model.forward_hidden(x))
        assert torch.allclose(fast(x), model(x), atol=1e-5)


def test_conv_networks_export_too(tmp_path):
    model = pruned(conv=True, sparsity=0.5)
    fast = load_pruned(export_pruned(model, tmp_path / "c.pt"))
    x = torch.bernoulli(torch.full((5, 2, 2, 8, 8), 0.3))
    with torch.no_grad():
        assert torch.allclose(fast(x), model(x), atol=1e-5)


def test_file_holds_only_the_nonzero_weights(tmp_path):
    model = pruned(sparsity=0.95)
    path = export_pruned(model, tmp_path / "net.pt")
    payload = torch.load(path, weights_only=True)
    hidden = payload["layers"]["layers.1"]["weight"]
    total = hidden["shape"][0] * hidden["shape"][1]
    assert hidden["values"].numel() <= 0.05 * total + 1
    assert bool((hidden["values"] != 0).all())


@pytest.mark.parametrize("ndi", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rows", [1, 15, 16, 17, 40])
def test_every_path_gives_the_dense_layers_current(ndi, bias, rows):
    """Each path the auto mode may pick (the compiled ones where they are built): the
    dense layer's current, NDI term and bias included, in the (..., out) layout, for
    row counts below, at and across the compiled tiles' size."""
    gen = torch.Generator().manual_seed(rows)
    out = 24
    weight = torch.randn(2 * out if ndi else out, 40, generator=gen)
    weight *= torch.rand(weight.shape, generator=gen) < 0.1
    weight[0] = 0.0  # an output without synapses
    b = torch.randn(out, generator=gen) if bias else None
    layer = CompressedLinear(weight, b, ndi=ndi, mode="auto")
    x = torch.bernoulli(torch.full((rows, 2, 40), 0.3), generator=gen)
    y = x @ weight.t()
    if ndi:
        wx, vx = y.chunk(2, dim=-1)
        y = wx + wx * vx
    if b is not None:
        y = y + b
    x2d = x.reshape(-1, 40)
    for name, path in layer._paths().items():
        got = layer._shaped(path, (rows, 2))(x2d)
        assert got.shape == (rows, 2, out), name
        assert torch.allclose(got, y, atol=1e-4), name


def test_auto_mode_keeps_the_faster_path_per_input_size():
    layer = CompressedLinear(torch.randn(64, 32), None, ndi=False, mode="auto")
    layer(torch.rand(5, 32))
    assert set(layer.choice) == {8} and layer.choice[8] in layer._paths()


def test_bad_files_and_modes(tmp_path):
    with pytest.raises(FileNotFoundError, match="no pruned network at"):
        load_pruned(tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable pruned network"):
        load_pruned(bad)
    torch.save({"format": "other"}, bad)
    with pytest.raises(ValueError, match="not an nspdi-rl pruned network"):
        load_pruned(bad)
    with pytest.raises(ValueError, match="unknown inference mode 'fast'"):
        load_pruned(bad, mode="fast")
    with pytest.raises(ValueError, match="expects a SpikingNetwork"):
        export_pruned(torch.nn.Linear(2, 2), tmp_path / "x.pt")
