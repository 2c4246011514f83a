"""The study report: Markdown tables and plots made only from the trials'
``trial.json`` and ``summary.json`` files, and a verdict on each of the paper's
five claims with the numbers behind it.

The score is test accuracy for the speech and vision tasks and the success rate
for the maze. A difference counts when it exceeds twice its standard error
over seeds (``|mean_a - mean_b| > 2 * sqrt(s_a^2 / n_a + s_b^2 / n_b)``).
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from nspdi_rl.cli import ADDED_OPTIONS  # noqa: E402
from nspdi_rl.layers import NSPConfig  # noqa: E402

__all__ = ["RUNS_FILE", "ReportError", "load_records", "write_report"]

RUNS_FILE = "runs.jsonl"
BASELINES = ("magnitude", "gradr", "stds")
METHOD_NAMES = {"dense": "dense", "magnitude": "magnitude", "gradr": "Grad R",
                "stds": "STDS", "nsp": "NSP"}  # fmt: skip
# claim 1: the score lost at 0.9 sparsity against the unpruned run
MINIMAL_LOSS, CLEAR_LOSS = 0.02, 0.05


class ReportError(Exception):
    """No trials to report on, or unreadable result files."""


@dataclass(frozen=True)
class Record:
    """One finished trial: its settings and the measures the report uses."""

    grid: str
    task: str
    pruning: str
    target: float
    ndi: bool
    a_dist: str
    seed: int
    score: float
    sparsity: float
    synops: float | None
    energy_pj: float | None
    bits_per_ksynop: float | None
    wall_s: float
    #: NSP's readings where they differ from the method's own (today's defaults),
    #: e.g. ``d1,straight_through``
    variant: str = ""
    #: the reading options the trial ran with (:data:`ADDED_OPTIONS`'s keys), as pairs
    options: tuple[tuple[str, Any], ...] = ()
    #: the survivors' mean effective |w| and share of neurons fed (runs since the readings)
    mean_abs_w_live: float | None = None
    neurons_fed: float | None = None

    @property
    def method(self) -> str:
        """The method as the tables name it: ``nsp[d2,exact]`` for a reading other
        than the default one."""
        return f"{self.pruning}[{self.variant}]" if self.variant else self.pruning


def _default_label() -> str:
    own = NSPConfig()
    learnable = "learnable" if own.learnable_a else "fixed"
    return (
        f"`nsp` alone is today's default reading (reading {own.reading}, theta_init "
        f"{own.theta_init}, pruned_grad {own.pruned_grad}, {learnable} a); `nsp[...]` "
        "names the options that differ from it."
    )


def _reading_options(trial: dict[str, Any]) -> dict[str, Any]:
    """The trial's NSP reading options (a trial made before an option existed ran as
    :data:`ADDED_OPTIONS` says)."""
    return {key: trial.get(key, old) for key, old in ADDED_OPTIONS.items()}


def _variant(pruning: str, options: dict[str, Any]) -> str:
    """The options that differ from the method's own (what it runs by default today)."""
    try:
        own = NSPConfig(method=pruning)
    except ValueError:  # a method name of an earlier version
        return ""
    parts = []
    for key, value in options.items():
        if value != getattr(own, key):
            learnable = "learnable_a" if value else "fixed_a"
            parts.append(learnable if key == "learnable_a" else str(value))
    return ",".join(parts)


# summary keys of runs made before the runners shared one vocabulary, per task
_LEGACY_SUMMARY_KEYS = {
    "maze": {
        "score": "success_rate",
        "synops_per_inference": "synops_per_step",
        "energy_per_inference_pj": "energy_per_step_pj",
        "wall_time_s": "train_wall_time_s",
    },
    "task": {
        "score": "accuracy",
        "synops_per_inference": "synops_per_sample",
        "energy_per_inference_pj": "energy_per_sample_pj",
    },
}


