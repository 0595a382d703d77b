"""Documentation of every public table and column, applied as DuckDB ``COMMENT ON``.

The same text is rendered into docs/data-dictionary.md, so the warehouse and the docs never
disagree. Keep entries in the order analysts read them.
"""

from __future__ import annotations

import duckdb

TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "series": (
        "One row per series version (a dubbed version is its own row), from the catalog.",
        {
            "series_id": "Unique id of the series version.",
            "title": "Display title.",
            "genres": "Genres, lower case.",
            "language": "BCP-47 language of the audio.",
            "original_series_id": "For a dubbed/localized version: the series it was made from.",
            "story_id": "The story all language versions share: original_series_id, else series_id.",
            "is_dubbed": "True for a dubbed/localized version.",
            "n_episodes": "Number of episodes.",
            "free_episodes": "Episodes 1..free_episodes are free.",
            "paywall_episode": "First locked episode (free_episodes + 1); null if all are free.",
            "release_date": "Release date of this version.",
            "production_type": "How it was made: ai, live_action or hybrid.",
            "production_cost_usd": "Total cost of this version in USD (null if unknown).",
        },
    ),
    "episodes": (
        "One row per episode, from the catalog.",
        {
            "episode_id": "Unique id of the episode; the player's asset id.",
            "series_id": "Series version it belongs to.",
            "episode_number": "1..n_episodes.",
            "duration_s": "Length in seconds.",
            "is_locked": "True when the episode is behind the paywall.",
        },
    ),
    "events": (
        "One row per stored event (deduplicated on event_id, UTC), with its derived session.",
        {
            "event_id": "Unique id of the event (the dedup key; Segment's messageId).",
            "event_type": "app_open, episode_start, episode_progress, episode_complete, "
            "episode_exit, paywall_view, episode_unlock, purchase, like, share, follow, or a "
            "Video Spec event kept as its own type (e.g. video_playback_started).",
            "ts": "When it happened on the device, in UTC.",
            "event_date": "UTC date of ts.",
            "user_id": "The user (Segment: userId, else anonymousId).",
            "session_key": "Derived session (30-minute gap): user_id@first timestamp of the "
            "session. Deterministic: the same events give the same key.",
            "session_id": "The client's own session id, kept as an attribute.",
            "series_id": "Series version (resolved from episode_id when sent alone).",
            "episode_number": "Episode number within the series.",
            "position_s": "Playhead position in seconds (progress, complete, exit).",
            "unlock_method": "coins, ad or subscription (episode_unlock).",
            "amount_usd": "Revenue in USD (purchase).",
            "platform": "ios, android, web, ...",
            "app_version": "App version that sent the event.",
            "country": "Country code, if sent.",
            "language": "App language, if sent.",
            "source_shape": "canonical or segment: the input format of the record.",
        },
    ),
    "episode_views": (
        "One row per user × episode playback: an episode_start and the same user's following "
        "progress/complete/exit events of that episode in the same session, up to the next "
        "episode_start. A rewatch is another view.",
        {
            "view_id": "session_key#n: the n-th episode_start of the session.",
            "user_id": "The viewer.",
            "session_key": "The derived session the view belongs to.",
            "series_id": "Series version watched.",
            "episode_number": "Episode watched.",
            "started_at": "Time of the episode_start (UTC).",
            "start_date": "UTC date of started_at.",
            "max_position_s": "Largest playhead position seen in the view (0 if none).",
            "duration_s": "Length of the episode (catalog).",
            "watched_fraction": "min(1, max_position_s / duration_s).",
            "completed": "An episode_complete was seen, or watched_fraction >= complete_fraction "
            "(0.9).",
        },
    ),
    "sessions": (
        "One row per derived session: a user's events cut wherever two consecutive events are "
        "more than 30 minutes apart.",
        {
            "session_key": "user_id@timestamp of the session's first event (deterministic).",
            "user_id": "The user.",
            "started_at": "First event (UTC).",
            "ended_at": "Last event (UTC).",
            "start_date": "UTC date of started_at.",
            "duration_s": "ended_at - started_at, in seconds.",
            "n_events": "Number of stored events in the session (all types).",
            "episodes_started": "Number of episode views in the session.",
            "distinct_series": "Number of series versions viewed in the session.",
            "watch_s": "Sum of the views' max_position_s.",
            "is_binge": "episodes_started >= binge_min_episodes (10).",
        },
    ),
    "daily_engagement": (
        "One row per UTC date with any event.",
        {
            "date": "UTC date.",
            "dau": "Distinct users with any event that date.",
            "sessions": "Sessions that started that date.",
            "episodes_per_session_mean": "Mean episodes_started over those sessions.",
            "episodes_per_session_median": "Median episodes_started over those sessions.",
            "session_minutes_mean": "Mean session duration in minutes over those sessions.",
            "binge_session_rate": "Binge sessions / sessions.",
            "watch_minutes_per_dau": "Watch minutes of the views started that date / dau.",
        },
    ),
    "series_episode_funnel": (
        "One row per series version x episode: the funnel and the drop-off survival curve "
        "(Kaplan-Meier over the episode index; see docs/metrics.md).",
        {
            "series_id": "Series version.",
            "episode_number": "Episode 1..n_episodes.",
            "viewers": "Distinct users with a view of the episode.",
            "completion_rate": "Distinct users who completed it / viewers.",
            "continuation_rate": "Distinct users who viewed it and later viewed the next one / "
            "viewers (null for the last episode). Episode 1's is the series' hook rate.",
            "at_risk": "Users who entered at or before this episode and reached it.",
            "dropped": "Users who dropped here: it is their highest episode, not the last, and "
            "they had no event of the series in the 7 days before the data end.",
            "censored": "Users whose highest episode is this one but who did not drop (still "
            "watching, or finished).",
            "hazard": "dropped / at_risk.",
            "survival": "Kaplan-Meier: product of (1 - hazard) up to this episode.",
            "survival_ci_low": "95 % lower bound (Greenwood variance, log(-log) scale).",
            "survival_ci_high": "95 % upper bound (Greenwood variance, log(-log) scale).",
            "hazard_ci_low": "Lower bound of the Wilson 95 % interval of the hazard.",
            "series_typical_hazard": "The series' pooled hazard: all drops / all user-episodes "
            "at risk.",
            "is_paywall_episode": "The first locked episode (free_episodes + 1).",
            "is_dropoff_point": "At least 10 users at risk and hazard_ci_low above the series' "
            "typical hazard: a hazard significantly above the series' typical one.",
        },
    ),
    "episode_retention_curve": (
        "One row per series x episode x position bucket: the audience retention curve of an "
        "episode (every view counts, rewatches included).",
        {
            "series_id": "Series version.",
            "episode_number": "Episode.",
            "bucket_start_s": "t = 0, 5, 10, ... seconds, up to the episode's duration.",
            "views": "Views of the episode.",
            "share_still_watching": "Share of views whose max_position_s >= t.",
        },
    ),
    "retention_cohorts": (
        "One row per first-active date x day offset, for days already observable.",
        {
            "cohort_date": "UTC date of the users' first event.",
            "day": "Days after cohort_date (0 = the cohort date).",
            "cohort_users": "Users whose first event is on cohort_date.",
            "retained_users": "Cohort users with any event on cohort_date + day (N-day).",
            "retention_rate": "retained_users / cohort_users.",
            "retained_on_or_after": "Cohort users with any event on or after cohort_date + day.",
            "retention_rate_on_or_after": "retained_on_or_after / cohort_users (unbounded).",
        },
    ),
    "series_scorecard": (
        "One row per series version: audience, funnel, money and cost. Funnel ratios are "
        "among the viewers of episode 1.",
        {
            "series_id": "Series version.",
            "title": "Display title.",
            "language": "Audio language.",
            "production_type": "ai, live_action or hybrid.",
            "genres": "Genres.",
            "story_id": "The story all language versions share.",
            "original_series_id": "For a dub: the original version.",
            "is_dubbed": "True for a dubbed/localized version.",
            "release_date": "Release date.",
            "n_episodes": "Episodes.",
            "free_episodes": "Free episodes.",
            "viewers": "Users with at least one episode view of the series.",
            "hook_rate": "continuation_rate of episode 1: viewers of 1 who went on to 2.",
            "completion_rate": "Viewers of episode 1 who also viewed the last episode / viewers "
            "of episode 1.",
            "paywall_reach_rate": "Viewers of episode 1 who viewed the last free episode / "
            "viewers of episode 1.",
            "paywall_conversion_rate": "Viewers of the last free episode who viewed the "
            "paywall episode / viewers of the last free episode (null when all are free).",
            "episodes_per_viewer": "Episode views / viewers.",
            "watch_hours": "Sum of the views' max_position_s, in hours.",
            "revenue_usd": "Purchases carrying this series_id (others are not attributed).",
            "production_cost_usd": "Cost of this version.",
            "cost_per_watch_hour": "production_cost_usd / watch_hours.",
            "revenue_per_watch_hour": "revenue_usd / watch_hours.",
        },
    ),
    "ingestion_files": (
        "One row per ingested file: records_in = loaded + quarantined + duplicates, exactly.",
        {
            "file_path": "Path of the file as given to ingestion.",
            "content_sha256": "SHA-256 of the file's bytes; the same content is never "
            "ingested twice.",
            "format": "jsonl, parquet or csv.",
            "records_in": "Records (non-blank lines or rows) in the file.",
            "loaded": "Records stored as new events (including ones replayed later).",
            "quarantined": "Records rejected and kept in analytics.quarantine.",
            "duplicates": "Valid records whose event_id was already stored.",
            "ingested_at": "When the file was committed (UTC).",
            "bytes": "Size of the file.",
            "seconds": "Time ingestion took.",
        },
    ),
    "quarantine": (
        "One row per rejected input record, with its raw text and a machine-readable reason.",
        {
            "file_path": "File the record came from.",
            "record_number": "1-based line (JSON Lines) or row (Parquet, CSV) in that file.",
            "reason": "malformed, record_too_large, unsupported_shape, missing_field:<name>, "
            "bad_value:<name>, unknown_event_type, unknown_series, unknown_episode or "
            "ts_out_of_range.",
            "raw_record": "The record as received (JSON of the row for Parquet/CSV; the first "
            "64 KiB of an oversize line).",
            "quarantined_at": "When it was quarantined (UTC).",
            "file_sha256": "SHA-256 of the source file.",
            "status": "quarantined, or replayed_loaded / replayed_duplicate after a replay "
            "(e.g. once the catalog gained the missing series).",
            "replayed_at": "When a replay resolved it.",
        },
    ),
    "refused_files": (
        "Files refused whole (binary data, a gzip bomb, empty, unreadable), with the reason.",
        {
            "file_path": "Path of the refused file.",
            "content_sha256": "SHA-256 of its bytes.",
            "reason": "Why it was refused.",
            "refused_at": "When (UTC).",
        },
    ),
    "model_evaluation": (
        "One row per model x metric on the test period (by default about the last 20 % of the "
        "history, 1 to 7 days; test_days; see docs/recommender.md): full-catalog ranking at "
        "k = 10, bootstrap 95 % CIs over users, and each model's paired NDCG@10 difference to "
        "the best baseline (the quality gate).",
        {
            "model_version": "The model version this evaluation belongs to.",
            "model": "als, bpr, item_knn, ease, ranker (the two-stage learning-to-rank model), "
            "popularity, trending, a blend <model>+trending or a re-ranked trending head "
            "<model>>trending_head.",
            "metric": "precision, recall, ndcg, map, hit_rate or coverage.",
            "k": "List length (10).",
            "value": "Mean over the scored users (coverage: share of the catalog recommended).",
            "ci_low": "Lower end of the 95 % percentile bootstrap interval over users.",
            "ci_high": "Upper end of that interval.",
            "n_users": "Users scored: history before the cut and a new series started after.",
            "validation_ndcg": "NDCG@10 on the validation period (what tuning chose by).",
            "is_served": "Whether this model is the one published to the API.",
            "is_baseline": "popularity or trending.",
            "params": "The model's hyperparameters (JSON).",
            "test_start": "Start of the test period (the cut).",
            "test_end": "End of the test period (just after the data end).",
            "validation_start": "Start of the validation period (it ends at test_start): "
            "what tuning and the choice of the candidate used.",
            "test_days": "Length of the test period in days (test_days = auto: about 20 % of "
            "the history's span, at least 1, at most 7).",
            "paired_baseline": "The baseline the gate compares with: the better of popularity "
            "and trending on validation (the fallback).",
            "ndcg_diff": "Mean over the test users of this model's NDCG@10 minus "
            "paired_baseline's (the same users).",
            "ndcg_diff_ci_low": "Lower end of the 95 % paired bootstrap interval of ndcg_diff "
            "(users resampled); the candidate is served only when it is above 0.",
            "ndcg_diff_ci_high": "Upper end of that interval.",
        },
    ),
    "recommendations": (
        "One row per active user x rank: the served model's top 10 next series in the "
        "user's main language — filled, when fewer than 10 remain in it, from the user's other "
        "watched languages, then the catalogue's most watched one — never a story the user "
        "started (any language version).",
        {
            "user_id": "The user (any event in the last 7 days, or test_days when set).",
            "rank": "1 = best.",
            "series_id": "Recommended series version.",
            "score": "The model's score (comparable within a user only).",
            "language": "The series version's language: the user's main language, or the "
            "language a short list was filled from.",
            "reason": "Why it is listed, as the API says it: 'picked for you', or for a filled "
            "item 'in <language>, another language you watch: few series left in <main>' / "
            "'... the most watched language: ...'.",
            "source": "The model that produced it (e.g. ease+trending, or a fallback baseline).",
            "model_version": "The bundle version that serves the same model.",
        },
    ),
    "similar_series": (
        "One row per series version x rank: the ten most similar series of the same language "
        "(cosine similarity of their audiences).",
        {
            "series_id": "The series version.",
            "rank": "1 = most similar.",
            "similar_series_id": "A similar series version in the same language.",
            "score": "Cosine similarity of the two stories' audiences (0..1).",
        },
    ),
}


