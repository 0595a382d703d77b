"""Recommendations: offline evaluation against the baselines, a user's history and list,
and the similar-series explorer. The model tables arrive with the recommender: each section
says what to do while its table is missing."""

from __future__ import annotations

import altair as alt
import duckdb
import streamlit as st

from dashboards import data, ui

NO_MODEL = "No model has been published yet — run `cliffhanger run`."
BASELINES = ("popularity", "trending")

EVAL_SQL = """
SELECT model_version, model, metric, k, value, ci_low, ci_high
FROM analytics.model_evaluation ORDER BY model_version, metric, k, model
"""
HISTORY_SQL = """
SELECT v.series_id, s.title, s.language, count(*) AS views,
       count(DISTINCT v.episode_number) AS episodes_watched,
       max(v.episode_number) AS furthest_episode,
       sum(v.max_position_s) / 60 AS watch_minutes,
       min(v.started_at) AS first_view, max(v.started_at) AS last_view
FROM analytics.episode_views v LEFT JOIN analytics.series s USING (series_id)
WHERE v.user_id = ? AND v.start_date BETWEEN ? AND ?
GROUP BY ALL ORDER BY last_view DESC, v.series_id
"""
RECS_SQL = """
SELECT r.rank, r.series_id, s.title, s.language, r.score, r.source, r.model_version
FROM analytics.recommendations r LEFT JOIN analytics.series s USING (series_id)
WHERE r.user_id = ? ORDER BY r.rank
"""
EXAMPLE_USER_SQL = "SELECT min(user_id) AS user_id FROM analytics.recommendations"
# online metrics per model version x variant, with the offline NDCG@10 of the same version
ONLINE_SQL = """
WITH online AS (
    SELECT model_version, variant, sum(impressions) AS impressions, sum(clicks) AS clicks,
           sum(attributed_starts) AS attributed_starts, sum(watch_minutes) AS watch_minutes,
           sum(unlocks) AS unlocks, sum(unmatched_impressions) AS unmatched_impressions
    FROM analytics.recommendation_performance GROUP BY ALL
)
SELECT o.*, o.clicks / nullif(o.impressions, 0) AS ctr,
       o.attributed_starts / nullif(o.impressions, 0) AS start_rate
FROM online o ORDER BY model_version, variant
"""
OFFLINE_NDCG_SQL = """
SELECT model_version,
       max(value) FILTER (WHERE metric = 'ndcg' AND k = 10
                          AND model NOT IN ('popularity', 'trending')) AS offline_ndcg_at_10
FROM analytics.model_evaluation GROUP BY 1
"""
POSITION_SQL = """
SELECT model_version || ' · ' || variant AS arm, position, sum(impressions) AS impressions,
       sum(clicks) / nullif(sum(impressions), 0) AS ctr
FROM analytics.recommendation_performance WHERE impressions > 0 GROUP BY ALL ORDER BY ALL
"""
EXPERIMENT_SQL = """
SELECT experiment, variant, users, impressions, ctr, ctr_ci_low, ctr_ci_high, start_rate,
       ctr_diff, ctr_diff_ci_low, ctr_diff_ci_high, start_rate_diff, start_rate_diff_ci_low,
       start_rate_diff_ci_high, planned_share, observed_share, srm_p_value, is_srm
FROM analytics.recommendation_experiment ORDER BY experiment, variant
"""
NO_FEEDBACK = ("No recommendation impressions yet: the app's recommendation_impression and "
               "recommendation_click events and the API's served log fill this section "
               "(docs/feedback-loop.md).")  # fmt: skip
SERIES_SQL = "SELECT series_id, title, language FROM analytics.series ORDER BY series_id"
SIMILAR_SQL = """
SELECT m.rank, m.similar_series_id, s.title, s.language, m.score
FROM analytics.similar_series m LEFT JOIN analytics.series s ON s.series_id = m.similar_series_id
WHERE m.series_id = ? ORDER BY m.rank
"""


def guarded(sql: str, params: tuple = (), table: str = "") -> object:
    """Run a query; a table of an unexpected shape becomes a warning, not a traceback."""
    try:
        return data.query(sql, params)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        st.warning(f"`analytics.{table}` cannot be read as expected ({first}).")
        return None