def _record(trial: dict[str, Any], summary: dict[str, Any]) -> Record:
    if "score" not in summary:  # an older run: its keys were the runner's own
        legacy = _LEGACY_SUMMARY_KEYS["maze" if trial["task"] == "maze" else "task"]
        summary = {**summary, **{new: summary.get(old) for new, old in legacy.items()}}
    pruning = trial["pruning"] if "pruning" in trial else trial["method"]
    options = _reading_options(trial)
    return Record(
        grid=trial["experiments"][0].split("/")[0] if trial["experiments"] else trial["task"],
        task=trial["task"],
        pruning=pruning,
        target=float(trial["target_sparsity"]),
        ndi=bool(trial["ndi"]),
        a_dist=trial["a_dist"],
        seed=int(trial["seed"]),
        score=float(summary["score"]),
        sparsity=float(summary["sparsity"]),
        synops=summary.get("synops_per_inference"),
        energy_pj=summary.get("energy_per_inference_pj"),
        bits_per_ksynop=summary.get("bits_per_ksynop"),
        wall_s=float(summary.get("wall_time_s") or 0.0),
        variant=_variant(pruning, options),
        options=tuple(options.items()),
        mean_abs_w_live=summary.get("survivors", {}).get("mean_abs_w_live"),
        neurons_fed=summary.get("survivors", {}).get("neurons_fed"),
    )


def load_records(run_dir: Path) -> list[Record]:
    """Every finished trial under ``run_dir`` (folders holding both JSON files)."""
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


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.std:.3f} ({self.n})"

    @property
    def short(self) -> str:
        """The mean and the number of seeds behind it."""
        return f"{self.mean:.3f} (n={self.n})"

    def minus(self, other: Stat) -> tuple[float, float]:
        """Difference of means and its standard error."""
        se = math.sqrt(self.std**2 / self.n + other.std**2 / other.n)
        return self.mean - other.mean, se


def _stat(values: Iterable[float | None]) -> Stat | None:
    xs = [v for v in values if v is not None]
    if not xs:
        return None
    return Stat(statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0, len(xs))


Group = tuple[str, float, bool, str]  # method (with its variant), target, ndi, a_dist


def _groups(records: Sequence[Record]) -> dict[Group, list[Record]]:
    groups: dict[Group, list[Record]] = defaultdict(list)
    for r in records:
        groups[(r.method, r.target, r.ndi, r.a_dist)].append(r)
    return groups


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def _compare(a: Stat, b: Stat) -> str:
    """``better`` / ``worse`` / ``same`` for a against b, by the 2-standard-error rule
    (``same`` while either side has fewer than 2 seeds: no spread to judge by)."""
    if a.n < 2 or b.n < 2:
        return "same"
    diff, se = a.minus(b)
    if abs(diff) > 2 * se and diff != 0:
        return "better" if diff > 0 else "worse"
    return "same"


def _spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    def ranks(values: Sequence[float]) -> list[float]:
        order = sorted(range(len(values)), key=lambda i: values[i])
        out = [0.0] * len(values)
        for rank, i in enumerate(order):
            out[i] = float(rank)
        return out

    rx, ry = ranks(xs), ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    num = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    den = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return num / den if den else 0.0


