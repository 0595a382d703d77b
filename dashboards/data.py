"""The dashboards' only way into the warehouse: read-only, cached, parameterized.

The public path (``warehouse/cliffhanger.duckdb``) is a symlink that the pipeline switches
atomically to a new immutable snapshot on every publish. So each rerun resolves the link
(``os.path.realpath``) and uses a connection cached *per snapshot file*: after a publish the
next rerun opens the new snapshot, while a session that is mid-query on the old one keeps it
(an unlinked file stays readable on POSIX until its last handle closes). Query results are
cached per snapshot too, so a new snapshot never serves stale rows; the TTL only bounds memory.

Every query is a constant SQL text with ``?`` parameters: user input (a user id, a series,
dates) is always bound, never pasted into SQL. This module never imports ``pipelines/``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass

import duckdb
import pandas as pd
import streamlit as st

from core import lake
from core.config import paths

SCHEMA = "analytics"
# query results: long enough that page switches and widget changes are instant, short enough
# that a long-lived tab does not pin memory for snapshots nobody looks at any more
QUERY_TTL_S = 600


class NoWarehouse(Exception):
    """Nothing has been published yet at the configured warehouse path."""


@dataclass(frozen=True)
class Snapshot:
    """The published snapshot a rerun reads: its resolved file and its version."""

    target: str
    version: str
    published_at: dt.datetime | None
    info: dict


LAKE_TARGET = "ducklake-snapshot:"
LAKE_POLL_S = 5  # how often a rerun asks the lake's catalog for a newer published snapshot


@st.cache_data(ttl=LAKE_POLL_S, show_spinner=False)
def _lake_published() -> int:
    settings = paths().lake
    assert settings is not None
    try:
        probe = lake.connect(settings, read_only=True)
    except lake.LakeError as exc:
        raise NoWarehouse(str(exc)) from None
    try:
        published = lake.published_snapshots(probe)
    finally:
        probe.close()
    if not published:
        raise NoWarehouse(f"the DuckLake {settings.catalog}")
    return published[0][0]


def current_target() -> str:
    """The snapshot file the public path points to right now (resolving the symlink); in
    lake mode the newest published DuckLake snapshot, as ``ducklake-snapshot:<id>``."""
    if paths().lake is not None:
        return f"{LAKE_TARGET}{_lake_published()}"
    public = paths().warehouse
    if not public.exists():
        raise NoWarehouse(str(public))
    return os.path.realpath(public)


@st.cache_resource(max_entries=4, show_spinner=False)
def _connection(target: str) -> duckdb.DuckDBPyConnection:
    # keyed by the resolved snapshot file: a publish switches the link, the next rerun gets a
    # new key and therefore a new connection; the old one stays valid for whoever holds it
    if target.startswith(LAKE_TARGET):
        settings = paths().lake
        assert settings is not None
        # pinned: a run committing to the lake meanwhile changes nothing this connection sees
        return lake.connect(settings, read_only=True, version=int(target[len(LAKE_TARGET) :]))
    return duckdb.connect(target, read_only=True)


def _cursor(target: str) -> duckdb.DuckDBPyConnection:
    # Streamlit runs sessions on several threads: one cursor (its own connection to the same
    # database instance) per query, as DuckDB's Python API requires for concurrent use
    cur = _connection(target).cursor()
    if target.startswith(LAKE_TARGET):
        cur.execute(f"USE {lake.ALIAS}")  # the default catalog is per connection, not shared
    return cur


@st.cache_data(ttl=QUERY_TTL_S, max_entries=512, show_spinner=False)
def _query(target: str, sql: str, params: tuple) -> pd.DataFrame:
    cur = _cursor(target)
    try:
        return cur.execute(sql, list(params)).df()
    finally:
        cur.close()


def query(sql: str, params: tuple | list = ()) -> pd.DataFrame:
    """Run a constant SQL text with bound ``?`` parameters on the current snapshot (cached)."""
    return _query(current_target(), sql, tuple(params))


@st.cache_data(ttl=QUERY_TTL_S, show_spinner=False)
def _tables(target: str) -> frozenset[str]:
    cur = _cursor(target)
    try:
        # analytics.events is a view over the events' shared Parquet files
        rows = cur.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? UNION ALL "
            "SELECT view_name FROM duckdb_views() WHERE schema_name = ? AND NOT internal",
            [SCHEMA, SCHEMA],
        ).fetchall()
    finally:
        cur.close()
    return frozenset(r[0] for r in rows)


def has_table(name: str) -> bool:
    """Whether ``analytics.<name>`` exists in the current snapshot."""
    return name in _tables(current_target())


def snapshot() -> Snapshot:
    """Version, publication time and metadata of the current snapshot."""
    target = current_target()
    if "snapshot_info" in _tables(target):
        df = _query(
            target, "SELECT snapshot_version, published_at, info FROM analytics.snapshot_info", ()
        )
        if len(df):
            row = df.iloc[0]
            info = json.loads(row["info"]) if isinstance(row["info"], str) else {}
            return Snapshot(target, str(row["snapshot_version"]), row["published_at"], info)
    # a warehouse without metadata: fall back to the file name the link points to
    name = os.path.basename(target)
    return Snapshot(target, name.removeprefix("cliffhanger-").removesuffix(".duckdb"), None, {})


def date_bounds() -> tuple[dt.date, dt.date] | None:
    """First and last UTC date with events (from analytics.daily_engagement)."""
    if not has_table("daily_engagement"):
        return None
    df = query("SELECT min(date) AS lo, max(date) AS hi FROM analytics.daily_engagement")
    if df.empty or pd.isna(df.at[0, "lo"]):
        return None
    return pd.Timestamp(df.at[0, "lo"]).date(), pd.Timestamp(df.at[0, "hi"]).date()
