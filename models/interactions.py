"""User x story interactions and their confidence weights.

A user's interaction with a story (all its language versions) is stronger the deeper they
watched: ``confidence = depth x (abandon_factor if at most abandon_episodes viewed else 1)``
with ``depth = ln(1 + episodes viewed) + completion x share of those completed
+ unlock x ln(1 + unlocks) + like x (liked or followed)``. The weights are tunable in
:class:`InteractionWeights` and documented in docs/recommender.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import scipy.sparse as sp

_SQL = (Path(__file__).with_name("interactions.sql")).read_text()
FAR_FUTURE = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class InteractionWeights:
    """How watch depth becomes confidence (see the module docstring)."""

    completion: float = 0.5
    unlock: float = 1.0
    like: float = 1.0
    abandon_episodes: int = 2
    abandon_factor: float = 0.25

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


DEFAULT_WEIGHTS = InteractionWeights()


def load_interactions(
    con: duckdb.DuckDBPyConnection, cut: dt.datetime | None = None
) -> pl.DataFrame:
    """One row per user x story with views started before ``cut`` (all views when None).

    ``age_days`` is the time from the interaction's last view to the cut (or to the data
    end when there is no cut): what the trending baseline decays by.
    """
    as_of = cut or con.execute("SELECT max(ts) FROM raw.events").fetchall()[0][0]
    return con.sql(_SQL, params={"cut": cut or FAR_FUTURE, "as_of": as_of}).pl()


def confidence(frame: pl.DataFrame, weights: InteractionWeights | None = None) -> pl.Series:
    """The confidence of each interaction row (see the module docstring)."""
    weights = weights or DEFAULT_WEIGHTS
    depth = (
        (pl.col("episodes_viewed") + 1).log()
        + weights.completion * pl.col("episodes_completed") / pl.col("episodes_viewed")
        + weights.unlock * (pl.col("unlocks") + 1).log()
        + weights.like * pl.col("liked").cast(pl.Float64)
    )
    factor = (
        pl.when(pl.col("episodes_viewed") <= weights.abandon_episodes)
        .then(weights.abandon_factor)
        .otherwise(1.0)
    )
    return frame.select((depth * factor).alias("confidence")).to_series()


@dataclass
class Matrix:
    """A user x item confidence matrix with its id maps."""

    X: sp.csr_matrix  # float32 confidences
    users: np.ndarray  # row -> user_id
    items: np.ndarray  # column -> story_id
    age_days: sp.csr_matrix | None = None  # same pattern: days from the last view to as_of


def build_matrix(
    frame: pl.DataFrame,
    items: np.ndarray,
    weights: InteractionWeights = DEFAULT_WEIGHTS,
    users: np.ndarray | None = None,
) -> Matrix:
    """The CSR matrix of ``frame`` over the given item universe (stories unknown are dropped).

    Parameters
    ----------
    frame : polars.DataFrame
        Output of :func:`load_interactions`.
    items : numpy.ndarray
        Story ids, in column order (the whole catalog: never only the stories seen).
    users : numpy.ndarray, optional
        Row order; by default the users of ``frame`` sorted.
    """
    if users is None:
        users = np.sort(frame["user_id"].unique().to_numpy())
    user_map = pl.DataFrame({
        "user_id": pl.Series(list(users), dtype=pl.String),
        "row": np.arange(len(users), dtype=np.int32),
    })  # fmt: skip
    item_map = pl.DataFrame({
        "story_id": pl.Series(list(items), dtype=pl.String),
        "col": np.arange(len(items), dtype=np.int32),
    })  # fmt: skip
    keyed = (
        frame.with_columns(confidence=confidence(frame, weights))
        .join(user_map, on="user_id")
        .join(item_map, on="story_id")
    )
    rows = keyed["row"].to_numpy()
    cols = keyed["col"].to_numpy()
    shape = (len(users), len(items))
    X = sp.csr_matrix(
        (keyed["confidence"].to_numpy().astype(np.float32), (rows, cols)), shape=shape
    )
    ages = sp.csr_matrix(
        (keyed["age_days"].to_numpy().astype(np.float32) + 1e-6, (rows, cols)), shape=shape
    )
    X.sum_duplicates()
    return Matrix(X=X, users=np.asarray(users), items=np.asarray(items), age_days=ages)
