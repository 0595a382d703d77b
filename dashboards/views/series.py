"""Series: the episode funnel, drop-off by cause (story or paywall), survival with its
censoring said plainly, where inside an episode viewers leave (exit moments), versions."""

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
       dropped_at_paywall, dropped_story, censored, hazard, story_hazard, paywall_hazard,
       survival,
       survival_ci_low, survival_ci_high, cumulative_incidence_paywall,
       cumulative_incidence_story, series_typical_hazard, series_typical_story_hazard,
       story_hazard_q_value, is_paywall_episode, is_dropoff_point, session_continuation_rate,
       series_still_active_share, dropoff_measurable
FROM analytics.series_episode_funnel WHERE series_id = ? ORDER BY episode_number
"""
EXITS_SQL = """
SELECT episode_number, bucket_start_s, views, early_exits, exit_share,
       series_pooled_exit_share, q_value, is_exit_moment
FROM analytics.episode_exit_moments WHERE series_id = ? AND views > 0
ORDER BY episode_number, bucket_start_s
"""
CURVE_SQL = """
SELECT bucket_start_s, views, share_still_watching
FROM analytics.episode_retention_curve
WHERE series_id = ? AND episode_number = ? ORDER BY bucket_start_s
"""
SCORECARD_SQL = "SELECT * FROM analytics.series_scorecard WHERE series_id = ?"
VERSIONS_SQL = """
SELECT title, language, is_dubbed, production_type, viewers, hook_rate,
       completion_rate, paywall_reach_rate, paywall_conversion_rate, episodes_per_viewer,
       watch_hours, revenue_usd, cost_per_watch_hour, series_id
