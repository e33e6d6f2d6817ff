"""The governance statistics on cases computed by hand or read from the tables."""

from __future__ import annotations

import pytest

from ccr.governance import stats


@pytest.mark.parametrize(("df", "expected"), [(1, 12.7062), (3, 3.1824), (10, 2.2281), (30, 2.0423), (10**8, 1.9600)])
def test_student_quantile_matches_the_tables(df, expected):
    assert stats.t_quantile_975(df) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(("hits", "n", "low", "high"), [
    (2, 10, 0.0567, 0.5098),  # p = 0.2, z = 1.96: the textbook example
    (1, 2, 0.0945, 0.9055),
    (0, 20, 0.0, 0.1611),  # never 0 wide at 0 %, unlike p ± 1.96·se
    (20, 20, 0.8389, 1.0),
])
def test_wilson_interval_by_hand(hits, n, low, high):
    lo, hi = stats.wilson_interval(hits, n)
    assert (lo, hi) == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))


def test_tests_and_holm_by_hand():
    # a: mean 3, variance 2.5 (n 5); b: mean 7, variance 14 (n 6): t = -4 / sqrt(0.5 + 14/6) = -2.3764,
    # Welch's df = 2.8333² / (0.5²/4 + 2.3333²/5) = 6.970; two-sided p = 0.0493.
    assert stats.welch_test([1, 2, 3, 4, 5], [2, 4, 6, 8, 10, 12]) == pytest.approx(0.0493, abs=2e-4)
    # 10/50 against 20/50: pooled 0.3, se = sqrt(0.21 · 0.04) = 0.09165, z = 2.182, p = 0.0291.
    assert stats.two_proportion_test(10, 50, 20, 50) == pytest.approx(0.0291, abs=2e-4)
    assert stats.holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert stats.welch_test([70.0] * 5, [70.0] * 5) == 1.0


@pytest.mark.parametrize(("agree", "n", "low", "high"), [
    (8, 10, 0.4902, 0.9433),
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (45, 50, 0.7864, 0.9565),
])
def test_wilson_interval_on_more_cases(agree, n, low, high):
    lo, hi = stats.wilson_interval(agree, n)
    assert (round(lo, 4), round(hi, 4)) == (low, high)


def test_no_interval_without_a_case():
    assert stats.wilson_interval(0, 0) is None and stats.mean_interval([72.0]) is None
