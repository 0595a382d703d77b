"""Sessions, episode views and daily engagement (METRICS.md), as plain SQL over DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb

from cliffhanger.config import MetricParams
from cliffhanger.schema_docs import apply_comments
from features.sqlfile import run, statements

_STATEMENTS = statements(Path(__file__).with_name("engagement.sql"))
TABLES = ("episode_views", "sessions", "daily_engagement")


def build_engagement(con: duckdb.DuckDBPyConnection, params: MetricParams) -> dict[str, int]:
    """Rebuild ``analytics.episode_views``, ``sessions`` and ``daily_engagement``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The working database, holding ``analytics.events`` (with ``session_key``) and
        ``analytics.episodes``.
    params : MetricParams
        ``complete_fraction`` and ``binge_min_episodes`` are used here.

    Returns
    -------
    dict
        Row count of each table.
    """
    values = {
        "complete_fraction": float(params.complete_fraction),
        "binge_min_episodes": int(params.binge_min_episodes),
    }
    run(con, _STATEMENTS, values)
    counts = {}
    for table in TABLES:
        apply_comments(con, table)
        counts[table] = con.execute(f"SELECT count(*) FROM analytics.{table}").fetchone()[0]  # noqa: S608
    return counts
