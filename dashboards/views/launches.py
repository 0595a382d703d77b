"""Launches: is this week's release a hit? Curves against past launches, percentiles, forecasts."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, ui

WINDOWS = {"week": ("This week", 7), "month": ("This month", 30), "all": ("Every launch", None)}
METRICS = {"viewers": "Viewers", "watch_hours": "Watch hours", "revenue_usd": "Revenue (USD)"}
CUMULATIVE = {"viewers": "cumulative_viewers", "watch_hours": "cumulative_watch_hours",
              "revenue_usd": "cumulative_revenue_usd"}  # fmt: skip
# launches differ by orders of magnitude and a young one's fan is wide: a symmetric log scale
# keeps the curve, the band and the fan readable together (and shows zeros)
Y_SCALE = alt.Scale(type="symlog")

# one row per series version released inside the data: its newest complete day and forecast
LAUNCHES_SQL = """
WITH latest AS (
    SELECT * FROM analytics.series_launch_daily
    WHERE is_complete_day AND is_observed_launch
    QUALIFY row_number() OVER (PARTITION BY series_id ORDER BY age_days DESC) = 1
)
SELECT s.title, l.series_id, l.language, l.production_type, l.is_dubbed, l.release_date,
       l.age_days, l.cumulative_viewers AS viewers, l.viewers_percentile_at_age AS percentile,
       l.percentile_launches, l.hook_rate_to_date, l.paywall_conversion_to_date,
       l.cumulative_watch_hours AS watch_hours, l.cumulative_revenue_usd AS revenue_usd,
       f.forecast AS viewers_forecast, f.interval_low AS viewers_low,
       f.interval_high AS viewers_high, f.horizon_days, f.label, f.label_reason, f.method
FROM latest l
JOIN analytics.series s USING (series_id)
LEFT JOIN analytics.launch_forecast f ON f.series_id = l.series_id AND f.metric = 'viewers'
WHERE l.release_date >= ?::DATE
ORDER BY l.release_date DESC, l.cumulative_viewers DESC, l.series_id
"""
AS_OF_SQL = """
SELECT max(date) AS as_of FROM analytics.series_launch_daily WHERE is_complete_day
"""
CURVE_SQL = """
SELECT age_days, cumulative_viewers, cumulative_watch_hours, cumulative_revenue_usd,
       is_complete_day
FROM analytics.series_launch_daily WHERE series_id = ? ORDER BY age_days
"""
BENCHMARK_SQL = """
SELECT age_days, n_launches, viewers_p25, viewers_median, viewers_p75, watch_hours_p25,
       watch_hours_median, watch_hours_p75, revenue_usd_p25, revenue_usd_median, revenue_usd_p75
FROM analytics.launch_benchmark WHERE segment = 'all' AND viewers_median IS NOT NULL
ORDER BY age_days
"""
FORECAST_SQL = """
SELECT metric, age_days, horizon_days, observed_to_date, forecast, interval_low, interval_high,
       interval_level, label, label_reason, method, n_history
FROM analytics.launch_forecast WHERE series_id = ?
"""
BACKTEST_SQL = """
SELECT metric, age_days, n_series, coverage, coverage_low_tercile, coverage_mid_tercile,
       coverage_high_tercile, median_abs_log_error, baseline_median_abs_log_error,
       baseline_coverage, interval_level
