"""Series: the episode funnel, drop-off survival, hazard, within-episode retention, versions."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, ui

SERIES_SQL = """
SELECT series_id, title, language, viewers
FROM analytics.series_scorecard ORDER BY viewers DESC, series_id
"""
FUNNEL_SQL = """
SELECT episode_number, viewers, completion_rate, continuation_rate, at_risk, dropped,
       hazard, survival, survival_ci_low, survival_ci_high, series_typical_hazard,
       is_paywall_episode, is_dropoff_point, session_continuation_rate,
       series_still_active_share, dropoff_measurable
FROM analytics.series_episode_funnel WHERE series_id = ? ORDER BY episode_number
"""
CURVE_SQL = """
SELECT bucket_start_s, views, share_still_watching
FROM analytics.episode_retention_curve
WHERE series_id = ? AND episode_number = ? ORDER BY bucket_start_s
"""
SCORECARD_SQL = "SELECT * FROM analytics.series_scorecard WHERE series_id = ?"
VERSIONS_SQL = """
SELECT series_id, title, language, is_dubbed, production_type, viewers, hook_rate,
       completion_rate, paywall_reach_rate, paywall_conversion_rate, episodes_per_viewer,
       watch_hours, revenue_usd, cost_per_watch_hour
FROM analytics.series_scorecard
WHERE story_id = (SELECT story_id FROM analytics.series_scorecard WHERE series_id = ?)
ORDER BY is_dubbed, language, series_id
"""

st.title("Series")
ui.require_warehouse()
if not ui.require_table("series_scorecard") or not ui.require_table("series_episode_funnel"):
    st.stop()
series = data.query(SERIES_SQL)
if series.empty:
    st.info("The catalog is empty: ingest a catalog folder with `cliffhanger ingest`.")
    st.stop()
labels = {
    r.series_id: f"{r.title} · {r.language} · {r.series_id} ({r.viewers:,} viewers)"
    for r in series.itertuples()
}
# ?series_id=... opens a series (links from the Launches page, bookmarks); the URL follows
# the picker so the page can be bookmarked
ids = list(labels)
wanted = st.query_params.get("series_id")
if wanted in labels and wanted != st.session_state.get("_series_from_url"):
    st.session_state["series_id"] = wanted  # a new URL (a link, a bookmark) wins once
series_id = st.selectbox(
    "Series", ids, format_func=labels.__getitem__, key="series_id",
    help="Ordered by viewers, most watched first.",
)  # fmt: skip
st.query_params["series_id"] = series_id
st.session_state["_series_from_url"] = series_id
st.caption(
    "Series metrics cover every stored event (the sidebar's date range does not apply here: "
    "drop-off is a survival analysis over each viewer's whole history)."
)

card = data.query(SCORECARD_SQL, (series_id,))
funnel = data.query(FUNNEL_SQL, (series_id,))
row = card.iloc[0]
paywall = funnel.loc[funnel["is_paywall_episode"], "episode_number"].tolist()
dropoffs = funnel.loc[funnel["is_dropoff_point"], "episode_number"].tolist()

cols = st.columns(5)
cols[0].metric("Viewers", ui.num(row["viewers"]), help=ui.CAPTIONS["viewers"], border=True)
cols[1].metric("Hook rate", ui.pct(row["hook_rate"]), help=ui.CAPTIONS["hook_rate"], border=True)
cols[2].metric(
    "Completion", ui.pct(row["completion_rate"]), help=ui.CAPTIONS["completion_rate"], border=True
)
cols[3].metric(
    "Paywall conversion",
    ui.pct(row["paywall_conversion_rate"]),
    help=ui.CAPTIONS["paywall_conversion_rate"],
    border=True,
)
cols[4].metric("Paywall episode", str(paywall[0]) if paywall else "none (all free)", border=True)
st.markdown(
    "**Drop-off points:** "
    + (", ".join(f"episode {e}" for e in dropoffs) if dropoffs else "none detected")
)
measurable = bool(funnel["dropoff_measurable"].iloc[0]) if len(funnel) else True
if not measurable:
    active = funnel["series_still_active_share"].iloc[0]
    st.info(
        f"**Drop-off is not yet measurable for this series.** {ui.pct(active)} of its viewers "
        "watched it in the last 7 days and have not finished: they may still come back, so "
        "nobody counts as dropped yet and the survival curve stays near 100%. Until most "
        "viewers are past that window, read the funnel to date and how many go on to the next "
        "episode in the same session (below).",
        icon=":material/hourglass_top:",
    )

if funnel.empty or funnel["viewers"].sum() == 0:
    st.info("Nobody has watched this series yet: pick another one.")
    st.stop()

funnel["marker"] = "episode"
funnel.loc[funnel["is_dropoff_point"], "marker"] = "drop-off point"
funnel.loc[funnel["is_paywall_episode"], "marker"] = "paywall episode"
marker_color = alt.Color(
    "marker:N",
    title="",
    scale=alt.Scale(
        domain=["episode", "paywall episode", "drop-off point"],
        range=["#4c78a8", "#f58518", "#e45756"],
    ),
)
x_ep = alt.X("episode_number:Q", title="Episode number", axis=alt.Axis(tickMinStep=1))
paywall_rule = (
    alt.Chart(pd.DataFrame({"episode_number": paywall}))
    .mark_rule(color="#f58518", strokeDash=[4, 3])
    .encode(x="episode_number:Q")
)

st.subheader("Episode funnel")
funnel_chart = (
    alt.Chart(funnel)
    .mark_bar()
    .encode(
        x=x_ep,
        y=alt.Y("viewers:Q", title="Viewers (users)"),
        color=marker_color,
        tooltip=["episode_number", "viewers", "completion_rate", "continuation_rate"],
    )
    .properties(height=260)
)
st.altair_chart(funnel_chart, width="stretch")
st.caption(ui.CAPTIONS["viewers"])

if not measurable:
    st.subheader("Continuation within a session")
    cont = (
        alt.Chart(funnel.dropna(subset=["session_continuation_rate"]))
        .mark_bar()
        .encode(
            x=x_ep,
            y=alt.Y("session_continuation_rate:Q", title="Went on to the next episode in the same session", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            color=marker_color,
            tooltip=["episode_number", "viewers", "session_continuation_rate"],
        )
        .properties(height=260)
    )  # fmt: skip
    st.altair_chart(cont, width="stretch")
    st.caption(ui.CAPTIONS["session_continuation"])

left, right = st.columns(2)
with left:
    st.subheader("Drop-off survival (Kaplan–Meier)")
    band = (
        alt.Chart(funnel)
        .mark_area(opacity=0.25, color="#4c78a8")
        .encode(
            x=x_ep,
            y=alt.Y("survival_ci_low:Q", title="Share of viewers still watching", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            y2="survival_ci_high:Q",
        )
    )  # fmt: skip
    line = alt.Chart(funnel).mark_line(color="#4c78a8").encode(x=x_ep, y="survival:Q")
    points = (
        alt.Chart(funnel[funnel["marker"] != "episode"])
        .mark_point(filled=True, size=80)
        .encode(
            x=x_ep, y="survival:Q", color=marker_color,
            tooltip=["episode_number", "survival", "survival_ci_low", "survival_ci_high", "hazard"],
        )
    )  # fmt: skip
    st.altair_chart((band + line + paywall_rule + points).properties(height=300), width="stretch")
    st.caption(ui.CAPTIONS["survival"])
with right:
    st.subheader("Hazard per episode")
    hazard = (
        alt.Chart(funnel)
        .mark_bar()
        .encode(
            x=x_ep,
            y=alt.Y("hazard:Q", title="Hazard (share of users at risk who drop)", axis=alt.Axis(format="%")),
            color=marker_color,
            tooltip=["episode_number", "at_risk", "dropped", "hazard"],
        )
    )  # fmt: skip
    typical = (
        alt.Chart(funnel.head(1))
        .mark_rule(color="gray", strokeDash=[2, 2])
        .encode(y="series_typical_hazard:Q")
    )
    st.altair_chart((hazard + typical).properties(height=300), width="stretch")
    st.caption(ui.CAPTIONS["hazard"] + " The grey line is the series' typical (pooled) hazard.")

st.subheader("Within-episode retention")
episodes = funnel["episode_number"].tolist()
default_ep = paywall[0] if paywall else episodes[0]
episode = st.selectbox(
    "Episode", episodes, index=episodes.index(default_ep), key="episode",
    format_func=lambda e: f"Episode {e}" + (" (paywall)" if e in paywall else ""),
)  # fmt: skip
curve = data.query(CURVE_SQL, (series_id, int(episode)))
if curve.empty:
    st.info("No views of this episode yet: pick another episode.")
else:
    curve_chart = (
        alt.Chart(curve)
        .mark_line(point=True)
        .encode(
            x=alt.X("bucket_start_s:Q", title="Position in the episode (seconds)"),
            y=alt.Y("share_still_watching:Q", title="Share of views still watching", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            tooltip=["bucket_start_s", "share_still_watching", "views"],
        )
        .properties(height=260)
    )  # fmt: skip
    st.altair_chart(curve_chart, width="stretch")
    st.caption(
        ui.CAPTIONS["retention_curve"] + f" {int(curve['views'].iloc[0]):,} views of episode "
        f"{episode}."
    )

st.subheader("Scorecard")
ui.table(card, "scorecard row")
st.subheader("Language versions")
versions = data.query(VERSIONS_SQL, (series_id,))
if len(versions) < 2:
    st.info("This story has no other language version in the catalog.")
ui.table(versions, "language versions")
with st.expander("Episode funnel table"):
    ui.table(funnel.drop(columns="marker"), "episode funnel")
