"""The served model: trained on all data, batch recommendations, and the API's bundle."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import scipy.sparse as sp

from core.sqlfile import run, statements
from models import scoring
from models.evaluate import Selection, build_model, catalog_stories, data_end
from models.interactions import (
    DEFAULT_WEIGHTS,
    InteractionWeights,
    Matrix,
    build_matrix,
    load_interactions,
)
from models.metrics import top_k
from models.recommenders import Recommender

_SERVING_SQL = statements(Path(__file__).with_name("serving_data.sql"))
K = 10


@dataclass
class Served:
    """The final model and everything derived from it."""

    model_version: str
    name: str  # served model name (a blend is "<model>+trending")
    model: Recommender
    matrix: Matrix
    fallback: bool
    fallback_reason: str | None
    trained_at: dt.datetime
    data_start: dt.datetime
    data_end: dt.datetime


def train_served(
    con: duckdb.DuckDBPyConnection,
    selection: Selection,
    weights: InteractionWeights = DEFAULT_WEIGHTS,
    now: dt.datetime | None = None,
    version: str | None = None,
) -> Served:
    """Fit the served model (the gate's choice) on every interaction up to the data end."""
    now = now or dt.datetime.now(dt.UTC)
    name = selection.served
    blend_weights = {name: selection.blend_weight} if selection.blend_weight else {}
    heads = {name: selection.head_size} if selection.head_size else {}
    model = build_model(name, selection.tuned, blend_weights, heads)
    frame = load_interactions(con)
    matrix = build_matrix(frame, catalog_stories(con), weights)
    model.fit(matrix)
    start = con.execute("SELECT min(ts) FROM raw.events").fetchall()[0][0]
    version = version or model_version(name, now)
    return Served(version, name, model, matrix, selection.fallback_reason is not None,
                  selection.fallback_reason, now, start, data_end(con))  # fmt: skip


def model_version(served: str, now: dt.datetime) -> str:
    """A directory-safe, sortable version name: UTC time and the served model's name."""
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + re.sub(r"[^A-Za-z0-9._-]+", "-", served)


def item_similarity(X: sp.csr_matrix) -> np.ndarray:
    """Cosine similarity of items over users who started them (diagonal 0), float32."""
    binary = X.copy().astype(np.float32)
    binary.data[:] = 1.0
    co = np.asarray((binary.T @ binary).todense(), dtype=np.float32)
    norms = np.sqrt(np.diag(co))
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = co / np.outer(norms, norms)
    sim = np.nan_to_num(sim, nan=0.0, posinf=0.0)
    np.fill_diagonal(sim, 0.0)
    return sim.astype(np.float32)


def serving_tables(
    con: duckdb.DuckDBPyConnection, half_life_days: float, window_days: float | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(users' main languages, per-language popular and trending lists): trending with the
    tuned half-life, popular over the tuned window (``None``: all history)."""
    window = None if window_days is None else float(window_days)
    run(con, _SERVING_SQL, {"half_life_days": float(half_life_days), "window_days": window})
    languages = con.sql("SELECT * FROM user_language").pl()
    popular = con.sql("SELECT * FROM popular_lists ORDER BY language, list, rank").pl()
    return languages, popular


def series_table(con: duckdb.DuckDBPyConnection, items: np.ndarray) -> pl.DataFrame:
    """Series versions with the index of their story in the model's item order."""
    frame = con.sql(
        "SELECT series_id, story_id, language, title, genres, production_type, is_dubbed, "
        "original_series_id FROM analytics.series ORDER BY series_id"
    ).pl()
    index = pl.DataFrame({"story_id": items.astype(str),
                          "story_index": np.arange(len(items), dtype=np.int32)})  # fmt: skip
    return frame.join(index, on="story_id")


def batch_recommendations(
    served: Served,
    languages: pl.DataFrame,
    series: pl.DataFrame,
    active_users: np.ndarray,
    k: int = K,
    batch: int = 8192,
) -> pl.DataFrame:
    """Top-k series versions for each active user known to the model, in their main language.

    Never a story the user started (any language version); stories without a version in
    the user's language are skipped.
    """
    matrix = served.matrix
    by_row = (
        pl.DataFrame({"user_id": matrix.users.astype(str), "row": np.arange(len(matrix.users))})
        .join(languages, on="user_id", how="left")
        .join(pl.DataFrame({"user_id": np.asarray(active_users, dtype=str)}).with_columns(
            active=pl.lit(True)), on="user_id", how="left")
        .sort("row")
    )  # fmt: skip
    row_language = by_row["main_language"].fill_null("").to_numpy()
    rows = by_row.filter(pl.col("active"))["row"].to_numpy().astype(np.int64)
    out: list[pl.DataFrame] = []
    source = served.name
    kernel = scoring.bind(*served.model.export())  # what the API runs on the bundle
    history = scoring.History.of(matrix.X)
    for language, versions in series.group_by("language"):
        lang = language[0]
        available = np.full(len(matrix.items), False)
        available[versions["story_index"].to_numpy()] = True
        version_of = np.full(len(matrix.items), None, dtype=object)
        version_of[versions["story_index"].to_numpy()] = versions["series_id"].to_numpy()
        lang_rows = rows[row_language[rows] == lang]
        for start in range(0, len(lang_rows), batch):
            chunk = lang_rows[start : start + batch]
            scores = kernel(chunk, history)
            scores[:, ~available] = -np.inf
            started_rows, started_cols = matrix.X[chunk].nonzero()
            scores[started_rows, started_cols] = -np.inf
            # fewer than k eligible stories leaves -inf entries in the top k: dropped below
            best = top_k(scores, k)
            best_scores = np.take_along_axis(scores, best, axis=1)
            ok = np.isfinite(best_scores)
            user_col = np.repeat(matrix.users[chunk], best.shape[1])
            rank_col = np.tile(np.arange(1, best.shape[1] + 1, dtype=np.int32), len(chunk))
            out.append(
                pl.DataFrame({
                    "user_id": user_col.astype(str), "rank": rank_col,
                    "series_id": version_of[best.ravel()], "score": best_scores.ravel(),
                    "keep": ok.ravel(),
                }, schema_overrides={"series_id": pl.String})
                .filter(pl.col("keep")).drop("keep")
            )  # fmt: skip
    frame = pl.concat(out) if out else pl.DataFrame(
        schema={"user_id": pl.String, "rank": pl.Int32, "series_id": pl.String,
                "score": pl.Float32})  # fmt: skip
    return frame.with_columns(
        rank=pl.col("rank").rank("ordinal").over("user_id").cast(pl.Int32),
        source=pl.lit(source),
        model_version=pl.lit(served.model_version),
    ).sort("user_id", "rank")


def similar_series(series: pl.DataFrame, similarity: np.ndarray, k: int = K) -> pl.DataFrame:
    """For each series version, the k most similar other stories in the same language."""
    records = []
    for _language, versions in series.group_by("language"):
        idx = versions["story_index"].to_numpy()
        ids = versions["series_id"].to_numpy()
        sub = similarity[np.ix_(idx, idx)]
        best = top_k(sub, min(k, max(len(idx) - 1, 1)))
        for i, row in enumerate(best):
            for rank, j in enumerate(row, start=1):
                if j != i and sub[i, j] > 0:
                    records.append((ids[i], rank, ids[j], float(sub[i, j])))
    frame = pl.DataFrame(records, schema={"series_id": pl.String, "rank": pl.Int32,
                                          "similar_series_id": pl.String, "score": pl.Float64},
                         orient="row")  # fmt: skip
    return frame.with_columns(rank=pl.col("rank").rank("ordinal").over("series_id").cast(pl.Int32))
