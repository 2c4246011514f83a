"""NSP / NDI layers: plain-layer equivalence, gradients, baselines and bad input."""

import math

import pytest
import torch
from torch import nn

from nspdi_rl.layers import (
    NDIConv2d,
    NDILinear,
    NSPConfig,
    NSPConv2d,
    NSPLayer,
    NSPLinear,
    NSPWeight,
)


def test_ndi_off_equals_nn_linear_with_same_weights():
    layer = NDILinear(5, 3, ndi=False, nsp=NSPConfig(method="dense"))
    ref = nn.Linear(5, 3)
    with torch.no_grad():
        ref.weight.copy_(layer.w())
        ref.bias.copy_(layer.bias)
    x = torch.randn(8, 5)
    assert torch.allclose(layer(x), ref(x))
    assert layer.v is None


def test_ndi_off_equals_nn_conv2d_with_same_weights():
    layer = NDIConv2d(2, 4, 3, stride=1, padding=1, ndi=False, nsp=NSPConfig(method="dense"))
    ref = nn.Conv2d(2, 4, 3, padding=1)
    with torch.no_grad():
        ref.weight.copy_(layer.w())
        ref.bias.copy_(layer.bias)
    x = torch.randn(3, 2, 6, 6)
    assert torch.allclose(layer(x), ref(x), atol=1e-6)


def test_nsp_effective_weight_starts_at_the_default_init_whatever_a_is():
    torch.manual_seed(0)
    layer = NSPLinear(100, 50, nsp=NSPConfig(a_dist="lognormal", a_std=0.8))
    w = layer.w()
    assert w.abs().max() <= 1 / math.sqrt(100) + 1e-6
    assert layer.w.a.std() > 0.1  # heterogeneous


def test_ndi_linear_current_and_gradients_reach_w_and_v():
    torch.manual_seed(0)
    layer = NDILinear(6, 4)
    x = torch.randn(5, 6)
    wx = x @ layer.w().T
    vx = x @ layer.v().T
    assert torch.allclose(layer(x), wx + layer.bias + wx * vx, atol=1e-6)
    layer(x).pow(2).sum().backward()
    assert layer.w.theta.grad.abs().sum() > 0
    assert layer.v.theta.grad.abs().sum() > 0


def test_conv_and_dense_agree_on_a_1x1_case():
    torch.manual_seed(0)
    conv = NDIConv2d(3, 2, kernel_size=1)
    dense = NDILinear(3, 2)
    with torch.no_grad():
        dense.w.theta.copy_(conv.w.theta.reshape(2, 3))
        dense.w.log_a.copy_(conv.w.log_a)
        dense.v.theta.copy_(conv.v.theta.reshape(2, 3))
        dense.v.log_a.copy_(conv.v.log_a)
        dense.bias.copy_(conv.bias)
    x = torch.randn(4, 3)
    y_conv = conv(x.reshape(4, 3, 1, 1)).reshape(4, 2)
    assert torch.allclose(y_conv, dense(x), atol=1e-6)


def test_layers_accept_time_first_input():
    conv = NDIConv2d(2, 3, 3, padding=1)
    x = torch.randn(5, 4, 2, 8, 8)
    y = conv(x)
    assert y.shape == (5, 4, 3, 8, 8)
    assert torch.allclose(y[2], conv(x[2]), atol=1e-6)
    dense = NDILinear(7, 3)
    assert dense(torch.randn(5, 4, 7)).shape == (5, 4, 3)


def test_homogeneous_a_option_and_learnable_a_stays_positive():
    homog = NSPWeight(torch.randn(4, 3), NSPConfig(a_dist="constant", a_mean=1.0))
    assert torch.equal(homog.a, torch.ones(4))
    w = NSPWeight(torch.randn(8, 3), NSPConfig(learnable_a=True))
    assert w.log_a.requires_grad
    opt = torch.optim.SGD(w.parameters(), lr=100.0)
    for _ in range(5):
        opt.zero_grad()
        w().sum().backward()  # pushes a down hard
        opt.step()
    assert bool((w.a > 0).all())


@pytest.mark.parametrize("dist", ["lognormal", "uniform"])
def test_a_distribution_has_requested_mean_and_std(dist):
    g = torch.Generator().manual_seed(0)
    w = NSPWeight(torch.randn(20000, 1), NSPConfig(a_dist=dist, a_mean=1.5, a_std=0.3), g)
    assert abs(float(w.a.mean()) - 1.5) < 0.02
    assert abs(float(w.a.std()) - 0.3) < 0.02
    assert bool((w.a > 0).all())


