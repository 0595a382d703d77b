"""Daily engagement (METRICS.md), as plain SQL over DuckDB."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from core.config import MetricParams
from core.schema_docs import apply_comments
from core.sqlfile import statements

# the SELECT of the rows (one statement, $day NULL for every date)
_ROWS = statements(Path(__file__).with_name("engagement.sql"))[0]
TABLES = ("daily_engagement",)


def build_engagement(con: duckdb.DuckDBPyConnection, params: MetricParams) -> dict[str, int]:
    """Rebuild ``analytics.daily_engagement`` from sessions, views and active user-days.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The working database, after :func:`features.sessions.build_sessions`.
    params : MetricParams
        Unused today: the engagement parameters act on sessions and views.

    Returns
    -------
    dict
        Row count of each table.
    """
    con.execute(f"CREATE OR REPLACE TABLE analytics.daily_engagement AS {_ROWS}", {"day": None})
    counts = {}
    for table in TABLES:
        apply_comments(con, table)
        counts[table] = con.execute(f"SELECT count(*) FROM analytics.{table}").fetchone()[0]  # noqa: S608
    return counts


def build_engagement_day(con: duckdb.DuckDBPyConnection, day: dt.date) -> int:
    """Replace the row of ``day`` in ``analytics.daily_engagement`` (in the caller's
    transaction): the same row :func:`build_engagement` makes, for the daily partitions that
    recompute days in parallel (docs/architecture.md, "Daily partitions"). Returns the rows
    written (0 when nobody was active that day; its old row, if any, is gone)."""
    con.execute("DELETE FROM analytics.daily_engagement WHERE date = ?", [day])
    con.execute(f"INSERT INTO analytics.daily_engagement {_ROWS}", {"day": day})
    return con.execute(
        "SELECT count(*) FROM analytics.daily_engagement WHERE date = ?", [day]
    ).fetchone()[0]
