"""The study's statistics and verdict rules on constructed cells: every verdict of
every rule is reachable, seeds that all score the same never make a difference
certain, and too few seeds never decide."""

from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats

from experiments.claims import (
    beats_baselines,
    efficiency_rises,
    heterogeneous_a,
    minimal_loss,
    ndi_improves,
    spearman,
)
from experiments.stats import Cell, compare, margin_test

SEEDS = (10, 11, 12, 13, 14)


def cell(*scores: float, n: int | None = 1000, seeds: tuple[int, ...] = SEEDS) -> Cell:
    return Cell(tuple(scores), seeds[: len(scores)], n)


def test_zero_spread_still_has_a_standard_error_from_its_samples() -> None:
    a = cell(0.6, 0.6, 0.6, n=30)
    b = cell(1.0, 1.0, 1.0, n=30)
    # Agresti-Coull: p~ = (0.6 * 30 + 2) / 34; the sampling variance is never 0
    p = (18 + 2) / 34
    assert a.se == pytest.approx(math.sqrt(p * (1 - p) / 30))
    assert b.se > 0 and b.sd == 0
    # the old rule (2 s.e. over seeds) called 0.600 +- 0.000 against 1.000 certain; with
    # 30 episodes each it is still a real difference, but a small one is not
    assert compare(b, a).outcome == "better"
    assert compare(cell(0.9, 0.9, 0.9, n=30), cell(0.867, 0.867, 0.867, n=30)).outcome == "same"


def test_welch_matches_scipy_without_sampling_term() -> None:
    a = Cell((0.90, 0.92, 0.91, 0.95), (1, 2, 3, 4), None)
    b = Cell((0.85, 0.88, 0.86), (5, 6, 7), None)
    result = compare(a, b)
    reference = scipy_stats.ttest_ind(a.scores, b.scores, equal_var=False)
    assert not result.paired
    assert result.p == pytest.approx(reference.pvalue, rel=1e-9)


def test_paired_by_seed_matches_scipy_without_sampling_term() -> None:
    a = Cell((0.90, 0.92, 0.91, 0.95), (1, 2, 3, 4), None)
    b = Cell((0.89, 0.90, 0.90, 0.93), (4, 3, 2, 1), None)  # same seeds, other order
    result = compare(a, b)
    pairs = {1: 0.93, 2: 0.90, 3: 0.90, 4: 0.89}
    reference = scipy_stats.ttest_rel(a.scores, [pairs[s] for s in a.seeds])
    assert result.paired
    assert result.p == pytest.approx(reference.pvalue, rel=1e-9)


def test_too_few_seeds_never_decides() -> None:
    one = cell(0.99)
    many = cell(0.5, 0.51, 0.49)
    assert compare(one, many).outcome == "too few seeds"
    assert margin_test(many, one, 0.02).outcome == "too few seeds"
    too_few = minimal_loss(many, one)
    assert too_few.verdict == "inconclusive" and "(too few seeds to test)" in too_few.detail
    assert "nan" not in too_few.detail
    assert ndi_improves(one, many).verdict == "inconclusive"


def test_cells_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="proportions"):
        Cell((1.2,), (0,), 10)
    with pytest.raises(ValueError, match="2 scores for 1 seeds"):
        Cell((0.1, 0.2), (0,), 10)
    with pytest.raises(ValueError, match="seed appears twice"):
        Cell((0.1, 0.2), (0, 0), 10)
    with pytest.raises(ValueError, match="n_samples"):
        Cell((0.1,), (0,), 0)


def test_claim_1_every_verdict() -> None:
    dense = cell(0.95, 0.95, 0.96, 0.95, 0.96)
    assert minimal_loss(dense, cell(0.94, 0.94, 0.95, 0.94, 0.95)).verdict == "held"
    assert minimal_loss(dense, cell(0.80, 0.81, 0.80, 0.82, 0.80)).verdict == "not held"
    # a loss of 0.03 on 100 samples: above the margin, but not significantly
    small = minimal_loss(cell(0.95, 0.95, 0.96, n=100), cell(0.92, 0.93, 0.92, n=100))
    assert small.verdict == "inconclusive"
    assert minimal_loss(None, dense).verdict == "not run"


def test_claim_2_every_verdict() -> None:
    on, off = cell(0.95, 0.96, 0.95), cell(0.85, 0.86, 0.84)
    assert ndi_improves(on, off).verdict == "held"
    assert ndi_improves(off, on).verdict == "not held"
    assert ndi_improves(on, cell(0.95, 0.95, 0.96)).verdict == "inconclusive"
    assert ndi_improves(on, None).verdict == "not run"


def test_claim_3_every_verdict_with_bonferroni() -> None:
    high, low = cell(0.95, 0.96, 0.95), cell(0.85, 0.86, 0.84)
    same = cell(0.95, 0.95, 0.96)
    assert heterogeneous_a({0.98: (high, low), 0.99: (same, high)}).verdict == "held"
    assert heterogeneous_a({0.98: (high, low), 0.99: (low, high)}).verdict == "not held"
    assert heterogeneous_a({0.98: (same, high), 0.99: (high, same)}).verdict == "inconclusive"
    assert heterogeneous_a({0.98: (None, high)}).verdict == "not run"
    # a difference significant at 0.05 but not at 0.025 does not hold it with two targets
    a = Cell((0.60, 0.62, 0.61, 0.63, 0.58), SEEDS, None)
    b = Cell((0.58, 0.60, 0.60, 0.59, 0.575), SEEDS, None)
    assert 0.025 < compare(a, b).p < 0.05
    assert heterogeneous_a({0.98: (a, b)}).verdict == "held"
    assert heterogeneous_a({0.98: (a, b), 0.99: (same, same)}).verdict == "inconclusive"


def test_claim_4_every_verdict() -> None:
    rising = [(0.9, 0.004, 3.2), (0.95, 0.008, 3.1), (0.99, 0.03, 3.0)]
    assert efficiency_rises(rising).verdict == "held"
    assert (
        "mutual information 3.20 bits at 0.900 and 3.00 at 0.990" in efficiency_rises(rising).detail
    )
    falling = [(s, -b, m) for s, b, m in rising]
    assert efficiency_rises(falling).verdict == "not held"
    mixed = [(0.9, 0.004, None), (0.95, 0.02, None), (0.98, 0.003, None), (0.99, 0.03, None)]
    assert efficiency_rises(mixed).verdict == "inconclusive"
    assert efficiency_rises(rising[:2]).verdict == "not run"
    assert spearman([1, 2, 2, 3], [1, 2, 2, 3]) == pytest.approx(1.0)


def test_claim_5_every_verdict() -> None:
    nsp = cell(0.95, 0.96, 0.95, 0.96, 0.95)
    low, same = cell(0.85, 0.86, 0.84, 0.85, 0.85), cell(0.95, 0.95, 0.96, 0.96, 0.95)
    assert beats_baselines(nsp, {"magnitude": low, "STDS": low}).verdict == "held"
    assert beats_baselines(nsp, {"magnitude": same, "STDS": low}).verdict == "inconclusive"
    assert beats_baselines(low, {"magnitude": nsp, "STDS": low}).verdict == "not held"
    # a baseline not run yet keeps it from holding, and is named
    partial = beats_baselines(nsp, {"magnitude": low, "Grad R": None})
    assert partial.verdict == "inconclusive" and "not run yet: Grad R" in partial.detail
    assert beats_baselines(None, {"magnitude": low}).verdict == "not run"
