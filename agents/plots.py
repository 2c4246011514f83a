"""Learning-curve plots of a training run's periodic evaluations.

Figures are drawn on a ``matplotlib.figure.Figure`` with the Agg canvas, never
through pyplot, so plotting needs no display and leaves no global figure state
behind (safe inside training callbacks and tests).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["CURVE_PANELS", "load_evaluations", "plot_learning_curves"]

#: (evaluation key, y-axis label) of each panel, in order; a panel whose key is
#: null or missing in every record is left out.
CURVE_PANELS: tuple[tuple[str, str], ...] = (
    ("success_rate", "success rate"),
    ("mean_return", "mean return"),
    ("sparsity", "sparsity"),
)


def load_evaluations(path: str | Path) -> list[dict[str, Any]]:
    """Read an ``evaluations.jsonl`` file: one JSON object per line, blank lines skipped.

    :raises ValueError: naming the file and line of a line that is not a JSON object.
    :raises FileNotFoundError: if ``path`` does not exist.
    """
    path = Path(path)
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not valid JSON ({err.msg})") from err
        if not isinstance(record, dict):
            raise ValueError(f"{path}:{number}: expected a JSON object, got {line.strip()!r}")
        records.append(record)
    return records


def plot_learning_curves(
    evaluations: Sequence[dict[str, Any]] | str | Path,
    out_png: str | Path,
    title: str | None = None,
) -> Path:
    """Plot success rate, mean return and sparsity against timesteps as one PNG.

    :param evaluations: records with ``timesteps`` and any of the
        :data:`CURVE_PANELS` keys (as ``evaluations.jsonl`` of a run holds
        them), or the path of such a JSONL file.
    :param out_png: output file.
    :param title: figure title; default none.
    :return: ``out_png`` as a ``Path``.
    :raises ValueError: if there are no records, a record lacks ``timesteps``,
        or no panel has any value to plot.
    """
    records = (
        load_evaluations(evaluations) if isinstance(evaluations, str | Path) else list(evaluations)
    )
    if not records:
        raise ValueError("evaluations is empty; accepted are one or more evaluation records")
    for i, record in enumerate(records):
        if not isinstance(record, dict) or "timesteps" not in record:
            raise ValueError(
                f"evaluation record {i} {record!r} has no 'timesteps'; accepted are dicts "
                f"with 'timesteps' and any of {[key for key, _ in CURVE_PANELS]}"
            )
    records = sorted(records, key=lambda r: r["timesteps"])
    panels = [
        (key, label) for key, label in CURVE_PANELS if any(r.get(key) is not None for r in records)
    ]
    if not panels:
        raise ValueError(
            f"no evaluation record has a value for any of {[key for key, _ in CURVE_PANELS]}"
        )

    fig = Figure(figsize=(4.0 * len(panels), 3.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (key, label) in zip(axes, panels, strict=True):
        points = [(r["timesteps"], r[key]) for r in records if r.get(key) is not None]
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", markersize=3)
        ax.set_xlabel("timesteps")
        ax.set_ylabel(label)
        if key in ("success_rate", "sparsity"):
            # Both are fractions; a fixed axis makes runs comparable by eye.
            ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=100)
    return out_png