FROM analytics.series_scorecard
WHERE story_id = (SELECT story_id FROM analytics.series_scorecard WHERE series_id = ?)
ORDER BY is_dubbed, language, series_id
"""


def censoring_note(funnel: pd.DataFrame, paywall: list[int]) -> str:
    """Beside the survival curve: who is still watching, and why it differs from the funnel."""
    last = int(funnel["episode_number"].max())
    finished = int(funnel.loc[funnel["episode_number"] == last, "censored"].sum())
    watching = int(funnel.loc[funnel["episode_number"] < last, "censored"].sum())
    first = funnel["viewers"].iloc[0]
    # the episode to compare at: the paywall episode, else the middle one
    e = paywall[0] if paywall else max(1, last // 2)
    at = funnel[funnel["episode_number"] == e]
    reached = at["viewers"].iloc[0] / first if first and len(at) else float("nan")
    survival = at["survival"].iloc[0] if len(at) else float("nan")
    return (
        f"**{watching:,} viewers are still watching** (censored: they were active in the last 7 "
        f"days and have not reached the last episode, so nobody knows yet where they will "
        f"stop); {finished:,} finished the series. The curve counts a viewer as lost only once "
        f"they have stopped, and counts still-watching viewers only up to where they are now. "
        f"The funnel counts who has reached each episode so far: {ui.pct(reached, 0)} of "
        f"episode 1's viewers have reached episode {e}, while the curve estimates that "
        f"{ui.pct(survival, 0)} get there once everyone has had the time. "
        + ui.CAPTIONS["survival_method"]
    )


def exit_moments_section(exits: pd.DataFrame) -> None:
    """The episode x position heatmap of early exits, and the exit moments to re-edit."""
    if exits.empty:
        st.info("No views of this series yet.")
        return
    moments = exits[exits["is_exit_moment"]]
    cells = (
        alt.Chart(exits)
        .mark_rect()
        .encode(
            x=alt.X("bucket_start_s:O", title="Position in the episode (seconds)"),
            y=alt.Y("episode_number:O", title="Episode"),
            color=alt.Color("exit_share:Q", title="Views that end here",
                            scale=alt.Scale(scheme="orangered"), legend=alt.Legend(format="%")),
            tooltip=[
                alt.Tooltip("episode_number", title="Episode"),
                alt.Tooltip("bucket_start_s", title="From second"),
                alt.Tooltip("views", title="Views still watching"),
                alt.Tooltip("early_exits", title="Views that ended here"),
                alt.Tooltip("exit_share", title="Share that ended here", format=".1%"),
                alt.Tooltip("series_pooled_exit_share", title="Usual share here", format=".1%"),
            ],
        )
    )  # fmt: skip
    marks = (
        alt.Chart(moments)
        .mark_point(shape="diamond", filled=True, color="black", size=60)
        .encode(x="bucket_start_s:O", y="episode_number:O")
    )
    n_eps = exits["episode_number"].nunique()
    st.altair_chart((cells + marks).properties(height=max(220, 9 * n_eps)), width="stretch")
    if moments.empty:
        st.markdown("**Exit moments:** none: no spot loses viewers beyond the series' usual.")
    else:
        st.markdown(
            f"**Exit moments:** {len(moments):,} (black diamonds): the spots to re-edit, worst "
            "first below."
        )
        table = moments.assign(
            seconds=moments["bucket_start_s"].map(lambda b: f"{b}–{b + 5} s"),
            excess=moments["exit_share"] - moments["series_pooled_exit_share"],
        ).sort_values("excess", ascending=False)
        ui.table(
            table[["episode_number", "seconds", "exit_share", "series_pooled_exit_share",
                   "views", "early_exits", "q_value"]].rename(columns={
                "episode_number": "Episode", "seconds": "Seconds", "exit_share": "Left here",
                "series_pooled_exit_share": "Usual here", "views": "Views still watching",
                "early_exits": "Views that ended here", "q_value": "q-value (BH)"}),
            "exit moments",
            column_config={c: st.column_config.NumberColumn(format="percent")
                           for c in ("Left here", "Usual here")},
        )  # fmt: skip
    st.caption(ui.CAPTIONS["exit_moments"])


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
story_label = ", ".join(f"episode {e}" for e in dropoffs) if dropoffs else "none detected"
st.markdown(
    f"**Episodes that lose viewers to the story:** {story_label}",
    help=ui.CAPTIONS["dropoff_point"],
)
paywall_drops = int(funnel["dropped_at_paywall"].sum())
all_drops = int(funnel["dropped"].sum())
if paywall:
    st.markdown(
        f"**The paywall's toll:** {paywall_drops:,} viewer{'' if paywall_drops == 1 else 's'} "
        "stopped at the lock screen of "
        f"episode {paywall[0]} and never unlocked it"
        + (f" ({ui.pct(paywall_drops / all_drops, 0)} of all who stopped)." if all_drops else ".")
        + " That is the paywall working, not a weak episode: it is counted apart.",
        help=ui.CAPTIONS["drop_causes"],
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

st.subheader("Where viewers stop, and why", help=ui.CAPTIONS["drop_causes"])
causes = funnel.melt(
    id_vars=["episode_number"],
    value_vars=["dropped_story", "dropped_at_paywall"],
    var_name="cause",
    value_name="viewers_who_stopped",
).replace({"cause": {"dropped_story": "to the story", "dropped_at_paywall": "at the paywall"}})
cause_color = alt.Color(
    "cause:N", title="Stopped",
    scale=alt.Scale(domain=["to the story", "at the paywall"], range=["#e45756", "#f58518"]),
)  # fmt: skip
c_left, c_right = st.columns(2)
with c_left:
    st.markdown("**Viewers who stopped at each episode**")
    stops = (
        alt.Chart(causes)
        .mark_bar()
        .encode(
            x=x_ep, y=alt.Y("viewers_who_stopped:Q", title="Viewers who stopped"),
            color=cause_color, tooltip=["episode_number", "cause", "viewers_who_stopped"],
        )
        .properties(height=260)
    )  # fmt: skip
    st.altair_chart(stops, width="stretch")
with c_right:
    incidence = funnel.melt(
        id_vars=["episode_number"],
        value_vars=["cumulative_incidence_story", "cumulative_incidence_paywall"],
        var_name="cause", value_name="share_lost",
    ).replace({"cause": {"cumulative_incidence_story": "to the story",
                         "cumulative_incidence_paywall": "at the paywall"}})  # fmt: skip
    st.markdown("**Share of viewers lost by each episode**")
    lost = (
        alt.Chart(incidence)
        .mark_line(point=True)
        .encode(
            x=x_ep,
            y=alt.Y("share_lost:Q", title="Share of viewers lost", axis=alt.Axis(format="%")),
            color=cause_color, tooltip=["episode_number", "cause", "share_lost"],
        )
        .properties(height=260)
    )  # fmt: skip
    st.altair_chart(lost, width="stretch")
st.caption(ui.CAPTIONS["cumulative_incidence"])

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
    st.subheader("Still watching, episode by episode", help=ui.CAPTIONS["survival"])
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
    st.caption(censoring_note(funnel, paywall))
with right:
    st.subheader("Share who stop at each episode", help=ui.CAPTIONS["hazard"])
    by_cause = funnel.melt(
        id_vars=["episode_number", "at_risk"],
        value_vars=["story_hazard", "paywall_hazard"],
        var_name="cause",
        value_name="share_who_stop",
    ).replace({"cause": {"story_hazard": "to the story", "paywall_hazard": "at the paywall"}})
    hazard = (
        alt.Chart(by_cause)
        .mark_bar()
        .encode(
            x=x_ep,
            y=alt.Y("share_who_stop:Q", title="Share of viewers there who stop", axis=alt.Axis(format="%"), stack=True),
            color=cause_color,
            tooltip=["episode_number", "cause", "at_risk", "share_who_stop"],
        )
    )  # fmt: skip
    typical = (
        alt.Chart(funnel.head(1))
        .mark_rule(color="gray", strokeDash=[2, 2])
        .encode(y="series_typical_story_hazard:Q")
    )
    flagged = (
        alt.Chart(funnel[funnel["is_dropoff_point"]])
        .mark_point(shape="triangle-down", filled=True, color="black", size=70)
        .encode(x=x_ep, y="hazard:Q", tooltip=["episode_number", "story_hazard"])
    )
    st.altair_chart((hazard + typical + flagged).properties(height=300), width="stretch")
    st.caption(
        "Of the viewers who reached an episode, the share who stopped there for good, by cause. "
        "The grey line is the series' usual share lost to the story; a black triangle marks an "
        "episode that loses significantly more to the story (a drop-off point)."
    )

st.subheader("Where inside an episode viewers leave", help=ui.CAPTIONS["exit_moments"])
if data.has_table("episode_exit_moments"):
    exits = data.query(EXITS_SQL, (series_id,))
    exit_moments_section(exits)
else:
    st.info("This warehouse has no exit moments yet: run `cliffhanger run` to build them.")

st.subheader("Within-episode retention")
episodes = funnel["episode_number"].tolist()
default_ep = paywall[0] if paywall else episodes[0]
if st.session_state.get("_episode_series") != series_id:
    # a new series: its own default episode (its paywall), not the last series' pick
    st.session_state.pop("episode", None)
    st.session_state["_episode_series"] = series_id
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
ui.table(ui.metrics_first(card), "scorecard row")
st.subheader("Language versions")
versions = data.query(VERSIONS_SQL, (series_id,))
if len(versions) < 2:
    st.info("This story has no other language version in the catalog.")
ui.table(versions, "language versions")
with st.expander("Episode funnel table"):
    ui.table(funnel.drop(columns="marker"), "episode funnel")
