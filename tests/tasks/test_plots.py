"""The plots of a task run, drawn from its per-epoch history."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tasks.plots import plot_training


def test_two_figures_from_the_history(tmp_path: Path) -> None:
    history = [
        {"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_accuracy": 0.5 + 0.1 * e,
         "val_accuracy": 0.45 + 0.1 * e, "sparsity": 0.3 * e}
        for e in (1, 2, 3)
    ]  # fmt: skip
    written = plot_training(history, tmp_path)
    assert written == [tmp_path / "learning_curves.png", tmp_path / "accuracy_vs_sparsity.png"]
    # 10 x 4 and 5 x 4 inches at 100 dpi
    assert [Image.open(p).size for p in written] == [(1000, 400), (500, 400)]


def test_an_empty_history_draws_nothing(tmp_path: Path) -> None:
    assert plot_training([], tmp_path) == []
    assert list(tmp_path.iterdir()) == []
