"""The verdict rules of the paper's five claims, as pure functions of the cells
(:class:`experiments.stats.Cell`) a study measured.

Every rule is written beside its verdict in the report (:data:`RULES`); the tests
in ``tests/experiments/test_claims.py`` reach every verdict of every rule on
constructed cells. A verdict is ``held``, ``not held``, ``inconclusive`` or
``not run`` (a cell it needs is missing).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from experiments.stats import ALPHA, Cell, compare, margin_test, p_text

__all__ = [
    "CLAIMS",
    "MINIMAL_LOSS",
    "RULES",
    "Verdict",
    "beats_baselines",
    "efficiency_rises",
    "heterogeneous_a",
    "minimal_loss",
    "ndi_improves",
]

CLAIMS = {
    1: "high sparsity with minimal loss",
    2: "NDI improves the score",
    3: "heterogeneous transition ratios beat homogeneous ones",
    4: "information-transfer efficiency rises with sparsity",
    5: "NSP beats earlier pruning methods",
}
#: claim 1: the largest loss against the unpruned network that counts as minimal
MINIMAL_LOSS = 0.02
#: claim 4: the rank correlation that holds it
EFFICIENCY_RHO = 0.8

RULES = {
    1: f"NSP at 0.99 against dense. Held if the loss is at most {MINIMAL_LOSS}; not held "
    f"if it is significantly above {MINIMAL_LOSS} (one-sided t-test at {ALPHA}); else "
    "inconclusive.",
    2: f"NSP with NDI against NSP without it, at 0.9. Held if NDI is significantly better "
    f"(two-sided at {ALPHA}), not held if significantly worse, else inconclusive.",
    3: "Fixed heterogeneous (lognormal) a against fixed constant a, at 0.98 and 0.99. Held "
    f"if heterogeneous is significantly better at one target (each test at {ALPHA}/2, "
    "Bonferroni over the two) and significantly worse at none; not held if significantly "
    "worse at one; else inconclusive. The learnable pair (NSP against NSP with a constant "
    "start of a, both learnable, same configuration) is shown beside it.",
    4: f"Spearman rank correlation of bits / kSynOp with the sparsity over NSP's targets. "
    f"Held if >= {EFFICIENCY_RHO}, not held if <= 0, else inconclusive (3 targets at "
    "least). Part of the rise is automatic: SynOps fall with the synapses while the "
    "information stays bounded by log2 of the classes, so the mutual information itself "
    "is shown beside it.",
    5: f"NSP against each tuned baseline at 0.99. Held if NSP is significantly better than "
    f"every baseline (each test at {ALPHA}); not held if significantly worse than one "
    f"(each test at {ALPHA} / the number of baselines, Bonferroni); else inconclusive.",
}


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict on one task and the numbers behind it."""

    verdict: str
    detail: str


NOT_RUN = "not run"


def _missing(what: str) -> Verdict:
    return Verdict(NOT_RUN, f"no trials for {what} yet")


def minimal_loss(dense: Cell | None, nsp: Cell | None, target: float = 0.99) -> Verdict:
    """Claim 1 (:data:`RULES`)."""
    if dense is None or nsp is None:
        return _missing(f"dense and NSP at {target:g}")
    test = margin_test(dense, nsp, MINIMAL_LOSS)
    if test.outcome == "too few seeds":
        verdict = "inconclusive"
    else:
        verdict = {"better": "held", "worse": "not held", "same": "inconclusive"}[test.outcome]
    if test.outcome == "too few seeds":
        tested = f"loss {test.diff:+.3f} (too few seeds to test)"
    else:
        tested = (
            f"loss {test.diff:+.3f} ± {test.se:.3f} "
            f"(p {p_text(test.p)} that it exceeds {MINIMAL_LOSS})"
        )
    return Verdict(verdict, f"dense {dense}, NSP {nsp} at {target:g}: {tested}")


