"""The series episode funnel: viewers, completion, continuation and drop-off survival."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from core.config import MetricParams
from core.schema_docs import apply_comments
from core.sqlfile import run, statements
from features.significance import ALPHA, benjamini_hochberg, binomial_upper_p

_STATEMENTS = statements(Path(__file__).with_name("funnel.sql"))
Z_95 = 1.959963984540054  # the 97.5 % quantile of the standard normal
MIN_AT_RISK = 10  # fewer users at risk than this never make a drop-off point


def build_funnel(con: duckdb.DuckDBPyConnection, params: MetricParams) -> int:
    """Rebuild ``analytics.series_episode_funnel``; returns its row count.

    Survival is Kaplan-Meier over the episode index, per user x series: a user *drops* at
    their reach (highest episode viewed) if it is not the last episode and they had no event
    of the series in the ``inactive_days`` before the data end; otherwise they are censored
    there. A user whose first view is episode f enters the risk set at f (left truncation).
    The 95 % interval uses Greenwood's variance on the log(-log) scale (lifelines' default).

    Each drop has a cause (METRICS.md "Drop-off by cause"): **at the paywall** when the user
    saw the lock screen (paywall_view) of the next episode and never unlocked it, else **to
    the story**. The cumulative incidence of each cause is the Aalen-Johansen estimate over
    the same left-truncated risk sets. An episode is a drop-off point when at least
    ``MIN_AT_RISK`` users were at risk, at least one dropped there to the story, and its story
    hazard is significantly above the series' pooled story hazard (all story drops over all
    user-episodes at risk): a one-sided exact binomial test, Benjamini-Hochberg-corrected
    across the series' episodes (those with users at risk, short of the last), q <= 0.05.
    The paywall's toll is in ``dropped_at_paywall`` and its cumulative incidence. Per series, ``series_still_active_share`` is the share of viewers still
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
    values = {"inactive_days": int(params.inactive_days), "z": Z_95}
    run(con, _STATEMENTS, values)
    flag_dropoff_points(con)
    apply_comments(con, "series_episode_funnel")
    return con.execute("SELECT count(*) FROM analytics.series_episode_funnel").fetchone()[0]


def flag_dropoff_points(con: duckdb.DuckDBPyConnection) -> None:
    """Set ``story_hazard_q_value`` and ``is_dropoff_point`` (see :func:`build_funnel`)."""
    cells = con.execute(
        "SELECT f.series_id, f.episode_number, f.at_risk, f.dropped_story, "
        "f.series_typical_story_hazard "
        "FROM analytics.series_episode_funnel f JOIN analytics.series s USING (series_id) "
        "WHERE f.at_risk > 0 AND f.episode_number < s.n_episodes"
    ).fetchnumpy()
    if len(cells["series_id"]) == 0:
        return
    at_risk = cells["at_risk"].astype(float)
    story = cells["dropped_story"].astype(float)
    p = binomial_upper_p(story, at_risk, cells["series_typical_story_hazard"].astype(float))
    q = benjamini_hochberg(p, cells["series_id"].astype(str))
    flag = (q <= ALPHA) & (story > 0) & (at_risk >= MIN_AT_RISK)
    flags = pl.DataFrame(
        {"series_id": cells["series_id"].astype(str),
         "episode_number": cells["episode_number"].astype(np.int64),
         "q": q, "flag": flag}
    )  # fmt: skip
    con.register("dropoff_flags", flags)
    try:
        con.execute(
            "UPDATE analytics.series_episode_funnel f SET story_hazard_q_value = x.q, "
            "is_dropoff_point = x.flag FROM dropoff_flags x "
            "WHERE f.series_id = x.series_id AND f.episode_number = x.episode_number"
        )
    finally:
        con.unregister("dropoff_flags")
