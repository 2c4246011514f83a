"""The compiled LIF loop: the same spikes and states as the tensor loop, gradients
within float rounding, and a fallback that says why when it cannot be built."""

from __future__ import annotations

import shutil
import warnings

import pytest
import torch
from norse.torch.functional.lif import LIFParameters

from nspdi_rl import kernels
from nspdi_rl.functional import (
    SURROGATES,
    lif_sequence,
    lif_sequence_reference,
    lif_summed,
    nsp_weight,
)

# PyTorch's extension builder needs a C++ compiler and ninja on PATH
needs_compiler = pytest.mark.skipif(
    (shutil.which("c++") is None and shutil.which("g++") is None) or shutil.which("ninja") is None,
    reason="no C++ compiler or no ninja here: the tensor loop runs",
)


def _run(x, p, state, surrogate):
    # an expanded input (one current for every step) stays expanded: its gradient is
    # then summed over time by autograd
    constant = x.stride(0) == 0
    leaf = (x[0] if constant else x).clone().requires_grad_(True)
    xi = leaf.expand(x.shape) if constant else leaf
    st = tuple(s.clone().requires_grad_(True) for s in state)
    z, (v, i) = lif_sequence(xi, p, surrogate=surrogate, alpha=9.0, state=st)
    w = torch.linspace(-1, 1, z.numel()).reshape(z.shape)
    ((z * w).sum() + 0.3 * v.sum() - 0.2 * i.sum()).backward()
    return (z, v, i), [leaf.grad, *(s.grad for s in st)]


@needs_compiler
def test_the_kernel_builds_here() -> None:
    assert kernels.compiled_kernels() is not None


