"""Catalog: every series' scorecard, filtered and sorted; AI vs live action vs hybrid."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, stats, ui

SCORECARD_SQL = """
SELECT series_id, title, language, production_type, genres, is_dubbed, original_series_id,
       release_date, n_episodes, free_episodes, viewers, hook_rate, completion_rate,
       paywall_reach_rate, paywall_conversion_rate, episodes_per_viewer, watch_hours,
       revenue_usd, production_cost_usd, cost_per_watch_hour, revenue_per_watch_hour
FROM analytics.series_scorecard ORDER BY viewers DESC, series_id
"""
SORTABLE = [
    "viewers", "hook_rate", "completion_rate", "paywall_reach_rate", "paywall_conversion_rate",
    "episodes_per_viewer", "watch_hours", "revenue_usd", "production_cost_usd",
    "cost_per_watch_hour", "release_date", "title",
]  # fmt: skip


def apply_filters(
    df: pd.DataFrame,
    languages: list[str],
    genres: list[str],
    types: list[str],
    months: list[str],
) -> pd.DataFrame:
    """Rows matching every non-empty filter (a series matches a genre filter if it has any)."""
    keep = pd.Series(True, index=df.index)
    if languages:
        keep &= df["language"].isin(languages)
    if genres:
        keep &= df["genres"].map(lambda g: bool(set(g) & set(genres)))
    if types:
        keep &= df["production_type"].isin(types)
    if months:
        keep &= df["release_month"].isin(months)
    return df[keep]


st.title("Catalog")
ui.require_warehouse()
if not ui.require_table("series_scorecard"):
    st.stop()
card = data.query(SCORECARD_SQL)
if card.empty:
    st.info("The catalog is empty: ingest a catalog folder with `cliffhanger ingest`.")
    st.stop()
card["genres"] = card["genres"].map(list)
card["release_month"] = pd.to_datetime(card["release_date"]).dt.strftime("%Y-%m")
st.caption(
    "Scorecards cover every stored event (the sidebar's date range does not apply); filter by "
    "release month instead."
)

f1, f2, f3, f4 = st.columns(4)
languages = f1.multiselect("Language", sorted(card["language"].unique()), key="f_language")
genres = f2.multiselect("Genre", sorted({g for gs in card["genres"] for g in gs}), key="f_genre")
types = f3.multiselect("Production type", sorted(card["production_type"].unique()), key="f_type")
months = f4.multiselect(
    "Release month", sorted(card["release_month"].unique(), reverse=True), key="f_month"
)
s1, s2 = st.columns([3, 1])
sort_by = s1.selectbox("Sort by", SORTABLE, key="sort_by")
ascending = s2.toggle("Ascending", value=False, key="ascending")

shown = apply_filters(card, languages, genres, types, months).sort_values(
    [sort_by, "series_id"], ascending=[ascending, True], na_position="last"
)
st.subheader(f"Scorecard: {len(shown):,} of {len(card):,} series")
ui.table(
    shown.drop(columns="release_month").assign(genres=shown["genres"].map(", ".join)),
    "scorecard",
    column_config={
        "release_date": st.column_config.DateColumn(format="YYYY-MM-DD"),
        **{
            c: st.column_config.NumberColumn(format="percent")
            for c in [
                "hook_rate",
                "completion_rate",
                "paywall_reach_rate",
                "paywall_conversion_rate",
            ]
        },
    },
)
st.caption(
    " ".join(
        ui.CAPTIONS[k]
        for k in ["hook_rate", "completion_rate", "paywall_conversion_rate", "cost_per_watch_hour"]
    )
)

st.subheader("AI vs live action vs hybrid")
if shown.empty:
    st.info("No series match the filters: clear some of them.")
    st.stop()
comparison = stats.compare_groups(shown)
charts = []
for metric, label in stats.COMPARISONS.items():
    part = comparison[comparison["metric"] == metric]
    axis = alt.Axis(format="%") if metric != "cost_per_watch_hour" else alt.Axis(format="$,.0f")
    x = alt.X("production_type:N", title="Production type", axis=alt.Axis(labelAngle=0))
    bars = (
        alt.Chart(part, title=label)
        .mark_bar(opacity=0.7)
        .encode(
            x=x,
            y=alt.Y("value:Q", title=label, axis=axis),
            tooltip=["production_type", "value", "ci_low", "ci_high", "series"],
        )
    )
    whiskers = (
        alt.Chart(part)
        .mark_rule(color="black", strokeWidth=2)  # the 95% bootstrap interval
        .encode(x=x, y="ci_low:Q", y2="ci_high:Q")
    )
    charts.append((bars + whiskers).properties(height=220))
cols = st.columns(2)
for i, chart in enumerate(charts):
    with cols[i % 2]:
        st.altair_chart(chart, width="stretch")
st.caption(ui.CAPTIONS["production_type"])
ui.table(comparison.drop(columns="label"), "production type comparison")
