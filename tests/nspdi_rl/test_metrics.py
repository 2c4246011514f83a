"""Sparsity, SynOps, energy and information metrics against hand counts."""

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from nspdi_rl.layers import NDIConv2d, NDILinear, NSPConfig
from nspdi_rl.metrics import (
    SynOpsCounter,
    connectivity_per_layer,
    energy_pj,
    information_efficiency,
    layer_stats,
    mutual_information_bits,
    sparsity,
    survivor_stats,
)
from nspdi_rl.network import SpikingNetConfig, build_network

DENSE = NSPConfig(method="dense")


def set_weights(weight, values):
    with torch.no_grad():
        weight.theta.copy_(torch.as_tensor(values, dtype=torch.float32))


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = NDILinear(3, 2, nsp=DENSE)
        self.out = NDILinear(2, 1, ndi=False, nsp=DENSE, role="readout")
        set_weights(self.hidden.w, [[1.0, 0.0, 2.0], [0.0, 3.0, 4.0]])
        set_weights(self.hidden.v, [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
        set_weights(self.out.w, [[0.5, 0.0]])

    def forward(self, x):
        return self.out(self.hidden(x))


def test_sparsity_of_known_zeros_is_exact():
    m = Tiny()
    stats = {s.name: s for s in layer_stats(m)}
    assert (stats["hidden"].nonzero, stats["hidden"].total) == (5, 12)  # W: 4 of 6, V: 1 of 6
    assert sparsity(m) == 1 - 5 / 12
    assert sparsity(m, include_readout=True) == 1 - 6 / 14
    assert connectivity_per_layer(m) == {"hidden": 5 / 12, "out": 0.5}


def test_plain_torch_layers_are_measured_with_their_zeros_as_pruned():
    model = nn.Sequential(nn.Conv2d(1, 2, 2), nn.Flatten(), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        model[0].weight.copy_(
            torch.tensor([[1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 3.0]]).view(2, 1, 2, 2)
        )
        model[3].weight.fill_(1.0)
        model[3].weight[:, :4] = 0.0  # 12 of 24 left
        model[0].bias.zero_()  # biases are not synapses: never counted
    stats = [(s.name, s.role, s.nonzero, s.total) for s in layer_stats(model)]
    assert stats == [("0", "hidden", 3, 8), ("3", "hidden", 12, 24)]
    assert connectivity_per_layer(model) == {"0": 3 / 8, "3": 0.5}
    # no role on plain layers: the output layer counts with or without include_readout
    assert sparsity(model) == sparsity(model, include_readout=True) == 1 - 15 / 32
    assert layer_stats(nn.Linear(2, 2))[0].name == "Linear"  # a bare layer is named by type


def test_mixed_model_keeps_the_nsp_figures_and_adds_the_plain_layer():
    class Mixed(Tiny):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(1, 4, bias=False)
            with torch.no_grad():
                self.head.weight.copy_(torch.tensor([[1.0], [0.0], [0.0], [0.0]]))

    m = Mixed()
    assert [(s.name, s.role) for s in layer_stats(m)] == [
        ("hidden", "hidden"),
        ("out", "readout"),
        ("head", "hidden"),
    ]
    # Tiny's figures (5 of 12 hidden, 1 of 2 readout) plus the head's 1 of 4
    assert sparsity(m) == 1 - 6 / 16
    assert sparsity(m, include_readout=True) == 1 - 7 / 18
    assert connectivity_per_layer(m) == {"hidden": 5 / 12, "out": 0.5, "head": 0.25}


def test_a_model_pruned_by_torch_prune_is_measured_by_its_masked_weight():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Conv2d(2, 5, 2))
    prune.l1_unstructured(model[0], "weight", amount=0.3)  # 30 of 100
    prune.random_unstructured(model[2], "weight", amount=0.25)  # 10 of 40
    # weight_orig keeps every value; the effective weight is weight_orig * weight_mask
    assert int(torch.count_nonzero(model[0].weight_orig)) == 100
    assert [(s.nonzero, s.total) for s in layer_stats(model)] == [(70, 100), (30, 40)]
    assert sparsity(model) == 1 - 100 / 140
    prune.remove(model[0], "weight")  # pruning made permanent: the same figures
    assert sparsity(model) == 1 - 100 / 140


def test_survivor_stats_against_a_hand_count():
    layer = NDILinear(3, 3, nsp=NSPConfig(method="nsp", a_dist="constant"))
    with torch.no_grad():
        layer.w.log_a.copy_(torch.tensor([1.0, 2.0, 4.0]).log())
    set_weights(layer.w, [[0.5, -3.0, 0.0], [2.0, 0.0, 0.0], [0.5, 0.0, 0.0]])
    set_weights(layer.v, torch.full((3, 3), 0.1))
    layer.w.set_d1(1.0)
    layer.v.set_d1(1.0)
    w, v = survivor_stats(nn.Sequential(layer))
    # live: -3 (a = 1: |w| = 2) and 2 (a = 2: |w| = 2); the third neuron gets no input
    assert (w.name, w.method, w.live, w.total, w.fed, w.outputs) == ("0.w", "nsp", 2, 9, 2, 3)
    assert (w.d1, w.mean_abs_theta, w.mean_abs_weight) == (1.0, 2.5, 2.0)
    # the live synapses read inputs 0 and 1; no live synapse reads input 2
    assert (w.read, w.inputs) == (2, 3) and (v.read, v.inputs) == (0, 3)
    assert w.a_live == 1.5 and w.a_all == pytest.approx(7 / 3)
    assert (v.name, v.live, v.fed) == ("0.v", 0, 0) and math.isnan(v.mean_abs_weight)
    # the readout is left out unless asked for
    m = Tiny()
    assert [s.name for s in survivor_stats(m)] == ["hidden.w", "hidden.v"]
    assert [s.name for s in survivor_stats(m, include_readout=True)][-1] == "out.w"


def test_synops_equal_a_hand_count_on_known_spikes():
    m = Tiny()
    # T = 2, B = 1: spikes on inputs 0 and 2 at t=0, input 1 at t=1
    x = torch.tensor([[[1.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]]])
    with SynOpsCounter(m) as counter:
        m(x)
    # non-zero outgoing synapses per input: W (1, 1, 2), V (0, 0, 1)
    # t=0: inputs 0, 2 -> W 1 + 2, V 0 + 1 = 4 ACs; t=1: input 1 -> W 1 = 1 AC
    # NDI product: one MAC per output element, T * B * 2 = 4
    assert counter.per_layer["hidden"] == {"acs": 5.0, "macs": 4.0}
    # the readout sees currents (not spikes): MACs for non-zero inputs x non-zero weights
    hidden_out = m.hidden(x)
    expected_out_macs = float((hidden_out[..., 0] != 0).sum())
    assert counter.per_layer["out"] == {"acs": 0.0, "macs": expected_out_macs}
    assert counter.samples == 2  # no batch_size(): x.shape[0]
    assert counter.acs == 5.0
    assert energy_pj(5, 4) == pytest.approx(5 * 0.9 + 4 * 4.6)


def test_conv_synops_count_only_valid_outputs():
    conv = NDIConv2d(1, 1, kernel_size=2, ndi=False, nsp=DENSE)
    set_weights(conv.w, torch.ones(1, 1, 2, 2))
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 1, 1] = 1.0  # the centre feeds all four outputs
    x[0, 0, 0, 0] = 1.0  # a corner feeds one
    with SynOpsCounter(conv) as counter:
        conv(x)
    assert counter.acs == 5.0 and counter.macs == 0.0


def test_network_counter_reports_per_sample_figures():
    net = build_network(
        SpikingNetConfig(input_shape=(5,), n_outputs=2, hidden=(8,), time_steps=4), seed=0
    )
    with SynOpsCounter(net) as counter:
        net(torch.rand(3, 5))
    assert counter.samples == 3
    # direct encoding: the first layer costs MACs every step (5 inputs x 8 x (W + V)) + product
    first = counter.per_layer["layers.0"]
    assert first["acs"] == 0.0
    assert first["macs"] <= 3 * 4 * (5 * 8 * 2 + 8)
    assert counter.synops_per_sample == pytest.approx(counter.synops / 3)
    with pytest.raises(ValueError, match="no samples were counted"):
        SynOpsCounter(net).synops_per_sample  # noqa: B018


def test_mutual_information():
    assert mutual_information_bits(np.eye(4) * 10) == pytest.approx(2.0)
    assert mutual_information_bits(np.ones((4, 4))) == pytest.approx(0.0)
    # a constant prediction carries nothing: exactly 0, never a rounding -0.0
    assert mutual_information_bits([[0, 30, 0], [0, 40, 0], [0, 21, 0]]) == 0.0
    assert str(mutual_information_bits([[0, 30, 0], [0, 40, 0], [0, 21, 0]])) == "0.0"
    # a binary channel with 10 % errors: 1 - H(0.1)
    h = -(0.1 * math.log2(0.1) + 0.9 * math.log2(0.9))
    assert mutual_information_bits([[90, 10], [10, 90]]) == pytest.approx(1 - h)
    eff = information_efficiency(np.eye(2) * 5, synops_per_sample=500.0, nonzero_synapses=100)
    assert eff == {
        "mutual_information_bits": pytest.approx(1.0),
        "bits_per_ksynop": pytest.approx(2.0),
        "bits_per_synapse": pytest.approx(0.01),
    }


def test_metric_inputs_are_validated():
    with pytest.raises(ValueError, match="square"):
        mutual_information_bits(np.ones((2, 3)))
    with pytest.raises(ValueError, match="non-negative"):
        mutual_information_bits(-np.eye(2))
    with pytest.raises(ValueError, match="acs=-1"):
        energy_pj(-1, 0)
    with pytest.raises(ValueError, match="no weights to measure: sparsity covers NSP layers"):
        sparsity(nn.Sequential(nn.ReLU()))
    readout_only = nn.Sequential(NDILinear(2, 2, role="readout"))
    with pytest.raises(ValueError, match=r"no weights to measure \(the readout left out\)"):
        sparsity(readout_only)
    assert sparsity(readout_only, include_readout=True) == 0.0
    with pytest.raises(ValueError, match="layer '0' \\(LazyLinear\\) has not been initialised"):
        sparsity(nn.Sequential(nn.LazyLinear(2)))
