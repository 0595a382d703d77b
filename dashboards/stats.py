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


# ---- small samples: beta-binomial shrinkage (METRICS.md "Small samples") -------------------

# a prior's weight alpha + beta is capped: with no spread between series beyond binomial noise
# the moment estimate is infinite (every series would be shrunk all the way to the pool)
MAX_PRIOR_WEIGHT = 1e6


def fit_beta_prior(successes: Sequence[float], trials: Sequence[float]) -> tuple[float, float]:
    """One beta prior (alpha, beta) for a set of binomial rates, by the method of moments.

    Kleinman's weighted moments for the beta-binomial: the mean is the pooled rate
    mu = sum(s) / sum(n); the spread between series beyond binomial noise is the
    intra-class correlation rho = (S / (mu (1 - mu)) - k) / (sum(n) - k), with
    S = sum n_i (p_i - mu)^2 over the k series with trials; then alpha + beta = 1 / rho - 1.
    rho is kept in [1 / (MAX_PRIOR_WEIGHT + 1), 1). Series without trials are left out.
    """
    s, n = _clean(successes, trials)
    keep = n > 0
    s, n = s[keep], n[keep]
    if len(n) == 0 or n.sum() == 0:
        return float("nan"), float("nan")
    mu = float(s.sum() / n.sum())
    if mu <= 0 or mu >= 1 or len(n) < 2 or n.sum() <= len(n):
        weight = MAX_PRIOR_WEIGHT
    else:
        spread = float((n * (s / n - mu) ** 2).sum())
        rho = (spread / (mu * (1 - mu)) - len(n)) / (n.sum() - len(n))
        rho = min(max(rho, 1.0 / (MAX_PRIOR_WEIGHT + 1)), 1 - 1e-9)
        weight = 1.0 / rho - 1.0
    return mu * weight, (1 - mu) * weight


def shrink(
    successes: Sequence[float], trials: Sequence[float], prior: tuple[float, float]
) -> np.ndarray:
    """(successes + alpha) / (trials + alpha + beta): the posterior mean of each rate."""
    a, b = prior
    s = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(s) & np.isfinite(n), (s + a) / (n + a + b), np.nan)


