"""Recommendation performance and online A/B analysis (METRICS.md "Recommendation performance").

``analytics.recommendation_impressions`` holds every ``recommendation_impression`` matched to the
API's served log (``raw.served_items``) or flagged with why it does not match; counted impressions
(matched, one per user x request x story) carry their click, attributed start and what followed.
``analytics.recommendation_performance`` sums them by date x model_version x variant x surface x
position, with Wilson 95 % intervals for CTR and start rate (impressions as the trials: a
description of each cell, not a test between cells). ``analytics.recommendation_experiment``
compares the variants of each experiment with the **user** as the unit: per-user totals, the
ratio-of-means estimate and its delta-method standard error over users, the challenger - control
difference with a normal 95 % interval, and a sample-ratio-mismatch chi-square test on the users
per variant. Plain DuckDB, numpy and scipy; no Dagster here.
"""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
from scipy.stats import chisquare, norm

from core.config import MetricParams
from core.schema_docs import apply_comments
from core.sqlfile import run, statements

_STATEMENTS = statements(Path(__file__).with_name("recommendation_performance.sql"))
Z_95 = 1.959963984540054
SRM_ALPHA = 0.001  # the usual threshold of a sample-ratio-mismatch alarm
CONTROL, CHALLENGER = "control", "challenger"
_TEMP = ("rec_served_requests", "rec_served_series", "rec_impressions_all", "rec_counted",
         "rec_clicks", "rec_story_views", "rec_attributed", "rec_followed")  # fmt: skip


def build_recommendation_performance(
    con: duckdb.DuckDBPyConnection, params: MetricParams
) -> dict[str, int]:
    """Rebuild the impressions and the daily performance table; returns their row counts.

    Needs ``raw.events``, ``raw.served_items`` (ingest.served_log creates it, empty before the
    first served log is read), ``analytics.series`` and ``analytics.episode_views``.
    """
    try:
        run(con, _STATEMENTS, {"attribution_hours": int(params.attribution_hours)})
    finally:
        for table in _TEMP:
            con.execute(f"DROP TABLE IF EXISTS {table}")
    apply_comments(con, "recommendation_impressions")
    apply_comments(con, "recommendation_performance")
    return {
        table: con.execute(f"SELECT count(*) FROM analytics.{table}").fetchone()[0]  # noqa: S608
        for table in ("recommendation_impressions", "recommendation_performance")
    }


def ratio_of_means(num: np.ndarray, den: np.ndarray) -> tuple[float, float]:
    """sum(num) / sum(den) over users and its delta-method standard error.

    Var(R) ~ sum((num_u - R den_u)^2) / (N (N - 1) mean(den)^2): the users are the
    independent units, however many impressions each saw.
    """
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    n = len(den)
    if n == 0 or den.sum() == 0:
        return math.nan, math.nan
    r = num.sum() / den.sum()
    if n < 2:
        return float(r), math.nan
    resid = num - r * den
    se = math.sqrt((resid**2).sum() / (n * (n - 1))) / den.mean()
    return float(r), float(se)


def srm_test(users: dict[str, int], shares: dict[str, float]) -> tuple[float, float]:
    """Chi-square statistic and p-value of the users per variant against the planned shares."""
    names = sorted(users)
    observed = np.array([users[v] for v in names], dtype=float)
    planned = np.array([shares.get(v, math.nan) for v in names], dtype=float)
    if len(names) < 2 or observed.sum() == 0 or not np.isfinite(planned).all():
        return math.nan, math.nan
    expected = planned / planned.sum() * observed.sum()
    stat, p = chisquare(observed, expected)
    return float(stat), float(p)


EXPERIMENT_SCHEMA = {
    "experiment": pl.Utf8, "variant": pl.Utf8, "users": pl.Int64, "impressions": pl.Int64,
    "clicks": pl.Int64, "ctr": pl.Float64, "ctr_ci_low": pl.Float64, "ctr_ci_high": pl.Float64,
    "attributed_starts": pl.Int64, "start_rate": pl.Float64, "start_rate_ci_low": pl.Float64,
    "start_rate_ci_high": pl.Float64, "ctr_diff": pl.Float64, "ctr_diff_ci_low": pl.Float64,
    "ctr_diff_ci_high": pl.Float64, "ctr_diff_p_value": pl.Float64,
    "start_rate_diff": pl.Float64, "start_rate_diff_ci_low": pl.Float64,
    "start_rate_diff_ci_high": pl.Float64, "start_rate_diff_p_value": pl.Float64,
    "planned_share": pl.Float64, "observed_share": pl.Float64, "srm_chi2": pl.Float64,
    "srm_p_value": pl.Float64, "is_srm": pl.Boolean, "users_in_both_variants": pl.Int64,
}  # fmt: skip


