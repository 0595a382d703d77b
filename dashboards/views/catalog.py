"""Catalog: every series' scorecard (raw and shrunk rates), AI vs live action like for like,
and each dub against its original."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from dashboards import data, stats, ui

SCORECARD_SQL = """
SELECT c.*, (SELECT max(date) FROM analytics.daily_engagement) - c.release_date AS age_days
FROM analytics.series_scorecard c ORDER BY viewers DESC, series_id
"""
# sort keys (plain labels in the picker); a rate sorts by its shrunk value, so that a series
# with one viewer at 100 % does not top the list
SORTABLE = {
    "viewers": "Viewers",
    "hook_rate": "Hook rate (shrunk)",
    "completion_rate": "Completion (shrunk)",
    "paywall_conversion_rate": "Paywall conversion (shrunk)",
    "allocated_revenue_per_viewer": "Revenue per viewer",
    "allocated_revenue_usd": "Revenue (allocated)",
    "watch_hours": "Watch hours",
    "cost_per_watch_hour_at_age": "Cost per watch hour, first days",
    "production_cost_usd": "Production cost",
    "release_date": "Release date",
    "title": "Title",
}
STRATA = {
    "genre": "Genre",
    "language": "Language",
    "version": "Original or dub",
    "release_age": "Release age",
}


def sort_column(key: str) -> str:
    """The column a sort key sorts by (a rate: its shrunk value)."""
    return f"{key}_shrunk" if key in stats.RATES else key


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


def scorecard_columns(age: int) -> dict[str, object]:
    pct = st.column_config.NumberColumn
    usd = st.column_config.NumberColumn
    return {
        "title": st.column_config.TextColumn("Title"),
        "language": st.column_config.TextColumn("Language"),
        "viewers": st.column_config.NumberColumn("Viewers", help=ui.CAPTIONS["viewers"]),
        "hook_rate": pct("Hook rate", format="percent", help=ui.CAPTIONS["hook_rate"]),
        "hook_rate_shrunk": pct("Hook (shrunk)", format="percent", help=ui.CAPTIONS["shrunk"]),
        "completion_rate": pct("Completion", format="percent",
                               help=ui.CAPTIONS["completion_rate"]),
        "completion_rate_shrunk": pct("Completion (shrunk)", format="percent",
                                      help=ui.CAPTIONS["shrunk"]),
        "paywall_conversion_rate": pct("Paywall conversion", format="percent",
                                       help=ui.CAPTIONS["paywall_conversion_rate"]),
        "paywall_conversion_rate_shrunk": pct("Paywall conv. (shrunk)", format="percent",
                                              help=ui.CAPTIONS["shrunk"]),
        "allocated_revenue_per_viewer": usd("Revenue per viewer", format="$%.3f",
                                            help=ui.CAPTIONS["allocated_revenue"]),
        "allocated_revenue_usd": usd("Revenue (allocated)", format="$%.2f",
                                     help=ui.CAPTIONS["allocated_revenue"]),
        "revenue_usd": usd("Purchases in the series", format="$%.2f",
                           help=ui.CAPTIONS["raw_revenue"]),
        "watch_hours": st.column_config.NumberColumn("Watch hours", format="%.1f"),
        "cost_per_watch_hour_at_age": usd(f"Cost per watch hour, first {age} days",
                                          format="$%.0f", help=ui.CAPTIONS["cost_at_age"]),
        "cost_per_watch_hour": usd("Cost per watch hour to date", format="$%.0f",
                                   help=ui.CAPTIONS["cost_per_watch_hour"]),
        "production_cost_usd": usd("Production cost", format="$%.0f"),
        "production_type": st.column_config.TextColumn("Made as"),
        "is_dubbed": st.column_config.CheckboxColumn("Dub"),
        "release_date": st.column_config.DateColumn("Released", format="YYYY-MM-DD"),
        "genres": st.column_config.TextColumn("Genres"),
        "series_id": st.column_config.TextColumn("Series id"),
    }  # fmt: skip


DUB_LABELS = {
    "story": st.column_config.TextColumn("Story"),
    "language": st.column_config.TextColumn("Dub language"),
    "original_language": st.column_config.TextColumn("Original language"),
    "released": st.column_config.DateColumn("Dub released", format="YYYY-MM-DD"),
    "days_since_release": st.column_config.NumberColumn("Dub's days since release"),
    "viewers": st.column_config.NumberColumn("Dub viewers"),
    "new_to_story": st.column_config.NumberColumn(
        "New to the story", help="Dub viewers who never watched the original."
    ),
    "new_share_ci": st.column_config.TextColumn("New share, 95%"),
    "original_viewers": st.column_config.NumberColumn("Original viewers"),
    "original_days_since_release": st.column_config.NumberColumn("Original's days since release"),
    "revenue_per_viewer_ci": st.column_config.TextColumn("Revenue per viewer, 95%"),
    "dub_return_ci": st.column_config.TextColumn("Dub return, 95%"),
    "aligned_age_days": st.column_config.NumberColumn("Aligned at day"),
    "viewers_at_age": st.column_config.NumberColumn("Dub viewers, first days"),
    "original_viewers_at_age": st.column_config.NumberColumn("Original viewers, first days"),
    "dub_series_id": st.column_config.TextColumn("Dub id"),
    "original_series_id": st.column_config.TextColumn("Original id"),
}


def dub_rows(card: pd.DataFrame) -> pd.DataFrame:
    """One row per dub beside its original: audience, the audience it added, rates, money."""
    by_id = card.set_index("series_id")
    rows = []
    for dub in card[card["is_dubbed"]].itertuples():
        if dub.original_series_id not in by_id.index:
            continue
        orig = by_id.loc[dub.original_series_id]
        inc_lo, inc_hi = stats.wilson(dub.incremental_viewers or 0, dub.viewers)
        se = dub.allocated_revenue_per_viewer_se
        revenue, cost = dub.allocated_revenue_usd, dub.production_cost_usd
        ret = revenue / cost if cost and cost > 0 else np.nan
        ret_half = 1.96 * se * dub.viewers / cost if cost and cost > 0 and pd.notna(se) else np.nan
        aligned = bool(dub.observed_at_comparison_age and orig["observed_at_comparison_age"])
        rows.append(
            {"story": orig["title"], "language": dub.language,
             "original_language": orig["language"], "released": dub.release_date,
             "days_since_release": dub.age_days, "viewers": dub.viewers,
             "new_to_story": dub.incremental_viewers,
             "new_to_story_share": (dub.incremental_viewers or 0) / dub.viewers
             if dub.viewers else np.nan,
             "new_share_ci": f"{ui.pct(inc_lo, 0)}–{ui.pct(inc_hi, 0)}" if dub.viewers else "—",
             "original_viewers": orig["viewers"],
             "original_days_since_release": orig["age_days"],
             "hook": dub.hook_rate_shrunk, "original_hook": orig["hook_rate_shrunk"],
             "paywall_conversion": dub.paywall_conversion_rate_shrunk,
             "original_paywall_conversion": orig["paywall_conversion_rate_shrunk"],
             "revenue_per_viewer": dub.allocated_revenue_per_viewer,
             "revenue_per_viewer_ci": "—" if pd.isna(se) else
             f"±${1.96 * se:.3f}",
             "original_revenue_per_viewer": orig["allocated_revenue_per_viewer"],
             "revenue_to_date": revenue, "dub_cost": cost, "dub_return": ret,
             "dub_return_ci": "—" if pd.isna(ret_half) else
             f"{max(ret - ret_half, 0):.2f}–{ret + ret_half:.2f}",
             "aligned_age_days": int(dub.comparison_age_days) if aligned else None,
             "viewers_at_age": dub.viewers_at_age if aligned else None,
             "original_viewers_at_age": orig["viewers_at_age"] if aligned else None,
             "revenue_at_age": dub.allocated_revenue_at_age_usd if aligned else None,
             "original_revenue_at_age": orig["allocated_revenue_at_age_usd"] if aligned else None,
             "dub_series_id": dub.series_id, "original_series_id": dub.original_series_id}
        )  # fmt: skip
    return pd.DataFrame(rows)


# the comparisons' bootstraps take a few tenths of a second on a large catalogue: keep their
# results per snapshot and filters, like the queries (a new snapshot is a new key)
@st.cache_data(ttl=data.QUERY_TTL_S, max_entries=64, show_spinner=False)
def _cached(target: str, name: str, key: tuple, _compute) -> pd.DataFrame:  # noqa: ANN001
    return _compute()


def cached(name: str, key: tuple, compute) -> pd.DataFrame:  # noqa: ANN001
    return _cached(data.current_target(), name, key, compute)


st.title("Catalog")
ui.require_warehouse()
if not ui.require_table("series_scorecard"):
    st.stop()
card = data.query(SCORECARD_SQL)
if card.empty:
    st.info("The catalog is empty: ingest a catalog folder with `cliffhanger ingest`.")
    st.stop()
if "hooked_viewers" not in card.columns:
    st.info("This warehouse predates the like-for-like comparisons: run `cliffhanger run`.")
    st.stop()
card["genres"] = card["genres"].map(list)
card["genre"] = card["genres"].map(lambda g: g[0] if len(g) else "none")
card["version"] = np.where(card["is_dubbed"], "dub", "original")
card["release_age"] = card["age_days"].astype(float).map(stats.age_band)
card["release_month"] = pd.to_datetime(card["release_date"]).dt.strftime("%Y-%m")
age = int(card["comparison_age_days"].iloc[0])
st.caption(
    "Scorecards cover every stored event (the sidebar's date range does not apply); filter by "
    "release month instead. Rates come raw and shrunk: a series with few viewers is pulled "
    "toward the catalogue's typical rate, so it neither tops nor bottoms a sorted list."
)

f1, f2, f3, f4 = st.columns(4)
languages = f1.multiselect("Language", sorted(card["language"].unique()), key="f_language")
genres = f2.multiselect("Genre", sorted({g for gs in card["genres"] for g in gs}), key="f_genre")
types = f3.multiselect("Made as", sorted(card["production_type"].unique()), key="f_type")
months = f4.multiselect(
    "Release month", sorted(card["release_month"].unique(), reverse=True), key="f_month"
)
s1, s2 = st.columns([3, 1])
sort_by = s1.selectbox(
    "Sort by", list(SORTABLE), format_func=SORTABLE.__getitem__, key="sort_by",
    help="Rates sort by their shrunk value (see the column help).",
)  # fmt: skip
ascending = s2.toggle("Ascending", value=False, key="ascending")

# the prior is fitted across the series shown: one pool for everything compared
shown = stats.add_shrunk_rates(apply_filters(card, languages, genres, types, months))
shown = shown.sort_values(
    [sort_column(sort_by), "series_id"], ascending=[ascending, True], na_position="last"
)
st.subheader(f"Scorecard: {len(shown):,} of {len(card):,} series")
columns = scorecard_columns(age)
ui.table(
    shown[[c for c in columns if c in shown.columns]].assign(genres=shown["genres"].map(", ".join)),
    "scorecard",
    column_config=columns,
)
st.caption(ui.CAPTIONS["shrunk"])

st.subheader("AI vs live action, like for like", help=ui.CAPTIONS["like_for_like"])
if shown.empty:
    st.info("No series match the filters: clear some of them.")
    st.stop()
strata = st.multiselect(
    "Compare within", list(STRATA), default=list(STRATA), format_func=STRATA.__getitem__,
    key="strata", help="Series are compared only with series of the same kind on these.",
)  # fmt: skip
shown["all"] = "all"
filters = (tuple(languages), tuple(genres), tuple(types), tuple(months))
result = cached(
    "strata", filters + (tuple(strata),),
    lambda: stats.stratified_comparison(shown, strata or ["all"]),
)  # fmt: skip
usable = result[result["strata"] > 0]
if usable.empty:
    st.info(
        f"No group of comparable series has at least {stats.MIN_SERIES_PER_ARM} AI and "
        f"{stats.MIN_SERIES_PER_ARM} live-action series with {stats.MIN_VIEWERS_PER_ARM}+ "
        "viewers each side: compare within fewer characteristics, or clear filters."
    )
else:
    long = usable.melt(
        id_vars=["label", "ci_low", "ci_high", "difference"], value_vars=["ai", "live_action"],
        var_name="made_as", value_name="value",
    )  # fmt: skip
    charts = []
    for label, part in long.groupby("label", sort=False):
        money = label in ("Revenue per viewer", "Cost per watch hour")
        axis = alt.Axis(format="$,.2f" if money else "%", title=None)
        chart = (
            alt.Chart(part)
            .mark_bar()
            .encode(
                x=alt.X("made_as:N", title=None, axis=alt.Axis(labelAngle=0)),
                y=alt.Y("value:Q", axis=axis),
                color=alt.Color("made_as:N", legend=None),
                tooltip=["made_as", "value", "difference", "ci_low", "ci_high"],
            )
            .properties(height=200)
        )
        charts.append((label, chart))
    for i, (label, chart) in enumerate(charts):
        if i % 3 == 0:
            cols = st.columns(3)  # one row at a time: nothing runs into the next row
        with cols[i % 3]:
            st.markdown(f"**{label}**")
            st.altair_chart(chart, width="stretch")
    st.caption(
        "Rates are shrunk and weighted per viewer; revenue is allocated through unlocks; cost "
        f"per watch hour is over each version's first {age} days. " + ui.CAPTIONS["like_for_like"]
    )
    number = st.column_config.NumberColumn
    ui.table(
        usable.drop(columns="metric"),
        "like for like comparison",
        column_config={
            "label": st.column_config.TextColumn("Metric"),
            "ai": number("AI", format="%.4g"),
            "live_action": number("Live action", format="%.4g"),
            "difference": number("AI − live action", format="%+.3g"),
            "ci_low": number("95% low", format="%+.3g"),
            "ci_high": number("95% high", format="%+.3g"),
            "strata": number("Groups compared"),
            "ai_series": number("AI series"),
            "live_action_series": number("Live-action series"),
            "ai_viewers": number("AI viewers"),
            "live_action_viewers": number("Live-action viewers"),
        },
    )

with st.expander("All series of each kind, not like for like (the raw comparison)"):
    comparison = cached("raw", filters, lambda: stats.compare_groups(shown))
    ui.table(comparison.drop(columns="label"), "production type comparison")
    st.caption(ui.CAPTIONS["production_type"])

st.subheader("Dubs vs their originals", help=ui.CAPTIONS["dubs"])
# every original stays available to its dubs, whatever the filters; rates shrunk over all
dubs = cached("dubs", (), lambda: dub_rows(stats.add_shrunk_rates(card)))
if not dubs.empty:
    dubs = dubs[dubs["dub_series_id"].isin(shown["series_id"])]
if dubs.empty:
    st.info("No dubbed version (with its original in the catalog) matches the filters.")
else:
    ui.table(
        dubs,
        "dubs vs originals",
        column_config={
            **{c: st.column_config.NumberColumn(label, format="percent")
               for c, label in (("new_to_story_share", "New share"), ("hook", "Dub hook"),
                                ("original_hook", "Original hook"),
                                ("paywall_conversion", "Dub paywall conv."),
                                ("original_paywall_conversion", "Original paywall conv."))},
            **{c: st.column_config.NumberColumn(label, format="$%.3f")
               for c, label in (("revenue_per_viewer", "Dub revenue per viewer"),
                                ("original_revenue_per_viewer", "Original revenue per viewer"))},
            **{c: st.column_config.NumberColumn(label, format="$%.2f")
               for c, label in (("revenue_to_date", "Dub revenue to date"),
                                ("dub_cost", "Dub cost"),
                                ("revenue_at_age", "Dub revenue, first days"),
                                ("original_revenue_at_age", "Original revenue, first days"))},
            "dub_return": st.column_config.NumberColumn("Dub return", format="%.2f×",
                                                        help="Revenue to date / the dub's cost."),
            **DUB_LABELS,
        },
    )  # fmt: skip
    st.caption(ui.CAPTIONS["dubs"].format(age=age))