def wilson(successes: float, trials: float, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson 95 % interval of a binomial rate (NaNs without trials)."""
    if not trials or trials <= 0 or not np.isfinite(trials):
        return float("nan"), float("nan")
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return float(centre - half), float(centre + half)


# rate -> (successes column, trials column) in the scorecard
RATES: dict[str, tuple[str, str]] = {
    "hook_rate": ("hooked_viewers", "episode1_viewers"),
    "completion_rate": ("finishers", "episode1_viewers"),
    "paywall_conversion_rate": ("paywall_converters", "last_free_viewers"),
}


def add_shrunk_rates(card: pd.DataFrame) -> pd.DataFrame:
    """``<rate>_shrunk`` beside every rate of RATES, one prior fitted across all rows given
    (so shrinkage pulls every series toward the same pool and makes no group differences)."""
    out = card.copy()
    for rate, (succ, trials) in RATES.items():
        if succ not in out.columns:
            continue
        usable = out[rate].notna()
        prior = fit_beta_prior(out.loc[usable, succ], out.loc[usable, trials])
        out[f"{rate}_shrunk"] = np.where(
            usable, shrink(out[succ].fillna(0), out[trials].fillna(0), prior), np.nan
        )
    return out


# ---- like-for-like group comparisons -------------------------------------------------------

MIN_SERIES_PER_ARM = 2  # a stratum is compared only with this many series on each side
MIN_VIEWERS_PER_ARM = 30  # ... and this many viewers on each side


def age_band(days: float) -> str:
    """Release age at the data's end, in bands: new (< 30 days), recent (< 180), older."""
    if not np.isfinite(days):
        return "unknown"
    return "new (< 30 days)" if days < 30 else "recent (30–179 days)" if days < 180 else "older"


# what each like-for-like metric is made of: a per-series (numerator, denominator) whose
# pooled ratio is the group's value; rates use their shrunk value per viewer of the step
LIKE_FOR_LIKE: dict[str, str] = {
    "hook_rate": "Hook rate",
    "completion_rate": "Completion",
    "paywall_conversion_rate": "Paywall conversion",
    "allocated_revenue_per_viewer": "Revenue per viewer",
    "cost_per_watch_hour_at_age": "Cost per watch hour",
}


def _parts(df: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    if metric in RATES:
        trials = df[RATES[metric][1]].to_numpy(dtype=float)
        return df[f"{metric}_shrunk"].to_numpy(dtype=float) * trials, trials
    if metric == "allocated_revenue_per_viewer":
        return df["allocated_revenue_usd"].to_numpy(float), df["viewers"].to_numpy(float)
    if metric == "cost_per_watch_hour_at_age":
        hours = df["watch_hours_at_age"].to_numpy(dtype=float)
        cost = df["production_cost_usd"].to_numpy(dtype=float)
        ok = np.isfinite(hours) & np.isfinite(cost) & (hours > 0)
        return np.where(ok, cost, np.nan), np.where(ok, hours, np.nan)
    raise KeyError(metric)


def _boot_ratio(
    num: np.ndarray, den: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """sum(num) / sum(den) over n_boot resamples of the rows (rows without a value count as
    drawn but add nothing, as in :func:`_ratio`)."""
    ok = np.isfinite(num) & np.isfinite(den) & (den > 0)
    n_clean = np.where(ok, num, 0.0)
    d_clean = np.where(ok, den, 0.0)
    idx = rng.integers(0, len(num), size=(n_boot, len(num)))
    with np.errstate(invalid="ignore", divide="ignore"):
        d = d_clean[idx].sum(axis=1)
        return np.where(d > 0, n_clean[idx].sum(axis=1) / np.where(d > 0, d, 1.0), np.nan)


def _ratio(num: np.ndarray, den: np.ndarray) -> float:
    ok = np.isfinite(num) & np.isfinite(den) & (den > 0)
    return float(num[ok].sum() / den[ok].sum()) if ok.any() else float("nan")


def stratified_comparison(
    card: pd.DataFrame,
    strata: list[str],
    group: str = "production_type",
    arms: tuple[str, str] = ("ai", "live_action"),
    n_boot: int = 500,
    seed: int = 0,
) -> pd.DataFrame:
    """arms[0] against arms[1] within strata, one row per metric of LIKE_FOR_LIKE.

    In each stratum (a combination of the ``strata`` columns) that has at least
    MIN_SERIES_PER_ARM series and MIN_VIEWERS_PER_ARM viewers on both sides, each arm's value
    is its pooled ratio (a rate: shrunk rate weighted by the step's viewers, i.e. per viewer;
    revenue per viewer; cost / watch hours). The overall difference is the mean of the strata's
    differences weighted by n_a n_b / (n_a + n_b) of their viewers, and each arm's value is
    standardized to those weights. The 95 % interval is a percentile bootstrap resampling
    series within each stratum and arm. ``card`` must hold the ``*_shrunk`` columns.
    """
    a_arm, b_arm = arms
    cells = []
    for key, part in card.groupby(strata, dropna=False, sort=True):
        a = part[part[group] == a_arm]
        b = part[part[group] == b_arm]
        enough = (
            len(a) >= MIN_SERIES_PER_ARM
            and len(b) >= MIN_SERIES_PER_ARM
            and a["viewers"].sum() >= MIN_VIEWERS_PER_ARM
            and b["viewers"].sum() >= MIN_VIEWERS_PER_ARM
        )
        if enough:
            cells.append((key, a, b))
    rng = np.random.default_rng(seed)
    rows = []
    for metric, label in LIKE_FOR_LIKE.items():
        per = []
        for _key, a, b in cells:
            na, da = _parts(a, metric)
            nb, db = _parts(b, metric)
            va, vb = _ratio(na, da), _ratio(nb, db)
            if np.isfinite(va) and np.isfinite(vb):
                w = (
                    a["viewers"].sum()
                    * b["viewers"].sum()
                    / (a["viewers"].sum() + b["viewers"].sum())
                )
                per.append((va, vb, w, (na, da), (nb, db)))
        if not per:
            rows.append({"metric": metric, "label": label, "strata": 0})
            continue
        w = np.array([p[2] for p in per], dtype=float)
        va = np.array([p[0] for p in per])
        vb = np.array([p[1] for p in per])
        # the bootstrap, vectorized: each stratum and arm resampled n_boot times at once
        diffs = np.column_stack(
            [_boot_ratio(na, da, n_boot, rng) - _boot_ratio(nb, db, n_boot, rng)
             for _va, _vb, _w, (na, da), (nb, db) in per]
        )  # fmt: skip
        ok = np.isfinite(diffs)
        weights = np.where(ok, w[None, :], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            # per resample: the strata's differences averaged with their weights
            boot = (np.where(ok, diffs, 0.0) * weights).sum(axis=1) / weights.sum(axis=1)
        low, high = np.nanquantile(boot, [0.025, 0.975])

        def counted(parts: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
            return np.isfinite(parts[1]) & (parts[1] > 0)

        n_a = sum(int(counted(p[3]).sum()) for p in per)
        n_b = sum(int(counted(p[4]).sum()) for p in per)
        used = cells
        rows.append(
            {"metric": metric, "label": label, "strata": len(per),
             a_arm: float(np.average(va, weights=w)), b_arm: float(np.average(vb, weights=w)),
             "difference": float(np.average(va - vb, weights=w)),
             "ci_low": float(low), "ci_high": float(high),
             f"{a_arm}_series": n_a, f"{b_arm}_series": n_b,
             f"{a_arm}_viewers": int(sum(c[1]["viewers"].sum() for c in used)),
             f"{b_arm}_viewers": int(sum(c[2]["viewers"].sum() for c in used))}
        )  # fmt: skip
    return pd.DataFrame(rows)
