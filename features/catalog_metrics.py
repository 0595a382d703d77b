"""Within-episode retention curves, retention cohorts and the series scorecard."""

from __future__ import annotations

from pathlib import Path

import duckdb

from core.config import MetricParams
from core.schema_docs import apply_comments
from core.sqlfile import run, statements

_STATEMENTS = statements(Path(__file__).with_name("catalog_metrics.sql"))
_CURVE = statements(Path(__file__).with_name("retention_curve.sql"))
TABLES = ("episode_retention_curve", "retention_cohorts", "series_scorecard")


def build_catalog_metrics(
    con: duckdb.DuckDBPyConnection, params: MetricParams, incremental: bool = False
) -> dict[str, int]:
    """Bring ``episode_retention_curve`` up to date; rebuild ``retention_cohorts`` and
    ``series_scorecard``.

    Needs ``analytics.episode_views``, ``series``, ``episodes``, ``series_episode_funnel``
    (the scorecard's hook rate), ``series_revenue_daily`` (its allocated revenue) and the
    compact per-user tables. ``bucket_s`` and ``comparison_age_days`` are used here.
    With ``incremental``, only the curves of ``derived.touched_episodes`` (the episodes whose
    views the last increment changed) are recomputed. Returns each table's row count.
    """
    update_retention_curve(con, params, incremental)
    run(con, _STATEMENTS, {"comparison_age_days": int(params.comparison_age_days)})
    counts = {}
    for table in TABLES:
        if not (incremental and table == "episode_retention_curve"):  # patched, not recreated
            apply_comments(con, table)
        counts[table] = con.execute(f"SELECT count(*) FROM analytics.{table}").fetchone()[0]  # noqa: S608
    return counts


def update_retention_curve(
    con: duckdb.DuckDBPyConnection, params: MetricParams, incremental: bool
) -> None:
    """Recompute the within-episode retention curves (all, or the touched episodes')."""
    source = "derived.touched_episodes" if incremental else "analytics.episodes"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE curve_scope AS "  # noqa: S608 (one of two constant names)
        f"SELECT DISTINCT series_id, episode_number FROM {source}"
    )
    run(con, _CURVE, {"bucket_s": int(params.bucket_s)})
    if incremental:
        con.execute(
            "DELETE FROM analytics.episode_retention_curve c USING curve_scope s "
            "WHERE c.series_id = s.series_id AND c.episode_number = s.episode_number"
        )
        con.execute("INSERT INTO analytics.episode_retention_curve SELECT * FROM curve_rows")
    else:
        con.execute(
            "CREATE OR REPLACE TABLE analytics.episode_retention_curve AS "
            "SELECT * FROM curve_rows ORDER BY series_id, episode_number, bucket_start_s"
        )
    con.execute("DROP TABLE IF EXISTS temp.main.curve_rows")
    con.execute("DROP TABLE IF EXISTS temp.main.curve_scope")
