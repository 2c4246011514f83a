"""nsp_weight, ndi_current, surrogate spikes and the LIF loop against references."""

import numpy as np
import pytest
import torch
from norse.torch import LI, LIF, LIFParameters

from nspdi_rl.functional import (
    SURROGATES,
    li_kernel,
    li_sequence,
    lif_sequence,
    lif_sequence_reference,
    ndi_current,
    nsp_weight,
    spike_fn,
    stacked_ndi_current,
)


def reference_nsp(theta, a, d1, d2, straight_through, fixed_sign=None):
    """Independent float64 numpy implementation of the NSP map and its gradients."""
    theta = theta.astype(np.float64)
    a_b = a.astype(np.float64).reshape((-1,) + (1,) * (theta.ndim - 1))
    if fixed_sign is None:
        s, m, dm = np.sign(theta), np.abs(theta), np.sign(theta)
    else:
        s, m, dm = fixed_sign, theta, np.ones_like(theta)
    pre = a_b * (m - d1)
    w = s * np.maximum(pre, 0.0)
    alive = (m - d1 > 0) & (np.abs(w) >= d2)
    w = np.where(alive, w, 0.0)
    # d w / d theta for an upstream gradient of ones
    exact = s * a_b * dm * alive
    grad_theta = s * a_b * dm if straight_through else exact
    grad_a = (s * (m - d1) * alive).reshape(theta.shape[0], -1).sum(1)
    return w, grad_theta, grad_a


@pytest.mark.parametrize("straight_through", [True, False])
@pytest.mark.parametrize("shape", [(7, 5), (4, 3, 3, 3)])
@pytest.mark.parametrize("d2", [0.0, 0.05])
def test_nsp_weight_matches_float64_reference(straight_through, shape, d2):
    rng = np.random.default_rng(0)
    theta_np = rng.normal(0, 0.3, shape)
    a_np = rng.lognormal(0, 0.5, shape[0])
    theta = torch.tensor(theta_np, dtype=torch.float64, requires_grad=True)
    a = torch.tensor(a_np, dtype=torch.float64, requires_grad=True)
    w = nsp_weight(theta, a, d1=0.2, d2=d2, straight_through=straight_through)
    w.sum().backward()
    ref_w, ref_gt, ref_ga = reference_nsp(theta_np, a_np, 0.2, d2, straight_through)
    np.testing.assert_allclose(w.detach().numpy(), ref_w, rtol=0, atol=1e-12)
    np.testing.assert_allclose(theta.grad.numpy(), ref_gt, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.grad.numpy(), ref_ga, rtol=1e-12, atol=1e-12)
    assert (w == 0).sum() > 0, "the threshold must silence some synapses in this draw"


def test_silent_synapses_get_gradient_only_when_straight_through():
    theta = torch.tensor([[0.05, -0.02, 0.5, -0.7]], requires_grad=True)
    a = torch.tensor([2.0])
    for st, expect_silent_grad in [(True, True), (False, False)]:
        theta.grad = None
        w = nsp_weight(theta, a, d1=0.1, straight_through=st)
        assert w[0, 0] == 0 and w[0, 1] == 0
        (w * torch.arange(1.0, 5.0)).sum().backward()
        silent = theta.grad[0, :2]
        assert bool((silent != 0).all()) == expect_silent_grad
        assert bool((theta.grad[0, 2:] != 0).all())


def test_nsp_with_unit_a_and_no_cut_is_stds():
    theta = torch.randn(16, 9)
    d = 0.4
    stds = torch.sign(theta) * torch.relu(theta.abs() - d)  # Chen et al. 2022
    assert torch.equal(nsp_weight(theta, torch.ones(16), d1=d, d2=0.0), stds)


def test_gradr_map_is_sign_times_relu_theta():
    theta = torch.randn(6, 4)
    sign = torch.where(torch.rand(6, 4) > 0.5, 1.0, -1.0)
    assert torch.equal(nsp_weight(theta, 1.0, d1=0.0, fixed_sign=sign), sign * torch.relu(theta))


def test_d2_cut_zeroes_small_weights():
    theta = torch.tensor([[0.11, 0.3, -0.15, -0.5]])
    w = nsp_weight(theta, torch.tensor([1.0]), d1=0.1, d2=0.1)
    # a (|theta| - d1) = 0.01, 0.2, 0.05, 0.4 -> the two below 0.1 are cut
    assert torch.allclose(w, torch.tensor([[0.0, 0.2, 0.0, -0.4]]))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(a=torch.tensor([-1.0, 1.0])), "a must be positive"),
        (dict(a=torch.tensor([1.0, 0.0])), "a must be positive"),
        (dict(a=torch.ones(3)), r"shape \(2,\)"),
        (dict(d1=-0.1), "d1 must be >= 0, got -0.1"),
        (dict(d2=-1.0), "d2 must be >= 0, got -1.0"),
    ],
)
def test_nsp_weight_rejects_bad_inputs(kwargs, match):
    args = dict(theta=torch.randn(2, 3), a=torch.ones(2))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        nsp_weight(**args)


def test_nsp_weight_rejects_scalar_theta():
    with pytest.raises(ValueError, match="at least 1 dim"):
        nsp_weight(torch.tensor(1.0), 1.0)


def test_ndi_current_definition_and_shape_check():
    wx, vx, b = torch.randn(3, 4), torch.randn(3, 4), torch.randn(4)
    assert torch.allclose(ndi_current(wx, vx, b), wx + b + wx * vx)
    with pytest.raises(ValueError, match="same shape"):
        ndi_current(wx, torch.randn(3, 5))


