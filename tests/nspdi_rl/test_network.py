"""The spiking network builder: shapes, encoders, state handling, bad configs."""

import pytest
import torch
from norse.torch import LIF, LIFParameters

from nspdi_rl.layers import NSPConfig
from nspdi_rl.network import (
    Encoder,
    LIFConfig,
    LIFLayer,
    SpikingNetConfig,
    build_network,
    reset_states,
)


def mlp(**kw):
    base = dict(input_shape=(6,), n_outputs=3, hidden=(16,), time_steps=5)
    base.update(kw)
    return build_network(SpikingNetConfig(**base), seed=0)


def test_mlp_and_conv_shapes():
    assert mlp()(torch.rand(4, 6)).shape == (4, 3)
    conv = build_network(
        SpikingNetConfig(
            input_shape=(2, 12, 12),
            n_outputs=5,
            hidden=(20,),
            conv_channels=(4, 8),
            encoder="events",
        ),
        seed=0,
    )
    assert conv(torch.bernoulli(torch.full((7, 3, 2, 12, 12), 0.3))).shape == (3, 5)
    assert mlp(readout="spike_count")(torch.rand(2, 6)).shape == (2, 3)


def test_network_declares_its_readout_and_its_constant_input_layer():
    net = mlp(hidden=(16, 8))
    assert [(m.role, m.constant_input_steps) for m in (*net.layers, net.readout)] == [
        ("hidden", 5),  # direct coding: called once, stands for T = 5 steps
        ("hidden", 1),
        ("readout", 1),
    ]
    assert mlp(encoder="rate").layers[0].constant_input_steps == 1
    conv = build_network(
        SpikingNetConfig(
            input_shape=(2, 8, 8), n_outputs=2, hidden=(4,), conv_channels=(3, 3), time_steps=4
        ),
        seed=0,
    )
    layers = (*conv.convs, *conv.layers, conv.readout)
    assert [m.constant_input_steps for m in layers] == [4, 1, 1, 1]
    assert [m.role for m in layers] == ["hidden"] * 3 + ["readout"]


def test_same_seed_same_network():
    x = torch.rand(3, 6)
    assert torch.equal(mlp()(x), mlp()(x))


def test_lif_layer_equals_norse_lif_module():
    torch.manual_seed(0)
    x = torch.rand(40, 2, 8) * 3
    ours = LIFLayer(LIFConfig())(x)
    theirs, _ = LIF(LIFParameters())(x)
    assert torch.equal(ours, theirs)