EXAMPLES: dict[str, str] = {
    "series": "SELECT production_type, count(*) AS series, median(production_cost_usd) AS "
    "median_cost\nFROM analytics.series GROUP BY 1 ORDER BY 2 DESC;",
    "episodes": "SELECT series_id, sum(duration_s) / 60 AS runtime_minutes\n"
    "FROM analytics.episodes GROUP BY 1 ORDER BY 2 DESC LIMIT 10;",
    "events": "SELECT event_date, count(DISTINCT user_id) AS dau, count(DISTINCT session_key) "
    "AS sessions\nFROM analytics.events GROUP BY 1 ORDER BY 1;",
    "ingestion_files": "SELECT file_path, records_in, loaded, quarantined, duplicates,\n"
    "       records_in = loaded + quarantined + duplicates AS balanced\n"
    "FROM analytics.ingestion_files ORDER BY ingested_at DESC;",
    "quarantine": "SELECT reason, count(*) AS records, any_value(raw_record) AS example\n"
    "FROM analytics.quarantine WHERE status = 'quarantined' GROUP BY 1 ORDER BY 2 DESC;",
    "refused_files": "SELECT file_path, reason, refused_at FROM analytics.refused_files;",
    "episode_views": "SELECT series_id, episode_number, count(*) AS views, "
    "avg(completed::INT) AS completion\nFROM analytics.episode_views GROUP BY ALL ORDER BY ALL;",
    "sessions": "SELECT is_binge, count(*) AS sessions, median(duration_s) / 60 AS median_minutes\n"
    "FROM analytics.sessions GROUP BY 1;",
    "series_episode_funnel": "SELECT episode_number, viewers, hazard, survival, "
    "is_paywall_episode, is_dropoff_point\nFROM analytics.series_episode_funnel "
    "WHERE series_id = 'S00000' ORDER BY episode_number;",
    "episode_retention_curve": "SELECT bucket_start_s, share_still_watching\n"
    "FROM analytics.episode_retention_curve\n"
    "WHERE series_id = 'S00000' AND episode_number = 1 ORDER BY bucket_start_s;",
    "retention_cohorts": "SELECT cohort_date, cohort_users,\n"
    "       max(retention_rate) FILTER (WHERE day = 1) AS d1,\n"
    "       max(retention_rate) FILTER (WHERE day = 7) AS d7\n"
    "FROM analytics.retention_cohorts GROUP BY ALL ORDER BY cohort_date;",
    "series_scorecard": "-- AI vs live action vs hybrid, weighted by audience\n"
    "SELECT production_type, count(*) AS series, sum(viewers) AS viewers,\n"
    "       sum(hook_rate * viewers) / sum(viewers) AS hook_rate,\n"
    "       sum(production_cost_usd) / sum(watch_hours) AS cost_per_watch_hour\n"
    "FROM analytics.series_scorecard WHERE viewers > 0 GROUP BY 1;",
    "daily_engagement": "SELECT date, dau, episodes_per_session_median, binge_session_rate\n"
    "FROM analytics.daily_engagement ORDER BY date;",
    "model_evaluation": "SELECT model, value AS ndcg, ci_low, ci_high, ndcg_diff, "
    "ndcg_diff_ci_low, ndcg_diff_ci_high, is_served\n"
    "FROM analytics.model_evaluation WHERE metric = 'ndcg' ORDER BY value DESC;",
    "recommendations": "SELECT r.rank, r.series_id, s.title, r.source\n"
    "FROM analytics.recommendations r JOIN analytics.series s USING (series_id)\n"
    "WHERE r.user_id = 'u000042' ORDER BY r.rank;",
}


