"""Overview: daily engagement, each headline metric against the previous period."""

from __future__ import annotations

import datetime as dt

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, ui

# headline metrics over a period, from analytics.daily_engagement. Ratios are weighted so the
# period value equals the ratio over all the period's sessions / user-days, not a mean of
# daily ratios (a quiet day must not count as much as a busy one).
PERIOD_SQL = """
SELECT count(*) AS days,
       avg(dau) AS dau,
       sum(sessions) AS sessions,
       sum(episodes_per_session_mean * sessions) / nullif(sum(sessions), 0)
           AS episodes_per_session_mean,
       sum(binge_session_rate * sessions) / nullif(sum(sessions), 0) AS binge_session_rate,
       sum(watch_minutes_per_dau * dau) / nullif(sum(dau), 0) AS watch_minutes_per_dau
FROM analytics.daily_engagement
WHERE date BETWEEN ? AND ?
"""
# a median cannot be combined from daily medians: take it over the period's sessions
MEDIAN_SQL = """
SELECT median(episodes_started) AS episodes_per_session_median
FROM analytics.sessions WHERE start_date BETWEEN ? AND ?
"""
DAILY_SQL = """
SELECT date, dau, sessions, episodes_per_session_mean, episodes_per_session_median,
       session_minutes_mean, binge_session_rate, watch_minutes_per_dau
FROM analytics.daily_engagement WHERE date BETWEEN ? AND ? ORDER BY date
"""

METRICS = [
    # column, label, formatter, unit for the axis
    ("dau", "DAU", lambda v: ui.num(v, 0), "users per day"),
    ("sessions", "Sessions", lambda v: ui.num(v, 0), "sessions per day"),
    (
        "episodes_per_session_mean",
        "Episodes per session (mean)",
        lambda v: ui.num(v, 2),
        "episodes per session",
    ),
    (
        "episodes_per_session_median",
        "Episodes per session (median)",
        lambda v: ui.num(v, 1),
        "episodes per session",
    ),
    ("binge_session_rate", "Binge-session rate", lambda v: ui.pct(v), "share of sessions"),
    ("watch_minutes_per_dau", "Watch minutes per DAU", lambda v: ui.num(v, 1), "minutes per user"),
]


def period_values(lo: dt.date, hi: dt.date) -> dict[str, float | None]:
    """Every headline metric over [lo, hi] (None where the period has no data)."""
    row = data.query(PERIOD_SQL, (lo, hi)).iloc[0].to_dict()
    if not row["days"]:
        return {m[0]: None for m in METRICS}
    row["episodes_per_session_median"] = data.query(MEDIAN_SQL, (lo, hi)).iloc[0, 0]
    return {m[0]: (None if pd.isna(row[m[0]]) else float(row[m[0]])) for m in METRICS}


def previous_period(lo: dt.date, hi: dt.date) -> tuple[dt.date, dt.date]:
    """The period of equal length just before [lo, hi]."""
    length = (hi - lo).days + 1
    return lo - dt.timedelta(days=length), lo - dt.timedelta(days=1)


def delta_text(cur: float | None, prev: float | None, col: str) -> str | None:
    if cur is None or prev is None:
        return None
    diff = cur - prev
    if col == "binge_session_rate":
        return f"{100 * diff:+.1f} pp"
    if prev == 0:
        return f"{diff:+,.2f}"
    return f"{100 * diff / prev:+.1f}%"


def last_week(end: dt.date) -> None:
    # a callback may set a widget's value before the rerun draws it again
    st.session_state["date_range"] = (end - dt.timedelta(days=6), end)


st.title("Overview")
snap = ui.require_warehouse()
if not ui.require_table("daily_engagement"):
    st.stop()
rng = ui.date_range()
if rng is None:
    st.info("The warehouse holds no events yet: ingest some with `cliffhanger ingest`.")
    st.stop()
lo, hi = rng
plo, phi = previous_period(lo, hi)
cur, prev = period_values(lo, hi), period_values(plo, phi)
st.caption(
    f"{lo:%Y-%m-%d} to {hi:%Y-%m-%d} ({(hi - lo).days + 1} days), each compared with the "
    f"{(hi - lo).days + 1} days before ({plo:%Y-%m-%d} to {phi:%Y-%m-%d})"
    + ("" if prev["dau"] is not None else ": no data in that earlier period, so no change shown")
    + "."
)
bounds = data.date_bounds()
if prev["dau"] is None and bounds is not None and (bounds[1] - bounds[0]).days >= 13:
    st.button(
        "Compare the last 7 days with the 7 days before",
        on_click=last_week,
        args=(bounds[1],),
        icon=":material/compare_arrows:",
    )

cols = st.columns(3)
for i, (col, label, fmt, _unit) in enumerate(METRICS):
    with cols[i % 3]:
        st.metric(
            label,
            fmt(cur[col]),
            delta=delta_text(cur[col], prev[col], col),
            help=ui.CAPTIONS[col],
            border=True,
        )

daily = data.query(DAILY_SQL, (lo, hi))
st.subheader("Daily trends")
if daily.empty:
    st.info("No days with events in the selected range: widen the date range in the sidebar.")
    st.stop()
daily["date"] = pd.to_datetime(daily["date"])
for i, (col, label, _fmt, unit) in enumerate(METRICS):
    if i % 2 == 0:
        # one row of two charts at a time, so a long caption never runs into the next chart;
        # the title is text above the chart, never clipped by the chart's frame
        chart_cols = st.columns(2)
    axis_format = "%" if col == "binge_session_rate" else ",.3~f"
    chart = (
        alt.Chart(daily)
        .mark_line(point=True)
        .encode(
            x=alt.X("date:T", title="Date (UTC)"),
            # the chart's title names the metric; the axis says the unit
            y=alt.Y(f"{col}:Q", title=unit.capitalize(), axis=alt.Axis(format=axis_format)),
            tooltip=[alt.Tooltip("date:T", title="date"), alt.Tooltip(f"{col}:Q", title=label)],
        )
        .properties(height=220)
    )
    with chart_cols[i % 2]:
        st.markdown(f"**{label}**")
        st.altair_chart(chart, width="stretch")
        st.caption(ui.CAPTIONS[col])

ui.table(daily.assign(date=daily["date"].dt.date), "daily engagement")
