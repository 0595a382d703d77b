"""Daily engagement (METRICS.md), as plain SQL over DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb

from core.config import MetricParams
from core.schema_docs import apply_comments
from core.sqlfile import run, statements

_STATEMENTS = statements(Path(__file__).with_name("engagement.sql"))
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
    run(con, _STATEMENTS, {})
    counts = {}
    for table in TABLES:
        apply_comments(con, table)
        counts[table] = con.execute(f"SELECT count(*) FROM analytics.{table}").fetchone()[0]  # noqa: S608
    return counts
