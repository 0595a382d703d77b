"""User x story interactions and their confidence weights.

A user's interaction with a story (all its language versions) is stronger the deeper they
watched: ``confidence = depth x (abandon_factor if at most abandon_episodes viewed else 1)``
with ``depth = ln(1 + episodes viewed) + completion x share of those completed
+ unlock x ln(1 + unlocks) + like x (liked or followed)``. The weights are tunable in
:class:`InteractionWeights` and documented in docs/recommender.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
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
class StoryInfo:
    """What the catalogue says of each story (in the matrix's item order): the ranker's
    item features. Arrays may be shorter-lived than the catalogue; unknown values are NaN."""

    release_day: np.ndarray  # float64 days since 1970-01-01 of the story's first release
    genres: sp.csr_matrix  # stories x genres, 1 where the story has the genre
    languages: np.ndarray  # bool, stories x languages: the story has a version in it
    language_names: np.ndarray  # the languages' codes (columns of ``languages``)


@dataclass
class Matrix:
    """A user x item confidence matrix with its id maps.

    ``side`` holds per-interaction arrays aligned with ``X.data`` (rows sorted, then items):
    ``episodes`` (episodes viewed), ``completed`` (share of them completed), ``first_age``
    (days from the first view to ``as_of``) and ``language`` (code of the language watched,
    an index into ``stories.language_names``), when the source has them.
    """

    X: sp.csr_matrix  # float32 confidences
    users: np.ndarray  # row -> user_id
    items: np.ndarray  # column -> story_id
    age_days: sp.csr_matrix | None = None  # same pattern: days from the last view to as_of
    as_of: dt.datetime | None = None  # the cut (or data end) the ages count back from
    side: dict[str, np.ndarray] = field(default_factory=dict)
    stories: StoryInfo | None = None


def csr_from_pairs(
    rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], values: dict[str, np.ndarray]
) -> tuple[dict[str, sp.csr_matrix], np.ndarray]:
    """CSR matrices of unique (row, col) pairs, one per ``values`` entry, all with the same
    sorted pattern; also the order that sorts the pairs (to align other per-pair arrays)."""
    order = np.lexsort((cols, rows))
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    indices = cols[order].astype(np.int32)
    out = {
        name: sp.csr_matrix((np.asarray(v)[order], indices, indptr.astype(np.int32)), shape=shape)
        for name, v in values.items()
    }
    return out, order


def build_matrix(
    frame: pl.DataFrame,
    items: np.ndarray,
    weights: InteractionWeights = DEFAULT_WEIGHTS,
    users: np.ndarray | None = None,
    as_of: dt.datetime | None = None,
    stories: StoryInfo | None = None,
) -> Matrix:
    """The CSR matrix of ``frame`` over the given item universe (stories unknown are dropped).

    Parameters
    ----------
    frame : polars.DataFrame
        Output of :func:`load_interactions` (one row per user x story).
    items : numpy.ndarray
        Story ids, in column order (the whole catalog: never only the stories seen).
    users : numpy.ndarray, optional
        Row order; by default the users of ``frame`` sorted.
    as_of, stories
        Recorded on the matrix for the models that use them (the ranker).
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
    rows = keyed["row"].to_numpy().astype(np.int64)
    cols = keyed["col"].to_numpy().astype(np.int64)
    shape = (len(users), len(items))
    mats, order = csr_from_pairs(rows, cols, shape, {
        "X": keyed["confidence"].to_numpy().astype(np.float32),
        "age": keyed["age_days"].to_numpy().astype(np.float32) + np.float32(1e-6),
    })  # fmt: skip
    side: dict[str, np.ndarray] = {}
    if "episodes_completed" in keyed.columns:
        viewed = keyed["episodes_viewed"].to_numpy().astype(np.float32)
        side["episodes"] = viewed[order]
        side["completed"] = (keyed["episodes_completed"].to_numpy() / np.maximum(viewed, 1))[
            order
        ].astype(np.float32)
    if "first_age_days" in keyed.columns:
        side["first_age"] = keyed["first_age_days"].to_numpy().astype(np.float32)[order]
    if "language" in keyed.columns and stories is not None:
        code = {name: i for i, name in enumerate(stories.language_names.tolist())}
        langs = keyed["language"].replace_strict(code, default=-1, return_dtype=pl.Int16)
        side["language"] = langs.to_numpy()[order]
    return Matrix(X=mats["X"], users=np.asarray(users), items=np.asarray(items),
                  age_days=mats["age"], as_of=as_of, side=side, stories=stories)  # fmt: skip


def story_info(con: duckdb.DuckDBPyConnection, items: np.ndarray) -> StoryInfo:
    """The catalogue's :class:`StoryInfo` for the stories ``items`` (in that order)."""
    frame = con.sql(
        "SELECT story_id, min(release_date) AS release_date, list(DISTINCT language) AS langs, "
        "list_distinct(flatten(list(genres))) AS genres "
        "FROM analytics.series GROUP BY story_id"
    ).pl()
    return story_info_of(frame, items)


def story_info_of(frame: pl.DataFrame, items: np.ndarray) -> StoryInfo:
    """:class:`StoryInfo` from a frame of ``story_id, release_date, langs, genres``."""
    index = pl.DataFrame({"story_id": pl.Series(list(items), dtype=pl.String),
                          "col": np.arange(len(items), dtype=np.int64)})  # fmt: skip
    keyed = index.join(frame, on="story_id", how="left").sort("col")
    release = keyed["release_date"].cast(pl.Date).cast(pl.Float64).to_numpy()  # days, NaN
    genre_rows = keyed.select("col", pl.col("genres").fill_null([])).explode("genres").drop_nulls()
    names = sorted(genre_rows["genres"].unique().to_list())
    g_code = {g: i for i, g in enumerate(names)}
    genres = sp.csr_matrix(
        (np.ones(genre_rows.height, np.float32),
         (genre_rows["col"].to_numpy(), [g_code[g] for g in genre_rows["genres"].to_list()])),
        shape=(len(items), max(len(names), 1)),
    )  # fmt: skip
    genres.data[:] = 1.0
    lang_rows = keyed.select("col", pl.col("langs").fill_null([])).explode("langs").drop_nulls()
    lang_names = np.array(sorted(lang_rows["langs"].unique().to_list()), dtype=object)
    l_code = {x: i for i, x in enumerate(lang_names.tolist())}
    languages = np.zeros((len(items), max(len(lang_names), 1)), dtype=bool)
    languages[lang_rows["col"].to_numpy(), [l_code[x] for x in lang_rows["langs"].to_list()]] = True
    return StoryInfo(release, genres.tocsr(), languages, lang_names)
