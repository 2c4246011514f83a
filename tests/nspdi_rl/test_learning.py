"""A spiking NDI MLP pruned online by NSP learns sklearn's digits at >= 90 % sparsity."""

import time

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from nspdi_rl import NSPConfig, Pruner, PruningSchedule, SpikingNetConfig, build_network, sparsity


def train_digits(
    ndi: bool = True, method: str = "nsp", final_sparsity: float = 0.9, epochs: int = 30
):
    torch.manual_seed(0)
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    train, test = order[:1400], order[1400:]
    cfg = SpikingNetConfig(
        input_shape=(64,),
        n_outputs=10,
        hidden=(128,),
        time_steps=8,
        weight_scale=8.0,
        ndi=ndi,
        nsp=NSPConfig(method=method),
    )
    model = build_network(cfg, seed=0)
    pruner = Pruner(model, PruningSchedule(final=final_sparsity, end=0.7))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    batch = 64
    n_batches = (len(train) + batch - 1) // batch
    total = epochs * n_batches
    for epoch in range(epochs):
        idx = train[torch.randperm(len(train))]
        for b in range(n_batches):
            pruner.step((epoch * n_batches + b) / total)
            sel = idx[b * batch : (b + 1) * batch]
            loss = F.cross_entropy(model(x[sel]), y[sel])
            opt.zero_grad()
            loss.backward()
            opt.step()
    pruner.step(1.0)
    with torch.no_grad():
        accuracy = float((model(x[test]).argmax(1) == y[test]).float().mean())
    return accuracy, sparsity(model)


@pytest.mark.slow
def test_nsp_mlp_learns_digits_at_90_percent_sparsity():
    start = time.perf_counter()
    accuracy, final_sparsity = train_digits()
    print(
        f"\ndigits: test accuracy {accuracy:.3f} at sparsity {final_sparsity:.4f} "
        f"({time.perf_counter() - start:.1f} s)"
    )
    assert final_sparsity >= 0.90
    assert accuracy >= 0.90
