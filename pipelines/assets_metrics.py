"""Metrics layer: daily engagement, funnel, retention and scorecards (METRICS.md)."""

import dagster as dg

from features.catalog_metrics import build_catalog_metrics
from features.engagement import build_engagement
from features.exit_moments import build_exit_moments
from features.funnel import build_funnel
from features.revenue import build_revenue
from features.sessions import last_build_mode
from pipelines.resources import CliffhangerStore, MetricSettings


@dg.asset(group_name="metrics", deps=["sessions", "episode_views"], kinds={"duckdb"})
def daily_engagement(store: CliffhangerStore, settings: MetricSettings) -> dg.MaterializeResult:
    """DAU, sessions, episodes per session and binge rate per UTC date."""
    with store.connect() as con:
        counts = build_engagement(con, settings.params())
    return dg.MaterializeResult(metadata={"rows": counts["daily_engagement"]})


@dg.asset_check(asset=daily_engagement, blocking=True)
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


@dg.asset(group_name="metrics", deps=["episode_views", "sessions"], kinds={"duckdb"})
def series_episode_funnel(
    store: CliffhangerStore, settings: MetricSettings
) -> dg.MaterializeResult:
    """Per series and episode: viewers, completion, continuation, Kaplan-Meier drop-off."""
    with store.connect() as con:
        rows = build_funnel(con, settings.params())
        paywalls, dropoffs = con.execute(
            "SELECT count(*) FILTER (WHERE is_paywall_episode), "
            "count(*) FILTER (WHERE is_dropoff_point) FROM analytics.series_episode_funnel"
        ).fetchone()
    return dg.MaterializeResult(
        metadata={"rows": rows, "paywall_episodes": paywalls, "dropoff_points": dropoffs}
    )


@dg.asset_check(asset=series_episode_funnel, blocking=True)
def funnel_is_consistent(store: CliffhangerStore) -> dg.AssetCheckResult:
    """Survival never increases, rates lie in [0, 1], viewers match the episode views, no
    episode without story drops is a drop-off point, the causes add up to the drops and their
    cumulative incidences to 1 - survival."""
    with store.connect() as con:
        rising, bad_rates, mismatched, empty_dropoffs = con.execute(
            """
            SELECT
              (SELECT count(*) FROM (
                 SELECT survival - lag(survival) OVER (PARTITION BY series_id
                                                       ORDER BY episode_number) AS step
                 FROM analytics.series_episode_funnel) WHERE step > 1e-12),
              (SELECT count(*) FROM analytics.series_episode_funnel
               WHERE completion_rate NOT BETWEEN 0 AND 1
                  OR continuation_rate NOT BETWEEN 0 AND 1 OR hazard NOT BETWEEN 0 AND 1
                  OR session_continuation_rate NOT BETWEEN 0 AND 1
                  OR series_still_active_share NOT BETWEEN 0 AND 1
                  OR survival NOT BETWEEN 0 AND 1
                  OR cumulative_incidence_paywall NOT BETWEEN 0 AND 1
                  OR cumulative_incidence_story NOT BETWEEN 0 AND 1),
              (SELECT count(*) FROM analytics.series_episode_funnel f
               LEFT JOIN (SELECT series_id, episode_number, count(DISTINCT user_id) AS n
                          FROM analytics.episode_views GROUP BY ALL) v
                 USING (series_id, episode_number)
               WHERE f.viewers <> coalesce(v.n, 0)),
              (SELECT count(*) FROM analytics.series_episode_funnel
               WHERE (is_dropoff_point AND dropped_story = 0)
                  OR dropped <> dropped_at_paywall + dropped_story
                  OR abs(cumulative_incidence_paywall + cumulative_incidence_story
                         - (1 - survival)) > 1e-9)
            """
        ).fetchone()
    return dg.AssetCheckResult(
        passed=rising == 0 and bad_rates == 0 and mismatched == 0 and empty_dropoffs == 0,
        metadata={
            "survival_increases": rising,
            "rates_out_of_range": bad_rates,
            "viewer_mismatches": mismatched,
            "dropoffs_without_story_drops_or_causes_inconsistent": empty_dropoffs,
        },
    )


@dg.asset(group_name="metrics", deps=["episode_views"], kinds={"duckdb"})
def episode_exit_moments(store: CliffhangerStore, settings: MetricSettings) -> dg.MaterializeResult:
    """Per series x episode x 5-s bucket: early exits, their share, and the exit moments."""
    with store.connect() as con:
        rows = build_exit_moments(con, settings.params())
        moments = con.execute(
            "SELECT count(*) FILTER (WHERE is_exit_moment) FROM analytics.episode_exit_moments"
        ).fetchone()[0]
    return dg.MaterializeResult(metadata={"rows": rows, "exit_moments": moments})


