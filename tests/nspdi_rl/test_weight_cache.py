"""The effective weight is reused without autograd, and recomputed on every change."""

from __future__ import annotations

import pytest
import torch

from nspdi_rl.layers import NDILinear, NSPConfig, NSPLinear, NSPWeight
from nspdi_rl.pruning import Pruner, PruningSchedule


def _fresh(w: NSPWeight) -> torch.Tensor:
    with torch.enable_grad():
        return w().detach()


@pytest.mark.parametrize("method", ["nsp", "stds", "gradr", "magnitude", "dense"])
def test_reused_until_something_changes(method: str) -> None:
    torch.manual_seed(0)
    w = NSPWeight(torch.randn(6, 5), NSPConfig(method=method))
    with torch.no_grad():
        first = w()
        assert w() is first  # reused
        assert torch.equal(first, _fresh(w))
        changes = {
            "optimiser step": lambda: w.theta.add_(0.1),
            "a": lambda: w.log_a.add_(0.2),
            "d1": lambda: w.set_d1(0.3),
            "d2": lambda: w.set_d2(0.5),
            "freeze": w.freeze,  # same values, a new mask to apply from now on
            "step after freeze": lambda: w.theta.add_(0.5),
        }
        for name, change in changes.items():
            before = w().clone()
            change()
            after = w()
            assert torch.equal(after, _fresh(w)), name
            # what each map reads: all of them theta; a and d1 the shifted ones; d2 nsp's
            moves = {"optimiser step", "step after freeze"}
            moves |= {"a", "d1"} if method in ("nsp", "stds", "gradr") else set()
            moves |= {"d2"} if method == "nsp" else set()
            if name in moves:
                assert not torch.equal(after, before), name
        assert (w() != 0).sum() <= (before != 0).sum()  # the frozen mask holds


def test_loading_and_casting_are_seen() -> None:
    torch.manual_seed(0)
    w = NSPWeight(torch.randn(4, 3))
    other = NSPWeight(torch.randn(4, 3))
    with torch.no_grad():
        w()
        w.load_state_dict(other.state_dict())
        assert torch.equal(w(), _fresh(other))
        w.double()
        assert w().dtype == torch.float64 and torch.equal(w(), _fresh(w))


def test_with_autograd_the_weight_is_always_computed() -> None:
    w = NSPWeight(torch.randn(4, 3), NSPConfig(learnable_a=True))
    with torch.no_grad():
        cached = w()
    live = w()
    assert live is not cached and live.requires_grad
    live.sum().backward()
    assert w.theta.grad is not None and w.log_a.grad is not None


def test_the_pruner_sees_the_current_weights() -> None:
    torch.manual_seed(0)
    layer = NSPLinear(16, 32)
    pruner = Pruner(layer, PruningSchedule(final=0.5, end=1.0))
    with torch.no_grad():
        for progress in (0.25, 0.5, 1.0):
            pruner.step(progress)
            expected = pruner.schedule.value(progress)
            assert float((layer.w() == 0).float().mean()) == pytest.approx(expected, abs=1 / 512)


@pytest.mark.parametrize("method", ["nsp", "stds", "gradr", "magnitude", "dense"])
def test_an_ndi_layer_sees_every_change_without_autograd(method: str) -> None:
    # its stacked [W; V] is reused too; a dense weight is theta itself, changed in place
    torch.manual_seed(0)
    layer = NDILinear(5, 6, ndi=True, nsp=NSPConfig(method=method))
    x = torch.randn(3, 5)
    changes = {
        "W step": lambda: layer.w.theta.add_(0.1),
        "V step": lambda: layer.v.theta.add_(0.2),
        "W cut": lambda: layer.w.set_threshold(float(layer.w.prune_scores().median())),
        "both": lambda: (layer.w.theta.mul_(0.5), layer.v.theta.mul_(2.0)),
    }
    with torch.no_grad():
        layer(x)
        for name, change in changes.items():
            change()
            with torch.enable_grad():
                expected = layer(x).detach()
            assert torch.equal(layer(x), expected), name