def render_markdown() -> str:
    """docs/data-dictionary.md: every public table, its grain, columns and an example query."""
    lines = [
        "# Data dictionary",
        "",
        "The public face of the warehouse is the `analytics` schema of",
        "`warehouse/cliffhanger.duckdb` (open it read-only: `duckdb -readonly",
        "warehouse/cliffhanger.duckdb`, or `duckdb.connect(path, read_only=True)`). The same",
        "texts are stored as DuckDB comments: `SELECT table_name, comment FROM duckdb_tables()`",
        "and `SELECT column_name, comment FROM duckdb_columns() WHERE table_name = '...'`.",
        "",
        "This page is generated from `core/schema_docs.py` "
        "(`python -m core.schema_docs > docs/data-dictionary.md`); a test keeps the two "
        "in step.",
        "",
        "`analytics.snapshot_info` (one row) says which snapshot you have open, when it was "
        "published, its tables' row counts and the metric parameters in force.",
        "",
    ]
    for table, (description, columns) in TABLES.items():
        lines += [f"## analytics.{table}", "", description, "", "| column | meaning |", "|---|---|"]
        lines += [f"| `{c}` | {text} |" for c, text in columns.items()]
        if table in EXAMPLES:
            lines += ["", "```sql", EXAMPLES[table], "```"]
        lines.append("")
    return "\n".join(lines)


def apply_comments(con: duckdb.DuckDBPyConnection, table: str, schema: str = "analytics") -> None:
    """``COMMENT ON`` the table (or view) and each documented column that exists."""
    description, columns = TABLES[table]
    is_view = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE database_name = current_database() "
        "AND schema_name = ? AND view_name = ?",
        [schema, table],
    ).fetchone()[0]
    kind = "VIEW" if is_view else "TABLE"
    con.execute(f"COMMENT ON {kind} {schema}.{table} IS {sql_literal(description)}")
    existing = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ?",
            [schema, table],
        ).fetchall()
    }
    for column, text in columns.items():
        if column in existing:
            con.execute(f"COMMENT ON COLUMN {schema}.{table}.{column} IS {sql_literal(text)}")


def sql_literal(text: str) -> str:
    """A SQL string literal for ``COMMENT ON``, which takes no bound parameters.

    Only for the project's own documentation texts, never for user input.
    """
    return "'" + text.replace("'", "''") + "'"


if __name__ == "__main__":
    print(render_markdown(), end="")
