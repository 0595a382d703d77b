"""Data health: the snapshot in use, table freshness, ingestion accounting, quarantine."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data, ui

# the newest timestamp of each table that has one (constant SQL: table names never come
# from user input)
LATEST_SQL: dict[str, str] = {
    "events": "SELECT max(ts) FROM analytics.events",
    "sessions": "SELECT max(started_at) FROM analytics.sessions",
    "episode_views": "SELECT max(started_at) FROM analytics.episode_views",
    "daily_engagement": "SELECT max(date) FROM analytics.daily_engagement",
    "retention_cohorts": "SELECT max(cohort_date) FROM analytics.retention_cohorts",
    "ingestion_files": "SELECT max(ingested_at) FROM analytics.ingestion_files",
    "quarantine": "SELECT max(quarantined_at) FROM analytics.quarantine",
    "refused_files": "SELECT max(refused_at) FROM analytics.refused_files",
}
FILES_SQL = """
SELECT file_path, format, records_in, loaded, quarantined, duplicates,
       records_in = loaded + quarantined + duplicates AS balanced, ingested_at, bytes, seconds
FROM analytics.ingestion_files ORDER BY ingested_at DESC, file_path
"""
REASONS_SQL = """
SELECT reason, count(*) AS records,
       count(*) FILTER (WHERE status = 'quarantined') AS still_quarantined,
       count(DISTINCT file_path) AS files
FROM analytics.quarantine GROUP BY reason ORDER BY records DESC, reason
"""
EXAMPLES_SQL = """
SELECT file_path, record_number, status, raw_record, quarantined_at
FROM analytics.quarantine WHERE reason = ? ORDER BY file_path, record_number LIMIT 20
"""
REFUSED_SQL = """
SELECT file_path, reason, refused_at, content_sha256
FROM analytics.refused_files ORDER BY refused_at DESC, file_path
"""

# the newest event older than this is worth a warning: events stopped arriving, or the
# pipeline stopped publishing
STALE_AFTER = pd.Timedelta(hours=48)


def staleness_warning(newest: object, now: pd.Timestamp | None = None) -> str | None:
    """The warning to show when the newest event is much older than now (None otherwise)."""
    if newest is None or pd.isna(newest):
        return None
    newest_ts = pd.Timestamp(newest)
    newest_ts = newest_ts.tz_localize("UTC") if newest_ts.tzinfo is None else newest_ts
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    age = now - newest_ts
    if age <= STALE_AFTER:
        return None
    days = age / pd.Timedelta(days=1)
    return (
        f"**The data is {days:,.0f} days old.** The newest event is from "
        f"{newest_ts.tz_convert('UTC'):%Y-%m-%d %H:%M} UTC: every page shows the app as it was "
        "then. Check that event files still arrive in the landing folder and that the pipeline "
        "runs (`cliffhanger run`, or the Dagster sensor)."
    )


st.title("Data health")
snap = ui.require_warehouse()
if data.has_table("events"):
    stale = staleness_warning(data.query(LATEST_SQL["events"]).iloc[0, 0])
    if stale:
        st.warning(stale, icon=":material/schedule:")
st.caption(
    "What the dashboards read right now. Ingestion and quarantine cover every file ever "
    "ingested (the sidebar's date range does not apply)."
)
c1, c2 = st.columns([3, 2])  # the version is long: give it room
c1.metric("Snapshot version", snap.version, border=True)
c2.metric(
    "Published at (UTC)",
    "unknown" if snap.published_at is None else f"{pd.Timestamp(snap.published_at):%Y-%m-%d %H:%M:%S}",
    border=True,
)  # fmt: skip

st.subheader("Freshness of every table")
counts: dict[str, int] = snap.info.get("tables", {})
rows = []
for name in sorted(set(counts) | {t for t in LATEST_SQL if data.has_table(t)}):
    latest = (
        data.query(LATEST_SQL[name]).iloc[0, 0]
        if name in LATEST_SQL and data.has_table(name)
        else None
    )
    rows.append({"table": f"analytics.{name}", "rows": counts.get(name),
                 "newest_record": None if latest is None or pd.isna(latest) else str(latest)})  # fmt: skip
freshness = pd.DataFrame(rows, columns=["table", "rows", "newest_record"])
ui.table(freshness, "table freshness")
params = snap.info.get("metric_params")
if params:
    st.caption("Metric parameters in force: " + ", ".join(f"{k} = {v}" for k, v in params.items()))

st.subheader("Ingested files")
st.caption(ui.CAPTIONS["ingestion"])
if ui.require_table("ingestion_files", "No file has been ingested yet: run `cliffhanger ingest`."):
    files = data.query(FILES_SQL)
    totals = files[["records_in", "loaded", "quarantined", "duplicates"]].sum()
    cols = st.columns(5)
    cols[0].metric("Files", ui.num(len(files)), border=True)
    for col, name in zip(
        cols[1:], ["records_in", "loaded", "quarantined", "duplicates"], strict=True
    ):
        col.metric(name.replace("_", " ").capitalize(), ui.num(totals[name]), border=True)
    unbalanced = int((~files["balanced"].astype(bool)).sum())
    if unbalanced:
        st.warning(
            f"{unbalanced} file(s) do not balance: records_in ≠ loaded + quarantined + duplicates."
        )
    else:
        st.success(
            f"All {len(files):,} files balance: records_in = loaded + quarantined + duplicates."
        )
    ui.table(files, "ingestion files")

st.subheader("Quarantine by reason")
if ui.require_table("quarantine", "No quarantine table yet: run `cliffhanger ingest`."):
    reasons = data.query(REASONS_SQL)
    if reasons.empty:
        st.success("No record has been quarantined.")
    else:
        chart = (
            alt.Chart(reasons)
            .mark_bar()
            .encode(
                x=alt.X("records:Q", title="Quarantined records"),
                y=alt.Y("reason:N", title="Reason", sort="-x"),
                tooltip=["reason", "records", "still_quarantined", "files"],
            )
            .properties(height=30 * len(reasons) + 40)
        )
        st.altair_chart(chart, width="stretch")
        ui.table(reasons, "quarantine reasons")
        reason = st.selectbox("Example records of", reasons["reason"].tolist(), key="reason")
        ui.table(data.query(EXAMPLES_SQL, (reason,)), "quarantine examples")

st.subheader("Refused files")
if ui.require_table("refused_files", "No refused-files table yet: run `cliffhanger ingest`."):
    refused = data.query(REFUSED_SQL)
    if refused.empty:
        st.success("No file has been refused.")
    else:
        ui.table(refused, "refused files")
