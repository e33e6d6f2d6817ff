"""The few statistics the governance documents and the fairness audit need, written here because scipy is not
a dependency: Wilson intervals for proportions, Student intervals and Welch's test for means, the normal test of
two proportions, and Holm's correction for many comparisons."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from functools import lru_cache

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile: a two-sided 95 % interval


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz, Numerical Recipes)."""
    tiny, eps = 1e-300, 3e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    # The continued fraction converges fast on this side of the mean; the other side by symmetry.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """Two-sided p-value of Student's t statistic ``t`` with ``df`` degrees of freedom."""
    if math.isnan(t):
        return 1.0
    if df > 1e7:  # Student's t is the normal distribution then
        return normal_two_sided_p(t)
    return min(1.0, _betainc(df / 2.0, 0.5, df / (df + t * t)))


def normal_two_sided_p(z: float) -> float:
    """Two-sided p-value of a standard normal statistic ``z``."""
    return math.erfc(abs(z) / math.sqrt(2.0))


@lru_cache(maxsize=512)
def t_quantile_975(df: float) -> float:
    """Student's t 97.5th percentile (the half-width factor of a two-sided 95 % interval), by bisection."""
    lo, hi = 0.0, 1e4
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_two_sided_p(mid, df) > 1.0 - 0.95:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def mean_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """The 95 % interval of the mean of ``values`` (Student's t); None under two values."""
    n = len(values)
    if n < 2:
        return None
    mean = statistics.fmean(values)
    half = t_quantile_975(n - 1) * statistics.stdev(values) / math.sqrt(n)
    return mean - half, mean + half


def wilson_interval(hits: int, n: int) -> tuple[float, float] | None:
    """Wilson's 95 % interval of a proportion ``hits``/``n`` (sound near 0 and 1, unlike p ± 1.96·se)."""
    if n <= 0:
        return None
    p, z2 = hits / n, Z95 * Z95
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def welch_from_moments(na: int, mean_a: float, var_a: float, nb: int, mean_b: float, var_b: float) -> float:
    """Two-sided p-value of Welch's t-test from each sample's size, mean and (n - 1) variance."""
    if na < 2 or nb < 2:
        return 1.0
    va, vb = max(var_a, 0.0) / na, max(var_b, 0.0) / nb
    diff = mean_a - mean_b
    if va + vb <= 1e-12:  # every value equal on both sides: either no gap at all or a certain one
        return 1.0 if abs(diff) <= 1e-9 else 0.0
    df = (va + vb) ** 2 / (va * va / (na - 1) + vb * vb / (nb - 1))
    return t_two_sided_p(diff / math.sqrt(va + vb), df)


def welch_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test that ``a`` and ``b`` have the same mean (unequal variances)."""
    if len(a) < 2 or len(b) < 2:
        return 1.0
    return welch_from_moments(len(a), statistics.fmean(a), statistics.variance(a),
                              len(b), statistics.fmean(b), statistics.variance(b))


def two_proportion_test(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test that ``k1/n1`` and ``k2/n2`` are equal."""
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0.0:
        return 1.0
    return normal_two_sided_p((k1 / n1 - k2 / n2) / se)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given (controls the family-wise error rate)."""
    m = len(p_values)
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda j: p_values[j])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
