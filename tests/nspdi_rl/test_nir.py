"""NIR export and import: the graph in the specification's units, run by real consumers.

Each consumer runs the exported graph on the model's input for T steps. Where one
departs from the NIR specification, the test pins what it does instead (and the
report in docs/method.md, section 7, names it), rather than the export bending to it.
"""

import logging

import h5py
import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nspdi_rl.export import (
    NDI_PRODUCT,
    NIR_READOUTS,
    export_nir,
    export_pruned,
    from_nir,
    load_pruned,
    ndi_product_type,
    read_nir,
    to_nir,
)
from nspdi_rl.network import LIFConfig, SpikingNetConfig, build_network
from nspdi_rl.pruning import Pruner, PruningSchedule

# Norse's importer goes through nirtorch's deprecated load(); the warning is theirs
pytestmark = pytest.mark.filterwarnings(
    "ignore:nirtorch.load is being deprecated:DeprecationWarning"
)

T = 16
SNNTORCH_DT = 1e-4  # the step snnTorch's importer simulates at, whatever the graph


def network(hidden=(32,), sparsity=0.0, ndi=False, readout="mean", **extra):
    """The issue's network: 20 inputs, direct encoder, 5 outputs, T = 16 (a pruned one
    with its init gain raised by 1 / sqrt(density), so that its neurons spike alike)."""
    extra.setdefault("weight_scale", 4.0 / (1.0 - sparsity) ** 0.5)
    config = SpikingNetConfig(
        input_shape=(20,),
        n_outputs=5,
        hidden=hidden,
        time_steps=T,
        ndi=ndi,
        readout=readout,
        **extra,
    )
    model = build_network(config, seed=0)
    if sparsity:
        Pruner(model, PruningSchedule(final=sparsity)).step(1.0)
    return model.eval()


def sample(seed=0, batch=64):
    return torch.rand(batch, 20, generator=torch.Generator().manual_seed(seed)) * 2


def model_spikes(model, x):
    """The spikes of every hidden layer, ``(T, B, N)`` each."""
    spikes, h = [], x
    with torch.no_grad():
        for index, (layer, neurons) in enumerate(zip(model.layers, model.neurons, strict=True)):
            h = neurons(model._project_input(h, layer) if index == 0 else layer(h))
            spikes.append(h)
    return spikes


def reduce(values, readout):
    """The graph metadata's readout reduction over time (dim 0)."""
    if readout == "last":
        return values[-1]
    if readout == "max":
        return values.max(0).values
    return values.mean(0)  # mean, and spike_count (spikes summed / T)


def chain(graph):
    following = dict(graph.edges)
    names = ["input"]
    while names[-1] != "output":
        names.append(following[names[-1]])
    return names


def step_specification(graph, x, steps):
    """The NIR specification's equations for the graph's nodes, stepped by forward Euler
    at the metadata's dt with each input held over its step, nodes in graph order:
    ``tau_syn dI/dt = -I + w_in S``, ``tau_mem dv/dt = (v_leak - v) + r I``; a CubaLIF
    spikes when ``v > v_threshold`` and resets to ``v_reset``. Returns every node's
    output over time."""
    dt = float(graph.metadata["dt"])
    product = ndi_product_type()
    names = chain(graph)[1:-1]

    def tensor(a):
        return torch.as_tensor(np.asarray(a), dtype=torch.float32)

    state, out = {}, {name: [] for name in names}
    for _ in range(steps):
        h = x
        for name in names:
            node = graph.nodes[name]
            if isinstance(node, nir.Affine):
                h = F.linear(h, tensor(node.weight), tensor(node.bias))
            elif isinstance(node, product):
                wx, vx = h.chunk(2, dim=-1)
                h = wx + wx * vx + tensor(node.bias)
            else:
                i, v = state.get(name, (torch.zeros_like(h), tensor(node.v_leak).expand_as(h)))
                i = i + dt / tensor(node.tau_syn) * (-i + tensor(node.w_in) * h)
                v = v + dt / tensor(node.tau_mem) * ((tensor(node.v_leak) - v) + tensor(node.r) * i)
                if isinstance(node, nir.CubaLIF):
                    h = (v > tensor(node.v_threshold)).float()
                    v = torch.where(h.bool(), tensor(node.v_reset), v)
                else:
                    h = v
                state[name] = (i, v)
            out[name].append(h)
    return {name: torch.stack(values) for name, values in out.items()}


