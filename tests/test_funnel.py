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
    # drop-off points test the story hazard only: the paywall cliff at the last free episode
    # is the paywall's toll, not a weak episode, and is not flagged for it
    assert rows[2] < 0.2 and rows[3] < 0.2, rows
    with working_database(generated) as con:
        paywall_share, other_share, bad = con.execute(
            """
            SELECT sum(dropped_at_paywall) FILTER (WHERE f.episode_number = s.free_episodes)
                   / sum(dropped) FILTER (WHERE f.episode_number = s.free_episodes),
                   sum(dropped_at_paywall) FILTER (WHERE f.episode_number <> s.free_episodes)
                   / sum(dropped) FILTER (WHERE f.episode_number <> s.free_episodes),
                   count(*) FILTER (WHERE dropped <> dropped_at_paywall + dropped_story
                       OR abs(cumulative_incidence_paywall + cumulative_incidence_story
                              - (1 - survival)) > 1e-9)
            FROM analytics.series_episode_funnel f JOIN analytics.series s USING (series_id)
            """
        ).fetchone()
    # the generator's paywall stoppers see the next episode's lock screen and leave
    assert paywall_share > 0.5 and other_share < 0.05 and bad == 0, (paywall_share, other_share)


def catalog_metrics(p: Paths) -> dict:
    from features.catalog_metrics import build_catalog_metrics
    from features.revenue import build_revenue

    params = MetricParams()
    funnel(p, params)
    with working_database(p) as con:
        build_revenue(con, params)
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


# ---- drop-off by cause (METRICS.md "Drop-off by cause") ------------------------------------

CAUSE_COLUMNS = (
    "series_id, episode_number, at_risk, dropped, dropped_at_paywall, dropped_story, censored, "
    "survival, cumulative_incidence_paywall, cumulative_incidence_story, is_dropoff_point"
)


def cause_events() -> list[dict]:
    """Hand-built viewers of S1 (3 episodes, 1 free: episode 2 is the paywall episode).

    P stops at the paywall (sees episode 2's lock screen, never unlocks); U unlocks episode 2,
    watches it and stops (a story drop: no lock in the way); F stops after the free episode 1
    without a lock screen (story); W sees the lock screen, unlocks, but never plays episode 2
    (story: the unlock removed the lock); A finishes (censored at 3); C watched episode 1
    yesterday (censored: still inside the 7-day window). Everyone but C is 10 days older.
    """
    from tests.test_engagement import ev

    old, new = "2026-09-01", "2026-09-10"
    out = []
    for user, episodes in {"P": [1], "U": [1, 2], "F": [1], "W": [1], "A": [1, 2, 3]}.items():
        for e in episodes:
            out.append(ev(f"{user}s{e}", "episode_start", f"{old}T10:0{e}:00Z", user, "S1", e))
            if e == 2:
                out.append(ev(f"{user}u{e}", "episode_unlock", f"{old}T10:01:59Z", user, "S1", 2)
                           | {"unlock_method": "coins"})  # fmt: skip
    for user in ("P", "W"):  # the lock screen of episode 2 after episode 1
        out.append(ev(f"{user}pv", "paywall_view", f"{old}T10:01:58Z", user, "S1", 2))
    out.append(ev("Wu2", "episode_unlock", f"{old}T10:01:59Z", "W", "S1", 2)
               | {"unlock_method": "ad"})  # fmt: skip
    out.append(ev("Upv", "paywall_view", f"{old}T10:01:58Z", "U", "S1", 2))
    out.append(ev("Cs1", "episode_start", f"{new}T10:00:00Z", "C", "S1", 1))
    return out


