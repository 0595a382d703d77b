"""Publish what the recommender produced: warehouse tables and the API's model bundle."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from models.bundle import OPTIONAL_SERIES_SCHEMA, BundleContent, write_bundle
from models.evaluate import Selection, evaluation_rows
from models.recommenders import item_similarity
from models.train import (
    Served,
    active_users,
    batch_recommendations,
    catalogue_language,
    series_table,
    serving_tables,
    similar_series,
)


def _replace_table(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> int:
    con.register("_frame", frame.to_arrow())
    try:
        con.execute(f"CREATE OR REPLACE TABLE analytics.{name} AS SELECT * FROM _frame")  # noqa: S608 (our own table names)
    finally:
        con.unregister("_frame")
    return frame.height


def save_selection(con: duckdb.DuckDBPyConnection, selection: Selection, version: str) -> int:
    """``analytics.model_evaluation`` and the private record of what the gate decided."""
    from core.schema_docs import apply_comments

    rows = _replace_table(con, "model_evaluation", evaluation_rows(selection, version))
    apply_comments(con, "model_evaluation")
    record = {
        "model_version": version,
        "candidate": selection.candidate,
        "served": selection.served,
        "gate_passed": selection.gate_passed,
        "forced": selection.forced,
        "fallback_reason": selection.fallback_reason,
        "best_baseline": selection.best_baseline,
        "blend_weight": selection.blend_weight,
        "head_size": selection.head_size,
        "tuned": selection.tuned,
        "validation_ndcg": selection.validation,
        "evaluation": evaluation_summary(selection),
        "ranker_model": selection.ranker_model,
    }
    con.execute("CREATE SCHEMA IF NOT EXISTS derived")
    con.execute(
        "CREATE OR REPLACE TABLE derived.model_selection AS SELECT ?::JSON AS selection",
        [json.dumps(record, default=str)],
    )
    return rows


def evaluation_summary(selection: Selection) -> dict[str, object]:
    """The split and the gate's paired test, for the selection record and the bundle."""
    win = selection.windows
    if win is None:
        return {"evaluated": False, "reason": selection.fallback_reason}
    diff = selection.paired.get(selection.candidate)
    return {
        "evaluated": True,
        "data_start": win.data_start.isoformat(),
        "validation_start": win.validation_start.isoformat(),
        "test_start": win.test_start.isoformat(),
        "test_end": win.test_end.isoformat(),
        "test_days": win.test_days,
        "test_days_auto": win.auto,
        "test_users": selection.test[0].n_users if selection.test else 0,
        "candidate": selection.candidate,
        "best_baseline": selection.best_baseline,
        "candidate_ndcg_diff": diff.value if diff else None,
        "candidate_ndcg_diff_ci": [diff.ci_low, diff.ci_high] if diff else None,
        "gate_passed": selection.gate_passed,
    }


def selection_from_record(record: dict) -> Selection:
    """The :class:`Selection` that :func:`save_selection` recorded (without test results)."""
    return Selection(
        tuned=record["tuned"], validation=record["validation_ndcg"],
        candidate=record["candidate"], served=record["served"],
        blend_weight=record["blend_weight"], test=[], gate_passed=record["gate_passed"],
        fallback_reason=record["fallback_reason"], best_baseline=record["best_baseline"],
        forced=record["forced"], head_size=record.get("head_size"),
        ranker_model=record.get("ranker_model"),
    )  # fmt: skip


def load_selection_record(con: duckdb.DuckDBPyConnection) -> dict:
    row = con.execute("SELECT selection::VARCHAR FROM derived.model_selection").fetchall()
    if not row:
        raise ValueError("no model selection recorded: materialize model_evaluation first")
    return json.loads(row[0][0])


def publish_served(
    con: duckdb.DuckDBPyConnection,
    served: Served,
    selection_record: dict,
    test_metrics: dict[str, float],
    models_root: Path,
    active_days: int = 7,
) -> dict[str, object]:
    """Write ``analytics.recommendations`` / ``similar_series`` and publish the model bundle."""
    from core.schema_docs import apply_comments

    tuned = selection_record["tuned"]
    half_life = float(tuned.get("trending", {}).get("half_life_days", 1.0))
    languages, popular = serving_tables(
        con, half_life, tuned.get("popularity", {}).get("window_days")
    )
    items = served.matrix.items
    series = series_table(con, items)
    similarity = item_similarity(served.matrix.X)
    most_watched = catalogue_language(con)
    recs = batch_recommendations(served, languages, series, active_users(con, active_days),
                                 catalogue_language=most_watched)  # fmt: skip
    n_recs = _replace_table(con, "recommendations", recs)
    apply_comments(con, "recommendations")
    n_similar = _replace_table(con, "similar_series", similar_series(series, similarity))
    apply_comments(con, "similar_series")

    content = bundle_content(served, languages, series, popular, similarity, test_metrics,
                             selection_record["tuned"],
                             selection_record.get("evaluation", {}), most_watched)  # fmt: skip
    path = write_bundle(models_root, content)
    return {"bundle": str(path), "recommendations": n_recs, "similar_series": n_similar,
            "users": content.users.height, "served": served.name}  # fmt: skip


def bundle_content(
    served: Served,
    languages: pl.DataFrame,
    series: pl.DataFrame,
    popular: pl.DataFrame,
    similarity: np.ndarray,
    metrics: dict[str, float],
    tuned: dict[str, dict],
    evaluation: dict | None = None,
    most_watched_language: str | None = None,
) -> BundleContent:
    """The bundle of ``served``: how its model scores, exactly as exported
    (``Recommender.export``: the scorer and its arrays), the users' started stories and main
    languages (``languages``; ``en`` if unknown), the catalogue, the lists and the similarity.
    """
    spec, arrays = served.model.export()
    X = served.matrix.X.tocsr()
    users = (
        pl.DataFrame(
            {
                "user_id": pl.Series(list(served.matrix.users), dtype=pl.String),
                "user_index": np.arange(X.shape[0], dtype=np.int32),
            }
        )  # fmt: skip
        .join(languages, on="user_id", how="left")
        .with_columns(pl.col("main_language").fill_null("en"))
    )
    if "watched_languages" in users.columns:
        users = users.with_columns(
            watched_languages=pl.when(pl.col("watched_languages").is_null())
            .then(pl.concat_list("main_language"))
            .otherwise(pl.col("watched_languages"))
        )
    user_columns = [c for c in ("user_id", "user_index", "main_language", "watched_languages")
                    if c in users.columns]  # fmt: skip
    return BundleContent(
        model_version=served.model_version,
        scorer=spec,
        arrays=arrays,
        trained_at=served.trained_at,
        data_start=served.data_start,
        data_end=served.data_end,
        users=users.select(user_columns),
        series=series.select(
            "series_id",
            "story_id",
            "story_index",
            "language",
            "title",
            "genres",
            "production_type",
            "is_dubbed",
            "original_series_id",
            # what the API's items show and its "new releases" row orders by (when present)
            *[c for c in OPTIONAL_SERIES_SCHEMA if c in series.columns],
        ),  # fmt: skip
        popular=popular,
        history_indptr=X.indptr.astype(np.int32),
        history_indices=X.indices.astype(np.int32),
        # the confidences: the scorer says how to use them (EASE counts 1 per started story)
        history_weights=X.data.astype(np.float32),
        similarity=similarity,
        fallback=served.fallback,
        fallback_reason=served.fallback_reason,
        metrics=metrics,
        params={"tuned": tuned.get(spec.leaf.model, {})},
        evaluation=evaluation or {},
        most_watched_language=most_watched_language,
    )
