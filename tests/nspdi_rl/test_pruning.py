"""Threshold schedules and the target-sparsity controller."""

import json
import math

import pytest
import torch

from nspdi_rl.layers import NSPConfig
from nspdi_rl.metrics import sparsity
from nspdi_rl.network import SpikingNetConfig, build_network
from nspdi_rl.pruning import (
    Pruner,
    PruningDriver,
    PruningSchedule,
    pruned_weights,
    schedule_fraction,
)


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
    """A small network whose controller moves d1 (a fixed d2 cut where given);
    tests/nspdi_rl/test_readings.py covers the d2 reading."""
    cfg = SpikingNetConfig(
        input_shape=(40,),
        n_outputs=4,
        hidden=(64, 32),
        ndi=ndi,
        nsp=NSPConfig(method=method, d2=d2, reading="d1"),
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


def test_network_scope_brings_each_network_to_the_target():
    """An agent's actor and critic: a global threshold over both leaves the network whose
    weights are larger (here the actor, scaled up) less sparse than the target and the
    other more; the network scope gives each its own threshold, and on one network it
    is the global threshold."""
    actor, critic = make_model(), make_model()
    with torch.no_grad():
        for w in actor.parameters():
            w.mul_(3.0)
    agent = torch.nn.ModuleDict({"actor": actor, "critic": critic})
    Pruner(agent, PruningSchedule(final=0.9, scope="global")).step(1.0)
    assert sparsity(actor) < 0.85 and sparsity(critic) > 0.95 and sparsity(agent) >= 0.9
    Pruner(agent, PruningSchedule(final=0.9, scope="network")).step(1.0)
    for net in (actor, critic):
        assert 0.9 <= sparsity(net) <= 0.905
    one, other = make_model(), make_model()
    Pruner(one, PruningSchedule(final=0.9, scope="network")).step(1.0)
    Pruner(other, PruningSchedule(final=0.9, scope="global")).step(1.0)
    thresholds = [[float(w.d1) for w in pruned_weights(m)] for m in (one, other)]
    assert thresholds[0] == thresholds[1]


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


def _train_step(model: torch.nn.Module, step: int) -> None:
    """Stands in for an optimiser step: moves every weight, the same way for a given step."""
    generator = torch.Generator().manual_seed(1000 + step)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator))


def _run(model: torch.nn.Module, driver: PruningDriver, steps: range) -> list[float]:
    targets = []
    for step in steps:
        targets.append(driver.update(step))
        _train_step(model, step)
    return targets


def test_driver_freezes_the_mask_when_the_target_is_reached():
    model = make_model()
    driver = PruningDriver(model, PruningSchedule(final=0.8, end=0.5), 10, freeze_mask="reached")
    targets = _run(model, driver, range(5))
    assert not driver.frozen and targets[0] == 0.0 and 0 < targets[4] < 0.8
    assert driver.update(5) == pytest.approx(0.8)  # progress 0.5 = schedule.end
    assert driver.frozen and abs(sparsity(model) - 0.8) <= 0.005
    masks = [w.frozen_mask.clone() for w in driver.pruner.weights]
    d1 = [float(w.d1) for w in driver.pruner.weights]
    _train_step(model, 5)
    _run(model, driver, range(6, 10))
    driver.finish()
    # frozen: the thresholds stay, the mask stays, and no removed synapse comes back
    assert [float(w.d1) for w in driver.pruner.weights] == d1
    for w, mask in zip(driver.pruner.weights, masks, strict=True):
        assert torch.equal(w.frozen_mask, mask)
        assert not bool((w.mask() & (mask == 0)).any())


def test_driver_freezes_at_the_end_only_and_lands_on_the_final_target():
    model = make_model()
    driver = PruningDriver(model, PruningSchedule(final=0.8, end=0.5), 10)
    _run(model, driver, range(10))
    assert not driver.frozen, "freeze_mask='end' froze before the end"
    assert all(w.frozen_mask is None for w in driver.pruner.weights)
    assert driver.finish() == pytest.approx(0.8)
    assert driver.frozen and all(w.frozen_mask is not None for w in driver.pruner.weights)
    assert abs(sparsity(model) - 0.8) <= 0.005
    # a run that stops short of schedule.end still ends at the final target
    short = make_model()
    driver = PruningDriver(short, PruningSchedule(final=0.8, end=0.5), 100, freeze_mask="reached")
    _run(short, driver, range(3))
    assert driver.target < 0.1 and not driver.frozen
    driver.finish()
    assert driver.frozen and abs(sparsity(short) - 0.8) <= 0.005


