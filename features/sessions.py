"""Sessions and episode views (METRICS.md), kept up to date incrementally.

The event-grain tables (``analytics.sessions``, ``analytics.episode_views``) are maintained
by increments: each build tags only the events of users who received new events, from the
first of their sessions that the new events can change. A full rebuild runs the same tagging
over every event and gives identical tables. ``analytics.events`` is a view: the stored
events with the key of the session each belongs to.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from core import shared_tables
from core.config import MetricParams
from core.sqlfile import run, statements

_HERE = Path(__file__).parent
_RESET = statements(_HERE / "sessions_reset.sql")
_SCOPE = statements(_HERE / "sessions_scope.sql")
_RETAG = statements(_HERE / "sessions_retag.sql")
_TAG = statements(_HERE / "sessions_tag.sql")

_STATE_DDL = """
CREATE TABLE IF NOT EXISTS derived.build_state (
    built_at TIMESTAMPTZ NOT NULL,
    mode VARCHAR NOT NULL,
    watermark TIMESTAMPTZ,          -- latest ingested_at covered by the derived tables
    events_covered BIGINT NOT NULL, -- raw events at or before the watermark at that time
    data_end TIMESTAMPTZ,           -- latest event ts
    params VARCHAR NOT NULL         -- the event-grain parameters used, as JSON
)
"""


@dataclass(frozen=True)
class SessionBuild:
    """What one build of the event-grain tables did."""

    mode: str  # "full" or "incremental" (or "unchanged" when nothing was new)
    reason: str
    events_tagged: int
    users_touched: int
    data_end: dt.datetime | None


def _grain_params(params: MetricParams) -> dict[str, object]:
    return {
        "gap_minutes": int(params.session_gap_minutes),
        "complete_fraction": float(params.complete_fraction),
        "binge_min_episodes": int(params.binge_min_episodes),
        # the retention curves are patched by episode: a new bucket size redraws them all
        "bucket_s": int(params.bucket_s),
    }


def plan(con: duckdb.DuckDBPyConnection, params: MetricParams) -> tuple[str, str]:
    """Decide between a full rebuild and an increment, and say why.

    An increment is only safe when the previous build used the same parameters, the
    episodes it measured still have the same durations, and the events it covered are
    still exactly the stored events up to its watermark.
    """
    con.execute("CREATE SCHEMA IF NOT EXISTS derived")
    con.execute(_STATE_DDL)
    state = con.execute(
        "SELECT watermark, events_covered, params FROM derived.build_state "
        "ORDER BY built_at DESC LIMIT 1"
    ).fetchone()
    if state is None:
        return "full", "no previous build"
    watermark, covered, used = state
    if json.loads(used) != _grain_params(params):
        return "full", "metric parameters changed"
    tables = {
        r[0]
        for r in con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
            "WHERE database_name = current_database()"
        ).fetchall()
    }
    needed = {
        "analytics.sessions",
        "analytics.episode_views",
        "derived.user_days",
        "derived.user_series_last",
        "derived.measured_episodes",
        "derived.touched_episodes",
        "analytics.episode_retention_curve",
    }
    if not needed <= tables:
        return "full", "derived tables missing"
    if watermark is None:
        return "full", "no events covered yet"
    still = con.execute(
        "SELECT count(*) FROM raw.events WHERE ingested_at <= ?", [watermark]
    ).fetchone()[0]
    if still != covered:
        return "full", "events at or before the watermark changed"
    changed = con.execute(
        "SELECT count(*) FROM derived.measured_episodes m "
        "LEFT JOIN analytics.episodes e USING (series_id, episode_number) "
        "WHERE e.duration_s IS DISTINCT FROM m.duration_s"
    ).fetchone()[0]
    if changed:
        return "full", f"{changed} measured episodes changed duration in the catalog"
    return "incremental", "new events since the watermark"


def build_sessions(
    con: duckdb.DuckDBPyConnection, params: MetricParams, full: bool = False
) -> SessionBuild:
    """Bring ``analytics.sessions``, ``episode_views`` and the ``events`` view up to date.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The working database, holding ``raw.events`` and ``analytics.episodes``. The caller
        owns the transaction.
    params : MetricParams
        ``session_gap_minutes``, ``complete_fraction`` and ``binge_min_episodes`` are used.
    full : bool
        Rebuild from every stored event even when an increment would do.

    Returns
    -------
    SessionBuild
        The mode chosen, why, and how much was (re)tagged.
    """
    values = _grain_params(params)
    shared_tables.ensure(con)  # the dates the build changes are logged for the next publish
    mode, reason = plan(con, params)
    if full:
        mode, reason = "full", "full rebuild requested"
    watermark_now, covered_now, data_end = con.execute(
        "SELECT max(ingested_at), count(*), max(ts) FROM raw.events"
    ).fetchone()
    users = 0
    if mode == "full":
        run(con, _RESET, values)
        users = con.execute("SELECT count(*) FROM (SELECT DISTINCT user_id FROM raw.events)")
        users = users.fetchone()[0]
    else:
        watermark = con.execute(
            "SELECT watermark FROM derived.build_state ORDER BY built_at DESC LIMIT 1"
        ).fetchone()[0]
        run(con, _SCOPE, values | {"watermark": watermark})
        users, min_cut = con.execute("SELECT count(*), min(cut_ts) FROM scope").fetchone()
        if users == 0:
            mode, reason = "unchanged", "no new events since the last build"
            con.execute("DELETE FROM derived.touched_episodes")
        else:
            run(con, _RETAG, {"min_cut": min_cut})
    tagged = 0
    if mode != "unchanged":
        run(con, _TAG, values)
        tagged = con.execute("SELECT coalesce(sum(n_events), 0) FROM new_sessions").fetchone()[0]
    con.execute(
        "CREATE OR REPLACE TABLE derived.measured_episodes AS "
        "SELECT series_id, episode_number, duration_s FROM analytics.episodes"
    )
    con.execute(
        "INSERT INTO derived.build_state VALUES (now(), ?, ?, ?, ?, ?)",
        [mode, watermark_now, covered_now, data_end, json.dumps(values)],
    )
    for temp in ("grouped", "view_candidates", "recut", "new_sessions", "new_views", "new_events",
                 "scope", "series_last_new"):  # fmt: skip
        con.execute(f"DROP TABLE IF EXISTS temp.main.{temp}")
    kind = con.execute(
        "SELECT CASE WHEN count(*) > 0 THEN 'VIEW' ELSE 'TABLE' END FROM duckdb_views() "
        "WHERE database_name = 'temp' AND view_name = 'retag'"
    ).fetchone()[0]
    con.execute(f"DROP {kind} IF EXISTS temp.main.retag")
    return SessionBuild(mode, reason, tagged, users, data_end)


def document_event_grain(con: duckdb.DuckDBPyConnection, comment: bool = True) -> dict[str, int]:
    """``COMMENT ON`` the event-grain tables (when they were recreated) and count their rows."""
    from core.schema_docs import apply_comments

    counts = {}
    tables = ("events", "sessions", "episode_views")
    for table in tables if comment else ():
        apply_comments(con, table)
    for table in tables[1:]:
        counts[table] = con.execute(f"SELECT count(*) FROM analytics.{table}").fetchone()[0]  # noqa: S608
    counts["events"] = con.execute("SELECT count(*) FROM raw.events").fetchone()[0]
    return counts


def last_build_mode(con: duckdb.DuckDBPyConnection) -> str:
    """``full``, ``incremental`` or ``unchanged``: what the latest event-grain build did."""
    row = con.execute(
        "SELECT mode FROM derived.build_state ORDER BY built_at DESC LIMIT 1"
    ).fetchall()
    return row[0][0] if row else "full"
