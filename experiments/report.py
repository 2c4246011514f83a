"""The study report: Markdown tables and plots made only from the trials'
``trial.json`` and ``summary.json`` files, the tuning choices read from validation
scores, and a verdict on each of the paper's five claims with its rule and the
numbers behind it.

A grid whose name starts with ``tune-`` is a tuning grid: its section reads only
validation scores (the validation split of a task, the validation half of a
maze's start squares) and names each method's chosen configuration by the rule
of :func:`choose`. Every other grid is a study grid: its section reads test scores
(the test split, the test half of the starts) and judges the claims
(:mod:`experiments.claims`, statistics in :mod:`experiments.stats`).
"""

from __future__ import annotations

import json
import platform
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.claims import (  # noqa: E402
    CLAIMS,
    RULES,
    Verdict,
    beats_baselines,
    efficiency_rises,
    heterogeneous_a,
    minimal_loss,
    ndi_improves,
)
from experiments.stats import ALPHA, Cell, compare, p_text  # noqa: E402
from nspdi_rl.layers import NSPConfig, Reading  # noqa: E402
from nspdi_rl.pruning import SCOPES  # noqa: E402
from runtime.compat import ADDED_OPTIONS, shared_summary  # noqa: E402

__all__ = ["RUNS_FILE", "ReportError", "choose", "load_records", "write_report"]

RUNS_FILE = "runs.jsonl"
TUNING_PREFIX = "tune-"
#: how far below its target a configuration's acting network may end and still be chosen
#: (the tables print sparsity to three places)
REACH_TOLERANCE = 5e-4
#: the methods table's rows: label -> name
METHODS = {
    "dense": "dense (unpruned)",
    "nsp": "NSP",
    "magnitude": "magnitude",
    "magnitude_gain": "magnitude + learnable gain",
    "stds": "STDS",
    "gradr": "Grad R",
}
#: claim 5's baselines: label -> name
BASELINES = {k: v for k, v in METHODS.items() if k not in ("dense", "nsp")}
#: the ablation's rows, all with NSP's configuration: from magnitude pruning's map to NSP
#: one part at a time, then NSP with one part changed
ABLATION = {
    "nsp_fixed_constant_a": "magnitude pruning's map (a = 1, fixed), cut on theta",
    "nsp_constant_a": "+ a learnable per-channel gain a from 1, cut on a * theta",
    "nsp": "+ a lognormal start of a: NSP's default",
    "nsp_fixed_a": "NSP with a fixed (not learnable)",
    "nsp_d1_shift": "NSP with the d1 shift fixed at 0.01",
    "nsp_d1_reading": "NSP with d1 as the pruning threshold (survivors shrink by a*d1)",
    "nsp_straight_through": "NSP with straight-through gradients for cut synapses",
}
FRONTIER = (0.98, 0.99, 0.995)

DEFAULT_IS = (
    "**What NSP's default is.** With `d1 = 0` the map is `w = sign(theta) relu(a |theta|)"
    " = a * theta`, and the `d2` reading cuts `|w| < d2` with `d2` at the quantile of "
    "`|a * theta|` that the target sparsity asks for. `a` is one learnable gain per output "
    "channel (held as `log a`, drawn lognormal with mean 1 and std 0.5), `theta` starts at "
    "`w0 / a`, and a cut synapse gets no gradient. So NSP's default is magnitude pruning of "
    "a per-channel rescaled weight whose scale is learned. `magnitude + learnable gain` is "
    "the same with `a` starting at 1; `magnitude` keeps `a = 1` fixed. STDS and Grad R run "
    "as they are defined (the `d1` shift as the threshold, straight-through gradients, "
    "`a = 1`)."
)


class ReportError(Exception):
    """No trials to report on, or unreadable result files."""


