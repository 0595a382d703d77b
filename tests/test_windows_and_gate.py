"""Evaluation windows that fit a short history, tuned baselines, and the paired gate."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from core.config import MetricParams, Paths, metric_params, parse_test_days
from core.warehouse import connect_published, working_database
from features import build_all
from ingest.catalog import load_catalog, refresh_public_catalog
from ingest.events import event_files, ingest_files
from models.bundle import current_bundle_path, load_bundle
from models.evaluate import (
    GRID,
    LEARNED,
    Evaluation,
    NotEnoughHistory,
    gate,
    tune_and_evaluate,
    windows,
)
from models.metrics import Estimate, paired_difference
from models.recommenders import BASELINES
from pipelines.definitions import ALL_ASSETS, ALL_CHECKS, resources
from pipelines.resources import CliffhangerStore
from synthetic import GenerateSpec, generate

T0 = dt.datetime(2026, 9, 7, tzinfo=dt.UTC)
EVERY_MODEL = {*LEARNED, *BASELINES}


# ---- the windows --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("span_days", "test_days", "expected"),
    [(3, "auto", 1), (6, "auto", 1), (14, "auto", 3), (20, "auto", 4), (90, "auto", 7),
     (6, 2, 2), (14, "7", 7), (3, None, 1)],
)  # fmt: skip
def test_windows_fit_the_span_and_an_explicit_number_wins(
    span_days: int, test_days: int | str | None, expected: int
) -> None:
    end = T0 + dt.timedelta(days=span_days)
    win = windows(T0, end, test_days)
    assert win.test_days == expected
    assert win.auto == (test_days in ("auto", None))
    assert win.test_start == end - dt.timedelta(days=expected)
    assert win.test_end > end  # the last event is in the test period
    validation = win.test_start - win.validation_start
    # as long as the test, but never more than half the history before it
    assert validation == min(dt.timedelta(days=expected), (win.test_start - T0) / 2)
    assert T0 < win.validation_start < win.test_start


def test_an_explicit_test_period_longer_than_the_history_is_refused() -> None:
    with pytest.raises(NotEnoughHistory, match="spans 6.0 days"):
        windows(T0, T0 + dt.timedelta(days=6), 7)


def test_test_days_is_auto_by_default_and_parsed_at_the_edge(monkeypatch) -> None:  # noqa: ANN001
    assert MetricParams().test_days == "auto"
    assert parse_test_days("auto") is None and parse_test_days("AUTO") is None
    assert parse_test_days("3") == 3 and parse_test_days(7) == 7
    for bad in ("0", "1.5", "soon", "-2"):
        with pytest.raises(ValueError, match="test_days must be 'auto'"):
            parse_test_days(bad)
    monkeypatch.setenv("CLIFFHANGER_TEST_DAYS", "2")
    assert metric_params().test_days == "2"
    monkeypatch.setenv("CLIFFHANGER_TEST_DAYS", "a week")
    with pytest.raises(ValueError, match="CLIFFHANGER_TEST_DAYS"):
        metric_params()


# ---- the paired gate on planted per-user values -------------------------------------------------


def _evaluation(name: str, per_user: np.ndarray) -> Evaluation:
    est = Estimate(float(per_user.mean()), float(per_user.mean()), float(per_user.mean()))
    return Evaluation(name, {}, {"ndcg": est}, len(per_user), 0.0, np.empty((0, 10)), per_user)


def test_the_paired_gate_passes_a_model_better_on_every_user_and_fails_a_tie() -> None:
    rng = np.random.default_rng(0)
    baseline = rng.uniform(0.05, 0.6, 400)
    noise = rng.normal(0, 0.5, 400)
    evs = {
        "trending": _evaluation("trending", baseline),
        "better": _evaluation("better", baseline * 1.10),  # 10 % better on every user
        "tie": _evaluation("tie", baseline.copy()),
        # 10 % better on average, but the per-user differences are mostly noise
        "noisy": _evaluation("noisy", baseline * 1.10 + noise - noise.mean()),
    }
    assert gate(evs, "better", "trending")
    assert not gate(evs, "tie", "trending")
    diff = paired_difference(evs["noisy"].per_user_ndcg, baseline)
    assert diff.ci_low < 0 < diff.ci_high and not gate(evs, "noisy", "trending")
    assert gate(evs, "trending", "trending")  # a baseline always passes
    better = paired_difference(baseline * 1.10, baseline)
    assert better.value == pytest.approx(0.1 * baseline.mean())
    with pytest.raises(ValueError, match="same users"):
        paired_difference(baseline, baseline[:-1])


def test_the_paired_gate_sees_what_a_lower_bound_against_a_point_value_missed() -> None:
    """A small app: 80 users whose NDCG varies a lot from user to user. A model 10 % better
    on every one of them passes the paired test, where the old rule (its own CI lower bound
    above the baseline's mean) failed: the spread between users swamps the gain."""
    from models.metrics import bootstrap_mean

    rng = np.random.default_rng(1)
    baseline = rng.uniform(0, 1, 80) ** 2
    candidate = baseline * 1.10
    evs = {"trending": _evaluation("trending", baseline), "model": _evaluation("model", candidate)}
    assert bootstrap_mean(candidate).ci_low < baseline.mean()  # the old gate: fallback
    assert gate(evs, "model", "trending")  # the paired gate: served


# ---- short histories: every model evaluated, the split recorded ---------------------------------


def _warehouse(root: Path, users: int, days: int, seed: int) -> Paths:
    generate(GenerateSpec(users=users, days=days, seed=seed, out=root / "landing", fmt="parquet"))
    p = Paths(home=root, warehouse=root / "warehouse" / "cliffhanger.duckdb",
              landing=root / "landing", dagster_home=root / "d")  # fmt: skip
    with working_database(p) as con:
        load_catalog(con, root / "landing" / "catalog")
        refresh_public_catalog(con)
        ingest_files(con, event_files([root / "landing" / "events"]))
        build_all(con, MetricParams())
    return p


SMALL_GRID = {**GRID, "als": [{"factors": 32}], "ease": [{"lambda": 200.0}],
              "item_knn": [{"K": 100}], "bpr": [{}]}  # fmt: skip


def test_six_days_every_model_is_evaluated_in_windows_that_fit(tmp_path: Path) -> None:
    p = _warehouse(tmp_path, users=3000, days=6, seed=8)
    with working_database(p) as con:
        start, end = con.execute("SELECT min(ts), max(ts) FROM raw.events").fetchone()
        selection = tune_and_evaluate(con, grid=SMALL_GRID)
        explicit = tune_and_evaluate(con, test_days=2, models=("ease", *BASELINES))
    win = selection.windows
    assert (win.test_days, win.auto) == (1.0, True)
    assert win.test_start == end - dt.timedelta(days=1)
    assert win.validation_start == win.test_start - dt.timedelta(days=1)
    assert win.data_start == start
    assert EVERY_MODEL <= {ev.model for ev in selection.test}
    assert selection.test[0].n_users >= 200
    # the baselines were tuned on validation like every other model
    assert set(selection.tuned["trending"]) == {"half_life_days"}
    assert set(selection.tuned["popularity"]) == {"window_days"}
    assert explicit.windows.test_days == 2 and not explicit.windows.auto
    assert explicit.windows.test_start == end - dt.timedelta(days=2)
    assert start < explicit.windows.validation_start


def test_three_days_through_the_pipeline_record_the_split(tmp_path: Path) -> None:
    p = _warehouse(tmp_path, users=5000, days=3, seed=9)
    with working_database(p) as con:
        start, end = con.execute("SELECT min(ts), max(ts) FROM raw.events").fetchone()
    store = CliffhangerStore(home=str(p.home), landing=str(p.landing))
    result = dg.materialize([*ALL_ASSETS, *ALL_CHECKS], resources=resources(store),
                            instance=dg.DagsterInstance.ephemeral())  # fmt: skip
    assert result.success
    con = connect_published(store.paths())
    rows = con.execute(
        "SELECT model, n_users, test_start, test_end, validation_start, test_days, "
        "paired_baseline, ndcg_diff, ndcg_diff_ci_low, ndcg_diff_ci_high, is_served "
        "FROM analytics.model_evaluation WHERE metric = 'ndcg'"
    ).fetchall()
    con.close()
    by_model = {r[0]: r for r in rows}
    assert EVERY_MODEL <= set(by_model)
    assert {r[1] for r in rows} == {rows[0][1]} and rows[0][1] >= 200  # same users for all
    test_start = end - dt.timedelta(days=1)
    validation_start = test_start - min(dt.timedelta(days=1), (test_start - start) / 2)
    assert {(r[2], r[4], r[5]) for r in rows} == {(test_start, validation_start, 1.0)}
    assert {r[3] for r in rows} == {end + dt.timedelta(microseconds=1)}
    baseline = rows[0][6]
    assert baseline in BASELINES and {r[6] for r in rows} == {baseline}
    assert by_model[baseline][7:10] == (0.0, 0.0, 0.0)  # the baseline against itself
    for r in rows:
        assert r[8] <= r[7] <= r[9]
    served = [r for r in rows if r[10]]
    assert len(served) == 1
    if served[0][0] not in BASELINES:
        assert served[0][8] > 0  # the paired CI lies above 0
    # the bundle records the same split
    manifest = load_bundle(current_bundle_path(p.home / "models_published")).manifest
    evaluation = manifest["evaluation"]
    assert evaluation["test_start"] == test_start.isoformat()
    assert evaluation["test_days"] == 1.0 and evaluation["test_days_auto"] is True
    assert evaluation["best_baseline"] == baseline
    json.dumps(evaluation)