# --- the graph -------------------------------------------------------------------------


def test_graph_is_in_the_specifications_units_and_keeps_the_pruned_zeros(tmp_path):
    model = network(hidden=(16, 8), sparsity=0.9)
    graph = nir.read(str(export_nir(model, tmp_path / "net.nir")))
    assert chain(graph) == [
        "input",
        "affine0",
        "lif0",
        "affine1",
        "lif1",
        "readout",
        "li",
        "output",
    ]
    assert isinstance(graph.nodes["lif0"], nir.CubaLIF)
    assert isinstance(graph.nodes["li"], nir.CubaLI)
    lif = graph.nodes["lif0"]
    # time constants in seconds, and the input's jump into the synaptic current
    assert lif.tau_syn == pytest.approx(np.full(16, 1 / 200))
    assert lif.tau_mem == pytest.approx(np.full(16, 1 / 100))
    assert lif.w_in == pytest.approx(np.full(16, (1 / 200) / 1e-3))  # tau_syn / dt = 5
    assert np.all(lif.r == 1.0) and np.all(lif.v_threshold == 1.0) and np.all(lif.v_reset == 0)
    assert graph.nodes["li"].w_in == pytest.approx(np.full(5, 5.0))
    weight = graph.nodes["affine0"].weight
    assert torch.equal(torch.as_tensor(weight), model.layers[0].w().detach())
    assert (weight == 0).mean() == pytest.approx(0.9, abs=0.01)
    assert graph.nodes["affine0"].metadata["nonzero"] == np.count_nonzero(weight)
    meta = graph.metadata
    assert meta["dt"] == 1e-3 and meta["time_steps"] == T and meta["encoder"] == "direct"
    assert meta["readout"] == "mean" and meta["readout_reduction"] == NIR_READOUTS["mean"]
    assert "forward Euler" in meta["discretisation"] and meta["extensions"] == ""


@pytest.mark.parametrize("ndi", [False, True])
@pytest.mark.parametrize("readout", ["mean", "last", "max", "spike_count"])
@pytest.mark.parametrize("sparsity", [0.0, 0.9])
@pytest.mark.parametrize("hidden", [(32,), (32, 16)])
def test_the_specification_stepped_at_dt_is_the_model(hidden, sparsity, readout, ndi):
    """The graph's parameters mean what the model does: the specification's equations,
    stepped at dt (what Norse's importer does too), give the hidden spikes exactly and
    the output to float rounding."""
    model = network(hidden, sparsity, ndi=ndi, readout=readout, readout_ndi=ndi)
    graph = to_nir(model)
    x = sample()
    run = step_specification(graph, x, T)
    for index, spikes in enumerate(model_spikes(model, x)):
        assert spikes.mean() > 0.01  # a claim about spikes that happen
        assert torch.equal(run[f"lif{index}"], spikes)
    last = "readout_lif" if readout == "spike_count" else "li"
    output = reduce(run[last], graph.metadata["readout"])
    with torch.no_grad():
        assert torch.allclose(output, model(x), rtol=1e-6, atol=1e-5)


# --- Norse ---------------------------------------------------------------------------


def norse_run(graph, x, steps):
    """Norse's importer on the graph, run for ``steps``: each node's output per step."""
    import norse.torch

    module = norse.torch.from_nir(graph, dt=float(graph.metadata["dt"]))
    state, cache = None, []
    with torch.no_grad():
        for _ in range(steps):
            _, state = module(x, state)
            cache.append(dict(state.cache))
    return module, {name: torch.stack([c[name] for c in cache]) for name in cache[0]}


@pytest.mark.parametrize("sparsity", [0.0, 0.9])
@pytest.mark.parametrize("hidden", [(32,), (32, 16)])
def test_norse_gives_the_hidden_spikes_and_drops_the_readout_integrator(tmp_path, hidden, sparsity):
    model = network(hidden, sparsity)
    graph = nir.read(str(export_nir(model, tmp_path / "net.nir")))
    x = sample(1)
    module, run = norse_run(graph, x, T)
    spikes = model_spikes(model, x)
    for index, expected in enumerate(spikes):
        assert torch.equal(run[f"lif{index}"], expected)
    # departure: Norse 1.1.0 maps no LI / CubaLI node and drops it without a word: the
    # graph's output is then the readout's currents, not the integrator's membrane
    assert "li" not in dict(module.named_children()) and "li" not in run
    readout = graph.nodes["readout"]
    currents = F.linear(spikes[-1], torch.as_tensor(readout.weight), torch.as_tensor(readout.bias))
    assert torch.allclose(run["readout"], currents, atol=1e-5)


