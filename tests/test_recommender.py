"""The recommender on generated data: the split never leaks, the gate, the pipeline, the bundle."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from core.config import MetricParams, Paths
from core.warehouse import working_database
from features import build_all
from ingest.catalog import load_catalog, refresh_public_catalog
from ingest.events import event_files, ingest_files
from models.bundle import current_bundle_path, load_bundle
from models.evaluate import catalog_stories, make_split, tune_and_evaluate
from models.interactions import InteractionWeights
from pipelines.assets_models import RecommenderConfig
from pipelines.definitions import ALL_ASSETS, ALL_CHECKS, resources
from pipelines.resources import CliffhangerStore
from synthetic import GenerateSpec, generate


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    root = tmp_path_factory.mktemp("rec")
    generate(GenerateSpec(users=2500, days=14, seed=31, out=root / "landing", fmt="parquet"))
    p = Paths(home=root, warehouse=root / "warehouse" / "cliffhanger.duckdb",
              landing=root / "landing", dagster_home=root / "d")  # fmt: skip
    with working_database(p) as con:
        load_catalog(con, root / "landing" / "catalog")
        refresh_public_catalog(con)
        ingest_files(con, event_files([root / "landing" / "events"]))
        build_all(con, MetricParams())
    return p


def test_the_split_never_trains_on_the_test_period(warehouse: Paths) -> None:
    with working_database(warehouse) as con:
        end = con.execute("SELECT max(ts) FROM raw.events").fetchall()[0][0]
        cut = end - dt.timedelta(days=7)
        split = make_split(con, "test", cut, end + dt.timedelta(seconds=1),
                           catalog_stories(con), InteractionWeights())  # fmt: skip
        # independently: which (user, story) pairs had a view before the cut, and which
        # stories each user first started at or after it
        before = set(con.execute(
            "SELECT DISTINCT v.user_id, s.story_id FROM analytics.episode_views v "
            "JOIN analytics.series s USING (series_id) WHERE v.started_at < ?", [cut]
        ).fetchall())  # fmt: skip
        after = set(con.execute(
            "SELECT v.user_id, s.story_id FROM analytics.episode_views v "
            "JOIN analytics.series s USING (series_id) GROUP BY ALL "
            "HAVING min(v.started_at) >= ?", [cut]
        ).fetchall())  # fmt: skip
    X = split.train.X.tocoo()
    trained = {
        (split.train.users[r], split.train.items[c]) for r, c in zip(X.row, X.col, strict=True)
    }
    assert trained == before  # exactly the pre-cut interactions: nothing from after the cut
    truth = split.truth.tocoo()
    truth_pairs = {(split.train.users[r], split.train.items[c])
                   for r, c in zip(truth.row, truth.col, strict=True)}  # fmt: skip
    users_before = {u for u, _ in before}
    assert truth_pairs == {(u, s) for u, s in after if u in users_before}
    assert not truth_pairs & trained
    assert len(split.scored) == len({u for u, _ in truth_pairs})


def test_a_large_period_scores_a_fixed_sample_of_its_users(warehouse: Paths) -> None:
    with working_database(warehouse) as con:
        end = con.execute("SELECT max(ts) FROM raw.events").fetchall()[0][0]
        cut, stop = end - dt.timedelta(days=7), end + dt.timedelta(seconds=1)
        items = catalog_stories(con)
        every = make_split(con, "test", cut, stop, items, InteractionWeights(), max_scored=None)
        cap = len(every.scored) // 3
        a = make_split(con, "test", cut, stop, items, InteractionWeights(), max_scored=cap)
        b = make_split(con, "test", cut, stop, items, InteractionWeights(), max_scored=cap)
        other = make_split(con, "validation", cut, stop, items, InteractionWeights(),
                           max_scored=cap)  # fmt: skip
    assert cap > 50
    # a sample of the scored users, sorted, the same on every call; training uses everyone
    assert len(a.scored) == cap and set(a.scored) < set(every.scored)
    assert np.array_equal(a.scored, b.scored) and np.all(np.diff(a.scored) > 0)
    assert (a.train.X != every.train.X).nnz == 0 and (a.truth != every.truth).nnz == 0
    # another period draws another sample
    assert not np.array_equal(a.scored, other.scored)


def test_models_beat_the_baselines_and_the_gate_blocks_a_broken_model(warehouse: Paths) -> None:
    with working_database(warehouse) as con:
        selection = tune_and_evaluate(con)
        broken = tune_and_evaluate(con, models=("ease", "popularity", "trending"),
                                   force_served="random")  # fmt: skip
    ndcg = {ev.model: ev.metrics["ndcg"] for ev in selection.test}
    assert {"als", "bpr", "item_knn", "ease", "popularity", "trending"} <= set(ndcg)
    best_baseline = max(ndcg["popularity"].value, ndcg["trending"].value)
    # at 2,500 users and 100 series the baselines are strong; the learned models still beat
    # them (the 1.5x target at scale is measured in benchmarks/)
    assert ndcg["ease"].value > best_baseline
    assert selection.gate_passed and selection.served == selection.candidate
    assert selection.paired[selection.served].ci_low > 0  # the paired gate
    assert ndcg[selection.served].value > ndcg[selection.best_baseline].value
    for est in ndcg.values():
        assert est.ci_low <= est.value <= est.ci_high
    assert broken.served == "random" and not broken.gate_passed


def test_the_pipeline_publishes_a_bundle_and_blocks_a_forced_broken_model(
    warehouse: Paths, tmp_path: Path
) -> None:
    store = CliffhangerStore(home=str(warehouse.home), landing=str(warehouse.landing))
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([*ALL_ASSETS, *ALL_CHECKS], resources=resources(store),
                            instance=instance)  # fmt: skip
    assert result.success
    bundle_path = current_bundle_path(warehouse.home / "models_published")
    bundle = load_bundle(bundle_path)
    served = bundle.manifest["model"]
    assert bundle.manifest["fallback"] is False
    assert served in {"als", "bpr", "item_knn", "ease", "ranker"}
    # every active user's list avoids what they started, in any language version
    from core.warehouse import connect_published

    con = connect_published(store.paths())
    clash = con.execute(
        "SELECT count(*) FROM analytics.recommendations r "
        "JOIN analytics.series rs ON rs.series_id = r.series_id "
        "JOIN analytics.episode_views v ON v.user_id = r.user_id "
        "JOIN analytics.series vs ON vs.series_id = v.series_id AND vs.story_id = rs.story_id"
    ).fetchone()[0]
    assert clash == 0
    assert con.execute("SELECT count(DISTINCT model_version) FROM analytics.recommendations"
                       ).fetchone()[0] == 1  # fmt: skip
    # what the API serves is what was evaluated and batch-scored: same lists, same order
    from serving.model import ServingModel

    api = ServingModel.from_bundle(bundle)
    sample = con.execute(
        "SELECT user_id, list(series_id ORDER BY rank) FROM analytics.recommendations "
        "GROUP BY 1 ORDER BY 1 LIMIT 40"
    ).fetchall()
    assert len(sample) == 40
    for user, expected in sample:
        got = [item.series_id for item in api.recommend(user, k=10).items]
        assert got == expected, user
    con.close()

    # the dashboards' Recommendations page reads the real tables: the served model is named
    import os

    from streamlit.testing.v1 import AppTest

    before = {k: os.environ.get(k) for k in ("CLIFFHANGER_HOME", "CLIFFHANGER_WAREHOUSE")}
    os.environ["CLIFFHANGER_HOME"] = str(warehouse.home)
    os.environ.pop("CLIFFHANGER_WAREHOUSE", None)
    try:
        app = Path(__file__).resolve().parent.parent / "dashboards" / "app.py"
        at = AppTest.from_file(str(app), default_timeout=60).run()
        at.switch_page("views/recommendations.py").run()
        assert not at.exception, [e.message for e in at.exception]
        con = connect_published(store.paths())
        best, base = (
            con.execute(
                "SELECT arg_max(model, value) FROM analytics.model_evaluation "
                "WHERE metric = 'ndcg' AND is_baseline = ?",
                [flag],
            ).fetchone()[0]
            for flag in (False, True)
        )
        con.close()
        labels = [m.label for m in at.metric]
        assert labels == [f"Best model: {best} (ndcg@10)", f"Best baseline: {base}"]
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    forced = dg.materialize(
        [*ALL_ASSETS, *ALL_CHECKS], resources=resources(store), instance=instance,
        run_config=dg.RunConfig(ops={"model_evaluation": RecommenderConfig(force_model="random")}),
        raise_on_error=False,
    )  # fmt: skip
    checks = {e.check_name: e.passed for e in forced.get_asset_check_evaluations()}
    assert checks["served_model_beats_baselines"] is False
    # the broken model never reached the API: the bundle in place is still the good one
    assert current_bundle_path(warehouse.home / "models_published") == bundle_path
    assert np.isfinite(bundle.arrays["similarity"]).all()