@needs_compiler
@pytest.mark.parametrize("surrogate", sorted(SURROGATES))
@pytest.mark.parametrize("shape", [(8, 3, 5), (25, 64, 130)])
@pytest.mark.parametrize("v_leak", [0.0, 0.1])
@pytest.mark.parametrize("constant_input", [False, True])
def test_compiled_equals_the_tensor_loop(
    surrogate: str,
    shape: tuple[int, ...],
    v_leak: float,
    constant_input: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch.manual_seed(0)
    p = LIFParameters(v_reset=torch.tensor(-0.2), v_leak=torch.tensor(v_leak))
    x = torch.rand(shape) * 3
    if constant_input:  # one current for every step, as the first layer passes it
        x = x[0].expand(shape)
    state = (torch.rand(shape[1:]), torch.rand(shape[1:]))
    compiled = _run(x, p, state, surrogate)
    monkeypatch.setenv("NSPDI_KERNELS", "0")
    loop = _run(x, p, state, surrogate)
    assert compiled[0][0].sum() > 0
    for a, b in zip(compiled[0], loop[0], strict=True):
        assert torch.equal(a, b)  # spikes and final state bit for bit
    for a, b in zip(compiled[1], loop[1], strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def _summed_run(x, p, weights, summed: bool, reference: bool = False):
    constant = x.stride(0) == 0
    leaf = (x[0] if constant else x).clone().requires_grad_(True)
    xi = leaf.expand(x.shape) if constant else leaf
    if summed:
        out = lif_summed(xi, weights, p, alpha=9.0)
    else:
        run = lif_sequence_reference if reference else lif_sequence
        out = torch.tensordot(weights, run(xi, p, alpha=9.0)[0], dims=1)
    (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
    return out.detach(), leaf.grad


@pytest.mark.parametrize("shape", [(8, 3, 5), (25, 64, 130)])
@pytest.mark.parametrize("v_leak", [0.0, 0.1])
@pytest.mark.parametrize("constant_input", [False, True])
def test_the_loop_that_sums_its_spikes_equals_summing_the_stored_spikes(
    shape: tuple[int, ...], v_leak: float, constant_input: bool
) -> None:
    torch.manual_seed(0)
    p = LIFParameters(v_reset=torch.tensor(-0.2), v_leak=torch.tensor(v_leak))
    x = torch.rand(shape) * 3
    if constant_input:
        x = x[0].expand(shape)
    weights = torch.rand(shape[0])
    summed, summed_grad = _summed_run(x, p, weights, summed=True)
    stored, stored_grad = _summed_run(x, p, weights, summed=False)
    assert stored.abs().sum() > 0
    # the same spikes, each step's gradient the same product w_t * g: the gradients bit
    # for bit; the sums over time within rounding (tensordot adds in an order that
    # depends on the CPU's vector width: 1 ulp apart on an AVX-512 machine)
    assert torch.equal(summed_grad, stored_grad)
    torch.testing.assert_close(summed, stored, rtol=1e-6, atol=0.0)
    # and Norse's step-by-step update through autograd agrees within rounding
    reference, reference_grad = _summed_run(x, p, weights, summed=False, reference=True)
    assert torch.allclose(summed, reference, rtol=1e-5, atol=1e-6)
    assert torch.allclose(summed_grad, reference_grad, rtol=1e-5, atol=1e-6)


def test_the_summed_loop_refuses_weights_that_are_not_one_per_step() -> None:
    with pytest.raises(ValueError, match=r"weights must be one per time step \(4,\), got \(3,\)"):
        lif_summed(torch.rand(4, 2, 3), torch.rand(3), LIFParameters())


def test_a_failed_build_warns_once_and_the_loop_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch.utils.cpp_extension as cpp

    def no_compiler(*args, **kwargs):
        raise RuntimeError("no compiler")

    monkeypatch.setattr(cpp, "load", no_compiler)
    monkeypatch.setattr(kernels, "_built", None)
    monkeypatch.setattr(kernels, "_failed", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert kernels.compiled_kernels() is None
        assert kernels.compiled_kernels() is None
        z, _ = lif_sequence(torch.rand(5, 2, 3) * 3, LIFParameters())
    said = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(said) == 1 and "could not be built (no compiler)" in said[0]
    assert z.shape == (5, 2, 3)


def test_the_switch_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NSPDI_KERNELS", "0")
    assert kernels.compiled_kernels() is None
    monkeypatch.setenv("NSPDI_KERNELS", "maybe")
    with pytest.raises(ValueError, match="NSPDI_KERNELS='maybe'; accepted"):
        kernels.compiled_kernels()


def _nsp_run(theta, a, d1, d2, straight_through, fixed_sign):
    t = theta.clone().requires_grad_(True)
    a_ = a.clone().requires_grad_(True)
    w = nsp_weight(t, a_, d1, d2, straight_through, fixed_sign)
    (w * torch.linspace(-1, 1, w.numel()).reshape(w.shape)).sum().backward()
    return w.detach(), t.grad, a_.grad


@needs_compiler
@pytest.mark.parametrize("shape", [(7, 5), (6, 3, 3, 3)])
@pytest.mark.parametrize("straight_through", [False, True])
@pytest.mark.parametrize(
    ("d1", "d2", "gradr"),
    [(0.0, 0.0, False), (0.3, 0.0, False), (0.05, 0.2, False), (0.1, 0.0, True)],
    ids=["dense-like", "d1", "d2-cut", "gradr"],
)
def test_compiled_nsp_map_equals_the_tensor_operations(
    shape, straight_through, d1, d2, gradr, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(0)
    theta = torch.randn(shape)
    theta.view(-1)[:3] = 0.0  # sign(0) = 0
    a = torch.rand(shape[0]) * 2 + 0.1
    fixed = torch.where(torch.rand(shape) > 0.5, 1.0, -1.0) if gradr else None
    compiled = _nsp_run(theta, a, d1, d2, straight_through, fixed)
    monkeypatch.setenv("NSPDI_KERNELS", "0")
    tensor_ops = _nsp_run(theta, a, d1, d2, straight_through, fixed)
    assert 0 < int((compiled[0] == 0).sum()) < theta.numel() or d1 == d2 == 0.0
    for x, y in zip(compiled, tensor_ops, strict=True):
        assert torch.equal(x, y)  # weights, theta's and a's gradients bit for bit


def test_each_checkout_builds_in_its_own_folder(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    # two checkouts sharing one folder would rebuild it in turn (the build names the
    # source's path), each waiting on the other's lock
    first = kernels._build_directory(tmp_path)
    assert first.is_dir() and first == kernels._build_directory(tmp_path)
    copy = tmp_path / "other" / "kernels.cpp"
    copy.parent.mkdir()
    copy.write_text(kernels.SOURCE.read_text())
    monkeypatch.setattr(kernels, "SOURCE", copy)
    second = kernels._build_directory(tmp_path)
    assert second != first
    copy.write_text(kernels.SOURCE.read_text() + "// changed\n")
    assert kernels._build_directory(tmp_path) not in (first, second)


def test_a_lock_left_by_a_killed_build_is_removed(tmp_path) -> None:
    import os

    folder = kernels._build_directory(tmp_path)
    lock = folder / "lock"
    lock.touch()
    kernels._build_directory(tmp_path)
    assert lock.exists()  # a build may be running
    old = lock.stat().st_mtime - kernels.STALE_LOCK_S - 1
    os.utime(lock, (old, old))
    with pytest.warns(RuntimeWarning, match="left by a build that stopped"):
        kernels._build_directory(tmp_path)
    assert not lock.exists()