def test_encoders():
    x = torch.tensor([[0.0, 0.5, 1.0]])
    direct = Encoder("direct", 4)(x)
    assert direct.shape == (4, 1, 3) and torch.equal(direct[2], x)
    torch.manual_seed(0)
    rate = Encoder("rate", 2000)(x)
    assert set(rate.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(rate.mean(0), x, atol=0.05)
    pop = Encoder("population", 3, population_size=5)(x)
    assert pop.shape == (3, 1, 15)
    # the receptive field centred on the value responds most
    assert int(pop[0, 0, 5:10].argmax()) == 2
    with pytest.raises(ValueError, match=r"inputs in \[0.0, 1.0\], got values in \[-1, 1\]"):
        Encoder("rate", 2)(torch.tensor([[-1.0, 1.0]]))


def test_rate_encoded_first_layer_sees_spikes_over_all_steps():
    net = mlp(encoder="rate")
    seen = []
    net.layers[0].register_forward_pre_hook(lambda _layer, args: seen.append(args[0]))
    assert net(torch.rand(2, 6)).shape == (2, 3)
    assert seen[0].shape == (5, 2, 6)  # (T, B, features): a spike train, not one step
    assert set(seen[0].unique().tolist()) <= {0.0, 1.0}


def neuron_states(model):
    return [m.state for m in model.modules() if hasattr(m, "reset_state")]


def test_stateless_by_default_and_reset_is_scoped_to_one_model():
    x = torch.rand(2, 6)
    net = mlp()
    assert torch.equal(net(x), net(x))  # fresh state per call
    assert all(s is None for s in neuron_states(net))
    cfg = SpikingNetConfig(input_shape=(6,), n_outputs=3, hidden=(16,), time_steps=5)
    a, b = build_network(cfg, stateful=True, seed=0), build_network(cfg, stateful=True, seed=0)
    first = a(x)
    b(x)
    assert all(s is not None for s in neuron_states(a) + neuron_states(b))
    assert reset_states(a) == 2  # one hidden LIF layer and the readout
    assert all(s is None for s in neuron_states(a))
    assert all(s is not None for s in neuron_states(b))  # the other model is untouched
    assert torch.equal(a(x), first)


def test_stateful_network_continues_across_calls():
    cfg = SpikingNetConfig(input_shape=(6,), n_outputs=3, hidden=(16,), time_steps=4)
    stateful = build_network(cfg, stateful=True, seed=0)
    long_cfg = SpikingNetConfig(
        input_shape=(6,), n_outputs=3, hidden=(16,), time_steps=8, readout="last"
    )
    x = torch.rand(2, 6) * 3
    ref = build_network(long_cfg, seed=0)
    h_ref = ref.forward_hidden(x)
    h1 = stateful.forward_hidden(x)
    h2 = stateful.forward_hidden(x)
    assert torch.equal(torch.cat([h1, h2]), h_ref)
    with pytest.raises(ValueError, match="call reset_states"):
        stateful.forward_hidden(torch.rand(5, 6))
    reset_states(stateful)
    assert torch.equal(stateful.forward_hidden(x), h1)


def test_input_shape_is_checked():
    with pytest.raises(ValueError, match=r"expected input \(B, 6\), got shape \(4, 7\)"):
        mlp()(torch.rand(4, 7))
    events = build_network(SpikingNetConfig(input_shape=(4,), n_outputs=2, encoder="events"))
    with pytest.raises(ValueError, match=r"expected time-first input \(T, B, 4\)"):
        events(torch.rand(3, 4))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(encoder="burst"), "unknown encoder 'burst'"),
        (dict(readout="softmax"), "unknown readout 'softmax'"),
        (dict(time_steps=0), "time_steps must be a positive int, got 0"),
        (dict(n_outputs=-2), "n_outputs must be a positive int, got -2"),
        (dict(hidden=(8, 0)), "layer sizes must be positive"),
        (dict(conv_channels=(4,)), r"needs input_shape \(channels, height, width\)"),
        (dict(input_low=1.0, input_high=0.0), "need input_low < input_high"),
    ],
)
def test_bad_network_configs(kwargs, match):
    base = dict(input_shape=(6,), n_outputs=3)
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        SpikingNetConfig(**base)


def test_bad_lif_configs():
    with pytest.raises(ValueError, match="unknown surrogate 'relu'"):
        LIFConfig(surrogate="relu")
    with pytest.raises(ValueError, match="tau_mem_inv"):
        LIFConfig(tau_mem_inv=5000.0)
    with pytest.raises(ValueError, match="v_th must exceed v_reset"):
        LIFConfig(v_th=0.0, v_reset=0.5)


def test_config_round_trip_and_unknown_keys():
    cfg = SpikingNetConfig(input_shape=(2, 8, 8), n_outputs=4, conv_channels=(3,))
    assert SpikingNetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"unknown SpikingNetConfig keys \['widths'\]"):
        SpikingNetConfig.from_dict({**cfg.to_dict(), "widths": 3})


@pytest.mark.parametrize("reduce", ["mean", "last", "max"])
def test_readout_from_rest_equals_the_step_loop(reduce):
    from nspdi_rl.network import LIReadout

    torch.manual_seed(0)
    x = torch.randn(10, 3, 4)
    fast = LIReadout(LIFConfig(v_leak=0.2), reduce)
    loop = LIReadout(LIFConfig(v_leak=0.2), reduce, stateful=True)  # stateful: the step loop
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ya, yb = fast(xa), loop(xb)
    assert torch.allclose(ya, yb, atol=1e-5)
    ya.sum().backward()
    yb.sum().backward()
    assert torch.allclose(xa.grad, xb.grad, atol=1e-5)


@pytest.mark.parametrize("readout", ["mean", "last"])
@pytest.mark.parametrize("nsp", [NSPConfig(), NSPConfig(method="dense")], ids=["nsp", "dense"])
def test_readout_sums_spikes_over_time_before_its_matmul_with_the_same_result(readout, nsp):
    """The pooled readout (one matmul) against the step-by-step one, which a hook on the
    readout selects: the same outputs and gradients up to rounding."""
    torch.manual_seed(0)
    x = torch.rand(7, 6) * 2
    net = mlp(readout=readout, nsp=nsp, lif=LIFConfig(v_leak=0.3))
    with torch.no_grad():
        net.readout.bias.uniform_(-1, 1)  # a bias scaled by the integrator's gain counts
    pooled = net(x)
    pooled.square().sum().backward()
    grads = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
    net.zero_grad()
    handle = net.readout.register_forward_hook(lambda *args: None)
    try:
        stepped = net(x)
        stepped.square().sum().backward()
    finally:
        handle.remove()
    assert torch.allclose(pooled, stepped, atol=1e-5)
    assert grads.keys() == {n for n, p in net.named_parameters() if p.grad is not None}
    for name, p in net.named_parameters():
        if p.grad is not None:
            assert torch.allclose(grads[name], p.grad, atol=1e-5), name
    # the product term in the readout is not linear in the spikes: step by step
    ndi = mlp(readout=readout, readout_ndi=True)
    assert ndi.read_out(ndi.forward_hidden(x)).shape == (7, 3)


