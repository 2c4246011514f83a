"""The readings of NSP: which threshold drives sparsity, how theta starts, and what
gradient pruned synapses get; each against a float64 reference."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import torch

from nspdi_rl.layers import DEFAULT_READING, ORIGINAL_READING, NSPConfig, NSPLinear, NSPWeight
from nspdi_rl.network import SpikingNetConfig, build_network
from nspdi_rl.pruning import Pruner, PruningSchedule


def _layer(config: NSPConfig, shape: tuple[int, int] = (12, 50), seed: int = 0) -> NSPLinear:
    """A dense NSP layer in float64, whose one weight the tests prune."""
    g = torch.Generator().manual_seed(seed)
    layer = NSPLinear(shape[1], shape[0], bias=False, nsp=config, generator=g)
    return layer.double()


def _reference_d2(theta: np.ndarray, a: np.ndarray, d1: float, target: float) -> np.ndarray:
    """The d2 reading by hand: rank by |a (|theta| - d1)|, silence the smallest target
    share (and whatever ties the last one silenced; already-silent ones count)."""
    w = np.sign(theta) * np.maximum(a[:, None] * (np.abs(theta) - d1), 0.0)
    k = int(np.ceil(target * w.size - 1e-9))
    kth = np.sort(np.abs(w), axis=None)[k - 1]
    return np.where(np.abs(w) > kth, w, 0.0)


@pytest.mark.parametrize("d1", [0.0, 0.05])
@pytest.mark.parametrize("target", [0.5, 0.9, 0.98])
def test_d2_reading_cuts_the_smallest_effective_weights_and_keeps_the_rest_whole(
    d1: float, target: float
) -> None:
    layer = _layer(NSPConfig(reading="d2", d1=d1, a_std=0.5))
    weight = layer.w
    Pruner(layer, PruningSchedule(final=target, shape="constant")).step(1.0)
    w = weight().detach().numpy()
    theta, a = weight.theta.detach().numpy(), weight.a.detach().numpy()
    assert float(weight.d1) == pytest.approx(d1)  # the transition threshold did not move
    d1 = float(weight.d1)  # as the layer holds it (made in float32)
    np.testing.assert_allclose(w, _reference_d2(theta, a, d1, target), rtol=0, atol=0)
    live = w != 0
    silent_at_init = int((np.abs(theta) <= d1).sum())
    assert (~live).sum() == max(silent_at_init, int(np.ceil(target * w.size - 1e-9)))
    # survivors keep their whole weight: no shift but the fixed d1
    np.testing.assert_allclose(
        np.abs(w[live]), (a[:, None] * (np.abs(theta) - d1)).repeat(1, 0)[live], rtol=1e-12
    )


def test_the_d1_reading_shrinks_survivors_and_its_ranking_ignores_a() -> None:
    layer = _layer(NSPConfig(reading="d1", a_std=0.5))
    weight = layer.w
    Pruner(layer, PruningSchedule(final=0.9, shape="constant")).step(1.0)
    theta, a = weight.theta.detach(), weight.a.detach()
    d1 = float(weight.d1)
    live = weight().detach() != 0
    assert torch.equal(live, theta.abs() > d1)
    expected = a[:, None] * (theta.abs() - d1)
    assert torch.allclose(weight().detach().abs()[live], expected[live])


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_d2_reading_reaches_the_target_in_a_network(scope: str) -> None:
    config = SpikingNetConfig(
        input_shape=(20,), n_outputs=4, hidden=(32, 16), nsp=NSPConfig(reading="d2")
    )
    model = build_network(config, seed=0)
    Pruner(model, PruningSchedule(final=0.95, shape="constant", scope=scope)).step(1.0)
    hidden = [m for m in model.modules() if isinstance(m, NSPLinear) and m.role == "hidden"]
    weights = [w for m in hidden for w in m.nsp_weights()]
    if scope == "layer":  # each tensor at the target, rounded up
        for w in weights:
            assert int((w() == 0).sum()) == int(np.ceil(0.95 * w.numel() - 1e-9))
    else:  # one cut over all of them
        silent = sum(int((w() == 0).sum()) for w in weights)
        assert silent == int(np.ceil(0.95 * sum(w.numel() for w in weights) - 1e-9))
        assert len({float(w.d2) for w in weights}) == 1


def test_a_fixed_d2_cut_under_the_d1_reading_hits_the_target_exactly() -> None:
    layer = _layer(NSPConfig(reading="d1", d2=0.05), shape=(24, 50))
    weight = layer.w
    Pruner(layer, PruningSchedule(final=0.9, shape="constant")).step(1.0)
    assert int((weight() == 0).sum()) == 1080  # was 1079: the synapse at d1 lived


def test_theta_init_w_makes_a_a_gain_from_the_start() -> None:
    g = torch.Generator().manual_seed(0)
    initial = torch.rand(6, 10, generator=g, dtype=torch.float64) - 0.5
    over_a = NSPWeight(initial, NSPConfig(), torch.Generator().manual_seed(1))
    gain = NSPWeight(initial, NSPConfig(theta_init="w"), torch.Generator().manual_seed(1))
    assert torch.allclose(over_a(), initial)
    assert torch.equal(gain.theta.detach(), initial)
    assert torch.allclose(gain(), gain.a[:, None] * initial)
    assert torch.equal(gain.a, over_a.a)  # the same draw of a


def _pruned_grad(weight: NSPWeight) -> tuple[torch.Tensor, torch.Tensor]:
    weight.theta.grad = None
    w = weight()
    (w * torch.arange(w.numel(), dtype=w.dtype).reshape(w.shape)).sum().backward()
    silent = w.detach() == 0
    return weight.theta.grad[silent], weight.a.detach()[:, None].expand_as(w)[silent]


@pytest.mark.parametrize("reading", ["d1", "d2"])
def test_pruned_synapses_gradient_straight_through_exact_or_until_reached(reading: str) -> None:
    schedule = PruningSchedule(final=0.8, shape="linear", end=0.5)
    for grad, before, after in [
        ("straight_through", True, True),
        ("exact", False, False),
        ("until_reached", True, False),
    ]:
        layer = _layer(NSPConfig(reading=reading, pruned_grad=grad))
        weight = layer.w
        pruner = Pruner(layer, schedule)
        pruner.step(0.4)  # not reached yet
        g, a = _pruned_grad(weight)
        assert g.numel() > 0
        coefficient = torch.arange(weight.numel(), dtype=g.dtype).reshape(weight.shape)
        expected = (a * coefficient[weight().detach() == 0]) if before else torch.zeros_like(g)
        assert torch.allclose(g, expected), (grad, "before")
        pruner.step(0.6)  # the schedule reached its target
        g, a = _pruned_grad(weight)
        expected = (a * coefficient[weight().detach() == 0]) if after else torch.zeros_like(g)
        assert torch.allclose(g, expected), (grad, "after")


def test_until_reached_survives_a_save_and_load() -> None:
    layer = _layer(NSPConfig(pruned_grad="until_reached"))
    weight = layer.w
    Pruner(layer, PruningSchedule(final=0.5, shape="constant")).step(1.0)
    assert not weight.straight_through
    again = _layer(NSPConfig(pruned_grad="until_reached"), seed=5).w
    again.load_state_dict(weight.state_dict())
    assert not again.straight_through
    # weights saved before the flag existed: not reached, unless their mask was frozen
    old = {k: v for k, v in weight.state_dict().items() if k != "reached"}
    fresh = _layer(NSPConfig(pruned_grad="until_reached"), seed=6).w
    fresh.load_state_dict(old)
    assert fresh.straight_through


def test_gradients_of_the_d2_reading_match_finite_differences() -> None:
    layer = _layer(NSPConfig(reading="d2", d1=0.02, pruned_grad="exact", learnable_a=True))
    weight = layer.w
    Pruner(layer, PruningSchedule(final=0.7, shape="constant")).step(1.0)
    scale = torch.linspace(0.5, 2.0, weight.numel(), dtype=torch.float64).reshape(weight.shape)

    def loss() -> torch.Tensor:
        return (weight() ** 2 * scale).sum()

    loss().backward()
    grad_theta, grad_log_a = weight.theta.grad.clone(), weight.log_a.grad.clone()
    w, d1, d2 = weight().detach(), float(weight.d1), float(weight.d2)
    # away from the kinks (|theta| = d1, |w| = d2) the map is smooth: central differences
    smooth = ((weight.theta.detach().abs() - d1).abs() > 1e-4) & ((w.abs() - d2).abs() > 1e-4)
    eps = 1e-7
    with torch.no_grad():
        for index in torch.nonzero(smooth)[::37][:20].tolist():
            i = tuple(index)
            weight.theta[i] += eps
            up = float(loss())
            weight.theta[i] -= 2 * eps
            down = float(loss())
            weight.theta[i] += eps
            assert grad_theta[i] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-9)
        channel = 3
        weight.log_a[channel] += eps
        up = float(loss())
        weight.log_a[channel] -= 2 * eps
        down = float(loss())
        weight.log_a[channel] += eps
    assert grad_log_a[channel] == pytest.approx((up - down) / (2 * eps), rel=1e-5)
    # pruned synapses get no gradient in the exact mode
    assert torch.all(grad_theta[w == 0] == 0)


@pytest.mark.parametrize("method", ["nsp", "stds", "gradr", "magnitude", "dense"])
def test_options_left_open_take_the_methods_own(method: str) -> None:
    config = NSPConfig(method=method)
    own = DEFAULT_READING.to_dict() if method == "nsp" else ORIGINAL_READING.to_dict()
    assert {k: getattr(config, k) for k in own} == own
    # a value given is kept; the rest are still filled
    config = NSPConfig(method=method, pruned_grad="until_reached")
    assert config.pruned_grad == "until_reached" and config.reading == own["reading"]
    assert NSPConfig.from_dict(asdict(config)) == config  # a saved config reads back whole


def test_reading_options_are_checked_and_labelled() -> None:
    from nspdi_rl.layers import Reading

    with pytest.raises(ValueError, match="unknown theta_init 'x'"):
        Reading(theta_init="x")
    with pytest.raises(ValueError, match="unknown learnable_a 1"):
        Reading(learnable_a=1)  # type: ignore[arg-type]  # a switch takes a bool only
    assert (Reading.label("learnable_a", False), Reading.label("reading", "d1")) == (
        "fixed_a",
        "d1",
    )
    assert NSPConfig(method="stds").reading_options() == ORIGINAL_READING
    assert NSPConfig().reading_options() == DEFAULT_READING
    assert ORIGINAL_READING.argv() == [
        "--reading", "d1", "--theta-init", "w_over_a", "--pruned-grad", "straight_through",
        "--no-learnable-a",
    ]  # fmt: skip


def test_config_checks_and_legacy_fields() -> None:
    with pytest.raises(ValueError, match="unknown reading 'd3'"):
        NSPConfig(reading="d3")
    with pytest.raises(ValueError, match="unknown pruned_grad 'none'"):
        NSPConfig(pruned_grad="none")
    with pytest.raises(ValueError, match="reading='d2' is an NSP reading; method is 'stds'"):
        NSPConfig(method="stds", reading="d2")
    with pytest.raises(ValueError, match="d1 must be >= 0"):
        NSPConfig(d1=-0.1)
    with pytest.raises(ValueError, match="learnable_a=True is an NSP reading; method is 'gradr'"):
        NSPConfig(method="gradr", learnable_a=True)
    # a dict saved before the readings existed reads as it ran, whatever today's default
    old = {"method": "nsp", "learnable_a": False, "straight_through": False}
    assert NSPConfig.from_dict(old) == NSPConfig(
        **{**ORIGINAL_READING.to_dict(), "pruned_grad": "exact"}
    )
    assert NSPConfig.from_dict({"straight_through": True}) == NSPConfig(
        **ORIGINAL_READING.to_dict()
    )
    with pytest.raises(ValueError, match="unknown NSPConfig keys"):
        NSPConfig.from_dict({"reeding": "d2"})


def test_survivors_keep_more_weight_under_the_d2_reading() -> None:
    """The mechanism the readings differ by: at the same sparsity the d1 reading
    shrinks every survivor by a * d1, the d2 reading does not."""
    from nspdi_rl.metrics import survivor_summary

    summaries, models = {}, {}
    for reading in ("d1", "d2"):
        config = SpikingNetConfig(
            input_shape=(40,), n_outputs=5, hidden=(64,), nsp=NSPConfig(reading=reading)
        )
        model = build_network(config, seed=0)
        Pruner(model, PruningSchedule(final=0.95, shape="constant")).step(1.0)
        summaries[reading], models[reading] = survivor_summary(model), model
    d1, d2 = summaries["d1"], summaries["d2"]
    assert 0 < d1["mean_abs_w_live"] < 0.5 * d2["mean_abs_w_live"]
    for reading, model in models.items():  # the share of hidden neurons with a live input
        w = model.layers[0].w().detach()
        assert summaries[reading]["neurons_fed"] == pytest.approx(
            (w != 0).any(dim=1).float().mean()
        )
        assert summaries[reading]["inputs_read"] == pytest.approx(
            (w != 0).any(dim=0).float().mean()
        )
    plain = build_network(SpikingNetConfig(input_shape=(4,), n_outputs=2, hidden=(3,)), seed=0)
    assert survivor_summary(plain)["neurons_fed"] == survivor_summary(plain)["inputs_read"] == 1.0
