"""Sessions (METRICS.md): the 30-minute-gap sessionization of the stored events."""

from __future__ import annotations

from pathlib import Path

import duckdb

from cliffhanger.schema_docs import apply_comments

_SQL = (Path(__file__).with_name("sessions.sql")).read_text()


def build_events(con: duckdb.DuckDBPyConnection, session_gap_minutes: int = 30) -> int:
    """Rebuild ``analytics.events`` (raw events plus ``session_key``); returns its row count.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The working database, holding ``raw.events``.
    session_gap_minutes : int
        A gap longer than this between a user's consecutive events starts a new session.
    """
    con.execute("CREATE SCHEMA IF NOT EXISTS analytics")
    con.execute(_SQL, {"gap_minutes": int(session_gap_minutes)})
    apply_comments(con, "events")
    return con.execute("SELECT count(*) FROM analytics.events").fetchone()[0]