def test_forward_together_equals_separate_calls():
    from nspdi_rl.inference import forward_together

    cfg_a = SpikingNetConfig(input_shape=(6,), n_outputs=4, hidden=(16, 8), time_steps=5)
    cfg_b = SpikingNetConfig(input_shape=(6,), n_outputs=1, hidden=(12, 8), time_steps=5)
    a, b = build_network(cfg_a, seed=0), build_network(cfg_b, seed=1)
    x = torch.rand(3, 6) * 2
    ya, yb = forward_together([a, b], x)
    assert torch.equal(ya, a(x)) and torch.equal(yb, b(x))
    (ya.sum() + yb.sum()).backward()
    grads = [
        p.grad.clone() for p in list(a.parameters()) + list(b.parameters()) if p.grad is not None
    ]
    a.zero_grad(), b.zero_grad()
    (a(x).sum() + b(x).sum()).backward()
    again = [p.grad for p in list(a.parameters()) + list(b.parameters()) if p.grad is not None]
    assert all(torch.allclose(g, h, atol=1e-6) for g, h in zip(grads, again, strict=True))
    other = build_network(SpikingNetConfig(input_shape=(6,), n_outputs=2, time_steps=3), seed=0)
    y1, y2 = forward_together([a, other], x)  # different T: separate calls
    assert torch.equal(y2, other(x))


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"encoder": "population", "input_low": -1.0, "input_high": 2.0, "population_size": 5},
        {"hidden": (16, 8), "ndi": False, "readout": "last"},
        {"readout_ndi": True, "lif": LIFConfig(v_leak=0.1, v_reset=-0.2, alpha=20.0)},
        {"nsp": NSPConfig(method="magnitude")},
    ],
    ids=["direct", "population", "deep-no-ndi-last", "readout-ndi-leak", "magnitude"],
)
def test_the_compiled_rollout_forward_equals_separate_calls_bit_for_bit(options):
    from nspdi_rl import kernels
    from nspdi_rl.inference import compiled_forward, forward_together

    if kernels.compiled_kernels() is None:
        pytest.skip("no compiled kernels here")
    base = dict(input_shape=(6,), hidden=(16,), time_steps=5) | options
    a = build_network(SpikingNetConfig(n_outputs=4, **base), seed=0)
    b = build_network(SpikingNetConfig(n_outputs=1, **base), seed=1)
    for net in (a, b):  # prune half of every weight, as a pruned policy has
        for layer in (*net.layers, net.readout):
            for weight in layer.nsp_weights():
                weight.set_threshold(float(weight.prune_scores().median()))
    x = torch.rand(7, 6) * 2 - (1.0 if "input_low" in options else 0.0)
    with torch.no_grad():
        compiled = compiled_forward([a, b], x)
        assert compiled is not None
        assert all(torch.equal(y, net(x)) for y, net in zip(compiled, (a, b), strict=True))
    # the autograd path sums a linear readout's spikes over time before its matmul; the
    # rollout kernel reads out each step (the numbers every rollout has used): the two
    # agree within float rounding
    with torch.enable_grad():
        modules = [net(x).detach() for net in (a, b)]
    assert all(
        torch.allclose(y, z, rtol=1e-5, atol=1e-5) for y, z in zip(compiled, modules, strict=True)
    )
    with torch.no_grad():
        assert all(
            torch.equal(y, z) for y, z in zip(forward_together([a, b], x), compiled, strict=True)
        )
        # a changed weight is seen at the next call (the cached weights follow it)
        a.layers[0].w.theta.mul_(0.5)
        assert torch.equal(forward_together([a, b], x)[0], a(x))