@dataclass(frozen=True)
class Record:
    """One finished trial: its settings and the measures the report uses.

    :param score: the test score (test accuracy; success on the test half of a fixed
        maze's starts, or over all evaluation episodes for other mazes).
    :param val_score: the validation score, None where the trial has none.
    :param n_test: the test samples or episodes behind ``score``.
    """

    grid: str
    task: str
    label: str
    target: float
    ndi: bool
    seed: int
    score: float
    val_score: float | None
    n_test: int | None
    sparsity: float
    synops: float | None
    energy_pj: float | None
    bits_per_ksynop: float | None
    mutual_information: float | None
    wall_s: float
    options: tuple[tuple[str, Any], ...] = ()
    mean_abs_w_live: float | None = None
    neurons_fed: float | None = None
    inputs_read: float | None = None

    @property
    def tuning(self) -> bool:
        return self.grid.startswith(TUNING_PREFIX)


def _label(trial: dict[str, Any]) -> str:
    """The condition's name, or the method with what differs from its own options
    (``nsp[constant]``, ``nsp[d1,straight_through]``)."""
    if trial.get("condition"):
        return str(trial["condition"])
    pruning = trial["pruning"] if "pruning" in trial else trial["method"]
    try:
        own = NSPConfig(method=pruning)
    except ValueError:  # a method name of an earlier version
        return str(pruning)
    parts = []
    for key, old in ADDED_OPTIONS.items():
        value = trial.get(key, old)
        if value != getattr(own, key):
            parts.append(f"d1={value:g}" if key == "d1" else Reading.label(key, value))
    if pruning == "nsp" and trial.get("a_dist", "lognormal") != own.a_dist:
        parts.append(str(trial["a_dist"]))
    return f"{pruning}[{','.join(parts)}]" if parts else str(pruning)


def _scores(task: str, summary: dict[str, Any]) -> tuple[float, float | None, int | None]:
    """(test score, validation score, test samples) of a summary."""
    if task == "maze":
        split = summary.get("split_success")
        if split and split.get("test") is not None:
            test, val, n = float(split["test"]), split.get("val"), split.get("test_episodes")
        else:
            test, val, n = float(summary["score"]), None, summary.get("n_episodes")
    else:
        test, val = float(summary["score"]), summary.get("val_accuracy")
        n = summary.get("test_samples")
    return test, None if val is None else float(val), n


def validation_score(task: str, summary: dict[str, Any]) -> float | None:
    """The score a tuning grid chooses by (the validation split; the validation half of
    a fixed maze's start squares), None where the summary has none."""
    return _scores(task, shared_summary(task, summary))[1]


def _record(trial: dict[str, Any], summary: dict[str, Any]) -> Record:
    summary = shared_summary(trial["task"], summary)  # an older run's keys were its own
    score, val, n_test = _scores(trial["task"], summary)
    survivors = summary.get("survivors") or {}
    return Record(
        grid=trial["experiments"][0].split("/")[0] if trial["experiments"] else trial["task"],
        task=trial["task"],
        label=_label(trial),
        target=float(trial["target_sparsity"]),
        ndi=bool(trial["ndi"]),
        seed=int(trial["seed"]),
        score=score,
        val_score=val,
        n_test=None if n_test is None else int(n_test),
        sparsity=float(summary["sparsity"]),
        synops=summary.get("synops_per_inference"),
        energy_pj=summary.get("energy_per_inference_pj"),
        bits_per_ksynop=summary.get("bits_per_ksynop"),
        mutual_information=summary.get("mutual_information_bits"),
        wall_s=float(summary.get("wall_time_s") or 0.0),
        options=_hashable_options(trial.get("options") or {}),
        mean_abs_w_live=survivors.get("mean_abs_w_live"),
        neurons_fed=survivors.get("neurons_fed"),
        inputs_read=survivors.get("inputs_read"),
    )


