"""Threshold schedules and the target-sparsity controller."""

import math

import pytest
import torch

from nspdi_rl.layers import NSPConfig
from nspdi_rl.metrics import sparsity
from nspdi_rl.network import SpikingNetConfig, build_network
from nspdi_rl.pruning import Pruner, PruningSchedule, schedule_fraction


def test_schedule_shapes():
    assert schedule_fraction("constant", 0.0) == 1.0
    assert schedule_fraction("linear", 0.25) == 0.25
    # STDS's sine schedule: D (1 + sin(pi (n/N - 1/2))) / 2
    assert math.isclose(schedule_fraction("sine", 0.25), (1 + math.sin(math.pi * (0.25 - 0.5))) / 2)
    assert schedule_fraction("sine", 0.5) == pytest.approx(0.5)
    assert schedule_fraction("cubic", 0.5) == pytest.approx(1 - 0.5**3)
    assert schedule_fraction("linear", 0.9, start=0.0, end=0.8) == 1.0
    assert schedule_fraction("linear", 0.1, start=0.2, end=0.8) == 0.0


def make_model(method="nsp", d2=0.0, ndi=True):
    cfg = SpikingNetConfig(
        input_shape=(40,),
        n_outputs=4,
        hidden=(64, 32),
        ndi=ndi,
        nsp=NSPConfig(method=method, d2=d2),
    )
    return build_network(cfg, seed=0)


@pytest.mark.parametrize("method", ["nsp", "stds", "gradr", "magnitude"])
@pytest.mark.parametrize("d2", [0.0, 0.005])
def test_controller_reaches_target_sparsity_exactly(method, d2):
    model = make_model(method, d2)
    pruner = Pruner(model, PruningSchedule(final=0.95, shape="linear", end=1.0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.rand(16, 40)
    for step in range(11):
        # what d1 = 0 already silences (the d2 cut, Grad R's negative theta): d1 cannot go lower
        floor = sum(int((w.prune_scores() <= 0).sum()) for w in pruner.weights) / sum(
            w.numel() for w in pruner.weights
        )
        pruner.step(step / 10)
        target = pruner.schedule.value(step / 10)
        if target > floor + 0.01:
            assert abs(sparsity(model) - target) <= 0.005
        else:
            assert sparsity(model) >= target - 0.005
        opt.zero_grad()
        model(x).pow(2).sum().backward()
        opt.step()
    pruner.step(1.0)
    assert abs(sparsity(model) - 0.95) <= 0.005


def test_global_scope_reaches_target():
    model = make_model()
    Pruner(model, PruningSchedule(final=0.9, scope="global")).step(1.0)
    assert abs(sparsity(model) - 0.9) <= 0.005


def test_threshold_mode_sets_d1_from_the_schedule():
    model = make_model()
    pruner = Pruner(model, PruningSchedule(mode="threshold", final=0.05, shape="sine", end=1.0))
    pruner.step(0.5)
    assert all(float(w.d1) == pytest.approx(0.025) for w in pruner.weights)


def test_readout_is_left_alone_unless_asked():
    model = make_model()
    Pruner(model, PruningSchedule(final=0.9)).step(1.0)
    assert float(model.readout.w.d1) == 0.0
    Pruner(model, PruningSchedule(final=0.9), include_readout=True).step(1.0)
    assert float(model.readout.w.d1) > 0.0


def test_dense_model_is_not_pruned():
    model = make_model("dense")
    Pruner(model, PruningSchedule(final=0.9)).step(1.0)
    assert sparsity(model) == 0.0


def test_freeze_stops_the_controller_and_keeps_the_mask():
    model = make_model()
    pruner = Pruner(model, PruningSchedule(final=0.8))
    pruner.step(1.0)
    pruner.freeze()
    before = sparsity(model)
    pruner.step(0.0)
    assert sparsity(model) == before


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(final=1.0), r"target sparsity must be in \[0, 1\), got 1.0"),
        (dict(final=-0.1), r"target sparsity must be in \[0, 1\), got -0.1"),
        (dict(shape="exponential"), "unknown schedule 'exponential'"),
        (dict(mode="random"), "unknown pruning mode 'random'"),
        (dict(scope="neuron"), "unknown pruning scope 'neuron'"),
        (dict(mode="threshold", final=-1.0), "final threshold d1 must be >= 0, got -1.0"),
        (dict(start=0.5, end=0.5), "start=0.5 end=0.5"),
    ],
)
def test_schedule_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PruningSchedule(**kwargs)


def test_pruner_rejects_bad_progress_and_models_without_nsp():
    pruner = Pruner(make_model(), PruningSchedule())
    with pytest.raises(ValueError, match=r"progress must be in \[0, 1\], got 1.5"):
        pruner.step(1.5)
    with pytest.raises(ValueError, match="has no NSP weights"):
        Pruner(torch.nn.Linear(2, 2), PruningSchedule())
    with pytest.raises(ValueError, match="unknown schedule 'zigzag'"):
        schedule_fraction("zigzag", 0.5)
