"""What pruning left in the finished trials' models (``python -m experiments survivors``).

A table per weight tensor: live synapses, neurons that still get input, the mean
``|theta|`` and effective ``|w|`` of the live synapses (their gap is what NSP's and
STDS's ``d1`` shift took) and the mean ``a`` of the live synapses' channels beside
that of all channels. It reads the models in the trials' run folders
(``RUN_DIR/<trial>/run/``), which stay on the machine that ran them.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

from torch import nn

from experiments.report import ReportError
from nspdi_rl.checkpoint import load_model
from nspdi_rl.metrics import SurvivorStats, survivor_stats

__all__ = ["survivors_table", "trial_model"]

HEADER = (
    "| trial | weights | method | live / all | neurons fed | inputs read | d1 | d2 "
    "| mean abs theta (live) | mean abs w (live) | a: live / all |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def trial_model(folder: Path) -> nn.Module | None:
    """The trained network of the trial in ``folder``; None if it has not finished.

    :raises ReportError: the model file is there but cannot be loaded.
    """
    run = folder / "run"
    task = json.loads((folder / "trial.json").read_text())["task"]
    try:
        if task == "maze":
            if not (run / "model.zip").is_file():
                return None
            from agents.evaluation import RunError, load_run  # SB3 only when needed

            try:
                return load_run(run, device="cpu")[0].policy
            except RunError as err:
                raise ReportError(str(err)) from None
        if not (run / "model.pt").is_file():
            return None
        return load_model(run / "model.pt")[0]
    except (OSError, ValueError) as err:
        raise ReportError(f"cannot load the model of {folder.name}: {err}") from None


def _row(trial: str, s: SurvivorStats) -> str:
    return (
        f"| {trial} | {s.name} | {s.method} | {s.live:,} / {s.total:,} | {s.fed} / {s.outputs} "
        f"| {s.read} / {s.inputs} | {s.d1:.3f} | {s.d2:.3f} | {s.mean_abs_theta:.3f} "
        f"| {s.mean_abs_weight:.3f} | {s.a_live:.2f} / {s.a_all:.2f} |"
    )


def survivors_table(run_dir: Path, match: str = "*") -> str:
    """The Markdown table for the finished trials whose folder name matches ``match``.

    :raises ReportError: no such trials, or a model that cannot be loaded.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise ReportError(f"{run_dir} is a file, not a run folder")
    if not run_dir.is_dir():
        raise ReportError(f"no run folder {run_dir}")
    folders = sorted(
        f
        for f in run_dir.iterdir()
        if (f / "trial.json").is_file() and fnmatch.fnmatch(f.name, match)
    )
    rows, unfinished = [], 0
    for folder in folders:
        model = trial_model(folder)
        if model is None:
            unfinished += 1
            continue
        rows += [_row(folder.name, s) for s in survivor_stats(model)]
    if not rows:
        raise ReportError(
            f"no finished trial with its run folder matches {match!r} in {run_dir} "
            f"({len(folders)} trial folders match, {unfinished} without a model)"
        )
    note = (
        f"\n\n{unfinished} matching trial(s) without a model were left out." if unfinished else ""
    )
    return f"{HEADER}\n" + "\n".join(rows) + note
