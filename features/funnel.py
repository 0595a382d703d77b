"""The series episode funnel: viewers, completion, continuation and drop-off survival."""

from __future__ import annotations

from pathlib import Path

import duckdb

from core.config import MetricParams
from core.schema_docs import apply_comments
from core.sqlfile import run, statements

_STATEMENTS = statements(Path(__file__).with_name("funnel.sql"))
Z_95 = 1.959963984540054  # the 97.5 % quantile of the standard normal


def build_funnel(con: duckdb.DuckDBPyConnection, params: MetricParams) -> int:
    """Rebuild ``analytics.series_episode_funnel``; returns its row count.

    Survival is Kaplan-Meier over the episode index, per user x series: a user *drops* at
    their reach (highest episode viewed) if it is not the last episode and they had no event
    of the series in the ``inactive_days`` before the data end; otherwise they are censored
    there. A user whose first view is episode f enters the risk set at f (left truncation).
    The 95 % interval uses Greenwood's variance on the log(-log) scale (lifelines' default).
    An episode is a drop-off point when at least 10 users were at risk and the lower bound of
    the Wilson 95 % interval of its hazard lies above the series' pooled hazard (all drops
    over all user-episodes at risk).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The working database with ``analytics.episode_views``, ``events``, ``series`` and
        ``episodes``.
    params : MetricParams
        ``inactive_days`` is used here.
    """
    run(con, _STATEMENTS, {"inactive_days": int(params.inactive_days), "z": Z_95})
    apply_comments(con, "series_episode_funnel")
    return con.execute("SELECT count(*) FROM analytics.series_episode_funnel").fetchone()[0]
