"""Every dashboard page run with Streamlit's AppTest against a real fixture warehouse.

The numbers a page shows are checked against the test's own, independent DuckDB queries of
the same published snapshot (mostly from the base tables: sessions, events, episode_views),
formatted the way the page formats them.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import stats

# its assertions get pytest's messages too (it is imported here before being registered)
pytest.register_assert_rewrite("tests.dashboard_fixtures")
from tests.dashboard_fixtures import (  # noqa: E402
    EVALUATION_ROWS,
    EXPECTED_REASONS,
    REC_USER,
    connect,
    copy_home,
    publish_again,
    published,
    run_cli,
)

# the session fixtures (dash_home, dash_home_models), registered once for both modules
pytest_plugins = ["tests.dashboard_fixtures"]

APP = Path(__file__).resolve().parents[1] / "dashboards" / "app.py"
PAGES = ["launches", "overview", "series", "catalog", "retention", "recommendations",
         "data_health"]  # fmt: skip
DEFAULT_PAGE = "launches"  # what the app opens on
NO_MODEL = "No model has been published yet — run `cliffhanger run`."


@pytest.fixture
def open_app(monkeypatch: pytest.MonkeyPatch):
    def _open(home: Path, page: str = "overview") -> AppTest:
        monkeypatch.setenv("CLIFFHANGER_HOME", str(home))
        monkeypatch.delenv("CLIFFHANGER_WAREHOUSE", raising=False)
        at = AppTest.from_file(str(APP), default_timeout=60).run()
        if page != DEFAULT_PAGE:
            at.switch_page(f"views/{page}.py").run()
        assert not at.exception, [e.message for e in at.exception]
        return at

    return _open


def metrics(at: AppTest) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta) for m in at.metric}


def frame(at: AppTest, i: int) -> pd.DataFrame:
    return at.dataframe[i].value.reset_index(drop=True)


# ---- no warehouse at all -----------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_every_page_says_what_to_do_without_a_warehouse(
    open_app, tmp_path: Path, page: str
) -> None:
    at = open_app(tmp_path, page)
    texts = [i.value for i in at.info]
    assert any("No warehouse has been published yet" in t for t in texts), texts
    assert any("cliffhanger demo" in t for t in texts)


@pytest.mark.parametrize("page", PAGES)
def test_an_unreadable_warehouse_is_a_warning_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    monkeypatch.setenv("CLIFFHANGER_HOME", str(tmp_path))
    bad = tmp_path / "not-a-database.duckdb"
    bad.write_text("this is not a DuckDB file\n")
    monkeypatch.setenv("CLIFFHANGER_WAREHOUSE", str(bad))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    if page != DEFAULT_PAGE:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert "The published warehouse cannot be opened" in at.warning[0].value


# ---- Overview ------------------------------------------------------------------------------


def independent_period(home: Path, lo: dt.date, hi: dt.date) -> dict[str, float]:
    """The headline metrics from the base tables, not from analytics.daily_engagement."""
    con = connect(home)
    dau = con.execute(
        "SELECT avg(n), sum(n) FROM (SELECT event_date, count(DISTINCT user_id) AS n "
        "FROM analytics.events WHERE event_date BETWEEN ? AND ? GROUP BY 1)",
        [lo, hi],
    ).fetchone()
    s = con.execute(
        "SELECT count(*), avg(episodes_started), median(episodes_started), avg(is_binge::INT) "
        "FROM analytics.sessions WHERE start_date BETWEEN ? AND ?",
        [lo, hi],
    ).fetchone()
    watch_min = con.execute(
        "SELECT sum(max_position_s) / 60 FROM analytics.episode_views "
        "WHERE start_date BETWEEN ? AND ?",
        [lo, hi],
    ).fetchone()[0]
    return {
        "dau": dau[0],
        "sessions": s[0],
        "mean": s[1],
        "median": s[2],
        "binge": s[3],
        "wm": watch_min / dau[1],
    }


def test_overview_shows_the_warehouse_numbers(open_app, dash_home: Path) -> None:
    # the app's first run draws the shared sidebar (AppTest drops it after a page switch)
    at = open_app(dash_home, DEFAULT_PAGE)
    lo, hi = dt.date(2026, 9, 7), dt.date(2026, 9, 20)
    assert at.sidebar.date_input[0].value == (lo, hi)
    at.switch_page("views/overview.py").run()
    e = independent_period(dash_home, lo, hi)
    assert {k: v[0] for k, v in metrics(at).items()} == {
        "DAU": f"{e['dau']:,.0f}",
        "Sessions": f"{e['sessions']:,}",
        "Episodes per session (mean)": f"{e['mean']:.2f}",
        "Episodes per session (median)": f"{e['median']:.1f}",
        "Binge-session rate": f"{100 * e['binge']:.1f}%",
        "Watch minutes per DAU": f"{e['wm']:.1f}",
    }
    # the whole data range has no earlier period: no change is shown, and the page says why
    assert all(delta == "" for _, delta in metrics(at).values())
    assert "no data in that earlier period" in at.caption[0].value
    daily = frame(at, 0)
    assert len(daily) == 14
    assert daily["dau"].tolist() == [
        r[0]
        for r in connect(dash_home)
        .execute(
            "SELECT count(DISTINCT user_id) FROM analytics.events GROUP BY event_date ORDER BY event_date"
        )
        .fetchall()
    ]
    assert len(at.get("vega_lite_chart")) == 6


def test_overview_compares_with_the_previous_period(open_app, dash_home: Path) -> None:
    at = open_app(dash_home)
    at.button[0].click().run()  # "Compare the last 7 days with the 7 days before"
    # (AppTest drops the sidebar of a multipage app from its tree on reruns: read the state)
    assert at.session_state["date_range"] == (dt.date(2026, 9, 14), dt.date(2026, 9, 20))
    cur = independent_period(dash_home, dt.date(2026, 9, 14), dt.date(2026, 9, 20))
    prev = independent_period(dash_home, dt.date(2026, 9, 7), dt.date(2026, 9, 13))

    def rel(k: str) -> str:
        return f"{100 * (cur[k] - prev[k]) / prev[k]:+.1f}%"

    assert metrics(at) == {
        "DAU": (f"{cur['dau']:,.0f}", rel("dau")),
        "Sessions": (f"{cur['sessions']:,}", rel("sessions")),
        "Episodes per session (mean)": (f"{cur['mean']:.2f}", rel("mean")),
        "Episodes per session (median)": (f"{cur['median']:.1f}", rel("median")),
        "Binge-session rate": (
            f"{100 * cur['binge']:.1f}%",
            f"{100 * (cur['binge'] - prev['binge']):+.1f} pp",
        ),
        "Watch minutes per DAU": (f"{cur['wm']:.1f}", rel("wm")),
    }
    assert len(frame(at, 0)) == 7


# ---- Series --------------------------------------------------------------------------------


def test_series_page_funnel_survival_curve_and_versions(open_app, dash_home: Path) -> None:
    con = connect(dash_home)
    # a series with a dubbed version, so "language versions" has something to compare
    series_id, story_id = con.execute(
        "SELECT series_id, story_id FROM analytics.series WHERE story_id IN "
        "(SELECT story_id FROM analytics.series GROUP BY 1 HAVING count(*) > 1) "
        "AND NOT is_dubbed ORDER BY series_id LIMIT 1"
    ).fetchone()
    at = open_app(dash_home, "series")
    at.selectbox(key="series_id").set_value(series_id).run()
    assert not at.exception
    viewers, hook, completion, conversion = con.execute(
        "SELECT viewers, hook_rate, completion_rate, paywall_conversion_rate "
        "FROM analytics.series_scorecard WHERE series_id = ?",
        [series_id],
    ).fetchone()
    # viewers, independently: distinct users with a view of the series
    assert (
        viewers
        == con.execute(
            "SELECT count(DISTINCT user_id) FROM analytics.episode_views WHERE series_id = ?",
            [series_id],
        ).fetchone()[0]
    )
    paywall = con.execute(
        "SELECT free_episodes + 1 FROM analytics.series WHERE series_id = ? "
        "AND free_episodes < n_episodes",
        [series_id],
    ).fetchone()
    assert {k: v[0] for k, v in metrics(at).items()} == {
        "Viewers": f"{viewers:,}",
        "Hook rate": f"{100 * hook:.1f}%",
        "Completion": f"{100 * completion:.1f}%",
        "Paywall conversion": "—" if conversion is None else f"{100 * conversion:.1f}%",
        "Paywall episode": str(paywall[0]) if paywall else "none (all free)",
    }
    drops = [
        r[0]
        for r in con.execute(
            "SELECT episode_number FROM analytics.series_episode_funnel "
            "WHERE series_id = ? AND is_dropoff_point ORDER BY 1",
            [series_id],
        ).fetchall()
    ]
    expected = ", ".join(f"episode {e}" for e in drops) if drops else "none detected"
    assert at.markdown[0].value == f"**Episodes that lose viewers to the story:** {expected}"
    paywall_drops, all_drops = con.execute(
        "SELECT sum(dropped_at_paywall), sum(dropped) FROM analytics.series_episode_funnel "
        "WHERE series_id = ?",
        [series_id],
    ).fetchone()
    if paywall:
        toll = at.markdown[1].value
        assert toll.startswith(
            f"**The paywall's toll:** {paywall_drops:,} viewer{'' if paywall_drops == 1 else 's'} "
            f"stopped at the lock screen of episode {paywall[0]} and never unlocked it"
        ), toll
    # the censoring said plainly, with the numbers: censored short of the end, and finished
    n_eps, watching, finished = con.execute(
        "SELECT max(episode_number), sum(censored) FILTER (WHERE episode_number < "
        "(SELECT n_episodes FROM analytics.series WHERE series_id = ?)), "
        "sum(censored) FILTER (WHERE episode_number = "
        "(SELECT n_episodes FROM analytics.series WHERE series_id = ?)) "
        "FROM analytics.series_episode_funnel WHERE series_id = ?",
        [series_id, series_id, series_id],
    ).fetchone()
    assert any(
        f"**{watching:,} viewers are still watching** (censored" in c.value
        and f"{finished:,} finished the series" in c.value
        for c in at.caption
    )
    # funnel, stops by cause, lost by cause, survival, hazard, exit heatmap, episode curve
    assert len(at.get("vega_lite_chart")) == 7

    at.selectbox(key="episode").set_value(1).run()
    views = con.execute(
        "SELECT count(*) FROM analytics.episode_views WHERE series_id = ? AND episode_number = 1",
        [series_id],
    ).fetchone()[0]
    assert any(f"{views:,} views of episode 1." in c.value for c in at.caption)

    n_moments = con.execute(
        "SELECT count(*) FROM analytics.episode_exit_moments WHERE series_id = ? "
        "AND is_exit_moment",
        [series_id],
    ).fetchone()[0]
    first = 1 if n_moments else 0  # the exit moments table comes first when there is one
    scorecard, versions, funnel = frame(at, first), frame(at, first + 1), frame(at, first + 2)
    assert scorecard["series_id"].tolist() == [series_id]
    assert sorted(versions["series_id"]) == [
        r[0]
        for r in con.execute(
            "SELECT series_id FROM analytics.series WHERE story_id = ? ORDER BY 1", [story_id]
        ).fetchall()
    ]
    assert len(versions) >= 2
    db_funnel = con.execute(
        "SELECT episode_number, viewers, survival, survival_ci_low, survival_ci_high, hazard, "
        "dropped_at_paywall, dropped_story, cumulative_incidence_paywall, "
        "cumulative_incidence_story "
        "FROM analytics.series_episode_funnel WHERE series_id = ? ORDER BY 1",
        [series_id],
    ).df()
    pd.testing.assert_frame_equal(funnel[db_funnel.columns], db_funnel, check_dtype=False)

    # the episode picker starts on each series' own paywall episode, whatever was picked before
    other = con.execute(
        "SELECT series_id, free_episodes + 1 FROM analytics.series WHERE series_id <> ? "
        "AND free_episodes < n_episodes AND free_episodes + 1 <> 1 ORDER BY series_id LIMIT 1",
        [series_id],
    ).fetchone()
    at.selectbox(key="series_id").set_value(other[0]).run()
    assert not at.exception
    assert at.selectbox(key="episode").value == other[1]


# ---- Catalog -------------------------------------------------------------------------------


def test_catalog_filters_sorts_and_compares_production_types(open_app, dash_home: Path) -> None:
    con = connect(dash_home)
    at = open_app(dash_home, "catalog")
    total = con.execute("SELECT count(*) FROM analytics.series_scorecard").fetchone()[0]
    assert at.subheader[0].value == f"Scorecard: {total:,} of {total:,} series"

    at.multiselect(key="f_language").set_value(["en"]).run()
    at.selectbox(key="sort_by").set_value("hook_rate").run()
    assert not at.exception
    en = con.execute(
        "SELECT series_id, hook_rate, hooked_viewers, episode1_viewers "
        "FROM analytics.series_scorecard WHERE language = 'en'"
    ).df()
    # sorting by a rate sorts by its shrunk value: one beta prior over the series shown, by
    # the method of moments, worked out here from the counts
    usable = en[en["hook_rate"].notna() & (en["episode1_viewers"] > 0)]
    s, n = usable["hooked_viewers"].astype(float), usable["episode1_viewers"].astype(float)
    mu = s.sum() / n.sum()
    rho = ((n * (s / n - mu) ** 2).sum() / (mu * (1 - mu)) - len(n)) / (n.sum() - len(n))
    weight = 1 / rho - 1
    en["shrunk"] = (en["hooked_viewers"] + mu * weight) / (en["episode1_viewers"] + weight)
    en.loc[en["hook_rate"].isna(), "shrunk"] = None
    expected = en.sort_values(["shrunk", "series_id"], ascending=[False, True], na_position="last")
    assert at.subheader[0].value == f"Scorecard: {len(en):,} of {total:,} series"
    table = frame(at, 0)
    assert table["series_id"].tolist() == expected["series_id"].tolist()
    np.testing.assert_allclose(
        table["hook_rate_shrunk"].to_numpy(float), expected["shrunk"].to_numpy(float)
    )
    # a 1-viewer series at 100 % does not top the list sorted by the shrunk rate
    tiny = en[(en["episode1_viewers"] <= 2) & (en["hook_rate"] == 1)]
    if len(tiny):
        assert table["series_id"].iloc[0] not in set(tiny["series_id"])
    # key metrics come before the ids
    cols = table.columns.tolist()
    assert cols.index("viewers") < cols.index("series_id")
    assert cols.index("hook_rate") < cols.index("production_type")

    # the like-for-like table says how many series and viewers are behind each value
    like = frame(at, 1) if len(at.dataframe) > 3 else None
    if like is not None and "ai_series" in like.columns:
        assert (like["ai_series"] >= stats.MIN_SERIES_PER_ARM).all()
    raw = next(
        frame(at, i) for i in range(len(at.dataframe))
        if "production_type" in frame(at, i).columns and "metric" in frame(at, i).columns
    )  # fmt: skip
    comparison = raw.set_index(["production_type", "metric"])
    for ptype, hook, cost_per_hour, n in con.execute(
        "SELECT production_type, "
        "  sum(hook_rate * viewers) FILTER (WHERE hook_rate IS NOT NULL AND viewers > 0)"
        "  / sum(viewers) FILTER (WHERE hook_rate IS NOT NULL AND viewers > 0), "
        "  sum(production_cost_usd) FILTER (WHERE production_cost_usd IS NOT NULL AND watch_hours > 0)"
        "  / sum(watch_hours) FILTER (WHERE production_cost_usd IS NOT NULL AND watch_hours > 0), "
        "  count(*) FILTER (WHERE hook_rate IS NOT NULL AND viewers > 0) "
        "FROM analytics.series_scorecard WHERE language = 'en' GROUP BY 1"
    ).fetchall():
        row = comparison.loc[(ptype, "hook_rate")]
        assert row["value"] == pytest.approx(hook, rel=1e-12)
        assert row["series"] == n
        assert row["ci_low"] <= row["value"] <= row["ci_high"]
        if cost_per_hour is not None:
            assert comparison.loc[(ptype, "cost_per_watch_hour"), "value"] == pytest.approx(
                cost_per_hour, rel=1e-12
            )

    months = sorted(
        {
            r[0]
            for r in con.execute(
                "SELECT strftime(release_date, '%Y-%m') FROM analytics.series"
            ).fetchall()
        }
    )
    at.multiselect(key="f_month").set_value([months[-1]]).run()
    n_month = con.execute(
        "SELECT count(*) FROM analytics.series_scorecard WHERE language = 'en' "
        "AND strftime(release_date, '%Y-%m') = ?",
        [months[-1]],
    ).fetchone()[0]
    assert at.subheader[0].value == f"Scorecard: {n_month:,} of {total:,} series"


def test_catalog_compares_each_dub_with_its_original(open_app, dash_home: Path) -> None:
    con = connect(dash_home)
    at = open_app(dash_home, "catalog")
    dubs = next(
        frame(at, i) for i in range(len(at.dataframe)) if "dub_series_id" in frame(at, i).columns
    )
    expected = con.execute(
        "SELECT d.series_id, d.viewers, "
        # viewers of the dub who never watched the original, from the views themselves
        "  (SELECT count(DISTINCT v.user_id) FROM analytics.episode_views v "
        "   WHERE v.series_id = d.series_id AND v.user_id NOT IN "
        "     (SELECT user_id FROM analytics.episode_views WHERE series_id = d.original_series_id)),"
        "  o.viewers, d.production_cost_usd, "
        "  (SELECT sum(allocated_revenue_usd) FROM analytics.series_revenue_daily r "
        "   WHERE r.series_id = d.series_id) "
        "FROM analytics.series_scorecard d JOIN analytics.series_scorecard o "
        "  ON o.series_id = d.original_series_id WHERE d.is_dubbed ORDER BY 1"
    ).fetchall()
    got = dubs.sort_values("dub_series_id")
    assert got["dub_series_id"].tolist() == [r[0] for r in expected]
    assert got["viewers"].tolist() == [r[1] for r in expected]
    assert got["new_to_story"].tolist() == [r[2] for r in expected]
    assert got["original_viewers"].tolist() == [r[3] for r in expected]
    for ret, (_, _, _, _, cost, revenue) in zip(got["dub_return"], expected, strict=True):
        assert ret == pytest.approx((revenue or 0) / cost)


# ---- Retention -----------------------------------------------------------------------------


def test_retention_heatmap_toggle_and_date_range(open_app, dash_home: Path) -> None:
    con = connect(dash_home)
    at = open_app(dash_home, "retention")
    shown = frame(at, 0)
    expected = con.execute(
        "SELECT cohort_date, day, cohort_users, retained_users, retention_rate "
        "FROM analytics.retention_cohorts ORDER BY cohort_date, day"
    ).df()
    pd.testing.assert_frame_equal(shown[expected.columns], expected, check_dtype=False)
    # D1 of the first cohort, independently from the events
    first = con.execute(
        "WITH f AS (SELECT user_id, min(event_date) AS c FROM analytics.events GROUP BY 1) "
        "SELECT count(DISTINCT e.user_id) FILTER (WHERE e.event_date = f.c + 1) / "
        "count(DISTINCT f.user_id) FROM f JOIN analytics.events e USING (user_id) "
        "WHERE f.c = DATE '2026-09-07'"
    ).fetchone()[0]
    d1 = shown[(shown["cohort_date"] == pd.Timestamp("2026-09-07")) & (shown["day"] == 1)]
    assert d1["retention_rate"].item() == pytest.approx(first, rel=1e-12)
    assert len(at.get("vega_lite_chart")) == 2

    at.radio(key="retention_kind").set_value("On or after day N").run()
    assert not at.exception
    # the sidebar's date filter (AppTest drops a multipage app's sidebar on reruns: set its state)
    at.session_state["date_range"] = (dt.date(2026, 9, 10), dt.date(2026, 9, 12))
    at.run()
    shown = frame(at, 0)
    assert sorted(shown["cohort_date"].dt.date.unique()) == [
        dt.date(2026, 9, 10), dt.date(2026, 9, 11), dt.date(2026, 9, 12)
    ]  # fmt: skip
    assert (
        len(shown)
        == con.execute(
            "SELECT count(*) FROM analytics.retention_cohorts "
            "WHERE cohort_date BETWEEN '2026-09-10' AND '2026-09-12'"
        ).fetchone()[0]
    )


# ---- Recommendations -----------------------------------------------------------------------


def test_recommendations_empty_state_while_no_model_is_published(open_app, dash_home: Path) -> None:
    at = open_app(dash_home, "recommendations")
    assert [i.value for i in at.info] == [NO_MODEL, NO_MODEL]
    at.text_input(key="user_id").set_value(REC_USER).run()
    assert not at.exception
    assert [i.value for i in at.info] == [NO_MODEL, NO_MODEL, NO_MODEL]
    assert len(frame(at, 0)) > 0  # the user's history still shows


def test_recommendations_models_user_lookup_and_similar(open_app, dash_home_models: Path) -> None:
    con = connect(dash_home_models)
    at = open_app(dash_home_models, "recommendations")
    assert metrics(at) == {
        "Best model: als (ndcg@10)": ("0.2100", "+0.0700 vs trending"),
        "Best baseline: trending": ("0.1400", ""),
    }
    evaluation = frame(at, 0)
    assert sorted(evaluation.itertuples(index=False, name=None)) == sorted(EVALUATION_ROWS)
    at.selectbox(key="eval_metric").set_value("recall").run()
    assert metrics(at)["Best model: als (recall@10)"] == ("0.3100", "+0.0900 vs trending")

    at.text_input(key="user_id").set_value(REC_USER).run()
    assert not at.exception
    history, recs = frame(at, 1), frame(at, 2)
    expected = con.execute(
        "SELECT series_id, count(*) AS views, sum(max_position_s) / 60 AS watch_minutes "
        "FROM analytics.episode_views WHERE user_id = ? GROUP BY 1 ORDER BY 1",
        [REC_USER],
    ).df()
    got = history.sort_values("series_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False)
    assert recs[["rank", "series_id", "source"]].values.tolist() == [
        [1, "S00003", "als"], [2, "S00007", "als"], [3, "S00001", "trending"]
    ]  # fmt: skip
    assert recs["title"].tolist() == [
        con.execute("SELECT title FROM analytics.series WHERE series_id = ?", [s]).fetchone()[0]
        for s in ["S00003", "S00007", "S00001"]
    ]

    # user input is bound, never pasted into SQL: a quote is just an unknown user id
    at.text_input(key="user_id").set_value("u' OR '1'='1").run()
    assert not at.exception
    assert any("No episode views by this user" in i.value for i in at.info)
    assert any("No stored list for this user" in i.value for i in at.info)
    at.text_input(key="user_id").set_value(REC_USER).run()

    at.selectbox(key="similar_of").set_value("S00000").run()
    assert frame(at, 3)[["rank", "similar_series_id"]].values.tolist() == [
        [1, "S00004"], [2, "S00002"]
    ]  # fmt: skip
    assert len(at.download_button) == 4  # one CSV per table shown


# ---- Data health ---------------------------------------------------------------------------


def test_data_health_accounting_quarantine_and_snapshot(open_app, dash_home: Path) -> None:
    con = connect(dash_home)
    at = open_app(dash_home, "data_health")
    version, published_at = con.execute(
        "SELECT snapshot_version, published_at FROM analytics.snapshot_info"
    ).fetchone()
    assert (
        os.path.basename(os.path.realpath(published(dash_home))) == f"cliffhanger-{version}.duckdb"
    )
    n_files, rin, loaded, quarantined, dups = con.execute(
        "SELECT count(*), sum(records_in), sum(loaded), sum(quarantined), sum(duplicates) "
        "FROM analytics.ingestion_files"
    ).fetchone()
    assert n_files == 15 and quarantined == 4  # 14 sample files + the hand-made one
    assert metrics(at) == {
        "Snapshot version": (version, ""),
        "Published at (UTC)": (f"{pd.Timestamp(published_at):%Y-%m-%d %H:%M:%S}", ""),
        "Files": (f"{n_files:,}", ""),
        "Records in": (f"{rin:,}", ""),
        "Loaded": (f"{loaded:,}", ""),
        "Quarantined": (f"{quarantined:,}", ""),
        "Duplicates": (f"{dups:,}", ""),
    }
    assert [s.value for s in at.success][0].startswith("All 15 files balance")
    # the sample's newest event is months before today: said plainly, with its date
    newest = con.execute("SELECT max(ts) FROM analytics.events").fetchone()[0]
    days = (pd.Timestamp.now(tz="UTC") - pd.Timestamp(newest)) / pd.Timedelta(days=1)
    assert at.warning[0].value.startswith(f"**The data is {days:,.0f} days old.**")
    assert f"{pd.Timestamp(newest).tz_convert('UTC'):%Y-%m-%d %H:%M} UTC" in at.warning[0].value
    freshness = frame(at, 0).set_index("table")
    assert freshness.loc["analytics.events", "rows"] == loaded
    reasons = frame(at, 2)
    assert dict(zip(reasons["reason"], reasons["records"], strict=True)) == EXPECTED_REASONS
    at.selectbox(key="reason").set_value("malformed").run()
    examples = frame(at, 3)
    assert examples["raw_record"].tolist() == ["not json"]
    assert examples["record_number"].tolist() == [1]
    refused = frame(at, 4)
    assert [Path(p).name for p in refused["file_path"]] == ["empty.jsonl"]


# ---- a new snapshot published while the dashboards run --------------------------------------


def test_a_new_snapshot_is_picked_up_without_restart(
    open_app, dash_home: Path, tmp_path: Path
) -> None:
    home = copy_home(dash_home, tmp_path / "home")
    at = open_app(home, "data_health")
    before = metrics(at)["Snapshot version"][0]
    publish_again(home)
    at.run()
    assert not at.exception
    after = metrics(at)["Snapshot version"][0]
    assert after != before
    assert os.path.realpath(published(home)).endswith(f"cliffhanger-{after}.duckdb")
    assert metrics(at)["Files"][0] == "16"
    at.switch_page("views/overview.py").run()  # other pages read the new snapshot too
    assert not at.exception and len(at.metric) == 6


def test_pages_keep_working_while_snapshots_are_published_and_pruned(
    open_app, dash_home: Path, tmp_path: Path
) -> None:
    home = copy_home(dash_home, tmp_path / "home")
    at = open_app(home, "data_health")
    first = metrics(at)["Snapshot version"][0]
    failures: list[str] = []

    def publisher() -> None:
        # three publishes: the snapshot the dashboards opened first is pruned meanwhile
        # (KEEP_SNAPSHOTS = 3) while its connection is still cached
        for i in range(3):
            try:
                publish_again(home, f"later{i}.jsonl")
            except AssertionError as exc:  # reported below, in the test's thread
                failures.append(str(exc))

    thread = threading.Thread(target=publisher)
    thread.start()
    seen, runs = {first}, 0
    while thread.is_alive() or runs < len(PAGES):
        page = PAGES[runs % len(PAGES)]
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, (page, [e.message for e in at.exception])
        if page == "data_health":
            seen.add(metrics(at)["Snapshot version"][0])
        runs += 1
    thread.join()
    assert not failures
    at.switch_page("views/data_health.py").run()
    last = metrics(at)["Snapshot version"][0]
    assert os.path.realpath(published(home)).endswith(f"cliffhanger-{last}.duckdb")
    assert metrics(at)["Files"][0] == "18"  # 15 + one file per publish
    assert not (home / "warehouse" / "snapshots" / f"cliffhanger-{first}.duckdb").exists()
    assert len(seen | {last}) >= 2


# ---- the command ---------------------------------------------------------------------------


def test_dashboard_command_rejects_a_bad_port(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "dashboard", "--port", "0")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--port" in lines[0], result.stderr


# ---- the uncertainty helpers ---------------------------------------------------------------


def test_bootstrap_ratio_estimate_and_exact_interval() -> None:
    # two rows, values 0 and 1: a resample of two has mean 0, 0.5 or 1 with probabilities
    # 1/4, 1/2, 1/4, so the 2.5% and 97.5% quantiles are exactly 0 and 1
    est, lo, hi, n = stats.bootstrap_ratio([0.0, 1.0], [1.0, 1.0], n_boot=4000, seed=3)
    assert (est, lo, hi, n) == (0.5, 0.0, 1.0, 2)
    # identical rows: no uncertainty at all
    assert stats.bootstrap_ratio([3.0] * 5, [2.0] * 5) == (1.5, 1.5, 1.5, 5)


def test_bootstrap_skips_missing_rows_and_is_deterministic() -> None:
    values = [0.2, float("nan"), 0.6, 0.4]
    weights = [100, 50, 300, 0]
    est, lo, hi, n = stats.bootstrap_weighted_mean(values, weights, seed=1)
    assert n == 2  # the NaN row and the zero-weight row are left out
    assert est == pytest.approx((0.2 * 100 + 0.6 * 300) / 400)
    assert 0.2 <= lo <= est <= hi <= 0.6
    assert stats.bootstrap_weighted_mean(values, weights, seed=1) == (est, lo, hi, n)
    assert all(pd.isna(x) for x in stats.bootstrap_ratio([], [])[:3])


def test_compare_groups_one_row_per_group_and_metric() -> None:
    card = pd.DataFrame(
        {
            "production_type": ["ai", "ai", "live_action"],
            "viewers": [10, 30, 20],
            "hook_rate": [0.5, 0.9, 0.7],
            "completion_rate": [0.1, 0.2, None],
            "paywall_conversion_rate": [0.3, 0.3, 0.4],
            "production_cost_usd": [1000.0, 3000.0, 500.0],
            "watch_hours": [10.0, 30.0, 0.0],
        }
    )
    out = stats.compare_groups(card).set_index(["production_type", "metric"])
    assert len(out) == 8
    assert out.loc[("ai", "hook_rate"), "value"] == pytest.approx(0.8)
    assert out.loc[("ai", "cost_per_watch_hour"), "value"] == pytest.approx(100.0)
    assert out.loc[("live_action", "completion_rate"), "series"] == 0
    assert out.loc[("live_action", "cost_per_watch_hour"), "series"] == 0  # no watch hours


def test_beta_prior_and_shrinkage_by_hand() -> None:
    # three series: 9/10, 1/10, 50/100. Pooled mu = 60/120 = 0.5; S = 10*0.16 + 10*0.16 + 0
    # = 3.2; rho = (3.2 / 0.25 - 3) / (120 - 3) = 9.8 / 117; alpha + beta = 1/rho - 1
    a, b = stats.fit_beta_prior([9, 1, 50], [10, 10, 100])
    weight = 117 / 9.8 - 1
    assert (a, b) == (pytest.approx(0.5 * weight), pytest.approx(0.5 * weight))
    shrunk = stats.shrink([9, 1, 50, 1], [10, 10, 100, 1], (a, b))
    assert shrunk == pytest.approx([(9 + a) / (10 + a + b), (1 + a) / (10 + a + b), 0.5,
                                    (1 + a) / (1 + a + b)])  # fmt: skip
    # a 1-viewer series at 100 % lands near the pool, below a 10-viewer series at 90 %
    assert shrunk[3] < shrunk[0]
    # no spread beyond binomial noise: everyone is pulled to the pool
    a, b = stats.fit_beta_prior([5, 5, 5], [10, 10, 10])
    assert a + b == pytest.approx(stats.MAX_PRIOR_WEIGHT)


def test_stratified_comparison_compares_within_strata_only() -> None:
    # within each genre AI and live action hook equally well, but AI series are mostly in the
    # low-hook genre: the raw pooled comparison says AI is worse, the stratified one says equal
    rows = []
    for genre, rate in (("drama", 0.8), ("horror", 0.4)):
        n_ai, n_la = (2, 6) if genre == "drama" else (6, 2)
        for i in range(n_ai + n_la):
            ptype = "ai" if i < n_ai else "live_action"
            rows.append({"genre": genre, "production_type": ptype, "viewers": 100,
                         "episode1_viewers": 100, "hooked_viewers": int(100 * rate),
                         "hook_rate": rate, "finishers": 10, "completion_rate": 0.1,
                         "last_free_viewers": 50, "paywall_converters": 10,
                         "paywall_conversion_rate": 0.2, "allocated_revenue_usd": 5.0,
                         "production_cost_usd": 1000.0, "watch_hours_at_age": 10.0})  # fmt: skip
    card = stats.add_shrunk_rates(pd.DataFrame(rows))
    out = stats.stratified_comparison(card, ["genre"], n_boot=200).set_index("metric")
    hook = out.loc["hook_rate"]
    assert hook["strata"] == 2 and hook["difference"] == pytest.approx(0.0, abs=1e-9)
    assert hook["ai_series"] == 8 and hook["live_action_series"] == 8
    raw = stats.compare_groups(card.assign(watch_hours=10.0)).set_index(
        ["production_type", "metric"]
    )
    assert raw.loc[("ai", "hook_rate"), "value"] < raw.loc[("live_action", "hook_rate"), "value"]
    # a stratum with one series on a side is not compared
    thin = card[~((card["genre"] == "drama") & (card["production_type"] == "ai"))].iloc[1:]
    out = stats.stratified_comparison(thin, ["genre"], n_boot=50).set_index("metric")
    assert out.loc["hook_rate", "strata"] == 1