@pytest.mark.parametrize("sparsity", [0.0, 0.9])
def test_norse_gives_a_spiking_readout_exactly(sparsity):
    model = network((32, 16), sparsity, readout="spike_count")
    graph = to_nir(model)
    x = sample(2)
    _, run = norse_run(graph, x, T)
    with torch.no_grad():
        assert torch.equal(reduce(run["readout_lif"], "spike_count"), model(x))


def test_norse_departures_from_the_specification_are_pinned():
    """Norse's CubaLIF ignores ``v_reset`` (resets to 0), gives its synapse the membrane's
    ``v_leak`` (the specification's synapse has none), and steps at its own ``dt``
    argument (default 1 ms; a graph carries none)."""
    import norse.torch

    lif = LIFConfig(v_reset=-0.25, v_leak=0.125)
    graph = to_nir(network(lif=lif))
    imported = norse.torch.from_nir(graph).lif0
    assert np.all(graph.nodes["lif0"].v_reset == -0.25)
    assert float(imported.lif.p.v_reset) == 0.0
    assert torch.all(imported.synapse.p.v_leak == 0.125)
    assert imported.synapse.dt == 1e-3 and norse.torch.from_nir(graph, dt=5e-4).lif0.lif.dt == 5e-4


# --- snnTorch ------------------------------------------------------------------------


def snntorch_conventions(graph):
    """The same network under the specification, with each CubaLIF's voltages scaled
    by ``k = tau_mem / 1e-4 s`` (``r``, ``v_leak``, ``v_threshold``, ``v_reset`` times
    k: the same spikes), so that its ``r`` is the ``tau_mem / dt`` snnTorch demands."""
    nodes = dict(graph.nodes)
    for name, node in graph.nodes.items():
        if isinstance(node, nir.CubaLIF):
            k = node.tau_mem / SNNTORCH_DT / node.r
            nodes[name] = nir.CubaLIF(
                tau_syn=node.tau_syn,
                tau_mem=node.tau_mem,
                r=node.r * k,
                v_leak=node.v_leak * k,
                v_threshold=node.v_threshold * k,
                v_reset=node.v_reset * k,
                w_in=node.w_in,
            )
    return nir.NIRGraph(nodes=nodes, edges=list(graph.edges), metadata=dict(graph.metadata))


def snntorch_run(graph, x, steps):
    from snntorch.import_nir import import_from_nir

    module = import_from_nir(graph)  # snnTorch keeps the neuron state inside the modules
    with torch.no_grad():
        return torch.stack([module(x)[0] for _ in range(steps)])


def test_snntorch_refuses_the_graph_and_steps_at_its_own_dt():
    from snntorch.import_nir import import_from_nir

    model = network(readout="spike_count")
    graph = to_nir(model)
    # departure: snnTorch 1.0's Synaptic adds the synaptic current to the membrane
    # unscaled, so it accepts only r = tau_mem / dt, with its own dt
    with pytest.raises(AssertionError, match="r not supported in CubaLIF"):
        import_from_nir(graph)
    # departure: it refuses v_leak != 0 and resets to 0 whatever v_reset says
    leaky = to_nir(network(readout="spike_count", lif=LIFConfig(v_leak=0.125)))
    with pytest.raises(AssertionError, match="v_leak not supported"):
        import_from_nir(snntorch_conventions(leaky))
    resetting = to_nir(network(readout="spike_count", lif=LIFConfig(v_reset=-0.25)))
    assert import_from_nir(snntorch_conventions(resetting)).lif0.reset_mechanism == "zero"
    # departure: it has no mapping for LI / CubaLI (the mean / last / max readout)
    with pytest.raises(ValueError, match="Unknown node type .*CubaLI'"):
        import_from_nir(snntorch_conventions(to_nir(network())))
    # departure: it simulates at dt = 1e-4 s whatever the graph's dt (here 1 ms)
    imported = import_from_nir(snntorch_conventions(graph)).lif0
    assert float(imported.alpha) == pytest.approx(1 - SNNTORCH_DT / (1 / 200))  # not 0.8
    assert float(imported.beta) == pytest.approx(1 - SNNTORCH_DT / (1 / 100))  # not 0.9
    x = sample(3)
    output = reduce(snntorch_run(snntorch_conventions(graph), x, T), "spike_count")
    with torch.no_grad():
        assert (output - model(x)).abs().max() > 0.1


