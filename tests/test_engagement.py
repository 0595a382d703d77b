"""Sessions, episode views and daily engagement on a tiny event set worked out by hand."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from core.config import MetricParams, Paths
from core.warehouse import working_database
from features.engagement import build_engagement
from features.sessions import build_sessions
from ingest.catalog import load_catalog, refresh_public_catalog
from ingest.events import ingest_file

NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
D1 = "2026-09-07"
D2 = "2026-09-08"


def ev(event_id: str, event_type: str, ts: str, user: str, series: str | None = None,
       episode: int | None = None, position: float | None = None) -> dict:  # fmt: skip
    record = {"event_id": event_id, "event_type": event_type, "ts": ts, "user_id": user}
    if series:
        record |= {"series_id": series, "episode_number": episode}
    if position is not None:
        record["position_s"] = position
    return record


EVENTS = [
    # user A, session 1: crosses midnight (no gap over 30 min)
    ev("a1", "app_open", f"{D1}T23:50:00Z", "A"),
    ev("a2", "episode_start", f"{D1}T23:50:05Z", "A", "S1", 1),
    ev("a3", "episode_progress", f"{D1}T23:50:10Z", "A", "S1", 1, 5),
    ev("a4", "episode_complete", f"{D1}T23:51:45Z", "A", "S1", 1, 100),
    ev("a5", "episode_start", f"{D1}T23:51:47Z", "A", "S1", 2),
    ev("a6", "episode_progress", f"{D1}T23:55:00Z", "A", "S1", 2, 50),
    ev("a7", "episode_exit", f"{D2}T00:05:00Z", "A", "S1", 2, 95),  # 0.95: completed
    ev("a8", "episode_start", f"{D2}T00:06:00Z", "A", "S1", 2),  # a rewatch: another view
    ev("a9", "episode_exit", f"{D2}T00:06:03Z", "A", "S1", 2, 3),
    ev("a10", "episode_start", f"{D2}T00:10:00Z", "A", "S2", 1),  # no progress: position 0
    ev("a11", "episode_progress", f"{D2}T00:10:30Z", "A", "S1", 3, 40),  # not the open view
    # user A, session 2: 49.5 minutes later
    ev("a12", "episode_start", f"{D2}T01:00:00Z", "A", "S1", 3),
    ev("a13", "episode_progress", f"{D2}T01:01:00Z", "A", "S1", 3, 60),
    # user B enters at episode 2
    ev("b1", "episode_start", f"{D1}T10:00:00Z", "B", "S1", 2),
    ev("b2", "episode_exit", f"{D1}T10:00:20Z", "B", "S1", 2, 20),
]


def hand_catalog(tmp_path: Path) -> Paths:
    """A warehouse with the two-series catalog of these tests and no events yet."""
    cat = tmp_path / "catalog"
    cat.mkdir()
    (cat / "series.csv").write_text(
        "series_id,title,genres,language,original_series_id,n_episodes,free_episodes,"
        "release_date,production_type,production_cost_usd\n"
        "S1,One,romance,en,,3,1,2026-01-01,ai,15000\n"
        "S2,Two,revenge,en,,2,1,2026-01-01,live_action,300000\n"
    )
    (cat / "episodes.csv").write_text(
        "episode_id,series_id,episode_number,duration_s\n"
        "S1-E1,S1,1,100\nS1-E2,S1,2,100\nS1-E3,S1,3,100\nS2-E1,S2,1,60\nS2-E2,S2,2,60\n"
    )
    p = Paths(home=tmp_path, warehouse=tmp_path / "w" / "c.duckdb", landing=tmp_path,
              dagster_home=tmp_path / "d")  # fmt: skip
    with working_database(p) as con:
        load_catalog(con, cat)
        refresh_public_catalog(con)
    return p


@pytest.fixture()
def paths(tmp_path: Path) -> Paths:
    p = hand_catalog(tmp_path)
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    with working_database(p) as con:
        assert ingest_file(con, events, now=NOW).loaded == len(EVENTS)
    return p


def build(paths: Paths, params: MetricParams | None = None) -> dict:
    params = params or MetricParams()
    with working_database(paths) as con:
        build_sessions(con, params)
        counts = build_engagement(con, params)
        out = {
            "views": con.execute(
                "SELECT user_id, series_id, episode_number, started_at::VARCHAR, max_position_s, "
                "watched_fraction, completed FROM analytics.episode_views ORDER BY started_at"
            ).fetchall(),
            "sessions": con.execute(
                "SELECT session_key, user_id, duration_s, episodes_started, distinct_series, "
                "watch_s, is_binge FROM analytics.sessions ORDER BY started_at"
            ).fetchall(),
            "daily": con.execute(
                "SELECT date::VARCHAR, dau, sessions, episodes_per_session_mean, "
                "episodes_per_session_median, session_minutes_mean, binge_session_rate, "
                "watch_minutes_per_dau FROM analytics.daily_engagement ORDER BY date"
            ).fetchall(),
            "counts": counts,
        }
    return out


def test_episode_views_by_hand(paths: Paths) -> None:
    views = build(paths)["views"]
    assert views == [
        ("B", "S1", 2, f"{D1} 10:00:00+00", 20.0, 0.2, False),
        ("A", "S1", 1, f"{D1} 23:50:05+00", 100.0, 1.0, True),
        ("A", "S1", 2, f"{D1} 23:51:47+00", 95.0, 0.95, True),  # no complete event: >= 0.9
        ("A", "S1", 2, f"{D2} 00:06:00+00", 3.0, 0.03, False),  # the rewatch
        ("A", "S2", 1, f"{D2} 00:10:00+00", 0.0, 0.0, False),  # S1-E3's heartbeat is not its
        ("A", "S1", 3, f"{D2} 01:00:00+00", 60.0, 0.6, False),
    ]


def test_sessions_by_hand(paths: Paths) -> None:
    sessions = build(paths)["sessions"]
    assert sessions == [
        ("B@2026-09-07T10:00:00.000Z", "B", 20.0, 1, 1, 20.0, False),
        # 23:50:00 -> 00:10:30 crosses midnight: one session of 20.5 minutes
        ("A@2026-09-07T23:50:00.000Z", "A", 1230.0, 4, 2, 198.0, False),
        ("A@2026-09-08T01:00:00.000Z", "A", 60.0, 1, 1, 60.0, False),
    ]


def test_daily_engagement_by_hand(paths: Paths) -> None:
    daily = build(paths)["daily"]
    assert daily[0][:3] == (D1, 2, 2)
    assert daily[0][3:5] == (2.5, 2.5)
    assert daily[0][5] == pytest.approx((1230 + 20) / 2 / 60)
    assert daily[0][6] == 0.0
    assert daily[0][7] == pytest.approx((100 + 95 + 20) / 60 / 2)  # views started on D1
    assert daily[1][:5] == (D2, 1, 1, 1.0, 1.0)
    assert daily[1][5] == pytest.approx(1.0)
    assert daily[1][7] == pytest.approx((3 + 0 + 60) / 60 / 1)


def test_parameters_change_the_answer(paths: Paths) -> None:
    binge4 = build(paths, dataclasses.replace(MetricParams(), binge_min_episodes=4))
    assert [s[-1] for s in binge4["sessions"]] == [False, True, False]
    # with a 60-minute gap, user A's two sittings are one session
    long_gap = build(paths, dataclasses.replace(MetricParams(), session_gap_minutes=60))
    assert [s[3] for s in long_gap["sessions"]] == [1, 5]
    # a stricter completion threshold: 0.95 still counts, 0.96 would not
    strict = build(paths, dataclasses.replace(MetricParams(), complete_fraction=0.96))
    assert [v[-1] for v in strict["views"]] == [False, True, False, False, False, False]


def test_a_daily_partition_run_replaces_its_own_date_with_the_full_builds_row(
    paths: Paths,
) -> None:
    """The `engagement_day` partition (a real Dagster materialization) rewrites one date's
    row to what the full build makes, and leaves the other date alone."""
    import dagster as dg

    from pipelines.assets_days import engagement_day
    from pipelines.resources import CliffhangerStore

    daily = build(paths)["daily"]
    with working_database(paths) as con:
        # both dates wrong: the partition run must repair D2 only
        con.execute("UPDATE analytics.daily_engagement SET dau = 99, sessions = 99")
    store = CliffhangerStore(home=str(paths.home), warehouse=str(paths.warehouse))
    result = dg.materialize([engagement_day], partition_key=D2, resources={"store": store})
    assert result.success
    meta = result.asset_materializations_for_node("engagement_day")[0].metadata
    assert (meta["date"].value, meta["rows"].value, meta["attempts"].value) == (D2, 1, 1)
    with working_database(paths) as con:
        rows = con.execute(
            "SELECT date::VARCHAR, dau, sessions, episodes_per_session_mean, "
            "episodes_per_session_median, session_minutes_mean, binge_session_rate, "
            "watch_minutes_per_dau FROM analytics.daily_engagement ORDER BY date"
        ).fetchall()
    assert rows[1] == daily[1]
    assert rows[0] == (D1, 99, 99, *daily[0][3:])
    # a date nobody was active on: its run writes no row (and removes a stale one)
    with working_database(paths) as con:
        con.execute("INSERT INTO analytics.daily_engagement (date, dau) VALUES ('2026-09-09', 5)")
    assert dg.materialize(
        [engagement_day], partition_key="2026-09-09", resources={"store": store}
    ).success
    with working_database(paths) as con:
        left = con.execute(
            "SELECT count(*) FROM analytics.daily_engagement WHERE date = '2026-09-09'"
        ).fetchone()[0]
    assert left == 0