def test_drop_causes_by_hand(tmp_path) -> None:
    import json

    from ingest.events import ingest_file
    from tests.test_engagement import NOW, hand_catalog

    p = hand_catalog(tmp_path)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in cause_events()))
    with working_database(p) as con:
        assert ingest_file(con, path, now=NOW).quarantined == 0
    funnel(p, MetricParams())
    with working_database(p) as con:
        rows = con.execute(
            f"SELECT {CAUSE_COLUMNS} FROM analytics.series_episode_funnel "  # noqa: S608
            "WHERE series_id = 'S1' ORDER BY episode_number"
        ).fetchall()
    # episode 1: 6 at risk; P at the paywall, F and W to the story; C censored.
    # S(1) = 1 - 3/6 = 1/2; CIF_paywall(1) = 1 * 1/6; CIF_story(1) = 1 * 2/6.
    # episode 2: U and A at risk; U drops to the story. S(2) = 1/2 * (1 - 1/2) = 1/4;
    # CIF_story(2) = 1/3 + S(1) * 1/2 = 7/12; CIF_paywall stays 1/6; 1/6 + 7/12 = 1 - 1/4.
    # episode 3: A finished (censored). Six at risk is below the 10 a drop-off point needs.
    approx = pytest.approx
    assert rows == [
        ("S1", 1, 6, 3, 1, 2, 1, approx(1 / 2), approx(1 / 6), approx(1 / 3), False),
        ("S1", 2, 2, 1, 0, 1, 0, approx(1 / 4), approx(1 / 6), approx(7 / 12), False),
        ("S1", 3, 1, 0, 0, 0, 1, approx(1 / 4), approx(1 / 6), approx(7 / 12), False),
    ]


class _TiedAalenJohansen:
    """lifelines' AalenJohansenFitter without its random jitter of tied times.

    On an episode index ties are the rule (many viewers stop at the same episode), and the
    Aalen-Johansen estimator with ties is exactly the event-table formula lifelines applies
    (CIF_k(t) = sum S(t-) d_k(t) / n(t)); its jitter would only blur that.
    """

    @staticmethod
    def fit(durations, events, cause, entry):
        from lifelines import AalenJohansenFitter

        class NoJitter(AalenJohansenFitter):
            @staticmethod
            def _check_for_duplicates(durations, events):
                return False

        return NoJitter(calculate_variance=False).fit(
            durations, events, event_of_interest=cause, entry=entry
        )


