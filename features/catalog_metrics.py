"""Within-episode retention curves, retention cohorts and the series scorecard."""

from __future__ import annotations

from pathlib import Path

import duckdb

from cliffhanger.config import MetricParams
from cliffhanger.schema_docs import apply_comments
from features.sqlfile import run, statements

_STATEMENTS = statements(Path(__file__).with_name("catalog_metrics.sql"))
TABLES = ("episode_retention_curve", "retention_cohorts", "series_scorecard")


def build_catalog_metrics(con: duckdb.DuckDBPyConnection, params: MetricParams) -> dict[str, int]:
    """Rebuild ``episode_retention_curve``, ``retention_cohorts`` and ``series_scorecard``.

    Needs ``analytics.episode_views``, ``events``, ``series``, ``episodes`` and
    ``series_episode_funnel`` (the scorecard's hook rate). ``bucket_s`` is used here.
    Returns each table's row count.
    """
    run(con, _STATEMENTS, {"bucket_s": int(params.bucket_s)})
    counts = {}
    for table in TABLES:
        apply_comments(con, table)
        counts[table] = con.execute(f"SELECT count(*) FROM analytics.{table}").fetchone()[0]  # noqa: S608
    return counts