@pytest.mark.parametrize(
    ("shape", "dim", "bias_shape"), [((5, 3, 8), -1, (4,)), ((5, 8, 3), 1, (4, 1))]
)
def test_stacked_ndi_current_matches_ndi_current_and_its_gradients(shape, dim, bias_shape):
    torch.manual_seed(0)
    y = torch.randn(shape, requires_grad=True)
    y_ref = y.detach().clone().requires_grad_(True)
    b = torch.randn(bias_shape)
    current = stacked_ndi_current(y, dim, b)
    expected = ndi_current(*y_ref.chunk(2, dim=dim), b)
    assert torch.equal(current, expected)
    grad = torch.randn_like(expected)
    current.backward(grad)
    expected.backward(grad)
    assert torch.equal(y.grad, y_ref.grad)  # the same arithmetic, not only close
    with torch.no_grad():
        assert torch.equal(stacked_ndi_current(y, dim, b), expected)


def test_stacked_ndi_current_needs_an_even_stack():
    with pytest.raises(ValueError, match="odd"):
        stacked_ndi_current(torch.randn(3, 5))


@pytest.mark.parametrize("method", sorted(SURROGATES))
def test_each_surrogate_sharpness_changes_gradient(method):
    x = torch.tensor([-0.3, -0.05, 0.0, 0.05, 0.3])
    grads = []
    for alpha in (2.0, 20.0):
        xi = x.clone().requires_grad_(True)
        z = spike_fn(xi, method, alpha)
        assert torch.equal(z, (x > 0).float())
        z.sum().backward()
        grads.append(xi.grad.clone())
    assert not torch.allclose(grads[0], grads[1]), f"{method}: alpha had no effect on the gradient"
    # a sharper surrogate puts relatively more gradient at the threshold
    ratio = [g[2] / g[0].clamp_min(1e-12) for g in grads]
    assert ratio[1] > ratio[0]


def test_norse_superspike_ignores_alpha_but_ours_does_not():
    """The pitfall docs/method.md names: Norse 1.1.0's SuperSpike drops alpha."""
    from norse.torch.functional.threshold import threshold

    grads = []
    for alpha in (2.0, 20.0):
        x = torch.tensor([0.3], requires_grad=True)
        threshold(x, "super", alpha).sum().backward()
        grads.append(float(x.grad))
    ours = []
    for alpha in (2.0, 20.0):
        x = torch.tensor([0.3], requires_grad=True)
        spike_fn(x, "superspike", alpha).sum().backward()
        ours.append(float(x.grad))
    assert grads[0] == grads[1]
    assert ours[0] != ours[1]


def test_spike_fn_rejects_unknown_method_and_bad_alpha():
    with pytest.raises(ValueError, match="unknown surrogate method 'boxcar'"):
        spike_fn(torch.zeros(1), "boxcar")
    with pytest.raises(ValueError, match="alpha must be a positive number, got -1"):
        spike_fn(torch.zeros(1), "sigmoid", -1)


def test_lif_sequence_equals_norse_lif_spikes_and_state():
    torch.manual_seed(0)
    x = torch.rand(50, 4, 16) * 3
    p = LIFParameters()
    z_norse, state = LIF(p)(x)
    z_ours, (v, i) = lif_sequence(x, p)
    assert z_norse.sum() > 0
    assert torch.equal(z_norse, z_ours)
    assert torch.equal(state.v, v) and torch.equal(state.i, i)


def test_li_sequence_equals_norse_li():
    torch.manual_seed(1)
    x = torch.randn(30, 2, 5)
    v_norse, _ = LI()(x)
    v_ours, _ = li_sequence(x, LIFParameters())
    assert torch.equal(v_norse, v_ours)


def test_lif_sequence_rejects_non_time_first_input():
    with pytest.raises(ValueError, match=r"time-first \(T, B, ...\), got shape \(5,\)"):
        lif_sequence(torch.zeros(5), LIFParameters())


@pytest.mark.parametrize("method", sorted(SURROGATES))
@pytest.mark.parametrize("with_state", [False, True])
def test_fused_lif_equals_the_step_by_step_reference(method, with_state):
    torch.manual_seed(0)
    p = LIFParameters(v_reset=torch.tensor(-0.2), v_leak=torch.tensor(0.1))
    x = torch.rand(30, 4, 9) * 3
    state = (torch.rand(4, 9), torch.rand(4, 9)) if with_state else None
    leaves = []
    outs = []
    for fn in (lif_sequence, lif_sequence_reference):
        xi = x.clone().requires_grad_(True)
        st = None if state is None else tuple(s.clone().requires_grad_(True) for s in state)
        z, (v, i) = fn(xi, p, surrogate=method, alpha=7.0, state=st)
        w = torch.linspace(-1, 1, z.numel()).reshape(z.shape)
        ((z * w).sum() + 0.3 * v.sum() - 0.2 * i.sum()).backward()
        outs.append((z, v, i))
        leaves.append([xi, *(st or ())])
    (z1, v1, i1), (z2, v2, i2) = outs
    assert z1.sum() > 0
    assert torch.equal(z1, z2) and torch.equal(v1, v2) and torch.equal(i1, i2)
    for fast, ref in zip(*leaves, strict=True):
        assert torch.allclose(fast.grad, ref.grad, rtol=1e-5, atol=1e-6)


def test_li_kernel_reproduces_the_integrator():
    p = LIFParameters(v_leak=torch.tensor(0.3))
    x = torch.randn(12, 2, 5)
    v, _ = li_sequence(x, p)
    kernel, offset = li_kernel(12, p)
    assert torch.allclose(torch.tensordot(kernel, x, dims=1) + offset[:, None, None], v, atol=1e-5)
