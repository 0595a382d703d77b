"""Retention: the cohort heatmap (N-day or on-or-after) and the D1 / D7 trends."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, ui

COHORTS_SQL = """
SELECT cohort_date, day, cohort_users, retained_users, retention_rate,
       retained_on_or_after, retention_rate_on_or_after
FROM analytics.retention_cohorts
WHERE cohort_date BETWEEN ? AND ? ORDER BY cohort_date, day
"""
KINDS = {
    "N-day (active on day N)": ("retention_rate", "retained_users"),
    "On or after day N": ("retention_rate_on_or_after", "retained_on_or_after"),
}

st.title("Retention")
ui.require_warehouse()
if not ui.require_table("retention_cohorts"):
    st.stop()
rng = ui.date_range()
if rng is None:
    st.info("The warehouse holds no events yet: ingest some with `cliffhanger ingest`.")
    st.stop()
cohorts = data.query(COHORTS_SQL, rng)
if cohorts.empty:
    st.info("No cohort starts in the selected date range: widen it in the sidebar.")
    st.stop()
kind = st.radio("Retention", list(KINDS), horizontal=True, key="retention_kind")
rate_col, users_col = KINDS[kind]
cohorts["cohort"] = pd.to_datetime(cohorts["cohort_date"]).dt.strftime("%Y-%m-%d")
st.caption(ui.CAPTIONS["retention"])

st.subheader("Cohort heatmap")
heat = (
    alt.Chart(cohorts)
    .mark_rect()
    .encode(
        x=alt.X("day:O", title="Days since first activity (day N)"),
        y=alt.Y("cohort:O", title="Cohort (date of first event, UTC)"),
        color=alt.Color(f"{rate_col}:Q", title="Retained (share of cohort)", scale=alt.Scale(scheme="blues"), legend=alt.Legend(format="%")),
        tooltip=["cohort", "day", "cohort_users", users_col, alt.Tooltip(f"{rate_col}:Q", format=".1%")],
    )
)  # fmt: skip
labels = heat.mark_text(fontSize=10).encode(
    text=alt.Text(f"{rate_col}:Q", format=".0%"),
    color=alt.condition(f"datum.{rate_col} > 0.5", alt.value("white"), alt.value("black")),
)
st.altair_chart(
    (heat + labels).properties(height=28 * cohorts["cohort"].nunique() + 40), width="stretch"
)

st.subheader("D1 and D7 retention by cohort")
trend = cohorts[cohorts["day"].isin([1, 7])].copy()
trend["series"] = "D" + trend["day"].astype(str)
trend["cohort_date"] = pd.to_datetime(trend["cohort_date"])
if trend.empty:
    st.info("No cohort in the range is old enough for day 1 yet.")
else:
    lines = (
        alt.Chart(trend)
        .mark_line(point=True)
        .encode(
            x=alt.X("cohort_date:T", title="Cohort (date of first event, UTC)"),
            y=alt.Y(f"{rate_col}:Q", title=f"{kind} retention (share of cohort)", axis=alt.Axis(format="%")),
            color=alt.Color("series:N", title=""),
            tooltip=["cohort_date:T", "series", "cohort_users", users_col, alt.Tooltip(f"{rate_col}:Q", format=".1%")],
        )
        .properties(height=260)
    )  # fmt: skip
    st.altair_chart(lines, width="stretch")
    st.caption("A cohort appears on the D7 line only once its day 7 is observable.")
ui.table(cohorts.drop(columns="cohort"), "retention cohorts")