class _Section:
    """Tables, plots and verdicts of one grid (one task)."""

    def __init__(self, name: str, records: list[Record], figures: Path, link: str) -> None:
        self.name, self.records = name, records
        self.task = records[0].task
        self.groups = _groups(records)
        self.figures, self.link = figures, link
        self.metric = "success rate" if self.task == "maze" else "test accuracy"
        self.verdicts: dict[int, tuple[str, str]] = {}

    def stat(self, group: Group, field: str = "score") -> Stat | None:
        return _stat(getattr(r, field) for r in self.groups.get(group, []))

    def sweep(self) -> list[Group]:
        return sorted(g for g in self.groups if g[0] == "nsp" and g[2] and g[3] == "lognormal")

    def unpruned(self) -> Stat | None:
        for group in (("nsp", 0.0, True, "lognormal"), ("dense", 0.0, True, "lognormal")):
            if group in self.groups:
                return self.stat(group)
        return None

    def has_readings(self) -> bool:
        """Whether the grid screened NSP's readings (groups other than today's default)."""
        return any("[" in g[0] for g in self.groups)

    def readings(self, target: float) -> dict[str, Stat]:
        """Score per NSP reading (with its ``a``) at ``target``, NDI on."""
        out = {}
        for g in self.groups:
            if g[0].startswith("nsp") and g[1] == target and g[2]:
                label = f"{g[0]} {g[3]}"
                out[label] = self.stat(g)  # type: ignore[assignment]
        return out

    # -- tables ----------------------------------------------------------------------

    def readings_table(self) -> list[str]:
        """Every method and NSP reading at each target, with what pruning left."""
        if not self.has_readings():
            return []
        targets = sorted({g[1] for g in self.groups if g[1] > 0})
        top = targets[-1]
        out = [
            "**NSP's readings and the baselines** (NDI on; survivors at the highest "
            "target). " + _default_label(),
            "",
            "| method | a | "
            + " | ".join(f"target {t:g}" for t in targets)
            + f" | mean abs w (live) at {top:g} | neurons fed at {top:g} |",
            "|---|---|" + "---|" * (len(targets) + 2),
        ]
        rows = sorted({(g[0], g[3]) for g in self.groups if g[2] and g[0] != "dense"})
        rows.sort(key=lambda r: (r[0].startswith("nsp"), r))
        for method, a_dist in rows:
            a = a_dist if method.startswith("nsp") else "-"
            cells = []
            for t in targets:
                stat = self.stat((method, t, True, a_dist))
                cells.append(str(stat) if stat else "-")
            w = self.stat((method, top, True, a_dist), "mean_abs_w_live")
            fed = self.stat((method, top, True, a_dist), "neurons_fed")
            out.append(
                f"| {method} | {a} | "
                + " | ".join(cells)
                + f" | {_fmt(w.mean if w else None, 3)} | {_fmt(fed.mean if fed else None, 2)} |"
            )
        return [*out, ""]

    def sweep_table(self) -> list[str]:
        rows = self.sweep()
        if not rows:
            return []
        energy_unit = "pJ / step" if self.task == "maze" else "uJ / sample"
        scale = 1.0 if self.task == "maze" else 1e-6
        out = [
            "**Sparsity sweep** (NSP, heterogeneous `a`, NDI on; claims 1 and 4)",
            "",
            f"| target | sparsity | connectivity | {self.metric} | SynOps | energy ({energy_unit}) "
            "| bits / kSynOp |",
            "|---|---|---|---|---|---|---|",
        ]
        for g in rows:
            sp = self.stat(g, "sparsity")
            syn, en = self.stat(g, "synops"), self.stat(g, "energy_pj")
            bits = self.stat(g, "bits_per_ksynop")
            out.append(
                f"| {g[1]:g} | {sp.mean:.3f} | {1 - sp.mean:.3f} | {self.stat(g)} | "  # type: ignore[union-attr]
                f"{_fmt(syn.mean if syn else None)} | "
                f"{_fmt(en.mean * scale if en else None, 2 if scale != 1 else 0)} | "
                f"{_fmt(bits.mean if bits else None, 4)} |"
            )
        return [*out, ""]

    def pair_table(self, title: str, rows: list[tuple[str, Group]]) -> list[str]:
        present = [(label, g) for label, g in rows if g in self.groups]
        if len(present) < 2:
            return []
        out = [
            f"**{title}**",
            "",
            f"| run | target | {self.metric} | sparsity |",
            "|---|---|---|---|",
        ]
        for label, g in present:
            sp = self.stat(g, "sparsity")
            out.append(f"| {label} | {g[1]:g} | {self.stat(g)} | {sp.mean:.3f} |")  # type: ignore[union-attr]
        return [*out, ""]

    def methods_table(self) -> list[str]:
        targets = sorted({g[1] for g in self.groups if g[0] in BASELINES})
        if not targets:
            return []
        top = targets[-1]
        out = [
            "**Methods** (NDI on, heterogeneous `a` for NSP; claim 5; what survived at "
            f"{top:g}: the live synapses' mean effective abs w and the share of hidden "
            "neurons still fed)",
            "",
            "| method | "
            + " | ".join(f"target {t:g}" for t in targets)
            + f" | mean abs w (live) at {top:g} | neurons fed at {top:g} |",
            "|---|" + "---|" * (len(targets) + 2),
        ]
        dense = self.stat(("dense", 0.0, True, "lognormal"))
        if dense:
            out.append(
                "| dense (unpruned) | " + " | ".join(str(dense) for _ in targets) + " | - | - |"
            )
        for method in (*BASELINES, "nsp"):
            cells = []
            for t in targets:
                s = self.stat((method, t, True, "lognormal"))
                cells.append(str(s) if s else "n/a")
            w = self.stat((method, top, True, "lognormal"), "mean_abs_w_live")
            fed = self.stat((method, top, True, "lognormal"), "neurons_fed")
            out.append(
                f"| {METHOD_NAMES[method]} | "
                + " | ".join(cells)
                + f" | {_fmt(w.mean if w else None, 3)} | {_fmt(fed.mean if fed else None, 2)} |"
            )
        return [*out, ""]

    # -- claims ----------------------------------------------------------------------

    def judge(self) -> None:
        reference = self.unpruned()
        at = {g[1]: self.stat(g) for g in self.sweep()}
        if reference and at.get(0.9):
            drop = reference.mean - at[0.9].mean  # type: ignore[union-attr]
            verdict = ("held" if drop <= MINIMAL_LOSS
                       else "not held" if drop > CLEAR_LOSS else "inconclusive")  # fmt: skip
            more = ", ".join(
                f"{t:g}: {reference.mean - s.mean:+.3f}"
                for t, s in sorted(at.items())
                if s and t > 0.9
            )
            self.verdicts[1] = (
                verdict,
                f"{self.metric} {reference.short} unpruned, {at[0.9].short} at 0.9 "  # type: ignore[union-attr]
                f"(loss {drop:+.3f}; held if <= {MINIMAL_LOSS}, not held if > {CLEAR_LOSS})"
                + (f"; loss at {more}" if more else ""),
            )
        on, off = (
            self.stat(("nsp", 0.9, True, "lognormal")),
            self.stat(("nsp", 0.9, False, "lognormal")),
        )
        if on and off:
            diff, se = on.minus(off)
            outcome = _compare(on, off)
            verdict = {"better": "held", "worse": "not held", "same": "inconclusive"}[outcome]
            self.verdicts[2] = (
                verdict,
                f"NDI on {on.short}, off {off.short} at 0.9 (difference {diff:+.3f} "
                f"± {se:.3f} s.e.)",
            )
        results, notes = [], []
        for t in (0.9, 0.98):
            het, hom = (
                self.stat(("nsp", t, True, "lognormal")),
                self.stat(("nsp", t, True, "constant")),
            )
            if het and hom:
                results.append(_compare(het, hom))
                diff, se = het.minus(hom)
                notes.append(f"at {t:g}: heterogeneous {het.short}, homogeneous {hom.short} "
                             f"({diff:+.3f} ± {se:.3f})")  # fmt: skip
        if results:
            verdict = ("not held" if "worse" in results
                       else "held" if "better" in results else "inconclusive")  # fmt: skip
            self.verdicts[3] = (verdict, "; ".join(notes))
        sweep = [(self.stat(g, "sparsity"), self.stat(g, "bits_per_ksynop")) for g in self.sweep()]
        points = [(s.mean, b.mean) for s, b in sweep if s and b]
        if len(points) >= 3:
            rho = _spearman([p[0] for p in points], [p[1] for p in points])
            verdict = "held" if rho >= 0.8 else "not held" if rho <= 0 else "inconclusive"
            self.verdicts[4] = (
                verdict,
                f"Spearman rank correlation of bits/kSynOp with sparsity {rho:+.2f} over "
                f"{len(points)} targets (held if >= 0.8, not held if <= 0); bits/kSynOp "
                + ", ".join(f"{p[1]:.4f} at {p[0]:.2f}" for p in sorted(points)),
            )
        elif self.task == "maze":
            self.verdicts[4] = ("n/a", "the maze has no class labels to carry information about")
        comparisons, notes = [], []
        for t in (0.9, 0.98, 0.99):
            nsp = self.stat(("nsp", t, True, "lognormal"))
            others = [(m, self.stat((m, t, True, "lognormal"))) for m in BASELINES]
            others = [(m, o) for m, o in others if o is not None]
            if nsp is None or not others:
                continue
            comparisons += [_compare(nsp, o) for _, o in others]  # type: ignore[arg-type]
            notes.append(
                f"at {t:g}: NSP {nsp.short} vs "
                + ", ".join(f"{METHOD_NAMES[m]} {o.short}" for m, o in others)  # type: ignore[union-attr]
            )
        if comparisons:
            verdict = ("not held" if "worse" in comparisons
                       else "held" if all(c == "better" for c in comparisons)
                       else "inconclusive")  # fmt: skip
            self.verdicts[5] = (verdict, "; ".join(notes))

    # -- plots -----------------------------------------------------------------------

    def plots(self) -> list[str]:
        lines = []
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for method in ("dense", *BASELINES, "nsp"):
            gs = sorted((g for g in self.groups if g[0] == method and g[2] and g[3] == "lognormal"),
                        key=lambda g: g[1])  # fmt: skip
            if not gs:
                continue
            conn = [1 - self.stat(g, "sparsity").mean for g in gs]  # type: ignore[union-attr]
            scores = [self.stat(g) for g in gs]
            ax.errorbar(conn, [s.mean for s in scores], yerr=[s.std for s in scores],  # type: ignore[union-attr]
                        marker="o", capsize=3, label=METHOD_NAMES[method])  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("connectivity (fraction of synapses kept)")
        ax.set_ylabel(self.metric)
        ax.set_title(f"{self.name}: {self.metric} vs connectivity")
        ax.legend(fontsize=8)
        lines.append(self._save(fig, "score-vs-connectivity"))

        fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
        panels = (
            ("NDI", [("on" if ndi else "off", ("nsp", 0.9, ndi, "lognormal"))
                     for ndi in (True, False)]),
            ("a", [(f"{d} @ {t:g}", ("nsp", t, True, d)) for t in (0.9, 0.98)
                   for d in ("lognormal", "uniform", "constant")]),
        )  # fmt: skip
        for ax, (label, pairs) in zip(axes, panels, strict=True):
            present = [(n, self.stat(g)) for n, g in pairs if g in self.groups]
            ax.bar([n for n, _ in present], [s.mean for _, s in present],  # type: ignore[union-attr]
                   yerr=[s.std for _, s in present], capsize=3)  # type: ignore[union-attr]  # fmt: skip
            ax.set_title(f"{self.name}: {label}")
            ax.set_ylabel(self.metric)
            ax.tick_params(axis="x", labelsize=7, rotation=20)
        lines.append(self._save(fig, "ndi-and-a"))

        sweep = self.sweep()
        if sweep:
            fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
            sp = [self.stat(g, "sparsity").mean for g in sweep]  # type: ignore[union-attr]
            measures = (("bits_per_ksynop", "bits / kSynOp"), ("synops", "SynOps"),
                        ("energy_pj", "energy (pJ)"))  # fmt: skip
            for ax, (field, label) in zip(axes, measures, strict=True):
                values = [self.stat(g, field) for g in sweep]
                if all(v is None for v in values):
                    ax.set_axis_off()
                    continue
                ax.plot(sp, [v.mean if v else math.nan for v in values], marker="o")
                ax.set_xlabel("sparsity")
                ax.set_ylabel(label)
                ax.set_title(f"{self.name}: {label}")
            lines.append(self._save(fig, "efficiency-vs-sparsity"))
        return lines

    def _save(self, fig: Any, what: str) -> str:
        fig.tight_layout()
        name = f"{self.name}-{what}.png"
        fig.savefig(self.figures / name, dpi=110)
        plt.close(fig)
        return f"![{self.name}: {what}]({self.link}/{name})"


