"""The series episode funnel: by hand on a tiny set, and against lifelines on generated data."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from core.config import MetricParams, Paths
from core.warehouse import working_database
from features.engagement import build_engagement
from features.funnel import Z_95, build_funnel
from features.sessions import build_sessions
from ingest.catalog import load_catalog, refresh_public_catalog
from ingest.events import event_files, ingest_files
from synthetic import GenerateSpec, generate
from tests.test_engagement import paths  # noqa: F401 (the hand-built fixture)

COLUMNS = (
    "series_id, episode_number, viewers, completion_rate, continuation_rate, at_risk, dropped, "
    "hazard, survival, survival_ci_low, survival_ci_high, is_paywall_episode"
)


def funnel(p: Paths, params: MetricParams) -> list[tuple]:
    with working_database(p) as con:
        build_sessions(con, params)
        build_engagement(con, params)
        build_funnel(con, params)
        return con.execute(
            f"SELECT {COLUMNS} FROM analytics.series_episode_funnel ORDER BY 1, 2"  # noqa: S608
        ).fetchall()


def log_log_ci(s: float, greenwood: float) -> tuple[float, float]:
    spread = Z_95 * math.sqrt(greenwood) / math.log(s)
    return (
        math.exp(-math.exp(math.log(-math.log(s)) - spread)),
        math.exp(-math.exp(math.log(-math.log(s)) + spread)),
    )


def test_funnel_by_hand(paths: Paths) -> None:  # noqa: F811
    # with inactive_days = 0 everyone not at the last episode has dropped
    rows = funnel(paths, dataclasses.replace(MetricParams(), inactive_days=0))
    low, high = log_log_ci(0.5, 1 / (2 * 1))
    assert rows[:3] == [
        # S1: A enters at 1 and finishes (censored at 3); B enters at 2 and drops there
        ("S1", 1, 1, 1.0, 1.0, 1, 0, 0.0, 1.0, 1.0, 1.0, False),
        ("S1", 2, 2, 0.5, 0.5, 2, 1, 0.5, 0.5, pytest.approx(low), pytest.approx(high), True),
        ("S1", 3, 1, 0.0, None, 1, 0, 0.0, 0.5, pytest.approx(low), pytest.approx(high), False),
    ]
    # S2: A watched episode 1 for 0 s and left: hazard 1, survival 0; nobody at risk after
    assert rows[3:] == [
        ("S2", 1, 1, 0.0, 0.0, 1, 1, 1.0, 0.0, 0.0, 0.0, False),
        ("S2", 2, 0, None, None, 0, 0, None, 0.0, 0.0, 0.0, True),
    ]
    # with the default 7 days nobody here has been inactive long enough: all censored
    rows = funnel(paths, MetricParams())
    assert {r[6] for r in rows} == {0} and {r[8] for r in rows} == {1.0}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    root = tmp_path_factory.mktemp("funnel")
    data = root / "data"
    generate(GenerateSpec(users=1500, days=21, seed=17, out=data, fmt="parquet"))
    p = Paths(home=root, warehouse=root / "w" / "c.duckdb", landing=data,
              dagster_home=root / "d")  # fmt: skip
    with working_database(p) as con:
        load_catalog(con, data / "catalog")
        refresh_public_catalog(con)
        ingest_files(con, event_files([data / "events"]))
        params = MetricParams()
        build_sessions(con, params)
        build_engagement(con, params)
        build_funnel(con, params)
    return p


def test_survival_and_its_interval_equal_lifelines(generated: Paths) -> None:
    """Kaplan-Meier with left truncation (entry=) and its log(-log) interval, to 1e-9."""
    from lifelines import KaplanMeierFitter

    with working_database(generated) as con:
        events = con.sql(
            "SELECT user_id, series_id, episode_number, ts, event_type FROM raw.events "
            "WHERE series_id IS NOT NULL"
        ).pl()
        series = con.sql("SELECT series_id, n_episodes FROM analytics.series").pl()
        # the data end is the latest ts among all stored events (METRICS.md)
        data_end = con.sql("SELECT max(ts) AS end FROM raw.events").pl()["end"][0]
        ours = con.sql(
            "SELECT series_id, episode_number, at_risk, dropped, survival, survival_ci_low, "
            "survival_ci_high FROM analytics.series_episode_funnel"
        ).pl()
    # an independent reading of METRICS.md from the raw events
    starts = events.filter(pl.col("event_type") == "episode_start").sort("ts", "episode_number")
    journeys = (
        starts.group_by("user_id", "series_id")
        .agg(entry=pl.col("episode_number").first(), reach=pl.col("episode_number").max())
        .join(
            events.group_by("user_id", "series_id").agg(last=pl.col("ts").max()),
            on=["user_id", "series_id"],
        )  # fmt: skip
        .join(series, on="series_id")
        .with_columns(
            dropped=(pl.col("reach") < pl.col("n_episodes"))
            & (pl.col("last") <= data_end - dt.timedelta(days=7))
        )
    )
    busiest = (
        journeys.group_by("series_id").len().sort("len", "series_id", descending=True).head(6)
    )["series_id"].to_list()
    checked = 0
    for sid in busiest:
        j = journeys.filter(pl.col("series_id") == sid)
        # lifelines counts a subject at risk for events strictly after its entry time; a
        # viewer who enters at episode f can drop at f, so its entry time is f - 1
        kmf = KaplanMeierFitter().fit(
            durations=j["reach"].to_numpy(),
            event_observed=j["dropped"].to_numpy(),
            entry=j["entry"].to_numpy() - 1,
        )
        mine = ours.filter(pl.col("series_id") == sid).sort("episode_number")
        episodes = mine["episode_number"].to_numpy()
        table = kmf.event_table.reindex(episodes, fill_value=0)
        assert np.array_equal(table["observed"].to_numpy(), mine["dropped"].to_numpy())
        # at risk at an episode with a drop: entered before it (or at it) and reached it
        with_drops = table["observed"].to_numpy() > 0
        at_risk = np.array(
            [((j["entry"] <= e) & (j["reach"] >= e)).sum() for e in episodes[with_drops]]
        )
        assert np.array_equal(mine["at_risk"].to_numpy()[with_drops], at_risk)
        theirs = kmf.survival_function_at_times(episodes).to_numpy()
        np.testing.assert_allclose(mine["survival"].to_numpy(), theirs, rtol=0, atol=1e-9)
        ci = kmf.confidence_interval_survival_function_.reindex(episodes, method="ffill")
        low, high = ci.iloc[:, 0].to_numpy(), ci.iloc[:, 1].to_numpy()
        defined = (theirs > 0) & (theirs < 1)
        np.testing.assert_allclose(mine["survival_ci_low"].to_numpy()[defined], low[defined],
                                   rtol=0, atol=1e-9)  # fmt: skip
        np.testing.assert_allclose(mine["survival_ci_high"].to_numpy()[defined], high[defined],
                                   rtol=0, atol=1e-9)  # fmt: skip
        checked += int(defined.sum())
    assert checked > 100


def test_funnel_shape_on_generated_data(generated: Paths) -> None:
    with working_database(generated) as con:
        rows = con.execute(
            """
            SELECT count(*) FILTER (WHERE survival_ci_low > survival + 1e-12
                                       OR survival_ci_high < survival - 1e-12),
                   count(*) FILTER (WHERE completion_rate NOT BETWEEN 0 AND 1
                                       OR continuation_rate NOT BETWEEN 0 AND 1),
                   avg(is_dropoff_point::INT) FILTER (WHERE f.episode_number = s.free_episodes
                                                        AND f.at_risk >= 10),
                   avg(is_dropoff_point::INT) FILTER (WHERE f.episode_number <> s.free_episodes
                                                        AND f.at_risk >= 10)
            FROM analytics.series_episode_funnel f JOIN analytics.series s USING (series_id)
            """
        ).fetchone()
        increasing = con.execute(
            """
            SELECT count(*) FROM (
                SELECT survival - lag(survival) OVER (PARTITION BY series_id
                                                      ORDER BY episode_number) AS step
                FROM analytics.series_episode_funnel) WHERE step > 1e-12
            """
        ).fetchone()[0]
        viewers_match = con.execute(
            """
            SELECT count(*) FROM analytics.series_episode_funnel f
            LEFT JOIN (SELECT series_id, episode_number, count(DISTINCT user_id) AS n
                       FROM analytics.episode_views GROUP BY ALL) v USING (series_id, episode_number)
            WHERE f.viewers <> coalesce(v.n, 0)
            """
        ).fetchone()[0]
    assert rows[0] == 0 and rows[1] == 0
    assert increasing == 0  # survival never increases
    assert viewers_match == 0
    # the paywall cliff is found: viewers who will not pay stop at the last free episode,
    # which is a drop-off point far more often than any other episode
    assert rows[2] > 0.8 and rows[3] < 0.2, rows


def catalog_metrics(p: Paths) -> dict:
    from features.catalog_metrics import build_catalog_metrics

    params = MetricParams()
    funnel(p, params)
    with working_database(p) as con:
        build_catalog_metrics(con, params)
        return {
            "curve": con.execute(
                "SELECT series_id, episode_number, bucket_start_s, views, share_still_watching "
                "FROM analytics.episode_retention_curve ORDER BY ALL"
            ).fetchall(),
            "cohorts": con.execute(
                "SELECT cohort_date::VARCHAR, day, cohort_users, retained_users, retention_rate, "
                "retained_on_or_after FROM analytics.retention_cohorts ORDER BY ALL"
            ).fetchall(),
            "scorecard": con.execute(
                "SELECT series_id, viewers, hook_rate, completion_rate, paywall_reach_rate, "
                "paywall_conversion_rate, episodes_per_viewer, watch_hours, revenue_usd, "
                "cost_per_watch_hour FROM analytics.series_scorecard ORDER BY 1"
            ).fetchall(),
        }


def test_retention_curve_cohorts_and_scorecard_by_hand(paths: Paths) -> None:  # noqa: F811
    out = catalog_metrics(paths)
    curve = {(s, e, t): (n, share) for s, e, t, n, share in out["curve"]}
    # S1 episode 2 has three views reaching 20 s, 95 s and 3 s (a rewatch)
    assert [curve[("S1", 2, t)] for t in (0, 5, 20, 25, 95, 100)] == [
        (3, 1.0), (3, 2 / 3), (3, 2 / 3), (3, 1 / 3), (3, 1 / 3), (3, 0.0),
    ]  # fmt: skip
    assert len([k for k in curve if k[:2] == ("S1", 2)]) == 21  # t = 0, 5, ..., 100
    # S2 episode 1: one view that never started playing; S2 episode 2: no views, no rows
    assert [curve[("S2", 1, t)] for t in (0, 5, 60)] == [(1, 1.0), (1, 0.0), (1, 0.0)]
    assert not [k for k in curve if k[:2] == ("S2", 2)]
    # both users start on 2026-09-07; only A comes back on the 8th, the last observable day
    assert out["cohorts"] == [
        ("2026-09-07", 0, 2, 2, 1.0, 2),
        ("2026-09-07", 1, 2, 1, 0.5, 1),
    ]
    s1, s2 = out["scorecard"]
    assert s1[:7] == ("S1", 2, 1.0, 1.0, 1.0, 1.0, 2.5)
    assert s1[7] == pytest.approx((20 + 100 + 95 + 3 + 60) / 3600)
    assert s1[8] == 0.0 and s1[9] == pytest.approx(15000 / ((20 + 100 + 95 + 3 + 60) / 3600))
    # S2: A watched episode 1 for 0 s: no completion, no conversion, no watch time
    assert s2 == ("S2", 1, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, None)


def test_an_episode_without_drops_is_never_a_dropoff_point(tmp_path) -> None:
    """12 viewers, none dropped: every hazard is 0, and so is the series' typical hazard. The
    Wilson lower bound of a zero hazard over 12 at risk computes to ~2e-17, which once
    "exceeded" the typical 0 and flagged every episode."""
    import json

    from tests.test_engagement import ev, hand_catalog

    p = hand_catalog(tmp_path)
    events = []
    for u in range(12):
        for e in (1, 2, 3):  # everyone finishes S1 in one session: censored at the end
            events.append(ev(f"f{u}-{e}", "episode_start", f"2026-09-07T10:{u:02d}:{e * 10:02d}Z",
                             f"U{u}", "S1", e))  # fmt: skip
    for u in range(12):  # and watches S2's first episode only, just now: still active
        events.append(ev(f"g{u}", "episode_start", f"2026-09-08T10:{u:02d}:00Z", f"U{u}", "S2", 1))
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in events))
    from ingest.events import ingest_file
    from tests.test_engagement import NOW

    with working_database(p) as con:
        ingest_file(con, path, now=NOW)
    params = MetricParams()
    funnel(p, params)
    with working_database(p) as con:
        rows = con.execute(
            "SELECT series_id, episode_number, at_risk, dropped, hazard, hazard_ci_low, "
            "is_dropoff_point, session_continuation_rate, series_still_active_share, "
            "dropoff_measurable FROM analytics.series_episode_funnel ORDER BY 1, 2"
        ).fetchall()
    assert rows == [
        ("S1", 1, 12, 0, 0.0, 0.0, False, 1.0, 0.0, True),
        ("S1", 2, 12, 0, 0.0, 0.0, False, 1.0, 0.0, True),
        ("S1", 3, 12, 0, 0.0, 0.0, False, None, 0.0, True),
        # S2: all 12 are still inside the inactivity window: drop-off not yet measurable
        ("S2", 1, 12, 0, 0.0, 0.0, False, 0.0, 1.0, False),
        ("S2", 2, 0, 0, None, None, False, None, 1.0, False),
    ]
