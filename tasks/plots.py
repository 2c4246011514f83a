"""The plots of a task run, drawn from its per-epoch history."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plot_training"]


def plot_training(history: Sequence[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """Write ``learning_curves.png`` and ``accuracy_vs_sparsity.png`` into ``out_dir``.

    :param history: one entry per epoch with ``epoch``, ``train_loss``, ``val_loss``,
        ``train_accuracy``, ``val_accuracy`` and ``sparsity``.
    :return: the files written (none for an empty history).
    """
    if not history:
        return []
    out_dir = Path(out_dir)
    epochs = [h["epoch"] for h in history]

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax_loss.plot(epochs, [h["val_loss"] for h in history], label="validation")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy")
    ax_loss.legend()
    ax_acc.plot(epochs, [h["train_accuracy"] for h in history], label="train")
    ax_acc.plot(epochs, [h["val_accuracy"] for h in history], label="validation")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, 1)
    ax_acc.legend()
    fig.tight_layout()
    curves = out_dir / "learning_curves.png"
    fig.savefig(curves, dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    points = ax.scatter(
        [h["sparsity"] for h in history],
        [h["val_accuracy"] for h in history],
        c=epochs,
        cmap="viridis",
    )
    ax.plot([h["sparsity"] for h in history], [h["val_accuracy"] for h in history], lw=0.5)
    fig.colorbar(points, ax=ax, label="epoch")
    ax.set_xlabel("sparsity of the pruned layers")
    ax.set_ylabel("validation accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    fig.tight_layout()
    tradeoff = out_dir / "accuracy_vs_sparsity.png"
    fig.savefig(tradeoff, dpi=100)
    plt.close(fig)
    return [curves, tradeoff]
