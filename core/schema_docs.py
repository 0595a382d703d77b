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
        "One row per stored event (deduplicated on event_id, UTC), with its derived session. "
        "A view: the events' date-partitioned Parquet files, shared by every snapshot, joined "
        "to this snapshot's sessions (a filter on event_date skips other dates' row groups).",
        {
            "event_id": "Unique id of the event (the dedup key; Segment's messageId).",
            "event_type": "app_open, episode_start, episode_progress, episode_complete, "
            "episode_exit, paywall_view, episode_unlock, purchase, like, share, follow, "
            "recommendation_impression, recommendation_click, or a Video Spec event kept as its "
            "own type (e.g. video_playback_started).",
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
            "request_id": "Recommendation events: the id of the API response the list came "
            "from (echoed by the app).",
            "model_version": "Recommendation events: the model bundle version that served the "
            "list.",
            "variant": "Recommendation events: default, or the experiment arm (control, "
            "challenger).",
            "surface": "Recommendation events: the app's name of where the row was shown "
            "(e.g. home, after_episode).",
            "list_position": "Recommendation events: 1-based position within its row.",
        },
    ),
    "episode_views": (
        "One row per user × episode playback: an episode_start and the same user's following "
        "progress/complete/exit events of that episode in the same session, up to the next "
        "episode_start. A rewatch is another view. In a snapshot: a view over one Parquet part "
        "per start_date, shared by snapshots (a filter on start_date skips other dates).",
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
        "more than 30 minutes apart. In a snapshot: a view over one Parquet part per "
        "start_date, shared by snapshots (a filter on start_date skips other dates).",
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
        "One row per series version x episode: the funnel, the drop-off survival curve "
        "(Kaplan-Meier over the episode index) and the drops split by cause, at the paywall or "
        "to the story, with their Aalen-Johansen cumulative incidence (see docs/metrics.md).",
        {
            "series_id": "Series version.",
            "episode_number": "Episode 1..n_episodes.",
            "viewers": "Distinct users with a view of the episode.",
            "completion_rate": "Distinct users who completed it / viewers.",
            "continuation_rate": "Distinct users who viewed it and later viewed the next one / "
            "viewers (null for the last episode). Episode 1's is the series' hook rate.",
            "session_continuation_rate": "Distinct users who viewed it and then the next one in "
            "the same session / viewers (null for the last episode): measurable from a "
            "series' first day, unlike drops.",
            "at_risk": "Users who entered at or before this episode and reached it.",
            "dropped": "Users who dropped here: it is their highest episode, not the last, and "
            "they had no event of the series in the 7 days before the data end. dropped = "
            "dropped_at_paywall + dropped_story.",
            "dropped_at_paywall": "Drops at the paywall: the user saw the lock screen "
            "(paywall_view) of the next episode and never unlocked it.",
            "dropped_story": "Drops to the story: stopped on a free or unlocked episode without "
            "a lock in the way (no lock screen of the next one, or it was unlocked).",
            "censored": "Users whose highest episode is this one but who did not drop (still "
            "watching, or finished).",
            "hazard": "dropped / at_risk.",
            "story_hazard": "dropped_story / at_risk: the hazard drop-off points are tested on.",
            "paywall_hazard": "dropped_at_paywall / at_risk: the paywall's toll at this episode.",
            "survival": "Kaplan-Meier: product of (1 - hazard) up to this episode.",
            "survival_ci_low": "95 % lower bound (Greenwood variance, log(-log) scale).",
            "survival_ci_high": "95 % upper bound (Greenwood variance, log(-log) scale).",
            "cumulative_incidence_paywall": "Aalen-Johansen cumulative incidence of a drop at "
            "the paywall by this episode: sum over episodes j <= e of S(j - 1) x "
            "dropped_at_paywall(j) / at_risk(j), over the same left-truncated risk sets as "
            "survival. The two incidences add up to 1 - survival.",
            "cumulative_incidence_story": "Aalen-Johansen cumulative incidence of a story drop "
            "by this episode (as above, with dropped_story).",
            "hazard_ci_low": "Lower bound of the Wilson 95 % interval of the hazard.",
            "series_typical_hazard": "The series' pooled hazard: all drops / all user-episodes "
            "at risk.",
            "series_typical_story_hazard": "The series' pooled story hazard: all story drops / "
            "all user-episodes at risk.",
            "is_paywall_episode": "The first locked episode (free_episodes + 1).",
            "story_hazard_q_value": "Benjamini-Hochberg-adjusted p-value of a one-sided exact "
            "binomial test of story_hazard > series_typical_story_hazard, across the series' "
            "episodes with users at risk short of the last (1 where nothing is tested).",
            "is_dropoff_point": "A story drop-off point: at least 10 users at risk, at least one "
            "story drop, and story_hazard_q_value <= 0.05 (story hazard significantly above the "
            "series' pooled story hazard). Paywall drops never make one: their toll is "
            "dropped_at_paywall.",
            "series_still_active_share": "Per series (same on every row): share of its viewers "
            "still inside the inactivity window (an event of the series in the last 7 days) "
            "short of the last episode: neither dropped nor finished yet.",
            "dropoff_measurable": "Per series: series_still_active_share <= 0.5. While false "
            "(a young series), most viewers are censored and drop-off is not yet measurable; "
            "read session_continuation_rate instead.",
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
    "episode_exit_moments": (
        "One row per series x episode x 5-s position bucket: where views end before "
        "completion, and the exit moments, cells whose exit share is significantly above the "
        "series' usual share at the same position (see docs/metrics.md, Exit moments).",
        {
            "series_id": "Series version.",
            "episode_number": "Episode.",
            "bucket_start_s": "b = 0, 5, 10, ... seconds, up to the episode's duration.",
            "duration_s": "Length of the episode.",
            "views": "Views of the episode still watching at b (max_position_s >= b); "
            "rewatches count.",
            "early_exits": "Views not completed whose max_position_s lies in [b, b + 5): "
            "they ended inside this bucket.",
            "exit_share": "early_exits / views.",
            "aligned_on": "start, or end in the closing stretch (from 0.8 x duration_s on, "
            "where viewers leave once the cliffhanger is reached): what 'the same position' "
            "means for the comparison.",
            "series_pooled_exit_share": "The series' pooled share at the same position over "
            "its episodes (sum of early_exits / sum of views): the same bucket from the start, "
            "or in the closing stretch the same bucket back from the end.",
            "q_value": "Benjamini-Hochberg-adjusted p-value of a one-sided exact binomial test "
            "of exit_share > series_pooled_exit_share, across the series' cells with views.",
            "is_exit_moment": "q_value <= 0.05 and early_exits > 0: viewers leave here "
            "significantly more than at the same position of the series' other episodes.",
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
            "allocated_revenue_usd": "Revenue attributed through unlocks (analytics."
            "series_revenue_daily): coin unlocks at the buyer's price per unlock, ad unlocks at "
            "ad_unlock_usd, subscriptions spread over the episodes watched while they lasted. "
            "What comparisons use.",
            "allocated_coins_usd": "The coin-unlock part of allocated_revenue_usd.",
            "allocated_ad_usd": "The ad-unlock part.",
            "allocated_subscription_usd": "The subscription part.",
            "allocated_revenue_per_viewer": "allocated_revenue_usd / viewers.",
            "allocated_revenue_per_viewer_se": "Standard error of allocated_revenue_per_viewer "
            "over the viewers (a viewer who paid nothing counts as 0).",
            "episode1_viewers": "Viewers of episode 1: the trials behind hook_rate and "
            "completion_rate.",
            "hooked_viewers": "Viewers of episode 1 who went on to episode 2 (hook successes).",
            "finishers": "Viewers of episode 1 who also viewed the last episode.",
            "last_free_viewers": "Viewers of the last free episode: the trials behind "
            "paywall_conversion_rate.",
            "paywall_converters": "Of those, the viewers of the first locked episode.",
            "incremental_viewers": "For a dub: its viewers who never watched the original "
            "version (in the data), the audience the dub added. Null for an original.",
            "production_cost_usd": "Cost of this version.",
            "cost_per_watch_hour": "production_cost_usd / watch_hours, to date: a lifetime cost "
            "over the hours of the data held, so not comparable between versions of different "
            "ages; compare cost_per_watch_hour_at_age.",
            "observed_at_comparison_age": "Released on or after the data's first date and at "
            "least comparison_age_days before its last: its first days are all in the data.",
            "comparison_age_days": "The like-for-like age N (CLIFFHANGER_COMPARISON_AGE_DAYS).",
            "viewers_at_age": "Viewers in the first N days since release (null unless "
            "observed_at_comparison_age).",
            "watch_hours_at_age": "Watch hours of the views started in the first N days since "
            "release (null unless observed_at_comparison_age).",
            "allocated_revenue_at_age_usd": "allocated_revenue_usd of the first N days since "
            "release (null unless observed_at_comparison_age).",
            "cost_per_watch_hour_at_age": "production_cost_usd / watch_hours_at_age: cost per "
            "watch hour at the same age for every version, so comparable between them.",
            "revenue_per_watch_hour": "revenue_usd / watch_hours.",
            "still_active_share": "Share of viewers still inside the inactivity window short of "
            "the last episode (censored, neither dropped nor finished).",
            "dropoff_measurable": "still_active_share <= 0.5: drop-off figures mean something; "
            "false for a series too young to tell.",
        },
    ),
    "series_revenue_daily": (
        "One row per series version x UTC date with revenue or unlocks: revenue attributed "
        "through unlocks (METRICS.md, Revenue per series) beside the raw purchases carrying the "
        "series_id. Coins bought in one series pay for unlocks in others, and ad unlocks carry "
        "no purchase at all, so the raw figure misleads; comparisons use the allocated one.",
        {
            "series_id": "Series version.",
            "date": "UTC date of the unlock (or of the subscriber's first view or unlock of the "
            "episode in the subscription's period).",
            "revenue_usd": "Purchases carrying this series_id that date (the raw figure).",
            "coin_unlocks": "Episode unlocks paid with coins.",
            "ad_unlocks": "Episode unlocks paid by watching an ad.",
            "subscription_unlocks": "Episode unlocks under a subscription.",
            "coins_usd": "Coin unlocks x the buyer's price per coin unlock: their coin purchases "
            "over the data / their coin unlocks over the data. A purchase counts as coins unless "
            "the buyer's next unlock after it is by subscription.",
            "ad_usd": "Ad unlocks x ad_unlock_usd (an eCPM / 1000; CLIFFHANGER_AD_UNLOCK_USD).",
            "subscription_usd": "Each subscription purchase spread evenly over the distinct "
            "episodes its subscriber unlocked or started while it lasted (until the next "
            "subscription purchase, at most subscription_days).",
            "allocated_revenue_usd": "coins_usd + ad_usd + subscription_usd.",
        },
    ),
    "series_launch_daily": (
        "One row per series version x age (days since its release date; day 0 = the release "
        "date), from the later of the release and the data's first date up to the data's "
        "last date: the launch curve (see docs/metrics.md, Launches). Views count on the UTC "
        "date they started, purchases on their date.",
        {
            "series_id": "Series version.",
            "age_days": "date - release_date, in days (0 = release day).",
            "date": "The UTC date of this age.",
            "release_date": "Release date of the version.",
            "language": "Audio language.",
            "production_type": "ai, live_action or hybrid.",
            "is_dubbed": "True for a dubbed/localized version.",
            "is_observed_launch": "release_date on or after the data's first date: the whole "
            "launch is in the data. False for older versions, whose cumulative figures only "
            "count from the data's first date (lower bounds) and are never compared.",
            "is_complete_day": "False on the data's last date, which is never complete (its "
            "events may still be arriving): read that row as 'so far today'. Percentiles, the "
            "benchmark and the forecast use complete days only.",
            "new_viewers": "Users whose first episode_start of the version falls on this date.",
            "cumulative_viewers": "new_viewers of ages 0..age_days: the version's viewers so far.",
            "episode_views": "Episode views started this date.",
            "cumulative_episode_views": "Episode views of ages 0..age_days.",
            "watch_hours": "Watch hours (max_position_s) of the views started this date.",
            "cumulative_watch_hours": "watch_hours of ages 0..age_days.",
            "revenue_usd": "Purchases carrying this series_id this date (purchases without a "
            "series are not attributed).",
            "cumulative_revenue_usd": "revenue_usd of ages 0..age_days.",
            "episode1_viewers_to_date": "Users who viewed episode 1 by this date.",
            "hook_rate_to_date": "Of the users who viewed episode 1 by this date, the share who "
            "viewed episode 2 by this date (null without episode-1 viewers or a second "
            "episode).",
            "last_free_viewers_to_date": "Users who viewed the last free episode by this date.",
            "paywall_conversion_to_date": "Of the users who viewed the last free episode by "
            "this date, the share who viewed the first locked one by this date (null without "
            "a paywall or such viewers).",
            "viewers_percentile_at_age": "Share of earlier observed launches (released before "
            "this one, hence observed at this age) whose cumulative_viewers at this age is <= "
            "this one's. Null with fewer than 5 such launches, on an incomplete day, or for a "
            "version that is not an observed launch.",
            "percentile_launches": "Number of earlier observed launches behind "
            "viewers_percentile_at_age.",
            "viewers_percentile_in_language": "The same percentile among earlier observed "
            "launches of the same language (null with fewer than 5).",
            "percentile_launches_in_language": "Launches behind viewers_percentile_in_language.",
            "viewers_percentile_in_production_type": "The same percentile among earlier "
            "observed launches of the same production type (null with fewer than 5).",
            "percentile_launches_in_production_type": "Launches behind "
            "viewers_percentile_in_production_type.",
        },
    ),
    "launch_benchmark": (
        "The typical launch curve: one row per age x segment, the quartiles of the complete "
        "days of every observed launch at that age (so the curve at high ages rests on the "
        "older launches only). Quartiles are null where fewer than 5 launches reached the age.",
        {
            "age_days": "Days since release.",
            "segment": "all, language or production_type: what the launches are grouped by.",
            "segment_value": "'all', the language code or the production type.",
            "n_launches": "Observed launches with a complete day at this age in the segment.",
            "viewers_p25": "Lower quartile of cumulative_viewers.",
            "viewers_median": "Median of cumulative_viewers.",
            "viewers_p75": "Upper quartile of cumulative_viewers.",
            "watch_hours_p25": "Lower quartile of cumulative_watch_hours.",
            "watch_hours_median": "Median of cumulative_watch_hours.",
            "watch_hours_p75": "Upper quartile of cumulative_watch_hours.",
            "revenue_usd_p25": "Lower quartile of cumulative_revenue_usd.",
            "revenue_usd_median": "Median of cumulative_revenue_usd.",
            "revenue_usd_p75": "Upper quartile of cumulative_revenue_usd.",
            "hook_rate_median": "Median hook_rate_to_date.",
            "paywall_conversion_median": "Median paywall_conversion_to_date.",
        },
    ),
    "launch_forecast": (
        "One row per young series version (age below the horizon on the data's last complete "
        "day) x metric: the forecast of its cumulative value at the horizon, an interval of "
        "nominal level interval_level, and a decision label (see docs/metrics.md).",
        {
            "series_id": "Series version.",
            "as_of_date": "The data's last complete day: the forecast knows the data up to it.",
            "release_date": "Release date of the version.",
            "age_days": "as_of_date - release_date: complete days observed (0 = the release "
            "day only).",
            "horizon_days": "The age forecast (launch_horizon_days, 28).",
            "metric": "viewers, watch_hours or revenue_usd (cumulative at the horizon).",
            "observed_to_date": "The cumulative value at age_days: a floor for the forecast.",
            "forecast": "Forecast of the cumulative value at age horizon_days (null when "
            "method = none).",
            "interval_low": "Low end of the interval (never below observed_to_date).",
            "interval_high": "High end of the interval.",
            "interval_level": "Nominal level of the interval (launch_interval, 0.8).",
            "baseline_forecast": "The Szabo-Huberman baseline's forecast: log(late + 1) "
            "regressed on log(early + 1) of the same metric at the same age.",
            "method": "model (ridge on rich features, normalized conformal interval), baseline "
            "(too few past launches for the model: the baseline with a global-width conformal "
            "interval), fallback (1-3 past launches: slope-1 baseline, heuristic wide "
            "interval) or none (no past launch to learn from, or released before the data "
            "start: no forecast).",
            "is_calibrated": "True when the interval is conformal (model, baseline); false for "
            "fallback and none.",
            "n_history": "Past observed launches with a complete horizon the forecast learned "
            "from.",
            "catalogue_low_quantile": "The realized value at the horizon of past launches at "
            "launch_rework_quantile (0.25, the lower quartile).",
            "catalogue_high_quantile": "The same at launch_scale_quantile (0.75, the upper "
            "quartile).",
            "label": "scale (interval_low >= catalogue_high_quantile), rework (interval_high <= "
            "catalogue_low_quantile) or watch (otherwise, or too little history).",
            "label_reason": "Why the label, in words.",
            "series_label": "The series' label: the label of its viewers row (same on all "
            "three rows).",
            "language": "Audio language.",
            "production_type": "ai, live_action or hybrid.",
            "is_observed_launch": "False for a version released before the data start (no "
            "forecast: its first days are missing).",
        },
    ),
    "launch_forecast_backtest": (
        "One row per metric x age: the rolling-origin backtest of the launch forecast over "
        "past observed launches with a complete horizon. Each launch is forecast at that age "
        "from the launches whose horizon day is on or before its forecast date (release + "
        "age), exactly as it would have been that day; nothing later is used.",
        {
            "metric": "viewers, watch_hours or revenue_usd.",
            "age_days": "Age at which the forecast was made.",
            "horizon_days": "Age forecast.",
            "interval_level": "Nominal level of the intervals.",
            "n_series": "Launches backtested (those with at least one earlier launch to learn "
            "from).",
            "coverage": "Share whose realized value lies inside the interval.",
            "median_abs_log_error": "Median of |ln(forecast + 1) - ln(realized + 1)|.",
            "baseline_median_abs_log_error": "The same for the Szabo-Huberman baseline on the "
            "same launches.",
            "coverage_low_tercile": "Coverage among the launches in the lowest third of the "
            "realized value (for this metric and age).",
            "coverage_mid_tercile": "Coverage in the middle third.",
            "coverage_high_tercile": "Coverage in the top third: the hits.",
            "baseline_coverage": "Coverage of the baseline with one global-width conformal "
            "interval, for comparison.",
            "baseline_coverage_high_tercile": "That baseline's coverage in the top third.",
            "median_interval_ratio": "Median of (interval_high + 1) / (interval_low + 1): how "
            "wide the intervals are, as a factor.",
            "share_model": "Share of the forecasts made by the full model (the rest: baseline "
            "or fallback, with little history).",
            "median_n_history": "Median number of past launches each forecast learned from.",
        },
    ),
    "launch_forecast_backtest_rows": (
        "One row per backtested launch x metric x age: what the backtest forecast and what "
        "happened (the detail behind analytics.launch_forecast_backtest).",
        {
            "metric": "viewers, watch_hours or revenue_usd.",
            "age_days": "Age at which the forecast was made.",
            "horizon_days": "Age forecast.",
            "series_id": "The backtested launch.",
            "forecast_date": "release_date + age_days: the day the forecast pretends to be.",
            "latest_history_horizon_date": "The latest horizon day among the launches it "
            "learned from: always on or before forecast_date.",
            "n_history": "Launches it learned from.",
            "method": "model, baseline or fallback (as in launch_forecast).",
            "realized": "The cumulative value the launch reached at the horizon.",
            "forecast": "The forecast.",
            "interval_low": "Low end of the interval.",
            "interval_high": "High end of the interval.",
            "covered": "interval_low <= realized <= interval_high.",
            "abs_log_error": "|ln(forecast + 1) - ln(realized + 1)|.",
            "baseline_forecast": "The Szabo-Huberman baseline's forecast.",
            "baseline_abs_log_error": "Its absolute log error.",
            "baseline_covered": "Whether the baseline's global-width interval covered it.",
            "label": "The label the forecast would have given.",
            "realized_tercile": "1, 2 or 3: third of the realized value among the launches "
            "backtested for this metric and age.",
        },
    ),
    "recommendation_impressions": (
        "One row per recommendation_impression event, matched to the list the API served "
        "(the served log) or flagged with the reason it does not match; counted impressions "
        "carry their click, attributed start and what followed it (see docs/metrics.md, "
        "Recommendation performance).",
        {
            "event_id": "The impression event.",
            "ts": "When the list was shown (UTC).",
            "date": "UTC date of ts.",
            "user_id": "The viewer.",
            "request_id": "The API response the list came from.",
            "model_version": "Model version the app echoed.",
            "variant": "Variant the app echoed: default, control or challenger.",
            "experiment": "The experiment of the served request (served log); null without one.",
            "surface": "The app's name of where the row was shown.",
            "position": "1-based position within the row, as the app reported it.",
            "series_id": "Series version shown.",
            "story_id": "The story of that version (all language versions share it).",
            "is_matched": "The served log has this request_id with the same model_version and "
            "variant, and the series among its items.",
            "unmatched_reason": "Why not, first failing check: unknown_request_id, "
            "model_version_mismatch, variant_mismatch, series_not_served; null when matched.",
            "served_position": "Position of the series in the served list (served log).",
            "is_counted": "Matched and the first impression of its story in its request (a "
            "repeated impression of the same story in one request counts once).",
            "clicked": "Counted, and the user clicked that story in the same request "
            "(recommendation_click; several taps count once).",
            "attributed_start_at": "The start attributed to this impression: the user's first "
            "episode start of the story (any language version) at or after ts, within "
            "attribution_hours (24), when this is the latest counted impression of the story "
            "before that start; null otherwise.",
            "episodes": "Episode views of the story from the attributed start to ts + "
            "attribution_hours (0 without a start).",
            "watch_minutes": "Minutes watched in those views (sum of max_position_s / 60).",
            "unlocks": "episode_unlock events of the story in the same span.",
        },
    ),
    "recommendation_performance": (
        "One row per UTC date x model version x variant x surface x position: how the "
        "recommended lists did with real viewers (see docs/metrics.md, Recommendation "
        "performance). Counts only matched impressions, each story once per request.",
        {
            "date": "UTC date of the impressions.",
            "model_version": "Model version that served the lists.",
            "variant": "default, control or challenger.",
            "surface": "The app's name of where the row was shown.",
            "position": "1-based position within the row.",
            "impressions": "Counted impressions (matched to the served log, a story once per "
            "request).",
            "clicks": "Counted impressions that were clicked.",
            "ctr": "clicks / impressions.",
            "ctr_ci_low": "Wilson 95 % interval of ctr, impressions as trials (a description "
            "of the cell; variant comparisons are in recommendation_experiment).",
            "ctr_ci_high": "Upper end of that interval.",
            "attributed_starts": "Impressions with an attributed start (first start of the "
            "story within attribution_hours after it; the latest impression gets it).",
            "start_rate": "attributed_starts / impressions.",
            "start_rate_ci_low": "Wilson 95 % interval of start_rate.",
            "start_rate_ci_high": "Upper end of that interval.",
            "episodes": "Episode views that followed the attributed starts within the window.",
            "watch_minutes": "Minutes watched in those views.",
            "unlocks": "Paywall unlocks of those stories that followed within the window.",
            "users": "Distinct viewers with a counted impression.",
            "unmatched_impressions": "Impressions claiming this cell that match no served list "
            "(flagged in recommendation_impressions, not counted above).",
            "repeated_impressions": "Matched impressions not counted: the story was already "
            "shown in the same request.",
        },
    ),
    "recommendation_experiment": (
        "One row per experiment x variant: the online A/B test of a challenger model against "
        "the served one, with the user as the unit (see docs/metrics.md, Recommendation "
        "performance).",
        {
            "experiment": "The experiment's name (served log).",
            "variant": "control or challenger.",
            "users": "Users with a counted impression in this variant.",
            "impressions": "Their counted impressions.",
            "clicks": "Clicked ones.",
            "ctr": "clicks / impressions over the variant's users (ratio of means).",
            "ctr_ci_low": "95 % interval of ctr: delta-method standard error over per-user "
            "totals (users are the independent units).",
            "ctr_ci_high": "Upper end of that interval.",
            "attributed_starts": "Impressions with an attributed start.",
            "start_rate": "attributed_starts / impressions over the variant's users.",
            "start_rate_ci_low": "95 % interval of start_rate (delta method over users).",
            "start_rate_ci_high": "Upper end of that interval.",
            "ctr_diff": "Challenger row: ctr(challenger) - ctr(control).",
            "ctr_diff_ci_low": "95 % normal interval of the difference (independent arms).",
            "ctr_diff_ci_high": "Upper end of that interval.",
            "ctr_diff_p_value": "Two-sided p-value of the difference (z test).",
            "start_rate_diff": "Challenger row: start_rate(challenger) - start_rate(control).",
            "start_rate_diff_ci_low": "95 % interval of that difference.",
            "start_rate_diff_ci_high": "Upper end of that interval.",
            "start_rate_diff_p_value": "Two-sided p-value of that difference.",
            "planned_share": "The share of users the configuration sends to this variant "
            "(challenger_share of experiment.toml; 0.5 when unknown).",
            "observed_share": "This variant's share of the experiment's users.",
            "srm_chi2": "Sample-ratio-mismatch chi-square statistic of users per variant "
            "against the planned shares.",
            "srm_p_value": "Its p-value (1 degree of freedom for two variants).",
            "is_srm": "srm_p_value < 0.001: the split is broken and the comparison not to be "
            "trusted.",
            "users_in_both_variants": "Users seen in more than one variant of the experiment "
            "(should be 0 with a deterministic split).",
        },
    ),
    "served_files": (
        "One row per served-log file read (docs/feedback-loop.md): each closed file once, by "
        "content hash; lines_in = loaded + quarantined.",
        {
            "file_path": "The served-log file.",
            "content_sha256": "SHA-256 of its content.",
            "lines_in": "Non-blank lines.",
            "loaded": "Lines stored (one row per served item).",
            "quarantined": "Lines rejected (analytics.served_quarantine).",
            "items": "Served items stored.",
            "read_at": "When the pipeline read it.",
        },
    ),
    "served_quarantine": (
        "One row per served-log line that could not be stored, with a machine-readable reason.",
        {
            "file_path": "The served-log file.",
            "line_number": "1-based line number in the file.",
            "reason": "malformed, missing_field:<name> or bad_value:<name>.",
            "raw_line": "The line as written.",
            "quarantined_at": "When it was read.",
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
    "series_episode_funnel": "SELECT episode_number, viewers, dropped_at_paywall, "
    "dropped_story, survival,\n       cumulative_incidence_paywall, cumulative_incidence_story, "
    "is_paywall_episode, is_dropoff_point\nFROM analytics.series_episode_funnel "
    "WHERE series_id = 'S00000' ORDER BY episode_number;",
    "episode_retention_curve": "SELECT bucket_start_s, share_still_watching\n"
    "FROM analytics.episode_retention_curve\n"
    "WHERE series_id = 'S00000' AND episode_number = 1 ORDER BY bucket_start_s;",
    "episode_exit_moments": "-- the places to re-edit, worst first\n"
    "SELECT series_id, episode_number, bucket_start_s, views, exit_share, "
    "series_pooled_exit_share\nFROM analytics.episode_exit_moments WHERE is_exit_moment\n"
    "ORDER BY exit_share - series_pooled_exit_share DESC LIMIT 20;",
    "retention_cohorts": "SELECT cohort_date, cohort_users,\n"
    "       max(retention_rate) FILTER (WHERE day = 1) AS d1,\n"
    "       max(retention_rate) FILTER (WHERE day = 7) AS d7\n"
    "FROM analytics.retention_cohorts GROUP BY ALL ORDER BY cohort_date;",
    "series_scorecard": "-- AI vs live action vs hybrid, weighted by audience\n"
    "SELECT production_type, count(*) AS series, sum(viewers) AS viewers,\n"
    "       sum(hook_rate * viewers) / sum(viewers) AS hook_rate,\n"
    "       sum(production_cost_usd) / sum(watch_hours) AS cost_per_watch_hour\n"
    "FROM analytics.series_scorecard WHERE viewers > 0 GROUP BY 1;",
    "series_revenue_daily": "-- raw purchases vs revenue allocated through unlocks\n"
    "SELECT series_id, sum(revenue_usd) AS purchases_with_series, "
    "sum(allocated_revenue_usd) AS allocated,\n       sum(coins_usd) AS coins, sum(ad_usd) AS ads, "
    "sum(subscription_usd) AS subscriptions\nFROM analytics.series_revenue_daily GROUP BY 1 "
    "ORDER BY allocated DESC LIMIT 10;",
    "series_launch_daily": "-- a launch against its peers, day by day\n"
    "SELECT age_days, cumulative_viewers, viewers_percentile_at_age, hook_rate_to_date\n"
    "FROM analytics.series_launch_daily\n"
    "WHERE series_id = 'S00000' AND is_complete_day ORDER BY age_days;",
    "launch_benchmark": "SELECT age_days, viewers_p25, viewers_median, viewers_p75\n"
    "FROM analytics.launch_benchmark WHERE segment = 'all' ORDER BY age_days;",
    "launch_forecast": "SELECT series_id, age_days, forecast, interval_low, interval_high, "
    "label, label_reason\nFROM analytics.launch_forecast WHERE metric = 'viewers' "
    "ORDER BY forecast DESC;",
    "launch_forecast_backtest": "SELECT metric, age_days, n_series, coverage, "
    "median_abs_log_error,\n       baseline_median_abs_log_error, coverage_high_tercile\n"
    "FROM analytics.launch_forecast_backtest ORDER BY metric, age_days;",
    "daily_engagement": "SELECT date, dau, episodes_per_session_median, binge_session_rate\n"
    "FROM analytics.daily_engagement ORDER BY date;",
    "model_evaluation": "SELECT model, value AS ndcg, ci_low, ci_high, ndcg_diff, "
    "ndcg_diff_ci_low, ndcg_diff_ci_high, is_served\n"
    "FROM analytics.model_evaluation WHERE metric = 'ndcg' ORDER BY value DESC;",
    "recommendation_performance": "-- CTR and start rate by model version and position\n"
    "SELECT model_version, variant, position, sum(impressions) AS impressions,\n"
    "       sum(clicks) / sum(impressions) AS ctr,\n"
    "       sum(attributed_starts) / sum(impressions) AS start_rate\n"
    "FROM analytics.recommendation_performance GROUP BY ALL ORDER BY ALL;",
    "recommendation_impressions": "SELECT unmatched_reason, count(*) AS impressions\n"
    "FROM analytics.recommendation_impressions WHERE NOT is_matched GROUP BY 1;",
    "recommendation_experiment": "SELECT experiment, variant, users, ctr, ctr_diff, "
    "ctr_diff_ci_low, ctr_diff_ci_high, srm_p_value\n"
    "FROM analytics.recommendation_experiment ORDER BY ALL;",
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
        "In lake mode (`CLIFFHANGER_LAKE_CATALOG`, docs/architecture.md) the same tables are read",
        "from the DuckLake, pinned to a published snapshot: in Python",
        "`core.warehouse.connect_published(core.config.paths())`; in the `duckdb` shell",
        "`LOAD ducklake; ATTACH 'ducklake:<catalog>' AS lake (READ_ONLY, SNAPSHOT_VERSION n);",
        "USE lake;` with `n` the newest `snapshot_id` of `lake.snapshots()` whose",
        "`commit_message` is `publish`.",
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
    in_lake = con.execute(
        "SELECT type = 'ducklake' FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()[0]
    if is_view and in_lake:
        return  # a DuckLake keeps no comments on a view's columns (docs/data-dictionary.md has them)
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