def load_records(run_dir: Path) -> list[Record]:
    """Every finished trial under ``run_dir`` (folders holding both JSON files)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ReportError(f"{run_dir} is a file, not a run folder")
    records = []
    for summary_path in sorted(run_dir.glob("*/summary.json")):
        try:
            trial = json.loads((summary_path.parent / "trial.json").read_text())
            records.append(_record(trial, json.loads(summary_path.read_text())))
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise ReportError(f"cannot read the trial in {summary_path.parent}: {err}") from None
    if not records:
        raise ReportError(f"no finished trials (*/summary.json with trial.json) in {run_dir}")
    return records


def _cell(records: Sequence[Record], validation: bool = False) -> Cell | None:
    """The records' scores as one cell (validation scores for a tuning grid)."""
    if not records:
        return None
    if validation:
        if any(r.val_score is None for r in records):
            return None
        scores = tuple(float(r.val_score) for r in records)  # type: ignore[arg-type]
    else:
        scores = tuple(r.score for r in records)
    sizes = {r.n_test for r in records}
    n = sizes.pop() if len(sizes) == 1 else None
    return Cell(scores, tuple(r.seed for r in records), None if validation else n)


#: what pruning left, as the tables show it beside the scores (fields of :class:`Record`)
SURVIVOR_FIELDS = ("neurons_fed", "inputs_read")


def _mean(records: Sequence[Record], field: str) -> float | None:
    values = [getattr(r, field) for r in records if getattr(r, field) is not None]
    return sum(values) / len(values) if values else None