@pytest.mark.parametrize("sparsity", [0.0, 0.9])
@pytest.mark.parametrize("hidden", [(32,), (32, 16)])
def test_snntorch_gives_the_model_where_its_conventions_hold(hidden, sparsity):
    """With the model's dt at snnTorch's 1e-4 s (time constants scaled to keep the
    decays per step) and the voltages rescaled as above, snnTorch gives the hidden
    spikes and the spiking readout exactly: its only departures are those two."""
    lif = LIFConfig(tau_syn_inv=2000.0, tau_mem_inv=1000.0, dt=SNNTORCH_DT)
    model = network(hidden, sparsity, readout="spike_count", lif=lif)
    graph = snntorch_conventions(to_nir(model))
    x = sample(4)
    output = reduce(snntorch_run(graph, x, T), "spike_count")
    spikes = model_spikes(model, x)
    # the hidden layers' spikes, through the graph cut after each of them
    for index, expected in enumerate(spikes):
        assert expected.mean() > 0.01
        names = chain(graph)
        cut = names[: names.index(f"lif{index}") + 1]
        nodes = {name: graph.nodes[name] for name in cut}
        nodes["output"] = nir.Output(output_type={"output": np.array([expected.shape[-1]])})
        edges = [*zip(cut, cut[1:], strict=False), (cut[-1], "output")]
        part = nir.NIRGraph(nodes=nodes, edges=edges)
        assert torch.equal(snntorch_run(part, x, T), expected)
    with torch.no_grad():
        assert torch.equal(output, model(x))


# --- NDI: the extension and our importer ---------------------------------------------


@pytest.mark.parametrize("readout", ["mean", "last", "max", "spike_count"])
@pytest.mark.parametrize("sparsity", [0.0, 0.9])
@pytest.mark.parametrize("hidden", [(32,), (32, 16)])
def test_ndi_network_round_trips_exactly(tmp_path, hidden, sparsity, readout):
    model = network(hidden, sparsity, ndi=True, readout=readout, readout_ndi=readout == "max")
    path = export_nir(model, tmp_path / "ndi.nir")
    rebuilt = from_nir(path)
    assert rebuilt.config.ndi and rebuilt.config.hidden == hidden
    assert rebuilt.config.readout == readout and rebuilt.config.time_steps == T
    x = sample(5)
    with torch.no_grad():
        assert torch.equal(rebuilt.forward_hidden(x), model.forward_hidden(x))
        assert torch.equal(rebuilt(x), model(x))
    # with autograd: the other forward path
    assert torch.equal(rebuilt(x), model(x))


@pytest.mark.parametrize(
    "extra",
    [{}, {"hidden": ()}, {"encoder": "events"}, {"lif": LIFConfig(v_leak=0.1, v_reset=-0.2)}],
)
def test_plain_networks_round_trip_exactly(tmp_path, extra):
    extra = {"hidden": (32, 16), **extra}
    model = network(sparsity=0.9 if extra["hidden"] else 0.0, **extra)
    rebuilt = from_nir(export_nir(model, tmp_path / "net.nir"))
    x = sample(6)
    if model.config.encoder == "events":
        x = torch.bernoulli(torch.full((T, 8, 20), 0.4))
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))
    assert rebuilt.config.lif == model.config.lif and rebuilt.config.encoder == model.config.encoder


def test_load_pruned_networks_export_too(tmp_path):
    model = network((32, 16), 0.9, ndi=True)
    fast = load_pruned(export_pruned(model, tmp_path / "net.pt"), mode="dense")
    rebuilt = from_nir(to_nir(fast))
    with torch.no_grad():
        assert torch.equal(rebuilt(sample(7)), model(sample(7)))


