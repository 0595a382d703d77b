"""Revenue per series, allocated through unlocks (METRICS.md "Revenue per series")."""

from __future__ import annotations

from pathlib import Path

import duckdb

from core.config import MetricParams
from core.schema_docs import apply_comments
from core.sqlfile import run, statements

_STATEMENTS = statements(Path(__file__).with_name("revenue.sql"))


def build_revenue(con: duckdb.DuckDBPyConnection, params: MetricParams) -> int:
    """Rebuild ``analytics.series_revenue_daily``; returns its row count.

    Coin purchases are spread over the buyer's coin unlocks (their average price per unlock,
    over the data), an ad unlock is worth ``ad_unlock_usd``, and a subscription over the
    distinct episodes its subscriber unlocked or started within ``subscription_days`` (or
    until the next subscription purchase). ``derived.revenue_balance`` keeps the purchases'
    total beside what was allocated, so what stays unallocated is visible.
    """
    values = {
        "ad_unlock_usd": float(params.ad_unlock_usd),
        "subscription_days": int(params.subscription_days),
    }
    run(con, _STATEMENTS, values)
    apply_comments(con, "series_revenue_daily")
    return con.execute("SELECT count(*) FROM analytics.series_revenue_daily").fetchone()[0]
