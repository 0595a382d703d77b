"""The generated app behaves like the category, in numbers (docs/generator.md).

Statistics are computed here with plain DuckDB SQL over the written files, independently of
the generator's internals.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest


@pytest.fixture(scope="module", params=["medium_parquet", "medium_parquet_chunked"])
def con(request: pytest.FixtureRequest) -> duckdb.DuckDBPyConnection:
    """Every statistic on the data set generated whole and in 12 chunks of users."""
    medium_parquet: Path = request.getfixturevalue(request.param)
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    c.execute(
        "CREATE TABLE ev AS SELECT * FROM read_parquet(?)",
        [str(medium_parquet / "events" / "*.parquet")],
    )
    c.execute(
        "CREATE TABLE se AS SELECT * FROM read_parquet(?)",
        [str(medium_parquet / "catalog" / "series.parquet")],
    )
    c.execute(
        "CREATE TABLE ep AS SELECT * FROM read_parquet(?)",
        [str(medium_parquet / "catalog" / "episodes.parquet")],
    )
    # episode references resolved (the web player sends episode_id alone)
    c.execute(
        """
        CREATE TABLE evr AS
        SELECT ev.* EXCLUDE (series_id, episode_number),
               coalesce(ev.series_id, ep.series_id) AS series_id,
               coalesce(ev.episode_number, ep.episode_number) AS episode_number
        FROM ev LEFT JOIN ep ON ev.episode_id = ep.episode_id
        """
    )
    # sessions: a gap of more than 30 minutes between a user's consecutive events
    c.execute(
        """
        CREATE TABLE sessions AS
        WITH ordered AS (
            SELECT *, CASE WHEN ts - lag(ts) OVER w > INTERVAL 30 MINUTE
                            OR lag(ts) OVER w IS NULL THEN 1 ELSE 0 END AS starts
            FROM evr WINDOW w AS (PARTITION BY user_id ORDER BY ts, event_id)
        ), keyed AS (
            SELECT *, sum(starts) OVER (PARTITION BY user_id ORDER BY ts, event_id) AS s
            FROM ordered
        )
        SELECT user_id, s,
               count(*) FILTER (WHERE event_type = 'episode_start') AS episodes,
               count(DISTINCT series_id) AS n_series,
               epoch(max(ts) - min(ts)) / 60 AS minutes
        FROM keyed GROUP BY ALL
        """
    )
    return c


def one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple:
    return con.execute(sql).fetchone()


def test_every_event_type_appears_with_its_required_fields(con) -> None:
    types = {r[0] for r in con.execute("SELECT DISTINCT event_type FROM ev").fetchall()}
    assert types == {
        "app_open", "episode_start", "episode_progress", "episode_complete", "episode_exit",
        "paywall_view", "episode_unlock", "purchase", "like", "share", "follow",
    }  # fmt: skip
    bad = one(
        con,
        """
        SELECT
          count(*) FILTER (WHERE event_id IS NULL OR user_id IS NULL OR ts IS NULL),
          count(*) FILTER (WHERE (event_type LIKE 'episode_%' OR event_type = 'paywall_view')
                           AND (series_id IS NULL OR episode_number IS NULL)),
          count(*) FILTER (WHERE event_type IN ('episode_progress', 'episode_complete',
                           'episode_exit') AND (position_s IS NULL OR position_s < 0)),
          count(*) FILTER (WHERE event_type = 'episode_unlock'
                           AND unlock_method NOT IN ('coins', 'ad', 'subscription')),
          count(*) FILTER (WHERE event_type = 'purchase' AND NOT amount_usd > 0)
        FROM evr
        """,
    )
    assert bad == (0, 0, 0, 0, 0)
    assert one(con, "SELECT count(*) - count(DISTINCT event_id) FROM ev") == (0,)


def test_binge_sessions_episodes_per_session(con) -> None:
    median, share_10, one_series, binge_minutes = one(
        con,
        """
        SELECT median(episodes), avg((episodes >= 10)::INT), avg((n_series <= 1)::INT),
               median(minutes) FILTER (WHERE episodes >= 10)
        FROM sessions WHERE episodes > 0
        """,
    )
    assert 4 <= median <= 8  # several episodes a sitting
    assert 0.08 <= share_10 <= 0.35  # a long tail of 10+ episode binges
    assert one_series >= 0.9  # mostly one series at a time
    assert binge_minutes > 20  # binge sittings run past 20 minutes


def test_paywall_cliff_and_slow_decay(con) -> None:
    rows = con.execute(
        """
        WITH viewers AS (
            SELECT series_id, episode_number, count(DISTINCT user_id) AS n
            FROM evr WHERE event_type = 'episode_start' GROUP BY ALL
        )
        SELECT v.episode_number - s.free_episodes AS rel, sum(v.n)
        FROM viewers v JOIN se s USING (series_id)
        WHERE v.episode_number - s.free_episodes BETWEEN -2 AND 2
        GROUP BY 1 ORDER BY 1
        """
    ).fetchall()
    viewers = dict(rows)
    before = viewers[0] / viewers[-1]  # last free episode vs the one before it
    at_paywall = viewers[1] / viewers[0]  # first locked episode vs last free episode
    after = viewers[2] / viewers[1]
    assert before > 0.85 and after > 0.7
    assert at_paywall < 0.45  # the cliff
    assert at_paywall < before / 2


def test_unlocks_purchases_and_engagement(con) -> None:
    methods = dict(
        con.execute(
            "SELECT unlock_method, count(*) FROM ev WHERE event_type = 'episode_unlock' GROUP BY 1"
        ).fetchall()
    )
    assert set(methods) == {"coins", "ad", "subscription"}
    assert all(n > 0.1 * sum(methods.values()) for n in methods.values())
    # every locked episode start is preceded by an unlock of it by the same user
    unmatched = one(
        con,
        """
        SELECT count(*) FROM evr s JOIN se USING (series_id)
        WHERE s.event_type = 'episode_start' AND s.episode_number > se.free_episodes
          AND NOT EXISTS (SELECT 1 FROM evr u WHERE u.event_type = 'episode_unlock'
                AND u.user_id = s.user_id AND u.series_id = s.series_id
                AND u.episode_number = s.episode_number AND u.ts <= s.ts)
        """,
    )
    assert unmatched == (0,)
    revenue, purchases = one(
        con, "SELECT sum(amount_usd), count(*) FROM ev WHERE event_type = 'purchase'"
    )
    assert purchases > 50 and revenue > 0


def test_heartbeats_every_five_seconds(con) -> None:
    off_grid, bad_gaps = one(
        con,
        """
        WITH hb AS (
            SELECT user_id, series_id, episode_number, position_s, ts,
                   lag(position_s) OVER w AS prev_pos, lag(ts) OVER w AS prev_ts
            FROM evr WHERE event_type = 'episode_progress'
            WINDOW w AS (PARTITION BY user_id, series_id, episode_number ORDER BY ts)
        )
        SELECT count(*) FILTER (WHERE position_s % 5 <> 0),
               count(*) FILTER (WHERE position_s - prev_pos = 5
                                AND abs(epoch(ts - prev_ts) - 5) > 0.01)
        FROM hb
        """,
    )
    assert off_grid == 0 and bad_gaps == 0


def test_exits_concentrate_in_first_seconds_and_near_the_end(con) -> None:
    early, late, middle = one(
        con,
        """
        SELECT avg((position_s < 10)::INT), avg((position_s / duration_s >= 0.85)::INT),
               avg((position_s / duration_s BETWEEN 0.4 AND 0.6)::INT)
        FROM evr JOIN ep USING (series_id, episode_number)
        WHERE event_type = 'episode_exit'
        """,
    )
    # exits per unit of playback: the first 10 s (about 1/9 of a typical episode) and the
    # last 15 % each hold far more exits than the 20 % in the middle
    assert early > 1.5 * middle, (early, middle)
    assert late > 1.5 * middle, (late, middle)


def test_catalog_matches_industry_ranges(medium_parquet: Path, con) -> None:
    n_eps, free, dur = one(
        con,
        "SELECT [min(n_episodes), max(n_episodes)], [min(free_episodes), max(free_episodes)], "
        "(SELECT [min(duration_s), max(duration_s)] FROM ep) FROM se",
    )
    assert 40 <= n_eps[0] and n_eps[1] <= 90
    assert 5 <= free[0] and free[1] <= 12
    assert 45 <= dur[0] and dur[1] <= 180
    mix = dict(con.execute("SELECT production_type, count(*) FROM se GROUP BY 1").fetchall())
    assert set(mix) == {"ai", "live_action", "hybrid"}
    assert mix["live_action"] > mix["hybrid"] and mix["ai"] > mix["hybrid"]
    live_per_min, ai_per_60min = one(
        con,
        """
        WITH runtime AS (SELECT series_id, sum(duration_s) / 60 AS minutes FROM ep GROUP BY 1)
        SELECT median(production_cost_usd / minutes) FILTER (WHERE production_type = 'live_action'),
               max(production_cost_usd / minutes * 60) FILTER (WHERE production_type = 'ai')
        FROM se JOIN runtime USING (series_id) WHERE original_series_id IS NULL
        """,
    )
    assert 2500 <= live_per_min <= 3500  # about USD 3,000 per finished minute
    assert ai_per_60min < 20_000
    langs = {r[0] for r in con.execute("SELECT DISTINCT language FROM se").fetchall()}
    assert {"en", "es", "pt", "ko"} <= langs
    bad_dubs = one(
        con,
        """
        SELECT count(*) FROM se d LEFT JOIN se o ON d.original_series_id = o.series_id
        WHERE d.original_series_id IS NOT NULL
          AND (o.series_id IS NULL OR o.language = d.language OR o.original_series_id IS NOT NULL
               OR o.n_episodes <> d.n_episodes)
        """,
    )
    assert bad_dubs == (0,)
    assert one(con, "SELECT count(*) FROM se WHERE original_series_id IS NOT NULL")[0] > 10
    released_in_period = one(
        con, "SELECT count(*) FROM se WHERE release_date >= DATE '2026-09-07'"
    )[0]
    assert released_in_period >= 10  # new series keep arriving


def test_users_arrive_every_day_and_some_churn(con) -> None:
    first_days = con.execute(
        "SELECT min(ts)::DATE AS d, count(*) FROM ev GROUP BY user_id"
    ).fetchall()
    assert len({d for d, _ in first_days}) == 14
    churned = one(
        con,
        """
        SELECT avg((last < DATE '2026-09-16')::INT) FROM (
            SELECT max(ts)::DATE AS last, min(ts)::DATE AS first FROM ev GROUP BY user_id
        ) WHERE first <= DATE '2026-09-09'
        """,
    )[0]
    assert 0.1 < churned < 0.9


def test_time_of_day_and_weekday_rhythm(con) -> None:
    # local time of US viewers (UTC-5 in the generator's model): evenings busy, nights quiet
    by_hour = dict(
        con.execute(
            "SELECT hour(ts - INTERVAL 5 HOUR), count(*) FROM ev "
            "WHERE event_type = 'episode_start' AND country = 'US' GROUP BY 1"
        ).fetchall()
    )
    evening = sum(by_hour.get(h, 0) for h in (19, 20, 21, 22))
    night = sum(by_hour.get(h, 0) for h in (2, 3, 4, 5))
    assert evening > 4 * night
    weekend, weekday = one(
        con,
        """
        SELECT avg(n) FILTER (WHERE dayofweek(d) IN (0, 6)),
               avg(n) FILTER (WHERE dayofweek(d) NOT IN (0, 6))
        FROM (SELECT ts::DATE AS d, count(*) AS n FROM ev
              WHERE event_type = 'episode_start' AND ts >= DATE '2026-09-09' GROUP BY 1)
        """,
    )
    assert weekend > weekday


def test_popularity_is_heavy_tailed(con) -> None:
    shares = [
        r[0]
        for r in con.execute(
            "SELECT count(DISTINCT user_id) FROM evr WHERE event_type = 'episode_start' "
            "GROUP BY series_id ORDER BY 1 DESC"
        ).fetchall()
    ]
    top_tenth = sum(shares[: max(1, len(shares) // 10)]) / sum(shares)
    assert top_tenth > 0.3


def test_who_watched_what_beats_popularity_on_a_time_split(con) -> None:
    """Item-item co-occurrence (cosine) must beat popularity at NDCG@10 on the last week."""
    rows = con.execute(
        """
        SELECT user_id, coalesce(se.original_series_id, se.series_id) AS story, min(ts) AS first
        FROM evr JOIN se USING (series_id) WHERE event_type = 'episode_start' GROUP BY ALL
        """
    ).fetchall()
    cut = max(r[2] for r in rows) - __import__("datetime").timedelta(days=7)
    stories = sorted({r[1] for r in rows})
    sidx = {s: i for i, s in enumerate(stories)}
    users = sorted({r[0] for r in rows if r[2] < cut})
    uidx = {u: i for i, u in enumerate(users)}
    x = np.zeros((len(users), len(stories)))
    truth: dict[int, set[int]] = {}
    for user, story, first in rows:
        if first < cut:
            x[uidx[user], sidx[story]] = 1
    for user, story, first in rows:
        if first >= cut and user in uidx and x[uidx[user], sidx[story]] == 0:
            truth.setdefault(uidx[user], set()).add(sidx[story])
    norms = np.sqrt(x.sum(axis=0)) + 1e-9
    sim = (x.T @ x) / norms[:, None] / norms[None, :]
    np.fill_diagonal(sim, 0)
    popularity = x.sum(axis=0)

    def ndcg_at_10(score_fn) -> float:
        total = 0.0
        for u, items in truth.items():
            scores = score_fn(x[u]).astype(float)
            scores[x[u] > 0] = -np.inf
            top = np.argsort(-scores, kind="stable")[:10]
            dcg = sum(1 / np.log2(i + 2) for i, item in enumerate(top) if item in items)
            total += dcg / sum(1 / np.log2(i + 2) for i in range(min(10, len(items))))
        return total / len(truth)

    assert len(truth) > 300
    cf = ndcg_at_10(lambda row: row @ sim)
    pop = ndcg_at_10(lambda row: popularity.copy())
    assert cf > 1.25 * pop, (cf, pop)


def _incomplete_exit_fractions(out: Path) -> np.ndarray:
    c = duckdb.connect()
    rows = c.execute(
        "SELECT e.position_s / p.duration_s FROM read_parquet(?) e "
        "JOIN read_parquet(?) p USING (series_id, episode_number) "
        "WHERE e.event_type = 'episode_exit' AND e.position_s < 0.9 * p.duration_s",
        [str(out / "events" / "*.parquet"), str(out / "catalog" / "episodes.parquet")],
    ).fetchall()
    return np.array([r[0] for r in rows])


def test_kuairand_exit_model_fits_the_real_slice(tmp_path: Path) -> None:
    """--exits kuairand: where views that are not completed end, against the real KuaiRand-Pure
    slice (clicked views of 45-180 s below 0.9 of their duration); the classic model is far."""
    import polars as pl
    from scipy.stats import ks_2samp

    from models.kuairand import SLICE
    from synthetic import GenerateSpec, generate

    log = pl.read_parquet(SLICE).unique().filter(
        (pl.col("is_click") == 1) & (pl.col("play_time_ms") > 0)
        & pl.col("duration_ms").is_between(45_000, 180_000)
    )  # fmt: skip
    ratio = (log["play_time_ms"] / log["duration_ms"]).to_numpy()
    real = ratio[ratio < 0.9]
    distance = {}
    for exits in ("classic", "kuairand"):
        out = tmp_path / exits
        generate(GenerateSpec(users=600, days=7, seed=5, out=out, fmt="parquet", exits=exits))
        distance[exits] = ks_2samp(_incomplete_exit_fractions(out), real).statistic
    assert distance["kuairand"] < 0.07 and distance["classic"] > 0.2, distance


def test_weak_scene_is_planted_where_asked(tmp_path: Path) -> None:
    from synthetic import GenerateSpec, WeakScene, generate

    out = tmp_path / "weak"
    scene = WeakScene("S00000", 2, 20.0, 0.5)
    generate(GenerateSpec(users=400, days=7, seed=3, out=out, fmt="parquet", weak_scenes=(scene,)))
    c = duckdb.connect()
    inside, still = c.execute(
        "WITH v AS (SELECT max(position_s) AS reached, bool_or(event_type = 'episode_complete') "
        "  AS done FROM read_parquet(?) WHERE series_id = 'S00000' AND episode_number = 2 "
        "  AND event_type IN ('episode_exit', 'episode_complete') GROUP BY event_id) "
        "SELECT count(*) FILTER (WHERE NOT done AND reached >= 20 AND reached < 25), "
        "count(*) FILTER (WHERE reached >= 20) FROM v",
        [str(out / "events" / "*.parquet")],
    ).fetchone()
    assert still > 20 and 0.35 < inside / still < 0.65, (inside, still)
