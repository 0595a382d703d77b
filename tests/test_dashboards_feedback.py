"""The Recommendations page's online section: online metrics next to the offline ones."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from tests.dashboard_fixtures import copy_home, published
from tests.test_dashboards import frame, metrics, open_app  # noqa: F401 (the fixture)

pytest_plugins = ["tests.dashboard_fixtures"]

PERFORMANCE_ROWS = [
    # date, model_version, variant, surface, position, impressions, clicks, attributed_starts,
    # watch_minutes, unlocks, unmatched
    ("2026-09-07", "v-test-1", "control", "home", 1, 100, 10, 5, 30.0, 1, 2),
    ("2026-09-07", "v-test-1", "control", "home", 2, 100, 6, 2, 10.0, 0, 0),
    ("2026-09-07", "v-test-2", "challenger", "home", 1, 100, 14, 6, 40.0, 2, 0),
    ("2026-09-07", "v-test-2", "challenger", "home", 2, 100, 8, 3, 12.0, 0, 0),
]


@pytest.fixture(scope="module")
def dash_home_feedback(dash_home_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = copy_home(dash_home_models, tmp_path_factory.mktemp("dash_feedback") / "home")
    con = duckdb.connect(os.path.realpath(published(home)))
    try:
        con.execute(
            "CREATE OR REPLACE TABLE analytics.recommendation_performance (date DATE, "
            "model_version VARCHAR, variant VARCHAR, surface VARCHAR, position INTEGER, "
            "impressions BIGINT, clicks BIGINT, attributed_starts BIGINT, watch_minutes DOUBLE, "
            "unlocks BIGINT, unmatched_impressions BIGINT)"
        )
        con.executemany(
            "INSERT INTO analytics.recommendation_performance VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            PERFORMANCE_ROWS,
        )
        con.execute(
            "CREATE OR REPLACE TABLE analytics.recommendation_experiment AS SELECT "
            "'exp' AS experiment, v AS variant, 50 AS users, 200 AS impressions, ctr, "
            "ctr - 0.02 AS ctr_ci_low, ctr + 0.02 AS ctr_ci_high, 0.04 AS start_rate, "
            "CASE WHEN v = 'challenger' THEN 0.03 END AS ctr_diff, "
            "CASE WHEN v = 'challenger' THEN 0.01 END AS ctr_diff_ci_low, "
            "CASE WHEN v = 'challenger' THEN 0.05 END AS ctr_diff_ci_high, "
            "NULL::DOUBLE AS start_rate_diff, NULL::DOUBLE AS start_rate_diff_ci_low, "
            "NULL::DOUBLE AS start_rate_diff_ci_high, 0.5 AS planned_share, "
            "0.5 AS observed_share, 1.0 AS srm_p_value, false AS is_srm "
            "FROM (VALUES ('control', 0.08), ('challenger', 0.11)) t(v, ctr)"
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return home


def test_online_metrics_beside_the_offline_ones(open_app, dash_home_feedback: Path) -> None:  # noqa: F811
    at = open_app(dash_home_feedback, "recommendations")
    got = metrics(at)
    assert got["CTR · v-test-1 · control"] == ("8.00%", "start rate 3.50%")
    assert got["CTR · v-test-2 · challenger"] == ("11.00%", "start rate 4.50%")
    online = frame(at, 1)  # after the offline evaluation table
    assert online[["model_version", "variant", "impressions", "clicks"]].values.tolist() == [
        ["v-test-1", "control", 200, 16], ["v-test-2", "challenger", 200, 22]
    ]  # fmt: skip
    # the offline NDCG@10 of the same model version sits beside the online figures
    assert online["offline_ndcg_at_10"].round(4).tolist()[0] == pytest.approx(0.21)
    assert [w.value for w in at.warning] == [
        "2 impressions match no served list and are not counted "
        "(see analytics.recommendation_impressions.unmatched_reason)."
    ]
    assert [s.value for s in at.success] == [
        "exp: CTR differs by +3.00% (95 % CI +1.00% to +5.00%)."
    ]
    experiment = frame(at, 2)
    assert experiment["variant"].tolist() == ["challenger", "control"]


def test_online_section_waits_for_impressions(open_app, dash_home_models: Path) -> None:  # noqa: F811
    at = open_app(dash_home_models, "recommendations")
    assert any("No recommendation impressions yet" in c.value for c in at.caption)