def test_driver_progress_is_steps_over_total_and_stops_at_one():
    driver = PruningDriver(make_model(), PruningSchedule(), 8)
    assert [driver.progress(s) for s in (0, 2, 8, 11)] == [0.0, 0.25, 1.0, 1.0]


@pytest.mark.parametrize("freeze_mask", ["end", "reached"])
@pytest.mark.parametrize("cut", [3, 7])  # before and after the schedule's end (step 5)
def test_driver_resumed_mid_way_equals_an_uninterrupted_run(freeze_mask, cut):
    schedule, total = PruningSchedule(final=0.8, end=0.5), 10
    whole = make_model()
    driver = PruningDriver(whole, schedule, total, freeze_mask=freeze_mask)
    expected = _run(whole, driver, range(total))
    driver.finish()

    first = make_model()
    driver = PruningDriver(first, schedule, total, freeze_mask=freeze_mask)
    targets = _run(first, driver, range(cut))
    # what a checkpoint keeps: the weights (with any frozen mask) and the driver's state
    weights = first.state_dict()
    state = json.loads(json.dumps(driver.state_dict()))  # the maze runner stores it as JSON
    assert state["total_steps"] == total and state["freeze_mask"] == freeze_mask
    resumed = make_model()
    resumed.load_state_dict(weights)
    driver = PruningDriver(resumed, schedule, total, freeze_mask=freeze_mask)
    driver.load_state_dict(state)
    assert driver.frozen == (freeze_mask == "reached" and cut > 5)
    targets += _run(resumed, driver, range(cut, total))
    driver.finish()

    assert targets == expected
    a, b = whole.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_driver_reads_a_bare_pruner_state():
    """States saved before the driver existed hold only the pruner's fields."""
    model = make_model()
    pruner = Pruner(model, PruningSchedule(final=0.8))
    pruner.step(0.4)
    driver = PruningDriver(model, PruningSchedule(final=0.8), 20)
    driver.load_state_dict(pruner.state_dict())
    assert driver.pruner.progress == 0.4 and not driver.frozen
    assert driver.state_dict()["total_steps"] == 20


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(total_steps=0), ValueError, "total_steps must be a positive int, got 0"),
        (dict(total_steps=2.5), ValueError, "total_steps must be a positive int, got 2.5"),
        (dict(total_steps=True), ValueError, "total_steps must be a positive int, got True"),
        (
            dict(freeze_mask="never"),
            ValueError,
            r"unknown freeze_mask 'never'; accepted: \('end', 'reached'\)",
        ),
        (dict(schedule={"final": 0.5}), TypeError, "schedule must be a PruningSchedule, got dict"),
    ],
)
def test_driver_rejects_bad_arguments(kwargs, error, match):
    arguments = {"schedule": PruningSchedule(), "total_steps": 10, **kwargs}
    with pytest.raises(error, match=match):
        PruningDriver(make_model(), **arguments)


def test_driver_rejects_bad_steps_and_other_runs_states():
    model = make_model()
    driver = PruningDriver(model, PruningSchedule(final=0.8), 10)
    for step in (-1, 1.5, True):
        with pytest.raises(ValueError, match=f"step must be an int >= 0, got {step}"):
            driver.update(step)
    state = driver.state_dict()
    others = [
        (PruningDriver(model, PruningSchedule(final=0.8), 12), "saved run was 10 steps long"),
        (
            PruningDriver(model, PruningSchedule(final=0.8), 10, freeze_mask="reached"),
            "saved run froze the mask at 'end', this one at 'reached'",
        ),
        (
            PruningDriver(model, PruningSchedule(final=0.8), 10, include_readout=True),
            "saved run had include_readout=False, this one True",
        ),
        (PruningDriver(model, PruningSchedule(final=0.5), 10), "pruner state was saved for"),
    ]
    for other, match in others:
        with pytest.raises(ValueError, match=match):
            other.load_state_dict(state)
    with pytest.raises(ValueError, match=r"pruning state lacks \['progress'\]"):
        driver.load_state_dict({k: v for k, v in state.items() if k != "progress"})
    with pytest.raises(ValueError, match="pruning state must be a mapping, got list"):
        driver.load_state_dict([])  # type: ignore[arg-type]