CLAIMS = {
    1: "high sparsity with minimal loss",
    2: "NDI improves the score",
    3: "heterogeneous transition ratios beat homogeneous ones",
    4: "information-transfer efficiency rises with sparsity",
    5: "NSP beats earlier pruning methods",
}


# the rule of experiments/grids/screen-*.yaml: ties go to the simpler reading
_GRAD_ORDER = {"exact": 0, "until_reached": 1}


def _simplicity(options: dict[str, Any]) -> tuple[int, int]:
    """Fewer options away from the reading before the screening, then the gradient."""
    away = sum(value != ADDED_OPTIONS[key] for key, value in options.items())
    return away, _GRAD_ORDER.get(options["pruned_grad"], 2)


def _ranks(scores: dict[str, float]) -> dict[str, float]:
    """Rank 1 for the best score; equal scores share the mean of their ranks."""
    order = sorted(scores, key=lambda label: -scores[label])
    ranks: dict[str, float] = {}
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for label in order[i : j + 1]:
            ranks[label] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def readings_rule(sections: Sequence[_Section], target: float = 0.98) -> list[str]:
    """The screening's rule (experiments/grids/screen-*.yaml), applied: NSP readings
    ranked per task by mean score at ``target``, the best mean rank over the tasks
    wins, ties to the simpler reading."""
    screened = [s for s in sections if s.has_readings()]
    if not screened:
        return []
    per_task = {s.name: _ranks({k: v.mean for k, v in s.readings(target).items() if v})
                for s in screened}  # fmt: skip
    labels = sorted({label for ranks in per_task.values() for label in ranks})
    complete = [lb for lb in labels if all(lb in ranks for ranks in per_task.values())]
    mean_rank = {lb: statistics.fmean(r[lb] for r in per_task.values()) for lb in complete}
    options = {f"{r.method} {r.a_dist}": dict(r.options) for s in screened for r in s.records}
    order = sorted(complete, key=lambda lb: (mean_rank[lb], *_simplicity(options[lb])))
    out = [
        f"## NSP's readings: the rule at {target:g}",
        "",
        "Per task, the NSP readings ranked by mean score at the target (1 = best); the "
        "winner has the best mean rank over the tasks, ties going to the simpler reading "
        "(fewer options away from the reading before the screening: d1, w_over_a, "
        "straight_through, fixed a; then exact before until_reached before "
        "straight_through). A reading missing from a task is not ranked. " + _default_label(),
        "",
        "| reading | a | " + " | ".join(per_task) + " | mean rank |",
        "|---|---|" + "---|" * (len(per_task) + 1),
    ]
    for lb in order:
        method, a_dist = lb.split(" ")
        cells = [f"{r[lb]:g}" for r in per_task.values()]
        out.append(f"| {method} | {a_dist} | " + " | ".join(cells) + f" | {mean_rank[lb]:.2f} |")
    if order:
        winner = order[0]
        out += ["", f"Winner so far: **{winner}** (mean rank {mean_rank[winner]:.2f})."]
        method, a_dist = winner.split(" ")
        other = f"{method} {'constant' if a_dist == 'lognormal' else 'lognormal'}"
        if other in mean_rank:
            out.append(
                f"Heterogeneous against constant `a` for it: mean rank "
                f"{mean_rank[method + ' lognormal']:.2f} (lognormal) vs "
                f"{mean_rank[method + ' constant']:.2f} (constant)."
            )
    return [*out, ""]