def ndi_improves(on: Cell | None, off: Cell | None, target: float = 0.9) -> Verdict:
    """Claim 2 (:data:`RULES`)."""
    if on is None or off is None:
        return _missing(f"NSP with and without NDI at {target:g}")
    result = compare(on, off)
    verdict = {"better": "held", "worse": "not held"}.get(result.outcome, "inconclusive")
    return Verdict(verdict, f"NDI on {on}, off {off} at {target:g}: {result}")


def heterogeneous_a(pairs: Mapping[float, tuple[Cell | None, Cell | None]]) -> Verdict:
    """Claim 3 (:data:`RULES`): ``pairs`` maps a target to (heterogeneous, constant)."""
    present = {t: (h, c) for t, (h, c) in pairs.items() if h is not None and c is not None}
    if not present:
        return _missing("fixed heterogeneous and fixed constant a")
    alpha = ALPHA / len(present)
    outcomes, notes = [], []
    for target, (het, hom) in sorted(present.items()):
        result = compare(het, hom, alpha)  # type: ignore[arg-type]
        outcomes.append(result.outcome)
        notes.append(f"at {target:g}: heterogeneous {het}, constant {hom}: {result}")
    if "worse" in outcomes:
        verdict = "not held"
    elif "better" in outcomes:
        verdict = "held"
    else:
        verdict = "inconclusive"
    return Verdict(verdict, "; ".join(notes) + f" (each test at {alpha:g})")


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, ties sharing the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for position in order[i : j + 1]:
            ranks[position] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman's rank correlation (0 when either side is constant)."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError(f"need two equal-length sequences of 2 or more, got {len(xs)}, {len(ys)}")
    rx, ry = _ranks(xs), _ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    num = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    den = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return num / den if den else 0.0


def efficiency_rises(points: Sequence[tuple[float, float, float | None]]) -> Verdict:
    """Claim 4 (:data:`RULES`): ``points`` are (sparsity, bits / kSynOp, mutual
    information in bits) over NSP's targets."""
    if len(points) < 3:
        return _missing("three NSP targets with an information figure")
    rho = spearman([p[0] for p in points], [p[1] for p in points])
    verdict = "held" if rho >= EFFICIENCY_RHO else "not held" if rho <= 0 else "inconclusive"
    ordered = sorted(points)
    first, last = ordered[0], ordered[-1]
    mi = ""
    if first[2] is not None and last[2] is not None:
        mi = (
            f"; mutual information {first[2]:.2f} bits at {first[0]:.3f} and {last[2]:.2f} at "
            f"{last[0]:.3f}"
        )
    return Verdict(
        verdict,
        f"rank correlation {rho:+.2f} over {len(points)} targets; bits / kSynOp "
        + ", ".join(f"{b:.4f} at {s:.3f}" for s, b, _ in ordered)
        + mi,
    )


def beats_baselines(nsp: Cell | None, baselines: Mapping[str, Cell | None]) -> Verdict:
    """Claim 5 (:data:`RULES`): NSP against each named baseline's cell."""
    present = {name: cell for name, cell in baselines.items() if cell is not None}
    if nsp is None or not present:
        return _missing("NSP and the baselines at 0.99")
    strict = ALPHA / len(present)
    better, worse, notes = [], [], []
    for name, cell in present.items():
        result = compare(nsp, cell)
        better.append(result.outcome == "better")
        worse.append(compare(nsp, cell, strict).outcome == "worse")
        notes.append(f"{name} {cell}: {result}")
    if any(worse):
        verdict = "not held"
    elif all(better) and len(present) == len(baselines):
        verdict = "held"
    else:
        verdict = "inconclusive"
    missing = [name for name, cell in baselines.items() if cell is None]
    tail = f"; not run yet: {', '.join(missing)}" if missing else ""
    return Verdict(verdict, f"NSP {nsp} against " + "; ".join(notes) + tail)