def _fmt(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _hashable_options(options: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A trial's runner options as a sorted tuple, list values (``hidden: [256, 128]``)
    as tuples, so that configurations can be told apart and grouped."""
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in options.items()))


def _options_text(options: tuple[tuple[str, Any], ...]) -> str:
    def text(value: Any) -> str:
        return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)

    return ", ".join(f"{k} {text(v)}" for k, v in options) or "runner defaults"


def choose(
    configs: dict[tuple[tuple[str, Any], ...], Cell],
    short: set[tuple[tuple[str, Any], ...]] | frozenset[tuple[tuple[str, Any], ...]] = frozenset(),
) -> tuple[tuple[str, Any], ...]:
    """A tuning grid's rule: among the configurations not in ``short`` (those whose acting
    network ended below the target sparsity, see :func:`short_of_target`), the one with
    the highest mean validation score; ties go to the later schedule end (more pruning
    time before fine-tuning is the runners' default of 0.8), then to the scope in the
    order of :data:`~nspdi_rl.pruning.SCOPES` (``layer``, ``network``, ``global``)."""
    eligible = {k: c for k, c in configs.items() if k not in short}
    if not eligible:
        raise ReportError(
            "no configuration to choose from" if not configs
            else "no configuration reached its target sparsity"
        )  # fmt: skip

    def order(item: tuple[tuple[tuple[str, Any], ...], Cell]) -> tuple[float, float, int]:
        options, cell = dict(item[0]), item[1]
        scope = str(options.get("scope", "layer"))
        rank = SCOPES.index(scope) if scope in SCOPES else len(SCOPES)
        return -cell.mean, -float(options.get("prune-end", 0.8)), rank

    return sorted(eligible.items(), key=order)[0][0]


def short_of_target(records: Sequence[Record]) -> bool:
    """Whether the trials' acting networks ended, on average, more than
    :data:`REACH_TOLERANCE` below their target sparsity (an agent pruned with the
    ``global`` scope pools its actor with its critics, and the actor can end below)."""
    return _mean(records, "sparsity") < min(r.target for r in records) - REACH_TOLERANCE  # type: ignore[operator]


class _Tuning:
    """The section of a tuning grid: validation scores per method and configuration."""

    def __init__(self, name: str, records: list[Record]) -> None:
        self.name, self.records = name, records
        self.by: dict[str, dict[tuple[tuple[str, Any], ...], list[Record]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for r in records:
            self.by[r.label][r.options].append(r)

    def lines(self) -> list[str]:
        targets = sorted({r.target for r in self.records})
        out = [
            f"## {self.name}: tuning on validation",
            "",
            f"Validation scores only (mean ± standard error, seeds in brackets) at target "
            f"{', '.join(f'{t:g}' for t in targets)}, and the sparsity the acting network "
            "reached; the chosen configuration of each method (rule: "
            "`experiments.report.choose`; a configuration short of its target is not "
            "chosen) is the one a study grid that follows it runs (its grid file says "
            "which; a probe grid only reports).",
            "",
            "| method | configuration | validation score | sparsity reached | chosen |",
            "|---|---|---|---|---|",
        ]
        chosen_lines = []
        for label in sorted(
            self.by, key=lambda lb: list(METHODS).index(lb) if lb in METHODS else 99
        ):
            cells = {opts: _cell(rs, validation=True) for opts, rs in self.by[label].items()}
            present = {k: c for k, c in cells.items() if c is not None}
            short = {k for k, rs in self.by[label].items() if short_of_target(rs)}
            pick = choose(present, short) if set(present) - short else None
            for opts in sorted(cells):
                cell = cells[opts]
                mark = "**yes**" if opts == pick else ("short of target" if opts in short else "")
                out.append(
                    f"| {METHODS.get(label, label)} | {_options_text(opts)} | "
                    f"{cell if cell else 'no validation score'} | "
                    f"{_mean(self.by[label][opts], 'sparsity'):.3f} | {mark} |"
                )
            if pick is not None:
                chosen_lines.append(f"- {METHODS.get(label, label)}: {_options_text(pick)}")
        return [*out, "", "Chosen:", "", *chosen_lines, ""]


class _Section:
    """Tables, plots and verdicts of one study grid (one task)."""

    def __init__(self, name: str, records: list[Record], figures: Path, link: str) -> None:
        self.name, self.records = name, records
        self.task = records[0].task
        self.figures, self.link = figures, link
        self.metric = "success rate" if self.task == "maze" else "test accuracy"
        self.groups: dict[tuple[str, float, bool], list[Record]] = defaultdict(list)
        for r in records:
            self.groups[(r.label, 0.0 if r.label == "dense" else r.target, r.ndi)].append(r)
        for key, rs in self.groups.items():
            if len({r.options for r in rs}) > 1:
                raise ReportError(
                    f"{name}: {key[0]} at {key[1]:g} ran with several configurations; a "
                    f"study grid runs one per method (tune it in a {TUNING_PREFIX} grid)"
                )
        self.verdicts: dict[int, Verdict] = {}

    def cell(self, label: str, target: float, ndi: bool = True) -> Cell | None:
        return _cell(self.groups.get((label, 0.0 if label == "dense" else target, ndi), []))

    def mean(self, label: str, target: float, field: str) -> float | None:
        return _mean(self.groups.get((label, target, True), []), field)

    def targets(self, labels: Sequence[str], unpruned: bool = False) -> list[float]:
        """The targets the labels ran at with NDI (0 only when ``unpruned``)."""
        return sorted(
            {t for (lb, t, ndi) in self.groups if lb in labels and ndi and (t > 0 or unpruned)}
        )

    # -- tables ----------------------------------------------------------------------

    def methods_table(self) -> list[str]:
        targets = [t for t in self.targets(list(METHODS)) if t >= 0.9]
        if not targets:
            return []
        top = 0.99 if 0.99 in targets else targets[-1]
        out = [
            f"**Methods** (NDI on; each method with the configuration its grid gives it, "
            f"in a study the one tuned on validation; {self.metric}, mean ± standard error "
            f"(seeds); the last columns "
            f"compare with NSP at {top:g} and say what pruning reached and left there)",
            "",
            "| method | " + " | ".join(f"target {t:g}" for t in targets)
            + f" | minus NSP at {top:g} | sparsity reached | mean abs w (live) | neurons fed "
            "| inputs read |",
            "|---|" + "---|" * (len(targets) + 5),
        ]  # fmt: skip
        nsp = self.cell("nsp", top)
        for label, name in METHODS.items():
            cells = [self.cell(label, t) for t in targets]
            if not any(cells):
                continue
            mine = self.cell(label, top)
            versus = "-" if label == "nsp" or not (mine and nsp) else str(compare(mine, nsp))
            out.append(
                f"| {name} | " + " | ".join(str(c) if c else "-" for c in cells)
                + f" | {versus} | {_fmt(self.mean(label, top, 'sparsity'), 4)} "
                f"| {_fmt(self.mean(label, top, 'mean_abs_w_live'), 3)} "
                f"| {' | '.join(_fmt(self.mean(label, top, f), 2) for f in SURVIVOR_FIELDS)} |"
            )  # fmt: skip
        return [*out, ""]

    def ablation_table(self) -> list[str]:
        targets = self.targets([k for k in ABLATION if k.startswith("nsp_")])
        if not targets:
            return []
        top = targets[-1]
        out = [
            "**Ablation** (every row with NSP's tuned configuration: from magnitude pruning's "
            "map to NSP one part at a time, then NSP with one part changed; each row minus "
            f"NSP's default, paired by seed; what pruning left at {top:g})",
            "",
            "| condition | " + " | ".join(f"target {t:g} | minus NSP" for t in targets)
            + f" | neurons fed at {top:g} | inputs read at {top:g} |",
            "|---|" + "---|---|" * len(targets) + "---|---|",
        ]  # fmt: skip
        for label, text in ABLATION.items():
            cells = []
            for t in targets:
                mine, nsp = self.cell(label, t), self.cell("nsp", t)
                versus = str(compare(mine, nsp)) if mine and nsp and label != "nsp" else "-"
                cells += [str(mine) if mine else "-", versus]
            cells += [_fmt(self.mean(label, top, field), 2) for field in SURVIVOR_FIELDS]
            out.append(f"| `{label}`: {text} | " + " | ".join(cells) + " |")
        return [*out, ""]

    def sweep_table(self) -> list[str]:
        targets = self.targets(["nsp"], unpruned=True)
        if len(targets) < 2:
            return []
        energy_unit = "pJ / step" if self.task == "maze" else "uJ / sample"
        scale = 1.0 if self.task == "maze" else 1e-6
        out = [
            "**Sparsity sweep** (NSP, NDI on; claims 1 and 4)",
            "",
            f"| target | sparsity | {self.metric} | SynOps | energy ({energy_unit}) "
            "| mutual information (bits) | bits / kSynOp |",
            "|---|---|---|---|---|---|---|",
        ]
        for t in targets:
            energy = self.mean("nsp", t, "energy_pj")
            out.append(
                f"| {t:g} | {_fmt(self.mean('nsp', t, 'sparsity'), 3)} | {self.cell('nsp', t)} "
                f"| {_fmt(self.mean('nsp', t, 'synops'))} "
                f"| {_fmt(None if energy is None else energy * scale, 2 if scale != 1 else 0)} "
                f"| {_fmt(self.mean('nsp', t, 'mutual_information'), 2)} "
                f"| {_fmt(self.mean('nsp', t, 'bits_per_ksynop'), 4)} |"
            )
        return [*out, ""]

    # -- claims ----------------------------------------------------------------------

    def judge(self) -> None:
        self.verdicts[1] = minimal_loss(self.cell("dense", 0.0), self.cell("nsp", 0.99))
        self.verdicts[2] = ndi_improves(self.cell("nsp", 0.9), self.cell("nsp", 0.9, ndi=False))
        fixed = {t: (self.cell("nsp_fixed_a", t), self.cell("nsp_fixed_constant_a", t))
                 for t in (0.98, 0.99)}  # fmt: skip
        verdict = heterogeneous_a(fixed)
        learnable = [
            f"at {t:g}: NSP {n} vs NSP with a constant start of a {g}: {compare(n, g)}"
            for t in (0.98, 0.99)
            if (n := self.cell("nsp", t)) and (g := self.cell("nsp_constant_a", t))
        ]
        if learnable:
            verdict = Verdict(
                verdict.verdict, verdict.detail + ". Learnable pair: " + "; ".join(learnable)
            )
        self.verdicts[3] = verdict
        if self.task == "maze":
            self.verdicts[4] = Verdict(
                "n/a", "the maze has no class labels to carry information about"
            )
        else:
            points = [
                (s, b, self.mean("nsp", t, "mutual_information"))
                for t in self.targets(["nsp"])
                if (s := self.mean("nsp", t, "sparsity")) is not None
                and (b := self.mean("nsp", t, "bits_per_ksynop")) is not None
            ]
            self.verdicts[4] = efficiency_rises(points)
        baselines = {name: self.cell(label, 0.99) for label, name in BASELINES.items()}
        self.verdicts[5] = beats_baselines(self.cell("nsp", 0.99), baselines)

    def goals(self) -> str:
        """The issue's three targets on this task, as one table row."""
        dense, nsp = self.cell("dense", 0.0), self.cell("nsp", 0.99)
        magnitude = self.cell("magnitude", 0.99)
        loss = "-" if not (dense and nsp) else f"{dense.mean - nsp.mean:+.3f}"
        ahead = "-"
        if nsp and magnitude:
            result = compare(nsp, magnitude)
            ahead = f"{result.outcome} ({result.diff:+.3f}, p {p_text(result.p)})"
        return f"| {self.name} | {loss} | {ahead} | {self.verdicts[3].verdict} |"

    # -- plots -----------------------------------------------------------------------

    def plots(self) -> list[str]:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        drawn = False
        for label, name in METHODS.items():
            if label == "dense":
                continue
            points = [
                (t, c) for t in self.targets([label], unpruned=True) if (c := self.cell(label, t))
            ]
            if len(points) < 2:
                continue
            conn = [1 - (self.mean(label, t, "sparsity") or t) for t, _ in points]
            ax.errorbar(conn, [c.mean for _, c in points], yerr=[c.se for _, c in points],
                        marker="o", capsize=3, label=name)  # fmt: skip
            drawn = True
        dense = self.cell("dense", 0.0)
        if dense:
            ax.axhline(dense.mean, color="grey", linestyle="--", label="dense")
        if not drawn:
            plt.close(fig)
            return []
        ax.set_xscale("log")
        ax.set_xlabel("connectivity (fraction of synapses kept)")
        ax.set_ylabel(self.metric)
        ax.set_title(f"{self.name}: {self.metric} vs connectivity")
        ax.legend(fontsize=7)
        fig.tight_layout()
        name = f"{self.name}-score-vs-connectivity.png"
        fig.savefig(self.figures / name, dpi=110)
        plt.close(fig)
        return [f"![{self.name}: score vs connectivity]({self.link}/{name})", ""]


def _machine() -> str:
    import os

    import torch

    return (
        f"{platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; Python {platform.python_version()}, torch {torch.__version__}"
    )


def _runs(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / RUNS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _hours_per_grid(records: list[Record]) -> dict[str, float]:
    """CPU-hours of the finished trials of each grid, by grid name."""
    hours: dict[str, float] = defaultdict(float)
    for r in records:
        hours[r.grid] += r.wall_s / 3600
    return dict(sorted(hours.items()))


def _header(run_dir: Path, records: list[Record]) -> list[str]:
    runs = _runs(run_dir)
    cpu_s = sum(r.wall_s for r in records)
    lines = [
        "# The study: the paper's claims, measured"
        if any(not r.tuning for r in records)
        else "# Tuning on validation",
        "",
        f"Generated by `python -m experiments report {run_dir}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from {len(records)} trial "
        "summaries (each trial's `trial.json` and `summary.json`).",
        "",
        f"- Machine: {_machine()}.",
        f"- Trial time: {cpu_s / 3600:.2f} CPU-hours (one torch thread per trial), "
        f"{sum(r.wall_s for r in records if r.tuning) / 3600:.2f} of them tuning; per grid: "
        + ", ".join(f"{g} {h:.2f}" for g, h in _hours_per_grid(records).items())
        + ".",
    ]
    if runs:
        wall = sum(r.get("wall_s", 0.0) for r in runs)
        # a run logs a line when it starts and one when it ends (earlier versions: the end)
        invocations = {(r["command"], r.get("started")) for r in runs}
        ended = {(r["command"], r.get("started")) for r in runs if r.get("event") != "start"}
        open_runs = len(invocations - ended)
        unended = f", {open_runs} of them running or stopped unrecorded" if open_runs else ""
        lines.append(
            f"- Wall time of the runs: {wall / 3600:.2f} h over {len(invocations)} "
            f"invocations{unended}:"
        )
        lines += [f"  - `{c}`" for c in sorted({r["command"] for r in runs})]
        # the latest count of each command (a grid may be run several times)
        planned = sum(
            {str(r.get("grids", r["command"])): r.get("trials", 0) for r in runs}.values()
        )
        if planned:
            rest = (
                " (re-running the commands above runs the rest)" if len(records) < planned else ""
            )
            lines.append(f"- Trials finished: {len(records)} of {planned} in the grids{rest}.")
    lines += [
        "- Protocol: configurations are chosen on validation scores only (tuning grids, "
        "seeds 100 and up); the study grids run the chosen configurations with fresh seeds "
        "and report test scores (test split; the test half of a fixed maze's start squares).",
        "- Statistics (`experiments/stats.py`): a cell is mean ± standard error over seeds, "
        "the error holding both the seeds' spread and the binomial sampling error of the "
        "test set (Agresti-Coull), so equal seeds never make a difference certain. Two "
        f"cells are compared by Welch's t-test, paired by seed where both ran the same "
        f"seeds, two-sided at {ALPHA} unless a rule says otherwise. Its degrees of "
        "freedom (Welch-Satterthwaite) combine the seeds' (k - 1) and the test set's "
        "(n - 1), so a comparison whose error is mostly the test set's sampling error has "
        "many more than k - 1.",
        "",
        DEFAULT_IS,
        "",
    ]
    return lines


def write_report(run_dir: Path, output: Path) -> Path:
    """Write the Markdown report (and its PNGs in ``<output stem>/``) from ``run_dir``."""
    records = load_records(run_dir)
    figures = output.parent / output.stem
    figures.mkdir(parents=True, exist_ok=True)
    by_grid: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_grid[r.grid].append(r)
    tunings = [_Tuning(n, rs) for n, rs in sorted(by_grid.items()) if n.startswith(TUNING_PREFIX)]
    sections = [
        _Section(n, rs, figures, output.stem)
        for n, rs in sorted(by_grid.items())
        if not n.startswith(TUNING_PREFIX)
    ]
    lines = _header(run_dir, records)
    if sections:
        for s in sections:
            s.judge()
        lines += [
            "## Claims",
            "",
            "| claim | " + " | ".join(s.name for s in sections) + " |",
            "|---|" + "---|" * len(sections),
        ]
        for number, text in CLAIMS.items():
            cells = [s.verdicts[number].verdict for s in sections]
            lines.append(f"| {number}. {text} | " + " | ".join(cells) + " |")
        lines.append("")
        lines += [
            "**The study's goals** (reported either way): the loss of NSP against dense at "
            "0.99 (goal: at most 0.02 on every task); NSP against tuned magnitude pruning "
            "at 0.99 (goal: significantly ahead on at least two tasks); claim 3 on fixed `a`.",
            "",
            "| task | loss at 0.99 | NSP vs magnitude at 0.99 | claim 3 (fixed a) |",
            "|---|---|---|---|",
            *(s.goals() for s in sections),
            "",
        ]
        for number, text in CLAIMS.items():
            lines += [f"**Claim {number}: {text}.** Rule: {RULES[number]}", ""]
            for s in sections:
                v = s.verdicts[number]
                lines.append(f"- {s.name}: **{v.verdict}**. {v.detail}")
            lines.append("")
    for tuning in tunings:
        lines += tuning.lines()
    for s in sections:
        lines += [f"## {s.name} ({s.task})", ""]
        lines += s.methods_table() + s.ablation_table() + s.sweep_table() + s.plots()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines) + "\n")
    return output
