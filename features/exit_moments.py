"""Exit moments: where inside an episode viewers leave beyond the series' usual (METRICS.md).

``analytics.episode_exit_moments`` holds one row per series x episode x 5-s bucket: the views
still watching at the bucket's start, the early exits inside it, their share and the series'
pooled share at the same position. An **exit moment** is a cell whose share is significantly
above that pooled share (a one-sided exact binomial test, Benjamini-Hochberg-corrected across
the series' cells, q <= 0.05) and has at least one early exit: the places to re-edit.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from core.config import MetricParams
from core.schema_docs import apply_comments
from core.sqlfile import run, statements
from features.significance import ALPHA, benjamini_hochberg, binomial_upper_p

_STATEMENTS = statements(Path(__file__).with_name("exit_moments.sql"))
# from this share of an episode's duration on, positions are aligned on the episode's end
CLOSING_FRACTION = 0.8


def build_exit_moments(con: duckdb.DuckDBPyConnection, params: MetricParams) -> int:
    """Rebuild ``analytics.episode_exit_moments`` from ``analytics.episode_views``.

    Every cell with views is tested against its series' pooled share at the same position
    (the same bucket from the start; in the closing stretch, from ``CLOSING_FRACTION`` of the
    duration on, the same bucket back from the end). The first seconds of every episode lose
    the most viewers, but they are compared with the first seconds of the others, so they are
    not exit moments just for being first. Returns the row count.
    """
    run(con, _STATEMENTS, {"bucket_s": int(params.bucket_s), "closing_fraction": CLOSING_FRACTION})
    cells = con.execute(
        "SELECT series_id, episode_number, bucket_start_s, views, early_exits, "
        "series_pooled_exit_share FROM analytics.episode_exit_moments WHERE views > 0"
    ).fetchnumpy()
    if len(cells["series_id"]):
        exits = cells["early_exits"].astype(float)
        p = binomial_upper_p(
            exits, cells["views"].astype(float), cells["series_pooled_exit_share"].astype(float)
        )
        q = benjamini_hochberg(p, cells["series_id"].astype(str))
        flags = pl.DataFrame(
            {"series_id": cells["series_id"].astype(str),
             "episode_number": cells["episode_number"].astype(np.int64),
             "bucket_start_s": cells["bucket_start_s"].astype(np.int64),
             "q": q, "flag": (q <= ALPHA) & (exits > 0)}
        )  # fmt: skip
        con.register("exit_flags", flags)
        try:
            con.execute(
                "UPDATE analytics.episode_exit_moments m SET q_value = x.q, "
                "is_exit_moment = x.flag FROM exit_flags x "
                "WHERE m.series_id = x.series_id AND m.episode_number = x.episode_number "
                "AND m.bucket_start_s = x.bucket_start_s"
            )
        finally:
            con.unregister("exit_flags")
    apply_comments(con, "episode_exit_moments")
    return con.execute("SELECT count(*) FROM analytics.episode_exit_moments").fetchone()[0]
