"""One-sided binomial tests with a Benjamini-Hochberg correction, per family of cells.

Used by the drop-off points (story hazard of an episode against the series' pooled story
hazard) and the exit moments (exit share of an episode x 5-s bucket against the series'
pooled share at the same position): METRICS.md, "Drop-off by cause" and "Exit moments".
Plain numpy and scipy; no Dagster, no Streamlit.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom

ALPHA = 0.05


def binomial_upper_p(successes: np.ndarray, trials: np.ndarray, p0: np.ndarray) -> np.ndarray:
    """P(X >= successes) for X ~ Binomial(trials, p0): the one-sided exact p-value of
    "this cell's rate is above p0". 1 where there is nothing to test (no trials or no
    successes); where p0 is 0 any success is infinitely surprising (p = 0)."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    p = np.clip(np.asarray(p0, dtype=float), 0.0, 1.0)
    out = np.ones(k.shape)
    test = (n > 0) & (k > 0) & np.isfinite(p)
    out[test] = binom.sf(k[test] - 1, n[test], p[test])
    return np.clip(out, 0.0, 1.0)


def benjamini_hochberg(p_values: np.ndarray, families: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values (q-values) within each family (e.g. a series' cells).

    q_(i) = min_{j >= i} m p_(j) / j over the family's p-values sorted ascending, capped at
    1; a cell is significant at level alpha when q <= alpha, which is the BH step-up rule.
    """
    p = np.asarray(p_values, dtype=float)
    fam = np.asarray(families)
    q = np.ones_like(p)
    if len(p) == 0:
        return q
    # sort by family, then by p within the family
    codes = np.unique(fam, return_inverse=True)[1]
    order = np.lexsort((p, codes))
    c_sorted, p_sorted = codes[order], p[order]
    starts = np.flatnonzero(np.r_[True, c_sorted[1:] != c_sorted[:-1]])
    sizes = np.diff(np.r_[starts, len(p)])
    rank = np.arange(len(p)) - np.repeat(starts, sizes) + 1
    m = np.repeat(sizes, sizes)
    raw = p_sorted * m / rank
    # running minimum from the end of each family
    adjusted = np.empty_like(raw)
    for s, size in zip(starts, sizes, strict=True):
        adjusted[s : s + size] = np.minimum.accumulate(raw[s : s + size][::-1])[::-1]
    q[order] = np.minimum(adjusted, 1.0)
    return q
