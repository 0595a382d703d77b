"""The series episode funnel: viewers, completion, continuation and drop-off survival."""

from __future__ import annotations

from pathlib import Path

import duckdb

from core.config import MetricParams
from core.schema_docs import apply_comments
from core.sqlfile import run, statements

_STATEMENTS = statements(Path(__file__).with_name("funnel.sql"))
Z_95 = 1.959963984540054  # the 97.5 % quantile of the standard normal
# a hazard's Wilson lower bound must clear the series' typical hazard by more than this: the
# bound of a zero hazard is ~1e-17, not 0, and would otherwise "exceed" a typical hazard of 0
TOLERANCE = 1e-9


def build_funnel(con: duckdb.DuckDBPyConnection, params: MetricParams) -> int:
    """Rebuild ``analytics.series_episode_funnel``; returns its row count.

    Survival is Kaplan-Meier over the episode index, per user x series: a user *drops* at
    their reach (highest episode viewed) if it is not the last episode and they had no event
    of the series in the ``inactive_days`` before the data end; otherwise they are censored
    there. A user whose first view is episode f enters the risk set at f (left truncation).
    The 95 % interval uses Greenwood's variance on the log(-log) scale (lifelines' default).
    An episode is a drop-off point when at least 10 users were at risk, at least one dropped
    there, and the lower bound of the Wilson 95 % interval of its hazard lies above the
    series' pooled hazard (all drops over all user-episodes at risk) by more than
    ``TOLERANCE``. Per series, ``series_still_active_share`` is the share of viewers still
    inside the inactivity window short of the last episode (neither dropped nor finished);
    ``dropoff_measurable`` is false while that share exceeds one half (a young series).
    ``session_continuation_rate`` counts continuation within one session, which needs no
    waiting.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The working database with ``analytics.episode_views``, ``events``, ``series`` and
        ``episodes``.
    params : MetricParams
        ``inactive_days`` is used here.
    """
    values = {"inactive_days": int(params.inactive_days), "z": Z_95, "tolerance": TOLERANCE}
    run(con, _STATEMENTS, values)
    apply_comments(con, "series_episode_funnel")
    return con.execute("SELECT count(*) FROM analytics.series_episode_funnel").fetchone()[0]
