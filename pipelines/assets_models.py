"""Models layer: evaluation with the quality gate, the served model, its bundle."""

import datetime as dt

import dagster as dg

from core.config import AUTO_TEST_DAYS_MAX, parse_test_days
from models.evaluate import (
    LEARNED,
    MODELS,
    NotEnoughHistory,
    fallback_selection,
    passes,
    tune_and_evaluate,
)
from models.metrics import Estimate
from models.publish import (
    load_selection_record,
    publish_served,
    save_selection,
    selection_from_record,
)
from models.recommenders import BASELINES
from models.train import model_version
from pipelines.resources import CliffhangerStore, MetricSettings


class RecommenderConfig(dg.Config):
    """Operator overrides for a run."""

    force_model: str = ""  # publish this model whatever the validation says (the gate decides)
    ranker: bool = True  # evaluate the two-stage ranker too (off: the single models and blends)


@dg.asset(group_name="models", deps=["episode_views", "sessions"], kinds={"python", "duckdb"})
def model_evaluation(
    context: dg.AssetExecutionContext,
    store: CliffhangerStore,
    settings: MetricSettings,
    config: RecommenderConfig,
) -> dg.MaterializeResult:
    """Every model tuned on validation and scored on the test period, with bootstrap CIs."""
    now = dt.datetime.now(dt.UTC)
    with store.connect() as con:
        try:
            selection = tune_and_evaluate(
                con, test_days=settings.params().test_days,
                models=(MODELS if config.ranker else LEARNED) + BASELINES,
                force_served=config.force_model or None, progress=context.log.info,
            )  # fmt: skip
        except NotEnoughHistory as exc:
            context.log.warning(f"serving trending: {exc}")
            selection = fallback_selection(str(exc))
        version = model_version(selection.served, now)
        rows = save_selection(con, selection, version)
    ndcg = {ev.model: round(ev.metrics["ndcg"].value, 4) for ev in selection.test}
    win = selection.windows
    diff = selection.paired.get(selection.candidate)
    return dg.MaterializeResult(
        metadata={
            "rows": rows, "model_version": version, "served": selection.served,
            "candidate": selection.candidate, "gate_passed": selection.gate_passed,
            "best_baseline": selection.best_baseline,
            "fallback_reason": selection.fallback_reason or "",
            "test_users": selection.test[0].n_users if selection.test else 0,
            "validation_start": win.validation_start.isoformat() if win else "",
            "test_start": win.test_start.isoformat() if win else "",
            "test_days": win.test_days if win else 0.0,
            "candidate_ndcg_diff": dg.MetadataValue.json(
                [diff.value, diff.ci_low, diff.ci_high] if diff else []),
            "ndcg@10": dg.MetadataValue.json(ndcg),
        }
    )  # fmt: skip


@dg.asset_check(asset=model_evaluation, blocking=True)
def served_model_beats_baselines(store: CliffhangerStore) -> dg.AssetCheckResult:
    """The model to publish is a baseline, or it beats the best baseline on the test period:
    the paired bootstrap CI of its per-user NDCG@10 difference lies above 0 (the gate's rule,
    re-checked from ``analytics.model_evaluation``)."""
    with store.connect() as con:
        record = load_selection_record(con)
        rows = con.execute(
            "SELECT model, paired_baseline, ndcg_diff, ndcg_diff_ci_low, ndcg_diff_ci_high "
            "FROM analytics.model_evaluation WHERE metric = 'ndcg'"
        ).fetchall()
    paired = {m: (b, Estimate(v, lo, hi)) for m, b, v, lo, hi in rows if v is not None}
    served = record["served"]
    baseline, diff = paired.get(served, (None, None))
    passed = served in BASELINES or (diff is not None and passes(diff))
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            "served": served, "paired_baseline": baseline or "",
            "ndcg_diff": diff.value if diff else None,
            "ndcg_diff_ci_low": diff.ci_low if diff else None,
            "ndcg_diff_ci_high": diff.ci_high if diff else None,
            "fallback": bool(record["fallback_reason"]),
            "fallback_reason": record["fallback_reason"] or "",
        },
    )  # fmt: skip


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "model_bundle",
            group_name="models",
            deps=[model_evaluation],
            description="The served model's versioned bundle, made current for the API.",
            kinds={"numpy"},
        ),
        dg.AssetSpec(
            "recommendations",
            group_name="models",
            deps=[model_evaluation],
            description="Top-10 next series for every active user.",
            kinds={"duckdb"},
        ),
        dg.AssetSpec(
            "similar_series",
            group_name="models",
            deps=[model_evaluation],
            description="Ten most similar series per series version.",
            kinds={"duckdb"},
        ),
    ]  # fmt: skip
)
def served_model(
    context: dg.AssetExecutionContext, store: CliffhangerStore, settings: MetricSettings
):
    """The gate's choice trained on all data; batch recommendations; the API bundle."""
    from models.train import train_served

    with store.connect() as con:
        record = load_selection_record(con)
        active_days = parse_test_days(settings.params().test_days) or AUTO_TEST_DAYS_MAX
        served = train_served(con, selection_from_record(record), version=record["model_version"],
                              active_days=active_days, progress=context.log.info)  # fmt: skip
        metrics = {
            f"{metric}@10": value
            for metric, value in con.execute(
                "SELECT metric, value FROM analytics.model_evaluation WHERE model = ?",
                [record["served"]],
            ).fetchall()
        }
        out = publish_served(con, served, record, metrics, store.paths().models_dir,
                             active_days=active_days)  # fmt: skip
    context.log.info(f"published bundle {out['bundle']} ({out['served']})")
    yield dg.MaterializeResult(asset_key="model_bundle", metadata={
        "path": out["bundle"], "model_version": record["model_version"],
        "served": out["served"], "users": out["users"], "fallback": served.fallback})  # fmt: skip
    yield dg.MaterializeResult(
        asset_key="recommendations", metadata={"rows": out["recommendations"]}
    )
    yield dg.MaterializeResult(asset_key="similar_series", metadata={"rows": out["similar_series"]})
