"""Exit moments (METRICS.md "Exit moments"): by hand, and found where the generator plants a
weak scene."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from core.config import MetricParams, Paths
from core.warehouse import working_database
from features.engagement import build_engagement
from features.exit_moments import build_exit_moments
from features.sessions import build_sessions
from features.significance import benjamini_hochberg, binomial_upper_p
from ingest.catalog import load_catalog, refresh_public_catalog
from ingest.events import event_files, ingest_files
from synthetic import GenerateSpec, WeakScene, generate
from tests.test_engagement import paths  # noqa: F401 (the hand-built fixture)


def exit_rows(p: Paths) -> dict[tuple, tuple]:
    params = MetricParams()
    with working_database(p) as con:
        build_sessions(con, params)
        build_engagement(con, params)
        build_exit_moments(con, params)
        rows = con.execute(
            "SELECT series_id, episode_number, bucket_start_s, views, early_exits, exit_share, "
            "aligned_on, series_pooled_exit_share, is_exit_moment "
            "FROM analytics.episode_exit_moments ORDER BY ALL"
        ).fetchall()
    return {r[:3]: r[3:] for r in rows}


def test_exit_cells_by_hand(paths: Paths) -> None:  # noqa: F811
    cells = exit_rows(paths)
    # S1 episode 2 (100 s) has three views: B exits at 20 s, A completes (95 s >= 0.9), and A's
    # rewatch exits at 3 s. S1 episode 1: A completes. S1 episode 3: A reaches 60 s, no exit
    # event, not completed (an early exit at 60 s all the same: the view ended there)
    assert cells[("S1", 2, 0)][:3] == (3, 1, 1 / 3)
    assert cells[("S1", 2, 5)][:3] == (2, 0, 0.0)
    assert cells[("S1", 2, 20)][:3] == (2, 1, 1 / 2)
    assert cells[("S1", 2, 25)][:3] == (1, 0, 0.0)
    assert cells[("S1", 2, 95)][:3] == (1, 0, 0.0)  # completed: not an exit
    assert cells[("S1", 2, 100)][:3] == (0, 0, None)
    assert cells[("S1", 3, 60)][:3] == (1, 1, 1.0)
    # the same position: bucket 0 from the start is pooled over episodes 1, 2 and 3 (views
    # 1 + 3 + 1, one exit); 80 s and later are the closing stretch, aligned on the end
    assert cells[("S1", 2, 0)][3:5] == ("start", pytest.approx(1 / 5))
    assert cells[("S1", 2, 80)][3] == "end"
    # S2 episode 1 (60 s): one view that never played, not completed: an exit at 0 s
    assert cells[("S2", 1, 0)][:3] == (1, 1, 1.0)
    assert not [k for k in cells if k[:2] == ("S2", 2)]  # no views, no rows
    assert not any(c[5] for c in cells.values())  # nothing is significant in five views


PLANTED = tuple(WeakScene(f"S{i:05d}", 3, 30.0, 0.35) for i in range(12))


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    root = tmp_path_factory.mktemp("exits")
    data = root / "data"
    spec = GenerateSpec(users=1500, days=14, seed=23, out=data, fmt="parquet", weak_scenes=PLANTED)
    generate(spec)
    p = Paths(home=root, warehouse=root / "w" / "c.duckdb", landing=data,
              dagster_home=root / "d")  # fmt: skip
    with working_database(p) as con:
        load_catalog(con, data / "catalog")
        refresh_public_catalog(con)
        ingest_files(con, event_files([data / "events"]))
        params = MetricParams()
        build_sessions(con, params)
        build_engagement(con, params)
        build_exit_moments(con, params)
    return p


def test_planted_weak_scenes_are_exit_moments_and_false_flags_are_rare(planted: Paths) -> None:
    with working_database(planted) as con:
        cells = con.sql(
            "SELECT series_id, episode_number, bucket_start_s, views, early_exits, exit_share, "
            "series_pooled_exit_share, q_value, is_exit_moment "
            "FROM analytics.episode_exit_moments"
        ).pl()
    is_planted = pl.col("series_id").is_in([w.series_id for w in PLANTED]) & (
        pl.col("episode_number") == 3
    ) & (pl.col("bucket_start_s") == 30)  # fmt: skip
    scenes = cells.filter(is_planted)
    # every planted scene with a usable audience is found (30 s into episode 3)
    watched = scenes.filter(pl.col("views") >= 40)
    assert watched.height >= 4, scenes
    assert watched["is_exit_moment"].all(), watched
    # elsewhere, with BH at 5 %, flags are rare: not every first bucket, not every episode end
    others = cells.filter(~is_planted & (pl.col("views") > 0))
    false_share = others["is_exit_moment"].mean()
    assert false_share < 0.01, false_share
    first = others.filter(pl.col("bucket_start_s") == 0)
    assert first["exit_share"].mean() > others["exit_share"].mean()  # the first seconds lose most
    assert first["is_exit_moment"].mean() < 0.05  # ... yet are not moments for being first


def test_exit_moment_flags_equal_scipy(planted: Paths) -> None:
    """The flags from scratch: scipy's exact binomial test and its own BH procedure."""
    from scipy.stats import binomtest, false_discovery_control

    with working_database(planted) as con:
        cells = con.sql(
            "SELECT series_id, views, early_exits, series_pooled_exit_share AS pooled, q_value, "
            "is_exit_moment FROM analytics.episode_exit_moments WHERE views > 0 "
            "AND series_id IN ('S00000', 'S00001', 'S00002') ORDER BY ALL"
        ).pl()
    for (sid,), part in cells.group_by(["series_id"], maintain_order=True):
        p = [
            binomtest(int(k), int(n), pooled, alternative="greater").pvalue if k > 0 else 1.0
            for n, k, pooled in part.select("views", "early_exits", "pooled").rows()
        ]
        q = false_discovery_control(p, method="bh")
        np.testing.assert_allclose(part["q_value"].to_numpy(), q, atol=1e-9, err_msg=sid)
        flag = (q <= 0.05) & (part["early_exits"].to_numpy() > 0)
        assert part["is_exit_moment"].to_list() == flag.tolist()


def test_benjamini_hochberg_matches_scipy_per_family() -> None:
    from scipy.stats import false_discovery_control

    rng = np.random.default_rng(3)
    p = rng.random(300) ** 3
    fam = rng.integers(0, 4, 300)
    q = benjamini_hochberg(p, fam)
    for f in range(4):
        np.testing.assert_allclose(q[fam == f], false_discovery_control(p[fam == f]))
    # nothing to test: p = 1; a success where the pooled rate is 0: p = 0
    np.testing.assert_array_equal(
        binomial_upper_p(np.array([0, 2]), np.array([5, 5]), np.array([0.1, 0.0])), [1.0, 0.0]
    )
