"""The Launches page and the Series page's young-series note, with AppTest on a real warehouse.

What the page shows is checked against the test's own queries of the published snapshot.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from synthetic import GenerateSpec, generate

APP = Path(__file__).resolve().parents[1] / "dashboards" / "app.py"


@pytest.fixture(scope="module")
def long_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50 days of a small app: observed launches, a backtest and live forecasts."""
    home = tmp_path_factory.mktemp("launch_dash")
    generate(GenerateSpec(users=600, days=50, seed=12, out=home / "landing"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIFFHANGER_", "DAGSTER_"))}
    result = subprocess.run([sys.executable, "-m", "cliffhanger.cli", "run"], cwd=home,
                            env={**env, "CLIFFHANGER_HOME": str(home)}, capture_output=True,
                            text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return home


def connect(home: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(os.path.realpath(home / "warehouse" / "cliffhanger.duckdb"),
                          read_only=True)  # fmt: skip


def open_page(monkeypatch: pytest.MonkeyPatch, home: Path, page: str | None = None,
              **query: str) -> AppTest:  # fmt: skip
    monkeypatch.setenv("CLIFFHANGER_HOME", str(home))
    monkeypatch.delenv("CLIFFHANGER_WAREHOUSE", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page is not None:
        at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def expected_launches(home: Path, days: int | None) -> tuple[dt.date, pd.DataFrame]:
    """Observed launches released in the window, from the launch table alone."""
    con = connect(home)
    as_of = con.execute(
        "SELECT max(date) FROM analytics.series_launch_daily WHERE is_complete_day"
    ).fetchone()[0]
    since = as_of - dt.timedelta(days=days - 1) if days else dt.date(1900, 1, 1)
    frame = con.execute(
        """
        SELECT series_id, cumulative_viewers FROM analytics.series_launch_daily
        WHERE is_observed_launch AND is_complete_day AND release_date >= ?
        QUALIFY age_days = max(age_days) OVER (PARTITION BY series_id)
        ORDER BY release_date DESC, cumulative_viewers DESC, series_id
        """,
        [since],
    ).df()
    return as_of, frame


def test_the_app_opens_on_launches_with_the_shortest_window_that_has_releases(
    monkeypatch: pytest.MonkeyPatch, long_home: Path
) -> None:
    at = open_page(monkeypatch, long_home)
    assert at.title[0].value == "Launches"
    for key, days in (("week", 7), ("month", 30), ("all", None)):  # noqa: B007 (used below)
        _, want = expected_launches(long_home, days)
        if len(want):
            break
    assert at.query_params["window"] == [key] or at.query_params["window"] == key
    table = at.dataframe[0].value.reset_index(drop=True)
    assert table["series_id"].tolist() == want["series_id"].tolist()
    assert table["viewers"].tolist() == want["cumulative_viewers"].tolist()
    shown = {m.label: m.value for m in at.metric}
    assert shown["Launches"] == f"{len(want):,}"


def test_every_launch_window_lists_all_observed_launches_and_their_labels(
    monkeypatch: pytest.MonkeyPatch, long_home: Path
) -> None:
    at = open_page(monkeypatch, long_home, window="all")
    _, want = expected_launches(long_home, None)
    table = at.dataframe[0].value.reset_index(drop=True)
    assert table["series_id"].tolist() == want["series_id"].tolist()
    labels = dict(connect(long_home).execute(
        "SELECT series_id, label FROM analytics.launch_forecast WHERE metric = 'viewers'"
    ).fetchall())  # fmt: skip
    assert dict(zip(table["series_id"], table["label"], strict=True)) == {
        s: labels.get(s) for s in table["series_id"]
    }
    shown = {m.label: m.value for m in at.metric}
    for label in ("scale", "watch", "rework"):
        n = sum(labels.get(s) == label for s in table["series_id"])
        assert shown[f"Label: {label}"] == f"{n:,}"
    # every row links to its series on the Series page
    assert table["open"].tolist() == [f"/series?series_id={s}" for s in table["series_id"]]


def test_a_bookmarked_series_opens_with_its_forecast(
    monkeypatch: pytest.MonkeyPatch, long_home: Path
) -> None:
    con = connect(long_home)
    young, forecast, low, high, label = con.execute(
        "SELECT series_id, forecast, interval_low, interval_high, label "
        "FROM analytics.launch_forecast WHERE metric = 'viewers' AND forecast IS NOT NULL "
        "ORDER BY forecast DESC, series_id LIMIT 1"
    ).fetchone()
    at = open_page(monkeypatch, long_home, window="all", launch=young)
    assert at.selectbox(key="launch_series").value == young
    text = " ".join(m.value for m in at.markdown)
    assert f"{forecast:,.0f} (80% interval {low:,.0f} – {high:,.0f})" in text
    assert f"[{label}]" in text
    # the backtest is on the page, one row per metric and age
    n_backtest = con.execute("SELECT count(*) FROM analytics.launch_forecast_backtest").fetchone()
    assert len(at.dataframe[1].value) == n_backtest[0]


def test_the_series_page_opens_the_linked_series_and_follows_the_picker(
    monkeypatch: pytest.MonkeyPatch, long_home: Path
) -> None:
    con = connect(long_home)
    ids = [r[0] for r in con.execute(
        "SELECT series_id FROM analytics.series_scorecard WHERE viewers > 0 "
        "ORDER BY viewers, series_id LIMIT 2").fetchall()]  # fmt: skip
    at = open_page(monkeypatch, long_home, "views/series.py", series_id=ids[0])
    assert at.selectbox(key="series_id").value == ids[0]
    at.selectbox(key="series_id").set_value(ids[1]).run()
    assert at.selectbox(key="series_id").value == ids[1]  # the old URL does not win back
    assert at.query_params["series_id"] in (ids[1], [ids[1]])


def test_a_young_series_says_drop_off_is_not_yet_measurable(
    monkeypatch: pytest.MonkeyPatch, long_home: Path
) -> None:
    con = connect(long_home)
    rows = con.execute(
        "SELECT DISTINCT series_id, dropoff_measurable FROM analytics.series_episode_funnel "
        "WHERE viewers > 0 ORDER BY 2, 1"
    ).fetchall()
    young = [s for s, measurable in rows if not measurable]
    old = [s for s, measurable in rows if measurable]
    assert young and old, rows
    at = open_page(monkeypatch, long_home, "views/series.py", series_id=young[0])
    notes = [i.value for i in at.info]
    assert any("Drop-off is not yet measurable" in n for n in notes), notes
    assert any(s.value == "Continuation within a session" for s in at.subheader)
    at = open_page(monkeypatch, long_home, "views/series.py", series_id=old[0])
    assert not any("Drop-off is not yet measurable" in i.value for i in at.info)


def test_a_warehouse_without_launch_tables_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, long_home: Path, tmp_path: Path
) -> None:
    target = tmp_path / "old.duckdb"
    con = duckdb.connect(str(target))
    con.execute("CREATE SCHEMA analytics")
    con.execute("CREATE TABLE analytics.daily_engagement AS SELECT DATE '2026-09-07' AS date")
    con.close()
    monkeypatch.setenv("CLIFFHANGER_WAREHOUSE", str(target))
    monkeypatch.setenv("CLIFFHANGER_HOME", str(tmp_path))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert any("no launch tables yet" in i.value for i in at.info)