@dg.asset_check(asset=episode_exit_moments, blocking=True)
def exit_moments_are_consistent(store: CliffhangerStore) -> dg.AssetCheckResult:
    """Shares lie in [0, 1], early exits never exceed the views, and every exit moment has an
    early exit."""
    with store.connect() as con:
        bad = con.execute(
            "SELECT count(*) FROM analytics.episode_exit_moments "
            "WHERE exit_share NOT BETWEEN 0 AND 1 OR early_exits > views "
            "OR (is_exit_moment AND early_exits = 0)"
        ).fetchone()[0]
    return dg.AssetCheckResult(passed=bad == 0, metadata={"bad_rows": bad})


@dg.asset(group_name="metrics", deps=["events", "episode_views"], kinds={"duckdb"})
def series_revenue_daily(store: CliffhangerStore, settings: MetricSettings) -> dg.MaterializeResult:
    """Revenue per series and date, allocated through unlocks (coins, ads, subscriptions)."""
    with store.connect() as con:
        rows = build_revenue(con, settings.params())
        purchases, paid, ads = con.execute(
            "SELECT purchases_usd, allocated_paid_usd, ad_usd FROM derived.revenue_balance"
        ).fetchone()
    return dg.MaterializeResult(
        metadata={"rows": rows, "purchases_usd": float(purchases),
                  "allocated_paid_usd": float(paid), "ad_usd": float(ads)}
    )  # fmt: skip


@dg.asset_check(asset=series_revenue_daily, blocking=True)
def revenue_allocation_balances(store: CliffhangerStore) -> dg.AssetCheckResult:
    """No amount is negative, and the purchases allocated never exceed those bought."""
    with store.connect() as con:
        negative = con.execute(
            "SELECT count(*) FROM analytics.series_revenue_daily "
            "WHERE least(coins_usd, ad_usd, subscription_usd, revenue_usd) < 0"
        ).fetchone()[0]
        purchases, paid = con.execute(
            "SELECT purchases_usd, allocated_paid_usd FROM derived.revenue_balance"
        ).fetchone()
    over = float(paid) - float(purchases)
    return dg.AssetCheckResult(
        passed=negative == 0 and over <= 1e-6 * max(1.0, float(purchases)),
        metadata={"negative_rows": negative, "allocated_over_purchases_usd": over},
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "episode_retention_curve",
            group_name="metrics",
            deps=["episode_views"],
            description="Share of views still watching every 5 s of each episode.",
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            "retention_cohorts",
            group_name="metrics",
            deps=["sessions"],
            description="N-day and on-or-after retention by first-active date.",
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            "series_scorecard",
            group_name="metrics",
            deps=["episode_views", series_episode_funnel, series_revenue_daily, daily_engagement],
            description="Per series version: audience, funnel, revenue and cost.",
            kinds={"duckdb"},
        ),
    ]  # fmt: skip
)
def catalog_metrics(store: CliffhangerStore, settings: MetricSettings):
    """Within-episode retention curves, retention cohorts and the series scorecard."""
    with store.connect() as con:
        incremental = last_build_mode(con) != "full"
        counts = build_catalog_metrics(con, settings.params(), incremental=incremental)
    for table, rows in counts.items():
        yield dg.MaterializeResult(asset_key=table, metadata={"rows": rows})


@dg.asset_check(asset="series_scorecard", blocking=True)
def scorecard_and_cohort_rates_in_unit_interval(store: CliffhangerStore) -> dg.AssetCheckResult:
    """Scorecard, cohort and retention-curve rates lie in [0, 1]."""
    with store.connect() as con:
        bad = con.execute(
            """
            SELECT
              (SELECT count(*) FROM analytics.series_scorecard
               WHERE hook_rate NOT BETWEEN 0 AND 1 OR completion_rate NOT BETWEEN 0 AND 1
                  OR paywall_reach_rate NOT BETWEEN 0 AND 1
                  OR paywall_conversion_rate NOT BETWEEN 0 AND 1)
            + (SELECT count(*) FROM analytics.retention_cohorts
               WHERE retention_rate NOT BETWEEN 0 AND 1
                  OR retention_rate_on_or_after NOT BETWEEN 0 AND 1)
            + (SELECT count(*) FROM analytics.episode_retention_curve
               WHERE share_still_watching NOT BETWEEN 0 AND 1)
            """
        ).fetchone()[0]
    return dg.AssetCheckResult(passed=bad == 0, metadata={"rows_out_of_range": bad})