def test_the_compiled_rollout_forward_steps_aside_for_hooks_and_gradients():
    from nspdi_rl.inference import compiled_forward, forward_together
    from nspdi_rl.metrics import SynOpsCounter

    a = mlp(n_outputs=4)
    b = mlp(n_outputs=1)
    x = torch.rand(3, 6)
    assert compiled_forward([a, b], x) is None  # gradients on
    with torch.no_grad():
        with SynOpsCounter(a) as counter:  # its hooks must see the layers run
            assert compiled_forward([a, b], x) is None
            forward_together([a, b], x)
        assert counter.macs > 0  # the layers ran through their hooks
        stateful = build_network(a.config, stateful=True, seed=0)
        assert compiled_forward([stateful, b], x) is None
        grid = build_network(SpikingNetConfig(input_shape=(2, 3), n_outputs=2), seed=0)
        assert compiled_forward([grid], torch.rand(3, 2, 3)) is None  # one input dim only


def test_the_compiled_rollout_forward_leaves_large_batches_of_a_wide_readout_to_the_modules():
    from nspdi_rl import inference, kernels
    from nspdi_rl.inference import compiled_forward, forward_together

    if kernels.compiled_kernels() is None:
        pytest.skip("no compiled kernels here")
    # SAC's actor: a 128 -> 256 readout over 8 steps; its target actions take batch 128
    net = build_network(
        SpikingNetConfig(input_shape=(6,), hidden=(128,), n_outputs=256, time_steps=8), seed=0
    )
    line = inference.STEP_READOUT_MACS // (7 * 128 * 256)
    assert 1 <= line < 128
    with torch.no_grad():
        small, large = torch.rand(line, 6), torch.rand(line + 1, 6)
        assert compiled_forward([net], small) is not None  # acting: the kernel
        assert compiled_forward([net], large) is None  # the modules' summed readout
        with torch.enable_grad():
            reference = net(large).detach()
        assert torch.equal(net(large), reference)  # the same path as with autograd
        # run with a small critic, each network takes the route it takes alone
        critic = build_network(
            SpikingNetConfig(input_shape=(6,), hidden=(128,), n_outputs=1, time_steps=8), seed=1
        )
        assert compiled_forward([critic], large) is not None
        together = forward_together([net, critic], large)
        assert torch.equal(together[0], net(large)) and torch.equal(together[1], critic(large))
        # a readout with the product term reads out step by step either way: the kernel
        ndi = build_network(
            SpikingNetConfig(
                input_shape=(6,), hidden=(128,), n_outputs=256, time_steps=8, readout_ndi=True
            ),
            seed=0,
        )
        assert compiled_forward([ndi], torch.rand(512, 6)) is not None


def test_the_compiled_rollout_forward_follows_a_swapped_layer_and_mixed_depths():
    from nspdi_rl import kernels
    from nspdi_rl.inference import compiled_forward, forward_together

    if kernels.compiled_kernels() is None:
        pytest.skip("no compiled kernels here")
    a, b = mlp(n_outputs=4), mlp(n_outputs=1)
    x = torch.rand(5, 6)
    with torch.no_grad():
        before = compiled_forward([a, b], x)
        assert before is not None
        # a new readout (what loading a pruned model does): the next call uses it
        a.readout = mlp(n_outputs=4, hidden=(16,)).readout
        a.readout.w.theta.mul_(3.0)
        after = compiled_forward([a, b], x)
        assert after is not None and not torch.equal(after[0], before[0])
        assert torch.equal(after[1], before[1])
        assert torch.equal(after[0], forward_together([a], x)[0])
        # networks of different depths do not share one kernel call
        deep = mlp(n_outputs=1, hidden=(16, 8))
        assert compiled_forward([a, deep], x) is None
        outputs = forward_together([a, deep], x)
        assert torch.equal(outputs[1], deep(x))


@pytest.mark.parametrize("hidden", [(16,), (16, 8)])
def test_training_forward_sums_the_last_spikes_in_the_loop_with_the_same_result(hidden):
    # with gradients, forward() has the LIF loop sum the last layer's spikes for the
    # readout (lif_summed); the stored-spikes path gives the same output and gradients
    net = mlp(hidden=hidden, encoder="population", input_low=0.0, input_high=1.0)
    x = torch.rand(7, 6)

    def grads(out):
        net.zero_grad()
        out.square().sum().backward()
        return [p.grad.clone() for p in net.parameters() if p.grad is not None]

    summed = net(x)
    summed_grads = grads(summed)
    stored = net.read_out(net.forward_hidden(x))
    stored_grads = grads(stored)
    assert torch.allclose(summed, stored, rtol=1e-5, atol=1e-6)
    assert len(summed_grads) == len(stored_grads) > 0
    for a, b in zip(summed_grads, stored_grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