def test_ndi_layer_is_an_affine_of_w_over_v_then_the_product(tmp_path):
    model = network((32,), 0.9, ndi=True)
    path = export_nir(model, tmp_path / "ndi.nir")
    graph = read_nir(path)
    assert chain(graph)[:4] == ["input", "affine0", "ndi0", "lif0"]
    assert graph.metadata["extensions"] == NDI_PRODUCT
    affine, product = graph.nodes["affine0"], graph.nodes["ndi0"]
    layer = model.layers[0]
    assert torch.equal(torch.as_tensor(affine.weight), torch.cat([layer.w(), layer.v()]).detach())
    assert not affine.bias.any() and np.array_equal(product.bias, layer.bias.detach().numpy())
    assert product.input_type["input"].tolist() == [64]
    assert product.output_type["output"].tolist() == [32]
    with h5py.File(path) as file:
        assert file["node/nodes/ndi0/type"][()].decode() == NDI_PRODUCT


def test_readers_that_do_not_know_the_extension_stop(tmp_path, caplog):
    """No consumer runs an NDI graph as some other network without a sign: nir's reader
    and nirtorch stop; Norse's importer stops at import in most graphs, and where the
    product is the only node it cannot map, returns a graph cut before it."""
    import nirtorch
    import norse.torch
    from snntorch.import_nir import import_from_nir

    model = network((32,), ndi=True)
    path = export_nir(model, tmp_path / "ndi.nir")
    # nir 1.0 reads only its own node types (a bare assert in nir.ir.str2NIRNode)
    with pytest.raises(AssertionError):
        nir.read(str(path))
    graph = to_nir(model)  # in memory: the graph one would hand a consumer's importer
    for load in (lambda g: nirtorch.nir_to_torch(g, {}), import_from_nir):
        with pytest.raises(ValueError, match="Unknown node type .*NDIProduct"):
            load(graph)
    with pytest.raises(KeyError, match="ndi0"):
        norse.torch.from_nir(graph)
    # with a spiking readout the product is the only node Norse cannot map: it drops it,
    # which leaves two roots (the input, and lif0 cut off from it), says only this, and
    # starts from either (a set decides): from the input it returns the currents before
    # the product, [Wx; Vx], from lif0 it fails on the raw input's size
    spiking = to_nir(network((32,), ndi=True, readout="spike_count"))
    with caplog.at_level(logging.WARNING):
        module = norse.torch.from_nir(spiking)
    assert "Multiple input nodes found" in caplog.text
    try:
        output, _ = module(sample(8))
    except RuntimeError as error:
        assert "must match the size" in str(error)
    else:
        assert output.shape == (64, 64)  # 2 x 32, not the 5 outputs


# --- what NIR cannot express -----------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: build_network(
                SpikingNetConfig(input_shape=(2, 8, 8), n_outputs=3, conv_channels=(4,), ndi=False),
                seed=0,
            ),
            "layer 'convs.0' is a convolution",
        ),
        (
            lambda: build_network(SpikingNetConfig(input_shape=(4,), n_outputs=2), stateful=True),
            "the network is stateful",
        ),
        (
            lambda: network(encoder="rate"),
            "the 'rate' encoder cannot be written in NIR",
        ),
        (
            lambda: network(encoder="population"),
            "the 'population' encoder cannot be written in NIR",
        ),
        (lambda: torch.nn.Linear(2, 2), "to_nir expects a SpikingNetwork, got Linear"),
    ],
)
def test_what_nir_cannot_express_is_refused_in_one_line(make, message):
    with pytest.raises(ValueError, match=message) as error:
        to_nir(make())
    assert "\n" not in str(error.value)


def test_from_nir_refuses_graphs_it_cannot_rebuild(tmp_path):
    graph = to_nir(network())
    foreign = nir.NIRGraph(nodes=dict(graph.nodes), edges=list(graph.edges))
    with pytest.raises(ValueError, match=r"metadata lacks \['dt', 'time_steps'"):
        from_nir(foreign)
    lif = graph.nodes["lif0"]
    lif.w_in = lif.w_in * 2
    with pytest.raises(ValueError, match=r"node 'lif0' has w_in=10.0; .* tau_syn / dt = 5"):
        from_nir(graph)
    graph = to_nir(network())
    graph.nodes["lif0"].tau_mem[3] = 0.02
    with pytest.raises(ValueError, match="node 'lif0' has per-neuron tau_mem"):
        from_nir(graph)
    with pytest.raises(FileNotFoundError, match="no NIR file at"):
        from_nir(tmp_path / "none.nir")
    (tmp_path / "bad.nir").write_bytes(b"junk")
    with pytest.raises(ValueError, match="is not a NIR file"):
        from_nir(tmp_path / "bad.nir")