def _machine() -> str:
    import torch

    return (
        f"{platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{__import__('os').cpu_count()} CPUs; Python {platform.python_version()}, "
        f"torch {torch.__version__}"
    )


def _runs(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / RUNS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_report(run_dir: Path, output: Path) -> Path:
    """Write the Markdown report (and its PNGs in ``<output stem>/``) from ``run_dir``."""
    records = load_records(run_dir)
    figures = output.parent / output.stem
    figures.mkdir(parents=True, exist_ok=True)
    by_grid: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_grid[r.grid].append(r)
    sections = [_Section(name, rs, figures, output.stem) for name, rs in sorted(by_grid.items())]
    runs = _runs(run_dir)
    cpu_s = sum(r.wall_s for r in records)
    lines = [
        "# The study: the paper's claims, measured",
        "",
        f"Generated by `python -m experiments report {run_dir}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} from {len(records)} trial "
        "summaries (each trial's `trial.json` and `summary.json`).",
        "",
        f"- Machine: {_machine()}.",
        f"- Trial time: {cpu_s / 3600:.2f} CPU-hours (one torch thread per trial).",
    ]
    if runs:
        wall = sum(r.get("wall_s", 0.0) for r in runs)
        lines.append(f"- Wall time of the runs: {wall / 3600:.2f} h over {len(runs)} invocations:")
        commands = sorted({r["command"] for r in runs})
        lines += [f"  - `{c}`" for c in commands]
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
        "- Score: test accuracy (speech, vision), success rate from every start cell (maze); "
        "mean ± standard deviation over seeds, the number of seeds in brackets.",
        "- A difference counts when it exceeds twice its standard error over seeds, with at "
        "least 2 seeds a side (with fewer, a comparison is inconclusive).",
        "",
        "## Claims",
        "",
        "| claim | " + " | ".join(s.name for s in sections) + " |",
        "|---|" + "---|" * len(sections),
    ]
    for s in sections:
        s.judge()
    for number, text in CLAIMS.items():
        cells = [s.verdicts.get(number, ("not run", ""))[0] for s in sections]
        lines.append(f"| {number}. {text} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += readings_rule(sections)
    for number, text in CLAIMS.items():
        lines.append(f"**Claim {number}: {text}.**")
        for s in sections:
            verdict, detail = s.verdicts.get(number, ("not run", "no trials for it yet"))
            lines.append(f"- {s.name}: **{verdict}**. {detail}")
        lines.append("")
    for s in sections:
        lines += [f"## {s.name} ({s.task})", ""]
        lines += s.sweep_table()
        lines += s.pair_table(
            "NDI (NSP at 0.9; claim 2)",
            [("NDI on", ("nsp", 0.9, True, "lognormal")),
             ("NDI off", ("nsp", 0.9, False, "lognormal"))],
        )  # fmt: skip
        lines += s.pair_table(
            "Transition ratio a (NSP, NDI on; claim 3)",
            [(f"{d}", ("nsp", t, True, d)) for t in (0.9, 0.98)
             for d in ("lognormal", "uniform", "constant")],
        )  # fmt: skip
        lines += s.methods_table()
        lines += s.readings_table()
        lines += [*s.plots(), ""]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines) + "\n")
    return output
