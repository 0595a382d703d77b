"""Uncertainty for group comparisons: bootstrap confidence intervals over series.

Plain numpy functions (no Streamlit), unit-tested in tests/test_dashboard_stats.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

N_BOOT = 2000
LEVEL = 0.95


def _clean(*arrays: Sequence[float]) -> list[np.ndarray]:
    arrs = [np.asarray(a, dtype=float) for a in arrays]
    keep = np.ones(len(arrs[0]), dtype=bool)
    for a in arrs:
        keep &= np.isfinite(a)
    return [a[keep] for a in arrs]


def bootstrap_ratio(
    numerator: Sequence[float],
    denominator: Sequence[float],
    n_boot: int = N_BOOT,
    level: float = LEVEL,
    seed: int = 0,
) -> tuple[float, float, float, int]:
    """sum(numerator) / sum(denominator) and its percentile bootstrap CI, resampling rows.

    Rows are the units that vary independently (series here): resampling them, not viewers,
    keeps the interval honest when a group holds only a few series. Rows with a missing value
    or a zero denominator are left out. Returns (estimate, low, high, rows used); NaNs when no
    row is usable. The same seed gives the same interval (the dashboard must not flicker).
    """
    num, den = _clean(numerator, denominator)
    keep = den > 0
    num, den = num[keep], den[keep]
    n = len(num)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    estimate = float(num.sum() / den.sum())
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    ratios = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return estimate, float(low), float(high), n


def bootstrap_weighted_mean(
    values: Sequence[float],
    weights: Sequence[float],
    n_boot: int = N_BOOT,
    level: float = LEVEL,
    seed: int = 0,
) -> tuple[float, float, float, int]:
    """Weighted mean sum(w·v) / sum(w) with a bootstrap CI over rows (see bootstrap_ratio)."""
    v, w = _clean(values, weights)
    return bootstrap_ratio(v * w, w, n_boot=n_boot, level=level, seed=seed)


# metric -> (numerator, denominator) built from a scorecard frame: rates are weighted by the
# series' viewers; cost per watch hour is total cost over total watch hours
COMPARISONS: dict[str, str] = {
    "hook_rate": "Hook rate",
    "completion_rate": "Completion",
    "paywall_conversion_rate": "Paywall conversion",
    "cost_per_watch_hour": "Cost per watch hour (USD)",
}


def compare_groups(
    scorecard: pd.DataFrame, group: str = "production_type", seed: int = 0
) -> pd.DataFrame:
    """One row per group × metric of COMPARISONS: value, 95% CI, series used."""
    rows = []
    for name, part in scorecard.groupby(group, sort=True):
        for metric, label in COMPARISONS.items():
            if metric == "cost_per_watch_hour":
                est, lo, hi, n = bootstrap_ratio(
                    part["production_cost_usd"], part["watch_hours"], seed=seed
                )
            else:
                est, lo, hi, n = bootstrap_weighted_mean(part[metric], part["viewers"], seed=seed)
            rows.append(
                {group: name, "metric": metric, "label": label, "value": est,
                 "ci_low": lo, "ci_high": hi, "series": n}
            )  # fmt: skip
    return pd.DataFrame(
        rows, columns=[group, "metric", "label", "value", "ci_low", "ci_high", "series"]
    )