def test_baselines_on_the_same_code_path():
    torch.manual_seed(0)
    init = torch.randn(6, 5)
    stds = NSPWeight(init, NSPConfig(method="stds", a_std=0.9, d2=0.3))
    assert torch.equal(stds.a, torch.ones(6)) and float(stds.d2) == 0.0
    stds.set_d1(0.5)
    assert torch.equal(stds(), torch.sign(init) * torch.relu(init.abs() - 0.5))

    gradr = NSPWeight(init, NSPConfig(method="gradr"))
    assert torch.equal(gradr(), init)  # starts at the init
    with torch.no_grad():
        gradr.theta.sub_(0.5)
    assert torch.equal(gradr(), torch.sign(init) * torch.relu(init.abs() - 0.5))

    mag = NSPWeight(init, NSPConfig(method="magnitude"))
    mag.set_d1(0.5)
    assert torch.equal(mag(), init * (init.abs() > 0.5))

    dense = NSPWeight(init, NSPConfig(method="dense"))
    dense.set_d1(0.5)
    assert torch.equal(dense(), init)


def test_frozen_mask_keeps_pruned_synapses_silent():
    w = NSPWeight(torch.randn(5, 5), NSPConfig())
    w.set_d1(0.5)
    w.freeze()
    silent = w() == 0
    w.set_d1(0.0)
    assert bool((w()[silent] == 0).all())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(method="lottery"), "unknown pruning method 'lottery'"),
        (dict(a_dist="gamma"), "unknown a distribution 'gamma'"),
        (dict(a_mean=-1.0), "a_mean must be positive, got -1.0"),
        (dict(a_std=-0.1), "a_std must be >= 0, got -0.1"),
        (dict(a_dist="uniform", a_mean=1.0, a_std=1.0), "non-positive"),
        (dict(d2=-0.5), "d2 must be >= 0, got -0.5"),
    ],
)
def test_nsp_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NSPConfig(**kwargs)


def test_layers_reject_bad_sizes_and_wrong_rank():
    with pytest.raises(ValueError, match="in_features must be a positive int, got 0"):
        NSPLinear(0, 3)
    with pytest.raises(ValueError, match="kernel_size must be a positive int, got -3"):
        NSPConv2d(1, 2, -3)
    with pytest.raises(ValueError, match=r"expects 4 input features, got input of shape \(2, 5\)"):
        NDILinear(4, 2)(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"got shape \(2, 8, 8\)"):
        NDIConv2d(2, 2, 3)(torch.zeros(2, 8, 8))
    with pytest.raises(ValueError, match="d1 must be >= 0, got -1.0"):
        NSPWeight(torch.randn(2, 2)).set_d1(-1.0)
    with pytest.raises(ValueError, match="v_init_scale must be >= 0, got -0.1"):
        NDIConv2d(1, 2, 3, ndi=False, v_init_scale=-0.1)


def test_dense_and_conv_layers_are_siblings_under_one_base():
    dense, conv = NDILinear(3, 2), NDIConv2d(1, 2, 3, ndi=False)
    assert isinstance(dense, NSPLayer) and isinstance(conv, NSPLayer)
    assert not isinstance(conv, NSPLinear) and not isinstance(dense, NSPConv2d)
    assert [len(layer.nsp_weights()) for layer in (dense, conv)] == [2, 1]
    assert (dense.role, dense.constant_input_steps, conv.role) == ("hidden", 1, "hidden")
    readout = NSPLinear(3, 2, role="readout", constant_input_steps=4)
    assert (readout.role, readout.constant_input_steps) == ("readout", 4)
    with pytest.raises(TypeError, match="abstract"):
        NSPLayer((2, 3), 3, True, None, 1.0, None)  # type: ignore[abstract]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(role="output"), r"unknown layer role 'output'; accepted: \('hidden', 'readout'\)"),
        (dict(constant_input_steps=0), "constant_input_steps must be a positive int, got 0"),
        (dict(constant_input_steps=2.0), "constant_input_steps must be a positive int, got 2.0"),
    ],
)
def test_layers_reject_bad_role_and_steps(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NDILinear(3, 2, **kwargs)
    with pytest.raises(ValueError, match=match):
        NSPConv2d(1, 2, 3, **kwargs)


def test_weights_written_through_data_are_seen_once_reuse_is_off():
    from nspdi_rl.layers import reuse_effective_weights

    layer = NDILinear(4, 3, nsp=NSPConfig(method="dense"))
    x = torch.rand(2, 4)
    with torch.no_grad():
        before = layer(x)
        layer.w.theta.data.mul_(2.0)  # as SB3's polyak_update writes: no version moves
        assert torch.equal(layer(x), before)  # reused: the write is not seen
        assert reuse_effective_weights(layer, False) == 2  # W and V
        assert not torch.equal(layer(x), before)
    with pytest.raises(ValueError, match="reuse must be True or False, got 1"):
        reuse_effective_weights(layer, 1)
    with pytest.raises(ValueError, match="module must be a torch.nn.Module, got str"):
        reuse_effective_weights("layer", True)
