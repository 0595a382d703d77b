"""Feedback layer: the served log, recommendation performance and the online A/B analysis."""

import tomllib
from pathlib import Path

import dagster as dg

from features.recommendation_performance import (
    build_recommendation_experiment,
    build_recommendation_performance,
)
from ingest.served_log import publish_served_tables, read_served_log, served_files
from pipelines.resources import CliffhangerStore, MetricSettings


def _served_folders(store: CliffhangerStore) -> list[Path]:
    """The served log, and the landing folder's served/ (where ``generate`` simulates one)."""
    paths = store.paths()
    folders = [paths.served_dir, paths.landing / "served"]
    unique: list[Path] = []
    for folder in folders:
        if folder.resolve() not in [f.resolve() for f in unique]:
            unique.append(folder)
    return unique


def challenger_shares(store: CliffhangerStore) -> dict[str, float]:
    """Planned challenger share per experiment name, from the experiment configurations found
    (``home/experiment.toml``, ``landing/experiment.toml``; docs/feedback-loop.md §4)."""
    paths = store.paths()
    shares: dict[str, float] = {}
    for path in (paths.home / "experiment.toml", paths.landing / "experiment.toml"):
        try:
            config = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError):
            continue
        name, share = config.get("name"), config.get("challenger_share", 0.5)
        if isinstance(name, str) and isinstance(share, int | float) and 0 < share < 1:
            shares.setdefault(name, float(share))
    return shares


@dg.asset(group_name="feedback", kinds={"duckdb"})
def served_log(store: CliffhangerStore) -> dg.MaterializeResult:
    """The API's served lists: closed served-log files, each read once (by content hash)."""
    files = [f for folder in _served_folders(store) for f in served_files(folder)]
    with store.connect() as con:
        results = read_served_log(con, files)
        counts = publish_served_tables(con)
        items = con.execute("SELECT count(*) FROM raw.served_items").fetchone()[0]
    read = [r for r in results if r.status == "read"]
    return dg.MaterializeResult(
        metadata={
            "files_read": len(read),
            "lines_loaded": sum(r.loaded for r in read),
            "lines_quarantined": sum(r.quarantined for r in read),
            "served_items": items,
            "rows": counts["served_files"],
        }
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "recommendation_impressions",
            group_name="feedback",
            deps=[served_log, "events", "episode_views"],
            description="Every impression matched to the served log or flagged, with its click "
            "and attributed start.",
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            "recommendation_performance",
            group_name="feedback",
            deps=[served_log, "events", "episode_views"],
            description="Impressions, clicks, CTR and attributed starts by date x model "
            "version x variant x surface x position.",
            kinds={"duckdb"},
        ),
    ]  # fmt: skip
)
def recommendation_performance(store: CliffhangerStore, settings: MetricSettings):
    """METRICS.md "Recommendation performance": matching, attribution and the daily table."""
    with store.connect() as con:
        counts = build_recommendation_performance(con, settings.params())
        unmatched, impressions, clicks, starts = con.execute(
            "SELECT count(*) FILTER (WHERE NOT is_matched), count(*) FILTER (WHERE is_counted), "
            "count(*) FILTER (WHERE clicked), count(attributed_start_at) "
            "FROM analytics.recommendation_impressions"
        ).fetchone()
    yield dg.MaterializeResult(
        asset_key="recommendation_impressions",
        metadata={"rows": counts["recommendation_impressions"], "unmatched": unmatched},
    )
    yield dg.MaterializeResult(
        asset_key="recommendation_performance",
        metadata={"rows": counts["recommendation_performance"], "impressions": impressions,
                  "clicks": clicks, "attributed_starts": starts},
    )  # fmt: skip


@dg.asset_check(asset="recommendation_performance", blocking=True)
def attribution_is_consistent(store: CliffhangerStore) -> dg.AssetCheckResult:
    """No start is attributed before its impression or twice; counts never exceed impressions."""
    with store.connect() as con:
        early, twice, over = con.execute(
            """
            SELECT
              (SELECT count(*) FROM analytics.recommendation_impressions
               WHERE attributed_start_at < ts),
              (SELECT count(*) FROM (
                 SELECT user_id, story_id, attributed_start_at
                 FROM analytics.recommendation_impressions
                 WHERE attributed_start_at IS NOT NULL GROUP BY ALL HAVING count(*) > 1)),
              (SELECT count(*) FROM analytics.recommendation_performance
               WHERE clicks > impressions OR attributed_starts > impressions)
            """
        ).fetchone()
    return dg.AssetCheckResult(
        passed=early == 0 and twice == 0 and over == 0,
        metadata={"starts_before_impression": early, "starts_attributed_twice": twice,
                  "rows_over_impressions": over},
    )  # fmt: skip


@dg.asset(group_name="feedback", deps=["recommendation_impressions"], kinds={"duckdb"})
def recommendation_experiment(store: CliffhangerStore) -> dg.MaterializeResult:
    """Online A/B of models: per experiment x variant, user-level intervals and the SRM test."""
    shares = challenger_shares(store)
    with store.connect() as con:
        rows = build_recommendation_experiment(con, shares)
        srm = con.execute(
            "SELECT count(DISTINCT experiment) FILTER (WHERE is_srm) "
            "FROM analytics.recommendation_experiment"
        ).fetchone()[0]
    return dg.MaterializeResult(metadata={"rows": rows, "experiments_with_srm": srm})
