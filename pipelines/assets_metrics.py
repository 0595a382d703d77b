"""Metrics layer: sessions, episode views and daily engagement (METRICS.md)."""

import dagster as dg

from cliffhanger.config import metric_params
from features.engagement import build_engagement
from pipelines.assets_events import events
from pipelines.assets_ingest import catalog
from pipelines.resources import CliffhangerStore


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "episode_views",
            group_name="metrics",
            deps=[events, catalog],
            description="One row per user × episode playback.",
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            "sessions",
            group_name="metrics",
            deps=["episode_views"],
            description="One row per derived (30-minute gap) session.",
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            "daily_engagement",
            group_name="metrics",
            deps=["sessions"],
            description="DAU, sessions, episodes per session, binge rate per UTC date.",
            kinds={"duckdb"},
        ),
    ]  # fmt: skip
)
def engagement(store: CliffhangerStore):
    """Episode views, sessions and daily engagement, rebuilt from analytics.events."""
    with store.connect() as con:
        counts = build_engagement(con, metric_params())
    for table in ("episode_views", "sessions", "daily_engagement"):
        yield dg.MaterializeResult(asset_key=table, metadata={"rows": counts[table]})


@dg.asset_check(asset="sessions", blocking=True)
def sessions_cover_every_event(store: CliffhangerStore) -> dg.AssetCheckResult:
    """Every event belongs to exactly one session, and every session has events."""
    with store.connect() as con:
        missing, orphan = con.execute(
            """
            SELECT (SELECT count(*) FROM analytics.events e
                    WHERE e.session_key IS NULL OR e.session_key NOT IN
                          (SELECT session_key FROM analytics.sessions)),
                   (SELECT count(*) FROM analytics.sessions s
                    WHERE s.session_key NOT IN (SELECT session_key FROM analytics.events))
            """
        ).fetchone()
    return dg.AssetCheckResult(
        passed=missing == 0 and orphan == 0,
        metadata={"events_without_session": missing, "sessions_without_events": orphan},
    )


@dg.asset_check(asset="daily_engagement", blocking=True)
def engagement_rates_in_unit_interval(store: CliffhangerStore) -> dg.AssetCheckResult:
    """Rates lie in [0, 1]; watched fractions too."""
    with store.connect() as con:
        bad_days, bad_views = con.execute(
            "SELECT (SELECT count(*) FROM analytics.daily_engagement "
            "        WHERE binge_session_rate NOT BETWEEN 0 AND 1), "
            "(SELECT count(*) FROM analytics.episode_views "
            " WHERE watched_fraction NOT BETWEEN 0 AND 1)"
        ).fetchone()
    return dg.AssetCheckResult(
        passed=bad_days == 0 and bad_views == 0,
        metadata={"days_out_of_range": bad_days, "views_out_of_range": bad_views},
    )
