"""The study's statistics: a condition's scores over seeds, its standard error, and the
test that says whether two conditions differ.

A score is a proportion measured on a finite set (test accuracy over the test
samples, success over the evaluation episodes), so it carries two errors: the
spread between training seeds, and the sampling error of the set it is measured
on. A cell's variance of the mean is therefore

    var = s^2 / k + p~ (1 - p~) / n

with ``s`` the standard deviation over its ``k`` seeds, ``n`` the samples behind
each score, and ``p~ = (x + 2) / (n + 4)`` the Agresti-Coull estimate of the
proportion (``x = mean * n``), which is never 0 or 1: seeds that all score the
same never make a difference certain. The sampling term is not divided by ``k``:
every seed is scored on the same set, so its sampling error does not average out.
Between two cells on the same set that term is shared, which makes the test
conservative.

Two cells are compared by Welch's t-test on ``var_a + var_b`` with
Welch-Satterthwaite degrees of freedom; when both cells ran the same seeds (the
seed fixes the initial weights, the data order and the spikes), by the paired
version: the seed-to-seed spread of the per-seed differences replaces the two
spreads. A comparison with fewer than 2 seeds on a side is ``too few seeds``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as scipy_stats

__all__ = ["ALPHA", "Cell", "Comparison", "compare", "margin_test", "p_text"]

#: the level of every test (two-sided), unless a rule says otherwise
ALPHA = 0.05
#: the outcomes of :func:`compare`
OUTCOMES = ("better", "worse", "same", "too few seeds")


@dataclass(frozen=True)
class Cell:
    """One condition's scores, one per seed, and the samples behind each score.

    :param scores: one score per seed, each a proportion in [0, 1].
    :param seeds: the seeds, in the order of ``scores``.
    :param n_samples: test samples (or evaluation episodes) behind each score;
        None when unknown, which leaves the sampling term out.
    """

    scores: tuple[float, ...]
    seeds: tuple[int, ...]
    n_samples: int | None = None

    def __post_init__(self) -> None:
        if len(self.scores) != len(self.seeds):
            raise ValueError(f"{len(self.scores)} scores for {len(self.seeds)} seeds")
        if not self.scores:
            raise ValueError("a cell needs at least one score")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"a seed appears twice in {self.seeds}")
        bad = [s for s in self.scores if not (math.isfinite(s) and 0.0 <= s <= 1.0)]
        if bad:
            raise ValueError(f"scores are proportions in [0, 1], got {bad[0]}")
        if self.n_samples is not None and self.n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {self.n_samples}")

    @property
    def k(self) -> int:
        """The number of seeds."""
        return len(self.scores)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores)

    @property
    def sd(self) -> float:
        """Standard deviation over seeds (0 with one seed)."""
        return statistics.stdev(self.scores) if self.k > 1 else 0.0

    @property
    def sampling_var(self) -> float:
        """The binomial variance of one score on ``n_samples`` (Agresti-Coull)."""
        if self.n_samples is None:
            return 0.0
        n = self.n_samples
        p = (self.mean * n + 2.0) / (n + 4.0)
        return p * (1.0 - p) / n

    @property
    def var(self) -> float:
        """Variance of the mean: seeds' spread over k plus the sampling variance."""
        return self.sd**2 / self.k + self.sampling_var

    @property
    def se(self) -> float:
        return math.sqrt(self.var)

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.se:.3f} ({self.k})"

    @property
    def short(self) -> str:
        return f"{self.mean:.3f} (n={self.k})"


@dataclass(frozen=True)
class Comparison:
    """The difference ``a - b`` and the test on it.

    :param outcome: ``better`` / ``worse`` (a against b, significant at the level),
        ``same`` (not significant), or ``too few seeds``.
    :param paired: whether the test paired the cells by seed.
    """

    diff: float
    se: float
    df: float
    p: float
    outcome: str
    paired: bool

    def __str__(self) -> str:
        if self.outcome == "too few seeds":
            return f"{self.diff:+.3f} (too few seeds to test)"
        kind = "paired t" if self.paired else "Welch t"
        return f"{self.diff:+.3f} ± {self.se:.3f}, p {p_text(self.p)} ({kind}, df {self.df:.1f})"


def p_text(p: float) -> str:
    """A p-value as the report writes it after "p": ``< 0.001``, ``= 0.042`` or ``= n/a``."""
    if p != p:
        return "= n/a"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def _satterthwaite(parts: Sequence[tuple[float, float]]) -> float:
    """Degrees of freedom of a sum of variance estimates ``(variance, its df)``."""
    total = sum(v for v, _ in parts)
    denominator = sum(v * v / d for v, d in parts if v > 0 and d > 0)
    if total <= 0 or denominator <= 0:
        return math.inf
    return total * total / denominator


def _parts(a: Cell, b: Cell, paired: bool) -> list[tuple[float, float]]:
    if paired:
        order = {seed: i for i, seed in enumerate(b.seeds)}
        diffs = [x - b.scores[order[seed]] for x, seed in zip(a.scores, a.seeds, strict=True)]
        parts = [(statistics.variance(diffs) / a.k, a.k - 1.0)]
    else:
        parts = [(a.sd**2 / a.k, a.k - 1.0), (b.sd**2 / b.k, b.k - 1.0)]
    for cell in (a, b):
        if cell.n_samples is not None:
            parts.append((cell.sampling_var, cell.n_samples - 1.0))
    return parts


def compare(a: Cell, b: Cell, alpha: float = ALPHA) -> Comparison:
    """Whether ``a`` scores differently from ``b``: Welch's t-test (paired by seed when
    both ran the same seeds), two-sided at ``alpha``, on the variances of
    :class:`Cell`."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    diff = a.mean - b.mean
    paired = a.k >= 2 and sorted(a.seeds) == sorted(b.seeds)
    if a.k < 2 or b.k < 2:
        return Comparison(diff, math.nan, math.nan, math.nan, "too few seeds", False)
    parts = _parts(a, b, paired)
    var = sum(v for v, _ in parts)
    if var <= 0:  # no spread and no sampling term: nothing to judge a difference by
        return Comparison(diff, 0.0, math.inf, 1.0, "same", paired)
    se = math.sqrt(var)
    df = _satterthwaite(parts)
    p = float(2.0 * scipy_stats.t.sf(abs(diff) / se, df))
    outcome = "same" if p >= alpha else ("better" if diff > 0 else "worse")
    return Comparison(diff, se, df, p, outcome, paired)


def margin_test(reference: Cell, pruned: Cell, margin: float, alpha: float = ALPHA) -> Comparison:
    """One-sided test that the loss ``reference - pruned`` exceeds ``margin``.

    ``outcome`` is ``worse`` when the loss is significantly above the margin
    (p < alpha), ``better`` when its point estimate is at most the margin, else
    ``same``; ``too few seeds`` as in :func:`compare`. ``diff`` is the loss.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    loss = reference.mean - pruned.mean
    if reference.k < 2 or pruned.k < 2:
        return Comparison(loss, math.nan, math.nan, math.nan, "too few seeds", False)
    paired = sorted(reference.seeds) == sorted(pruned.seeds)
    parts = _parts(reference, pruned, paired)
    var = sum(v for v, _ in parts)
    se = math.sqrt(var)
    df = _satterthwaite(parts)
    if se == 0:
        p = 0.0 if loss > margin else 1.0
    else:
        p = float(scipy_stats.t.sf((loss - margin) / se, df))
    if p < alpha:
        outcome = "worse"
    elif loss <= margin:
        outcome = "better"
    else:
        outcome = "same"
    return Comparison(loss, se, df, p, outcome, paired)
