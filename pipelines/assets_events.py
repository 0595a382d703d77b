"""Core layer: sessions, episode views and analytics.events, maintained incrementally."""

import dagster as dg

from features.sessions import build_sessions, document_event_grain
from pipelines.assets_ingest import catalog, ingested_events
from pipelines.resources import CliffhangerStore, MetricSettings


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "events",
            group_name="core",
            deps=[ingested_events],
            description="Every stored event with its session_key (a view, materialized on publish).",
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            "sessions",
            group_name="core",
            deps=[ingested_events],
            description="One row per derived (30-minute gap) session.",
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            "episode_views",
            group_name="core",
            deps=[ingested_events, catalog],
            description="One row per user × episode playback.",
            kinds={"duckdb"},
        ),
    ]  # fmt: skip
)
def event_grain(store: CliffhangerStore, settings: MetricSettings):
    """Sessions and episode views of new events (or all events on a full rebuild)."""
    with store.connect() as con:
        con.execute("BEGIN TRANSACTION")
        try:
            build = build_sessions(con, settings.params())
            counts = document_event_grain(con, comment=build.mode == "full")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    how = {
        "mode": build.mode,
        "reason": build.reason,
        "events_tagged": build.events_tagged,
        "users_touched": build.users_touched,
    }
    for table in ("events", "sessions", "episode_views"):
        yield dg.MaterializeResult(asset_key=table, metadata={"rows": counts[table], **how})


@dg.asset_check(asset="sessions", blocking=True)
def sessions_cover_every_event(
    store: CliffhangerStore, settings: MetricSettings
) -> dg.AssetCheckResult:
    """Every event belongs to exactly one session: sessions tile each user's timeline."""
    gap = settings.params().session_gap_minutes
    with store.connect() as con:
        stored, covered, overlapping, orphan_views = con.execute(
            """
            SELECT
              (SELECT count(*) FROM raw.events),
              (SELECT coalesce(sum(n_events), 0) FROM analytics.sessions),
              -- consecutive sessions of a user must be more than the gap apart
              (SELECT count(*) FROM (
                 SELECT started_at - lag(ended_at) OVER (PARTITION BY user_id
                                                         ORDER BY started_at) AS apart
                 FROM analytics.sessions)
               WHERE apart <= to_minutes(?::BIGINT)),
              (SELECT count(*) FROM analytics.episode_views v
               ANTI JOIN analytics.sessions s USING (session_key))
            """,
            [gap],
        ).fetchone()
    return dg.AssetCheckResult(
        passed=stored == covered and overlapping == 0 and orphan_views == 0,
        metadata={
            "stored_events": stored,
            "events_in_sessions": covered,
            "sessions_too_close": overlapping,
            "views_without_session": orphan_views,
        },
    )