def _nan_to_none(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def experiment_rows(per_user: pl.DataFrame, challenger_shares: dict[str, float]) -> list[dict]:
    """Rows of ``analytics.recommendation_experiment`` from per-user totals.

    ``per_user`` has experiment, variant, user_id, impressions, clicks, starts;
    ``challenger_shares`` the planned challenger share per experiment (0.5 when absent).
    """
    rows: list[dict] = []
    for (name,), users in per_user.sort("experiment").group_by(["experiment"], maintain_order=True):
        share = float(challenger_shares.get(name, 0.5))
        shares = {CONTROL: 1 - share, CHALLENGER: share}
        counts = dict(users.group_by("variant").len().iter_rows())
        stat, p_srm = srm_test(counts, shares)
        total = sum(counts.values())
        both = (
            users.group_by("user_id")
            .agg(pl.col("variant").n_unique())
            .filter(pl.col("variant") > 1)
            .height
        )
        estimates: dict[str, dict[str, tuple[float, float]]] = {}
        for (variant,), g in users.sort("variant").group_by(["variant"], maintain_order=True):
            n = g["impressions"].to_numpy()
            estimates[variant] = {
                "ctr": ratio_of_means(g["clicks"].to_numpy(), n),
                "start_rate": ratio_of_means(g["starts"].to_numpy(), n),
            }
            row = {
                "experiment": name, "variant": variant, "users": g.height,
                "impressions": int(n.sum()), "clicks": int(g["clicks"].sum()),
                "attributed_starts": int(g["starts"].sum()),
                "planned_share": shares.get(variant), "observed_share": g.height / total,
                "srm_chi2": _nan_to_none(stat), "srm_p_value": _nan_to_none(p_srm),
                "is_srm": None if not math.isfinite(p_srm) else bool(p_srm < SRM_ALPHA),
                "users_in_both_variants": both,
            }  # fmt: skip
            for metric, (r, se) in estimates[variant].items():
                row[metric] = _nan_to_none(r)
                row[f"{metric}_ci_low"] = _nan_to_none(r - Z_95 * se)
                row[f"{metric}_ci_high"] = _nan_to_none(r + Z_95 * se)
            rows.append(row)
        if CONTROL in estimates and CHALLENGER in estimates:
            for row in rows:
                if row["experiment"] != name or row["variant"] != CHALLENGER:
                    continue
                for metric in ("ctr", "start_rate"):
                    (rc, sc), (rt, st) = estimates[CONTROL][metric], estimates[CHALLENGER][metric]
                    diff, se = rt - rc, math.sqrt(sc**2 + st**2)
                    row[f"{metric}_diff"] = _nan_to_none(diff)
                    row[f"{metric}_diff_ci_low"] = _nan_to_none(diff - Z_95 * se)
                    row[f"{metric}_diff_ci_high"] = _nan_to_none(diff + Z_95 * se)
                    p = 2 * norm.sf(abs(diff) / se) if se > 0 else math.nan
                    row[f"{metric}_diff_p_value"] = _nan_to_none(p)
    return rows


PER_USER_SQL = """
SELECT experiment, variant, user_id, count(*) AS impressions,
       count(*) FILTER (WHERE clicked) AS clicks,
       count(attributed_start_at) AS starts
FROM analytics.recommendation_impressions
WHERE is_counted AND experiment IS NOT NULL
GROUP BY ALL ORDER BY ALL
"""


def build_recommendation_experiment(
    con: duckdb.DuckDBPyConnection, challenger_shares: dict[str, float] | None = None
) -> int:
    """Rebuild ``analytics.recommendation_experiment`` (needs the impressions table)."""
    per_user = pl.DataFrame(con.execute(PER_USER_SQL).fetchnumpy())
    rows = experiment_rows(per_user, challenger_shares or {})
    frame = pl.DataFrame(rows, schema=EXPERIMENT_SCHEMA)
    con.register("experiment_frame", frame)
    try:
        con.execute(
            "CREATE OR REPLACE TABLE analytics.recommendation_experiment AS "
            "SELECT * FROM experiment_frame ORDER BY experiment, variant"
        )
    finally:
        con.unregister("experiment_frame")
    apply_comments(con, "recommendation_experiment")
    return frame.height