def test_cumulative_incidence_equals_lifelines_aalen_johansen(generated: Paths) -> None:
    """Both causes' cumulative incidence, with left truncation, to 1e-9, from raw events."""
    with working_database(generated) as con:
        events = con.sql(
            "SELECT user_id, series_id, episode_number, ts, event_type FROM raw.events "
            "WHERE series_id IS NOT NULL"
        ).pl()
        series = con.sql("SELECT series_id, n_episodes FROM analytics.series").pl()
        data_end = con.sql("SELECT max(ts) AS end FROM raw.events").pl()["end"][0]
        ours = con.sql(
            "SELECT series_id, episode_number, dropped_at_paywall, dropped_story, "
            "cumulative_incidence_paywall, cumulative_incidence_story "
            "FROM analytics.series_episode_funnel"
        ).pl()
    starts = events.filter(pl.col("event_type") == "episode_start").sort("ts", "episode_number")
    locks = events.filter(pl.col("event_type").is_in(["paywall_view", "episode_unlock"]))
    lock = locks.group_by("user_id", "series_id", "episode_number").agg(
        saw=(pl.col("event_type") == "paywall_view").any(),
        unlocked=(pl.col("event_type") == "episode_unlock").any(),
    )
    journeys = (
        starts.group_by("user_id", "series_id")
        .agg(entry=pl.col("episode_number").first(), reach=pl.col("episode_number").max())
        .join(
            events.group_by("user_id", "series_id").agg(last=pl.col("ts").max()),
            on=["user_id", "series_id"],
        )  # fmt: skip
        .join(series, on="series_id")
        .with_columns(next_ep=pl.col("reach") + 1)
        .join(
            lock,
            left_on=["user_id", "series_id", "next_ep"],
            right_on=["user_id", "series_id", "episode_number"],
            how="left",
        )  # fmt: skip
        .with_columns(
            dropped=(pl.col("reach") < pl.col("n_episodes"))
            & (pl.col("last") <= data_end - dt.timedelta(days=7)),
            at_lock=pl.col("saw").fill_null(False) & ~pl.col("unlocked").fill_null(False),
        )
        .with_columns(
            # 0 censored, 1 at the paywall, 2 to the story
            cause=pl.when(~pl.col("dropped")).then(0).when(pl.col("at_lock")).then(1).otherwise(2)
        )  # fmt: skip
    )
    busiest = (
        journeys.group_by("series_id").len().sort("len", "series_id", descending=True).head(6)
    )["series_id"].to_list()
    paywall_drops = 0
    for sid in busiest:
        j = journeys.filter(pl.col("series_id") == sid)
        mine = ours.filter(pl.col("series_id") == sid).sort("episode_number")
        episodes = mine["episode_number"].to_numpy()
        counts = j.filter(pl.col("cause") > 0).group_by("reach", "cause").len()
        for cause, column in ((1, "dropped_at_paywall"), (2, "dropped_story")):
            by_ep = dict(counts.filter(pl.col("cause") == cause).select("reach", "len").rows())
            assert [by_ep.get(e, 0) for e in episodes] == mine[column].to_list()
        paywall_drops += int(mine["dropped_at_paywall"].sum())
        for cause, column in ((1, "cumulative_incidence_paywall"),
                              (2, "cumulative_incidence_story")):  # fmt: skip
            # lifelines' Aalen-Johansen takes its event table's at_risk, which counts a
            # subject entering at t as at risk at t: entering between f - 1 and f puts a
            # viewer whose first episode is f at risk from f on, as METRICS.md says
            aj = _TiedAalenJohansen.fit(
                j["reach"].to_numpy(), j["cause"].to_numpy(), cause, j["entry"].to_numpy() - 0.5
            )
            cif = aj.cumulative_density_.iloc[:, 0]
            theirs = cif.reindex(episodes, method="ffill").fillna(0.0).to_numpy()
            np.testing.assert_allclose(mine[column].to_numpy(), theirs, rtol=0, atol=1e-9)
    assert paywall_drops > 20  # the comparison covered paywall drops, not only story ones


def test_dropoff_points_are_the_story_hazards_significant_after_bh(generated: Paths) -> None:
    """is_dropoff_point from scratch: scipy's exact binomial test and its own BH procedure."""
    from scipy.stats import binomtest, false_discovery_control

    with working_database(generated) as con:
        rows = con.sql(
            "SELECT f.series_id, f.episode_number, f.at_risk, f.dropped_story, "
            "f.is_dropoff_point, f.story_hazard_q_value, "
            "sum(f.dropped_story) OVER s / sum(f.at_risk) OVER s AS pooled, s.n_episodes "
            "FROM analytics.series_episode_funnel f JOIN analytics.series s USING (series_id) "
            "WINDOW s AS (PARTITION BY f.series_id) ORDER BY 1, 2"
        ).pl()
    tested = rows.filter(
        (pl.col("at_risk") > 0) & (pl.col("episode_number") < pl.col("n_episodes"))
    )
    flagged = 0
    for (sid,), part in tested.group_by(["series_id"], maintain_order=True):
        part = part.sort("episode_number")
        p = [
            binomtest(int(k), int(n), pooled, alternative="greater").pvalue if k > 0 else 1.0
            for k, n, pooled in part.select("dropped_story", "at_risk", "pooled").rows()
        ]
        q = false_discovery_control(p, method="bh")
        np.testing.assert_allclose(part["story_hazard_q_value"].to_numpy(), q, atol=1e-9)
        expected = (
            (q <= 0.05)
            & (part["dropped_story"].to_numpy() > 0)
            & (part["at_risk"].to_numpy() >= 10)
        )
        assert part["is_dropoff_point"].to_list() == expected.tolist(), sid
        flagged += int(expected.sum())
    untested = rows.join(tested, on=["series_id", "episode_number"], how="anti")
    assert not untested["is_dropoff_point"].any()
    assert flagged > 0  # the generator's weak episodes (cliffhanger dips) are found
