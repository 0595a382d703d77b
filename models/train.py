"""The served model: trained on all data, batch recommendations, and the API's bundle."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from core.sqlfile import run, statements
from models import lists, scoring
from models.evaluate import Selection, build_model, catalog_stories, data_end
from models.interactions import (
    DEFAULT_WEIGHTS,
    InteractionWeights,
    Matrix,
    build_matrix,
    load_interactions,
    story_info,
)
from models.metrics import top_k
from models.ranker import Ranker
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
    active_days: int = 7,
    progress: Callable[[str], None] = lambda _m: None,
) -> Served:
    """Fit the served model (the gate's choice) on every interaction up to the data end.

    The ranker precomputes its lists for the users active in the last ``active_days`` days
    (those ``analytics.recommendations`` lists); other users get its cheap path.
    """
    now = now or dt.datetime.now(dt.UTC)
    name = selection.served
    blend_weights = {name: selection.blend_weight} if selection.blend_weight else {}
    heads = {name: selection.head_size} if selection.head_size else {}
    model = build_model(name, selection.tuned, blend_weights, heads, selection.ranker_model)
    frame = load_interactions(con)
    items = catalog_stories(con)
    end = data_end(con)
    matrix = build_matrix(frame, items, weights, as_of=end, stories=story_info(con, items))
    if isinstance(model, Ranker):
        active = np.isin(matrix.users.astype(str), active_users(con, active_days).astype(str))
        model.rank_rows, model.progress = np.flatnonzero(active), progress
    model.fit(matrix)
    start = con.execute("SELECT min(ts) FROM raw.events").fetchall()[0][0]
    version = version or model_version(name, now)
    return Served(version, name, model, matrix, selection.fallback_reason is not None,
                  selection.fallback_reason, now, start, end)  # fmt: skip


def active_users(con: duckdb.DuckDBPyConnection, days: int) -> np.ndarray:
    """Users with any event in the last ``days`` days before the data end."""
    rows = con.execute(
        "SELECT DISTINCT user_id FROM derived.user_days "
        "WHERE event_date > (SELECT max(event_date) FROM derived.user_days) - ?::INTEGER "
        "ORDER BY 1",
        [days],
    ).fetchall()
    return np.array([r[0] for r in rows], dtype=object)


def model_version(served: str, now: dt.datetime) -> str:
    """A directory-safe, sortable version name: UTC time and the served model's name."""
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + re.sub(r"[^A-Za-z0-9._-]+", "-", served)


def serving_tables(
    con: duckdb.DuckDBPyConnection, half_life_days: float, window_days: float | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(users' main and watched languages, per-language popular and trending lists):
    trending with the tuned half-life, popular over the tuned window (``None``: all history)."""
    window = None if window_days is None else float(window_days)
    run(con, _SERVING_SQL, {"half_life_days": float(half_life_days), "window_days": window})
    languages = con.sql("SELECT * FROM user_language").pl()
    popular = con.sql("SELECT * FROM popular_lists ORDER BY language, list, rank").pl()
    return languages, popular


def catalogue_language(con: duckdb.DuckDBPyConnection) -> str | None:
    """The catalogue's most watched language (after :func:`serving_tables`)."""
    rows = con.execute("SELECT language FROM catalogue_language").fetchall()
    return rows[0][0] if rows else None


def series_table(con: duckdb.DuckDBPyConnection, items: np.ndarray) -> pl.DataFrame:
    """Series versions with the index of their story in the model's item order."""
    frame = con.sql(
        "SELECT series_id, story_id, language, title, genres, production_type, is_dubbed, "
        "original_series_id, n_episodes::INTEGER AS n_episodes, "
        "free_episodes::INTEGER AS free_episodes, release_date::DATE AS release_date "
        "FROM analytics.series ORDER BY series_id"
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
    catalogue_language: str | None = None,
) -> pl.DataFrame:
    """Top-k series versions for each active user known to the model, in their main language.

    Never a story the user started (any language version). When fewer than k stories have a
    version in the main language, the list is filled from the user's other watched languages
    (``languages.watched_languages``, most watched first), then ``catalogue_language``
    (``models.lists``, as the API fills), each such item with its ``reason``.
    """
    matrix = served.matrix
    names = sorted(series["language"].unique().to_list())
    code = {name: i for i, name in enumerate(names)}
    n_items = len(matrix.items)
    available = np.zeros((len(names), n_items), dtype=bool)
    version_of = np.full((len(names), n_items), None, dtype=object)
    for (lang,), versions in series.group_by("language"):
        idx = versions["story_index"].to_numpy()
        available[code[lang], idx] = True
        version_of[code[lang], idx] = versions["series_id"].to_numpy()
    if "watched_languages" not in languages.columns:
        languages = languages.with_columns(watched_languages=pl.concat_list("main_language"))
    by_row = (
        pl.DataFrame({"user_id": matrix.users.astype(str), "row": np.arange(len(matrix.users))})
        .join(languages, on="user_id", how="left")
        .join(pl.DataFrame({"user_id": np.asarray(active_users, dtype=str)}).with_columns(
            active=pl.lit(True)), on="user_id", how="left")
        .sort("row")
    )  # fmt: skip
    row_language = by_row["main_language"].fill_null("").to_numpy()
    watched = by_row["watched_languages"].to_list()
    rows = by_row.filter(pl.col("active"))["row"].to_numpy().astype(np.int64)
    fallback_language = code.get(catalogue_language or "", -1)
    source = served.name
    reason = lists.reason_for(scoring.SOURCE_NAMES.get(source, source))
    kernel = scoring.bind(*served.model.export())  # what the API runs on the bundle
    history = scoring.History.of(matrix.X)
    users_out, ranks_out, series_out, scores_out, lang_out, reason_out = [], [], [], [], [], []
    for lang in names:
        li = code[lang]
        lang_rows = rows[row_language[rows] == lang]
        for start in range(0, len(lang_rows), batch):
            chunk = lang_rows[start : start + batch]
            scores = kernel(chunk, history)
            started_rows, started_cols = matrix.X[chunk].nonzero()
            scores[started_rows, started_cols] = -np.inf
            in_language = np.where(available[li], scores, -np.inf)
            best = top_k(in_language, k)
            best_scores = np.take_along_axis(in_language, best, axis=1)
            ok = np.isfinite(best_scores)
            full = ok.all(axis=1)
            if full.any():  # the common case, in whole arrays
                n = int(full.sum()) * best.shape[1]
                users_out.append(np.repeat(matrix.users[chunk[full]], best.shape[1]))
                ranks_out.append(np.tile(np.arange(1, best.shape[1] + 1, dtype=np.int32),
                                         int(full.sum())))  # fmt: skip
                series_out.append(version_of[li, best[full].ravel()])
                scores_out.append(best_scores[full].ravel().astype(np.float32))
                lang_out.append(np.full(n, lang, dtype=object))
                reason_out.append(np.full(n, reason, dtype=object))
            for i in np.flatnonzero(~full):  # a short list: filled from other languages
                row = chunk[i]
                own = [x for x in (watched[row] or ()) if x in code]
                order = lists.language_order(
                    li, [code[x] for x in own],
                    fallback_language if fallback_language >= 0 else li,
                )  # fmt: skip
                stories, tier = lists.rank_by_language(scores[i], k, available[order])
                tier_langs = np.asarray(order, dtype=np.int64)[tier]
                users_out.append(np.full(len(stories), matrix.users[row], dtype=object))
                ranks_out.append(np.arange(1, len(stories) + 1, dtype=np.int32))
                series_out.append(version_of[tier_langs, stories])
                scores_out.append(scores[i][stories].astype(np.float32))
                lang_out.append(np.asarray(names, dtype=object)[tier_langs])
                reason_out.append(np.array(
                    [reason if t == 0 else lists.fill_reason(names[order[t]], lang,
                                                              names[order[t]] in own)
                     for t in tier.tolist()], dtype=object))  # fmt: skip
    if not users_out:
        return pl.DataFrame(schema={"user_id": pl.String, "rank": pl.Int32, "series_id": pl.String,
                                    "score": pl.Float32, "language": pl.String,
                                    "reason": pl.String, "source": pl.String,
                                    "model_version": pl.String})  # fmt: skip
    frame = pl.DataFrame(
        {
            "user_id": pl.Series(np.concatenate(users_out).astype(str), dtype=pl.String),
            "rank": np.concatenate(ranks_out),
            "series_id": pl.Series(np.concatenate(series_out).astype(str), dtype=pl.String),
            "score": np.concatenate(scores_out),
            "language": pl.Series(np.concatenate(lang_out).astype(str), dtype=pl.String),
            "reason": pl.Series(np.concatenate(reason_out).astype(str), dtype=pl.String),
        }
    )
    return frame.with_columns(
        source=pl.lit(source), model_version=pl.lit(served.model_version)
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