FROM analytics.launch_forecast_backtest ORDER BY metric, age_days
"""

st.title("Launches")
st.caption(
    "Is a new release a hit? Each launch against what earlier launches looked like at the same "
    "age (days since release), and where it is heading at the horizon. Only complete days "
    "count: today's partial day is left out."
)
ui.require_warehouse()
if not ui.require_table(
    "series_launch_daily",
    "This warehouse has no launch tables yet: publish it again with `cliffhanger run`.",
):
    st.stop()

as_of = data.query(AS_OF_SQL)["as_of"].iloc[0]
if pd.isna(as_of):
    st.info("No complete day of data yet: launch curves start once a full UTC day is in.")
    st.stop()
as_of = pd.Timestamp(as_of).date()

params = st.query_params


def since_for(key: str):  # noqa: ANN201 (a date)
    days = WINDOWS[key][1]
    return (as_of - pd.Timedelta(days=days - 1)) if days else pd.Timestamp("1900-01-01").date()


# the window comes from the URL (bookmarks); without one, the shortest window with releases
window_key = params.get("window")
if window_key not in WINDOWS:
    window_key = next(
        (k for k in WINDOWS if not data.query(LAUNCHES_SQL, (since_for(k),)).empty), "week"
    )
picked = st.segmented_control(
    "Released", list(WINDOWS), default=window_key, format_func=lambda k: WINDOWS[k][0],
    key="launch_window", help=f"Releases of the last 7 or 30 days up to {as_of}, or all.",
)  # fmt: skip
window_key = picked or window_key
params["window"] = window_key
days = WINDOWS[window_key][1]
since = since_for(window_key)
launches = data.query(LAUNCHES_SQL, (since,))

has_forecast = data.has_table("launch_forecast")
if launches.empty:
    st.info(
        f"No series was released {WINDOWS[window_key][0].lower()} (up to {as_of}). Pick a "
        "longer window above."
        if days
        else "No launch is observed in this warehouse: every series was released before the "
        "data starts, so no launch curve is complete."
    )
    st.stop()

left, right = st.columns(2)
languages = left.multiselect("Language", sorted(launches["language"].unique()), key="lang")
types = right.multiselect(
    "Production type", sorted(launches["production_type"].unique()), key="ptype"
)
if languages:
    launches = launches[launches["language"].isin(languages)]
if types:
    launches = launches[launches["production_type"].isin(types)]

counts = launches["label"].value_counts()
cols = st.columns(4)
cols[0].metric("Launches", f"{len(launches):,}", border=True,
               help=f"Series versions released from {since} to {as_of}.")  # fmt: skip
for col, label in zip(cols[1:], ("scale", "watch", "rework"), strict=True):
    col.metric(f"Label: {label}", f"{int(counts.get(label, 0)):,}", border=True,
               help=ui.CAPTIONS[f"label_{label}"])  # fmt: skip

shown = launches.assign(
    open=[f"/series?series_id={s}" for s in launches["series_id"]],
    forecast_range=[
        "—" if pd.isna(lo) else f"{lo:,.0f} – {hi:,.0f}"
        for lo, hi in zip(launches["viewers_low"], launches["viewers_high"], strict=True)
    ],
)
st.subheader("Releases")
st.dataframe(
    shown[
        [
            "title",
            "label",
            "viewers",
            "percentile",
            "age_days",
            "viewers_forecast",
            "forecast_range",
            "hook_rate_to_date",
            "paywall_conversion_to_date",
            "language",
            "production_type",
            "release_date",
            "series_id",
            "open",
        ]
    ],  # fmt: skip
    hide_index=True,
    width="stretch",
    column_config={
        "title": st.column_config.TextColumn("Series"),
        "label": st.column_config.TextColumn("Label", help=ui.CAPTIONS["launch_label"]),
        "viewers": st.column_config.NumberColumn("Viewers so far", format="%d"),
        "percentile": st.column_config.ProgressColumn(
            "Percentile at its age",
            min_value=0.0,
            max_value=1.0,
            format="percent",
            help=ui.CAPTIONS["launch_percentile"],
        ),  # fmt: skip
        "age_days": st.column_config.NumberColumn(
            "Age (days)", help="Complete days since release."
        ),
        "viewers_forecast": st.column_config.NumberColumn(
            "Viewers forecast", format="%d", help=ui.CAPTIONS["launch_forecast"]
        ),  # fmt: skip
        "forecast_range": st.column_config.TextColumn("80% interval"),
        "hook_rate_to_date": st.column_config.NumberColumn("Hook rate", format="percent"),
        "paywall_conversion_to_date": st.column_config.NumberColumn(
            "Paywall conversion", format="percent"
        ),  # fmt: skip
        "language": "Language",
        "production_type": "Production",
        "release_date": st.column_config.DateColumn("Released"),
        "series_id": "Series id",
        "open": st.column_config.LinkColumn("Series page", display_text="open"),
    },
)
st.download_button("Download releases (CSV)", launches.to_csv(index=False).encode(),
                   file_name="launches.csv", mime="text/csv", key="download_launches",
                   icon=":material/download:")  # fmt: skip

st.subheader("Launch curve against past launches")
ids = launches["series_id"].tolist()
titles = dict(zip(launches["series_id"], launches["title"], strict=True))
wanted = params.get("launch")
series_id = st.selectbox(
    "Series", ids, index=ids.index(wanted) if wanted in ids else 0, key="launch_series",
    format_func=lambda s: f"{titles[s]} · {s}",
)  # fmt: skip
params["launch"] = series_id
metric = st.radio("Metric", list(METRICS), format_func=METRICS.get, horizontal=True,
                  key="launch_metric")  # fmt: skip

curve = data.query(CURVE_SQL, (series_id,))
bench = data.query(BENCHMARK_SQL) if data.has_table("launch_benchmark") else pd.DataFrame()
forecast = data.query(FORECAST_SQL, (series_id,)) if has_forecast else pd.DataFrame()
value_col = CUMULATIVE[metric]
y_title = f"Cumulative {METRICS[metric].lower()}"
layers = []
if not bench.empty:
    b = bench.rename(columns={f"{metric}_p25": "p25", f"{metric}_median": "median",
                              f"{metric}_p75": "p75"})  # fmt: skip
    layers.append(
        alt.Chart(b).mark_area(opacity=0.2, color="gray")
        .encode(x=alt.X("age_days:Q", title="Days since release", axis=alt.Axis(tickMinStep=1)),
                y=alt.Y("p25:Q", title=y_title, scale=Y_SCALE), y2="p75:Q",
                tooltip=["age_days", "n_launches", "p25", "median", "p75"])
    )  # fmt: skip
    layers.append(alt.Chart(b).mark_line(color="gray", strokeDash=[4, 3])
                  .encode(x="age_days:Q", y="median:Q"))  # fmt: skip
complete = curve[curve["is_complete_day"]]
layers.append(
    alt.Chart(complete).mark_line(point=True, color="#4c78a8")
    .encode(x=alt.X("age_days:Q", title="Days since release", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y(f"{value_col}:Q", title=y_title, scale=Y_SCALE),
            tooltip=["age_days", value_col])
)  # fmt: skip
row = forecast[forecast["metric"] == metric] if not forecast.empty else forecast
if not row.empty and pd.notna(row["forecast"].iloc[0]) and not complete.empty:
    f = row.iloc[0]
    last = complete.iloc[-1]
    fan = pd.DataFrame({
        "age_days": [last["age_days"], f["horizon_days"]],
        "low": [last[value_col], f["interval_low"]],
        "high": [last[value_col], f["interval_high"]],
        "forecast": [last[value_col], f["forecast"]],
    })  # fmt: skip
    layers.append(alt.Chart(fan).mark_area(opacity=0.25, color="#4c78a8")
                  .encode(x="age_days:Q", y="low:Q", y2="high:Q"))  # fmt: skip
    layers.append(alt.Chart(fan).mark_line(strokeDash=[2, 2], color="#4c78a8")
                  .encode(x="age_days:Q", y="forecast:Q",
                          tooltip=["age_days", "forecast", "low", "high"]))  # fmt: skip
st.altair_chart(alt.layer(*layers).properties(height=320), width="stretch")
st.caption(
    "Blue: this launch (complete days). Grey band: the middle half of past launches at the "
    "same age (dashed: their median). Shaded fan: the forecast at the horizon with its 80% "
    "interval."
)
if not row.empty:
    f = row.iloc[0]
    label = f["label"]
    st.markdown(
        f"**Forecast of {METRICS[metric].lower()} at day {int(f['horizon_days'])}:** "
        + ("not available" if pd.isna(f["forecast"]) else
           f"{f['forecast']:,.0f} (80% interval {f['interval_low']:,.0f} – "
           f"{f['interval_high']:,.0f})")
        + f" · label **:{'green' if label == 'scale' else 'red' if label == 'rework' else 'orange'}"
        f"[{label}]** — {f['label_reason']}"
    )  # fmt: skip
    st.caption(ui.CAPTIONS["launch_forecast"] + f" Learned from {int(f['n_history'])} past "
               f"launches (method: {f['method']}).")  # fmt: skip

if data.has_table("launch_forecast_backtest"):
    st.subheader("How good are the forecasts? (backtest)")
    backtest = data.query(BACKTEST_SQL)
    if backtest.empty:
        st.info("Not enough past launches with a complete horizon to backtest yet.")
    else:
        order = {m: i for i, m in enumerate(METRICS)}
        backtest = backtest.sort_values(["metric", "age_days"], key=lambda c: c.map(order)
                                        if c.name == "metric" else c)  # fmt: skip
        backtest["metric"] = backtest["metric"].map(METRICS)
        pct = {"format": "percent", "min_value": 0.0, "max_value": 1.0}
        st.dataframe(
            backtest.drop(columns="interval_level"),
            hide_index=True,
            width="stretch",
            column_config={
                "metric": "Forecast of",
                "age_days": st.column_config.NumberColumn("At age (days)"),
                "n_series": st.column_config.NumberColumn("Launches tested"),
                "coverage": st.column_config.NumberColumn("Coverage (aim 80%)", format="percent"),
                "coverage_low_tercile": st.column_config.NumberColumn("… flops", **pct),
                "coverage_mid_tercile": st.column_config.NumberColumn("… middle", **pct),
                "coverage_high_tercile": st.column_config.NumberColumn("… hits", **pct),
                "median_abs_log_error": st.column_config.NumberColumn("Error", format="%.3f"),
                "baseline_median_abs_log_error": st.column_config.NumberColumn(
                    "Baseline error", format="%.3f"),
                "baseline_coverage": st.column_config.NumberColumn("Baseline coverage", **pct),
            },
        )  # fmt: skip
        st.download_button("Download forecast backtest (CSV)",
                           backtest.to_csv(index=False).encode(), file_name="backtest.csv",
                           mime="text/csv", key="download_backtest",
                           icon=":material/download:")  # fmt: skip
        st.caption(ui.CAPTIONS["launch_backtest"])