st.title("Recommendations")
ui.require_warehouse()

st.subheader("Models against the baselines")
if not data.has_table("model_evaluation"):
    st.info(NO_MODEL, icon=":material/model_training:")
else:
    ev = guarded(EVAL_SQL, table="model_evaluation")
    if ev is not None and ev.empty:
        st.info(NO_MODEL, icon=":material/model_training:")
    elif ev is not None:
        c1, c2, c3 = st.columns(3)
        versions = sorted(ev["model_version"].unique(), reverse=True)
        version = c1.selectbox("Model version", versions, key="model_version")
        ev = ev[ev["model_version"] == version]
        metrics = sorted(ev["metric"].unique())
        # NDCG@10 is what the quality gate decides on: show it first
        metric = c2.selectbox("Metric", metrics, key="eval_metric",
                              index=metrics.index("ndcg") if "ndcg" in metrics else 0)  # fmt: skip
        ks = sorted(ev.loc[ev["metric"] == metric, "k"].unique())
        k = c3.selectbox("k", ks, index=ks.index(10) if 10 in ks else 0, key="eval_k")
        part = ev[(ev["metric"] == metric) & (ev["k"] == k)].copy()
        part["kind"] = part["model"].map(lambda m: "baseline" if m in BASELINES else "model")
        models, baselines = part[part["kind"] == "model"], part[part["kind"] == "baseline"]
        if len(models) and len(baselines):
            best = models.loc[models["value"].idxmax()]
            base = baselines.loc[baselines["value"].idxmax()]
            m1, m2 = st.columns(2)
            m1.metric(
                f"Best model: {best['model']} ({metric}@{k})",
                f"{best['value']:.4f}",
                delta=f"{best['value'] - base['value']:+.4f} vs {base['model']}",
                border=True,
            )
            m2.metric(f"Best baseline: {base['model']}", f"{base['value']:.4f}", border=True)
        if "is_served" in ev.columns and ev["is_served"].any():
            served = ev.loc[ev["is_served"], "model"].iloc[0]
            st.caption(f"Served to the app: **{served}** (the gate serves a model only if its "
                       "NDCG@10 lower 95 % bound beats the best baseline).")  # fmt: skip
        bars = alt.Chart(part).mark_bar(opacity=0.75).encode(
            x=alt.X("model:N", title="Model", sort="-y"),
            y=alt.Y("value:Q", title=f"{metric}@{k} (higher is better)"),
            color=alt.Color("kind:N", title="", scale=alt.Scale(domain=["model", "baseline"], range=["#4c78a8", "#bab0ac"])),
            tooltip=["model", "value", "ci_low", "ci_high"],
        )  # fmt: skip
        whiskers = (
            alt.Chart(part)
            .mark_rule(color="black", strokeWidth=2)  # the 95% interval
            .encode(x=alt.X("model:N", sort="-y"), y=alt.Y("ci_low:Q", title=""), y2="ci_high:Q")
        )
        st.altair_chart((bars + whiskers).properties(height=280), width="stretch")
        st.caption(ui.CAPTIONS["model_evaluation"])
        ui.table(ev, "model evaluation")

st.subheader("Online: the lists with real viewers")
online = None
if data.has_table("recommendation_performance"):
    online = guarded(ONLINE_SQL, table="recommendation_performance")
if online is None or online.empty or not online["impressions"].sum():
    st.caption(NO_FEEDBACK)
else:
    if data.has_table("model_evaluation"):
        offline = guarded(OFFLINE_NDCG_SQL, table="model_evaluation")
        if offline is not None:
            online = online.merge(offline, on="model_version", how="left")
    cols = st.columns(min(4, len(online)))
    for col, row in zip(cols, online.itertuples(), strict=False):
        col.metric(
            f"CTR · {row.model_version} · {row.variant}",
            ui.pct(row.ctr, 2),
            delta=f"start rate {ui.pct(row.start_rate, 2)}",
            delta_color="off",
            border=True,
        )
    st.caption(
        "Counted impressions only (matched to the served log, a story once per request); "
        "a start is attributed to the latest impression of its story within 24 h. "
        "offline_ndcg_at_10 is the best model's offline NDCG@10 of the same model version."
    )
    ui.table(online, "online metrics")
    unmatched = int(online["unmatched_impressions"].sum())
    if unmatched:
        st.warning(f"{unmatched:,} impressions match no served list and are not counted "
                   "(see analytics.recommendation_impressions.unmatched_reason).")  # fmt: skip
    by_position = guarded(POSITION_SQL, table="recommendation_performance")
    if by_position is not None and not by_position.empty:
        chart = alt.Chart(by_position).mark_line(point=True).encode(
            x=alt.X("position:O", title="Position in the row"),
            y=alt.Y("ctr:Q", title="CTR", axis=alt.Axis(format="%")),
            color=alt.Color("arm:N", title="Model · variant"),
            tooltip=["arm", "position", "impressions", alt.Tooltip("ctr:Q", format=".2%")],
        )  # fmt: skip
        st.altair_chart(chart.properties(height=240), width="stretch")
    if data.has_table("recommendation_experiment"):
        exp = guarded(EXPERIMENT_SQL, table="recommendation_experiment")
        if exp is not None and not exp.empty:
            st.markdown("**A/B test** (the user is the unit: per-user totals, delta-method "
                        "intervals; challenger − control)")  # fmt: skip
            for row in exp[exp["variant"] == "challenger"].itertuples():
                if row.is_srm:
                    st.error(f"{row.experiment}: sample-ratio mismatch (p = "
                             f"{row.srm_p_value:.2g}): the split is broken, do not trust the "
                             "comparison.")  # fmt: skip
                elif row.ctr_diff_ci_low > 0 or row.ctr_diff_ci_high < 0:
                    st.success(f"{row.experiment}: CTR differs by {row.ctr_diff:+.2%} "
                               f"(95 % CI {row.ctr_diff_ci_low:+.2%} to "
                               f"{row.ctr_diff_ci_high:+.2%}).")  # fmt: skip
                else:
                    st.caption(f"{row.experiment}: no CTR difference detected (95 % CI "
                               f"{row.ctr_diff_ci_low:+.2%} to {row.ctr_diff_ci_high:+.2%}).")  # fmt: skip
            ui.table(exp, "recommendation experiment")

st.subheader("Look up a user")
rng = ui.date_range()
has_recs = data.has_table("recommendations")
example = None
if has_recs:
    ex = guarded(EXAMPLE_USER_SQL, table="recommendations")
    example = None if ex is None or ex.empty else ex.iloc[0, 0]
user_id = st.text_input(
    "User id", key="user_id",
    placeholder=f"e.g. {example}" if example else "a user_id from analytics.events",
).strip()  # fmt: skip
if user_id:
    left, right = st.columns(2)
    with left:
        st.markdown("**History** (episode views per series, in the date range)")
        if rng is not None and data.has_table("episode_views"):
            hist = guarded(HISTORY_SQL, (user_id, *rng), table="episode_views")
            if hist is not None and hist.empty:
                st.info("No episode views by this user in the date range: check the id or "
                        "widen the range.")  # fmt: skip
            elif hist is not None:
                ui.table(hist, "user history")
        else:
            st.info("No episode views are published yet: run `cliffhanger ingest`.")
    with right:
        st.markdown("**Recommendations**")
        if not has_recs:
            st.info(NO_MODEL, icon=":material/model_training:")
        else:
            recs = guarded(RECS_SQL, (user_id,), table="recommendations")
            if recs is not None and recs.empty:
                st.info("No stored list for this user (the API serves unknown users the "
                        "trending list).")  # fmt: skip
            elif recs is not None:
                ui.table(recs, "user recommendations")

st.subheader("Similar series")
if not data.has_table("similar_series"):
    st.info(NO_MODEL, icon=":material/model_training:")
else:
    series = data.query(SERIES_SQL)
    labels = {r.series_id: f"{r.title} · {r.language} · {r.series_id}" for r in series.itertuples()}
    chosen = st.selectbox("Series", list(labels), format_func=labels.__getitem__, key="similar_of")
    sim = guarded(SIMILAR_SQL, (chosen,), table="similar_series")
    if sim is not None and sim.empty:
        st.info("No similar series stored for this one (too few viewers to compare).")
    elif sim is not None:
        ui.table(sim, "similar series")
