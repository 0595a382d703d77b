"""The feedback loop by hand: impressions and clicks ingested (canonical and Segment), matched to
the served log, starts attributed (METRICS.md "Recommendation performance"), all through real
Dagster materializations on a real DuckDB file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import pytest

from core.config import MetricParams, Paths
from core.warehouse import working_database
from features.recommendation_performance import build_recommendation_performance
from ingest.catalog import load_catalog
from ingest.events import ingest_file, replay_quarantine
from ingest.served_log import read_served_log
from pipelines.assets_feedback import attribution_is_consistent
from pipelines.definitions import ALL_ASSETS, resources
from pipelines.resources import CliffhangerStore

NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
SERIES = (
    "series_id,title,genres,language,original_series_id,n_episodes,free_episodes,"
    "release_date,production_type,production_cost_usd\n"
    "S1,Show,romance,en,,3,1,2026-01-01,ai,15000\n"
    "S2,Show [es],romance,es,S1,3,1,2026-02-01,ai,900\n"
    "S3,Other,drama,en,,3,1,2026-01-01,ai,1000\n"
    "S4,Third,drama,en,,3,1,2026-01-01,ai,1000\n"
)
EPISODES = "episode_id,series_id,episode_number,duration_s\n" + "".join(
    f"S{s}-E{e},S{s},{e},90\n" for s in (1, 2, 3, 4) for e in (1, 2, 3)
)


def write_catalog(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "series.csv").write_text(SERIES)
    (folder / "episodes.csv").write_text(EPISODES)


def ts(day: int, clock: str) -> str:
    return f"2026-09-{day:02d}T{clock}Z"


def imp(eid, user, request, series, position, at, surface="home", model="m1", variant="default",
        kind="recommendation_impression"):  # fmt: skip
    return {"event_id": eid, "event_type": kind, "ts": at, "user_id": user,
            "request_id": request, "model_version": model, "variant": variant,
            "series_id": series, "position": position, "surface": surface}  # fmt: skip


def start(eid, user, series, episode, at):
    return {"event_id": eid, "event_type": "episode_start", "ts": at, "user_id": user,
            "series_id": series, "episode_number": episode}  # fmt: skip


def progress(eid, user, series, episode, at, position):
    return {"event_id": eid, "event_type": "episode_progress", "ts": at, "user_id": user,
            "series_id": series, "episode_number": episode, "position_s": position}  # fmt: skip


EVENTS = [
    # u1: two impressions of story S1 (r1 at 10:00, r2 at 12:00), a click on r2, then a start
    # of S2 (the Spanish version of S1) at 13:00: the latest impression (r2) gets it
    imp("i1", "u1", "r1", "S1", 1, ts(7, "10:00:00")),
    imp("i2", "u1", "r1", "S3", 2, ts(7, "10:00:00")),
    imp("i3", "u1", "r1", "S4", 3, ts(7, "10:00:00")),
    imp("i4", "u1", "r2", "S1", 1, ts(7, "12:00:00")),
    imp("c1", "u1", "r2", "S1", 1, ts(7, "12:00:05"), kind="recommendation_click"),
    imp("c2", "u1", "r2", "S1", 1, ts(7, "12:00:06"), kind="recommendation_click"),  # a 2nd tap
    start("e1", "u1", "S2", 1, ts(7, "13:00:00")),
    progress("e2", "u1", "S2", 1, ts(7, "13:01:00"), 60),
    {
        "event_id": "e3",
        "event_type": "episode_unlock",
        "ts": ts(7, "13:04:00"),
        "user_id": "u1",
        "series_id": "S2",
        "episode_number": 2,
        "unlock_method": "coins",
    },
    start("e4", "u1", "S2", 2, ts(7, "13:05:00")),
    progress("e5", "u1", "S2", 2, ts(7, "13:06:30"), 90),
    # u1 starts S3 25 hours after its impression: outside the 24-h window
    start("e6", "u1", "S3", 1, ts(8, "11:00:00")),
    # u2 started S3 before its impression: never attributed
    start("e7", "u2", "S3", 1, ts(7, "09:00:00")),
    imp("i5", "u2", "r3", "S3", 1, ts(7, "10:00:00"), surface="after_episode"),
    # u2 sees S2 twice in request r3 (scrolled back): counted once; starts it at 10:30
    imp("i6", "u2", "r3", "S2", 2, ts(7, "10:00:00"), surface="after_episode"),
    imp("i7", "u2", "r3", "S2", 2, ts(7, "10:00:30"), surface="after_episode"),
    start("e8", "u2", "S2", 1, ts(7, "10:30:00")),
    progress("e9", "u2", "S2", 1, ts(7, "10:30:30"), 30),
    # u3: impressions that match no served list
    imp("x1", "u3", "r9", "S1", 1, ts(7, "10:00:00")),  # unknown request
    imp("x2", "u3", "r1", "S1", 1, ts(7, "10:00:00"), model="m2"),  # another model
    imp("x3", "u3", "r1", "S1", 1, ts(7, "10:00:00"), variant="challenger"),  # another variant
    imp("x4", "u3", "r1", "S2", 1, ts(7, "10:00:00")),  # not among r1's items
]


def served(request, user, at, items, endpoint="next-series", model="m1", variant="default"):
    return {"request_id": request, "served_at": at, "user_id": user, "endpoint": endpoint,
            "surface": endpoint, "model_version": model, "variant": variant, "experiment": None,
            "items": [{"series_id": s, "position": i + 1, "source": "als", "score": 0.5}
                      for i, s in enumerate(items)]}  # fmt: skip


SERVED = [
    served("r1", "u1", ts(7, "09:59:59.500"), ["S1", "S3", "S4"]),
    served("r2", "u1", ts(7, "11:59:59"), ["S1"]),
    served("r3", "u2", ts(7, "09:59:59"), ["S3", "S2"], endpoint="similar"),
]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("feedback")
    write_catalog(root / "landing" / "catalog")
    (root / "landing" / "events").mkdir()
    (root / "landing" / "events" / "events.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in EVENTS)
    )
    log = root / "served" / "2026-09-07"
    log.mkdir(parents=True)
    (log / "served-10-101-0a1b2c3d.jsonl").write_text(
        "".join(json.dumps(s) + "\n" for s in SERVED)
        + "not json\n"
        + json.dumps({**SERVED[0], "request_id": None}) + "\n"
        + json.dumps({**SERVED[0], "items": [{"series_id": "S1", "position": 0}]}) + "\n"
    )  # fmt: skip
    # a file still being written is never read
    (log / "served-11-101-0a1b2c3d.jsonl.open").write_text(json.dumps(served("r4", "u9", ts(7, "11:00:00"), ["S1"])) + "\n")  # fmt: skip
    wanted = {"catalog", "ingested_events", "event_grain", "served_log",
              "recommendation_performance", "recommendation_experiment"}  # fmt: skip
    result = dg.materialize(
        [*[a for a in ALL_ASSETS if a.node_def.name in wanted], attribution_is_consistent],
        resources=resources(CliffhangerStore(home=str(root))),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"attribution_is_consistent": True}
    return root


def paths_of(home: Path) -> Paths:
    return CliffhangerStore(home=str(home)).paths()


def query(home: Path, sql: str) -> list[tuple]:
    with working_database(paths_of(home)) as con:
        return con.execute(sql).fetchall()


def test_served_log_lines_are_stored_or_quarantined_and_open_files_wait(home: Path) -> None:
    assert query(home, "SELECT lines_in, loaded, quarantined, items FROM analytics.served_files") == [(6, 3, 3, 6)]  # fmt: skip
    assert query(home, "SELECT line_number, reason FROM analytics.served_quarantine ORDER BY 1") == [
        (4, "malformed"), (5, "missing_field:request_id"), (6, "bad_value:items")
    ]  # fmt: skip
    assert query(home, "SELECT count(*) FROM raw.served_items WHERE request_id = 'r4'") == [(0,)]


def test_unmatched_impressions_are_flagged_with_a_reason(home: Path) -> None:
    rows = query(
        home,
        "SELECT event_id, is_matched, unmatched_reason, is_counted "
        "FROM analytics.recommendation_impressions WHERE user_id = 'u3' ORDER BY 1",
    )
    assert rows == [
        ("x1", False, "unknown_request_id", False),
        ("x2", False, "model_version_mismatch", False),
        ("x3", False, "variant_mismatch", False),
        ("x4", False, "series_not_served", False),
    ]


def test_attribution_by_hand(home: Path) -> None:
    rows = query(
        home,
        "SELECT event_id, is_counted, clicked, attributed_start_at IS NOT NULL, episodes, "
        "watch_minutes, unlocks FROM analytics.recommendation_impressions "
        "WHERE user_id <> 'u3' ORDER BY 1",
    )
    assert rows == [
        ("i1", True, False, False, 0, 0.0, 0),  # an earlier impression: the later one gets it
        ("i2", True, False, False, 0, 0.0, 0),  # the start came 25 h later
        ("i3", True, False, False, 0, 0.0, 0),  # never started
        ("i4", True, True, True, 2, 2.5, 1),  # the latest: S2 (same story), 2 views, 1 unlock
        ("i5", True, False, False, 0, 0.0, 0),  # the start was before the impression
        ("i6", True, False, True, 1, 0.5, 0),  # first of two in one request
        ("i7", False, False, False, 0, 0.0, 0),  # the repeat counts once
    ]


def test_performance_table_by_hand(home: Path) -> None:
    rows = query(
        home,
        "SELECT model_version, variant, surface, position, impressions, clicks, ctr, "
        "attributed_starts, start_rate, episodes, watch_minutes, unlocks, users, "
        "unmatched_impressions, repeated_impressions FROM analytics.recommendation_performance "
        "ORDER BY ALL",
    )
    assert rows == [
        ("m1", "challenger", "home", 1, 0, 0, None, 0, None, 0, 0.0, 0, 0, 1, 0),
        ("m1", "default", "after_episode", 1, 1, 0, 0.0, 0, 0.0, 0, 0.0, 0, 1, 0, 0),
        ("m1", "default", "after_episode", 2, 1, 0, 0.0, 1, 1.0, 1, 0.5, 0, 1, 0, 1),
        ("m1", "default", "home", 1, 2, 1, 0.5, 1, 0.5, 2, 2.5, 1, 1, 2, 0),
        ("m1", "default", "home", 2, 1, 0, 0.0, 0, 0.0, 0, 0.0, 0, 1, 0, 0),
        ("m1", "default", "home", 3, 1, 0, 0.0, 0, 0.0, 0, 0.0, 0, 1, 0, 0),
        ("m2", "default", "home", 1, 0, 0, None, 0, None, 0, 0.0, 0, 0, 1, 0),
    ]
    # Wilson 95 % interval of 1 click in 2 impressions: (0.0945, 0.9055)
    low, high = query(
        home,
        "SELECT ctr_ci_low, ctr_ci_high FROM analytics.recommendation_performance "
        "WHERE variant = 'default' AND surface = 'home' AND position = 1",
    )[0]
    assert (low, high) == (pytest.approx(0.09453, abs=1e-4), pytest.approx(0.90547, abs=1e-4))
    # the tables are documented in the warehouse
    comments = query(
        home,
        "SELECT count(*) FILTER (WHERE comment IS NULL) FROM duckdb_columns() "
        "WHERE schema_name = 'analytics' AND table_name LIKE 'recommendation_%'",
    )
    assert comments == [(0,)]


def test_the_window_is_a_parameter(home: Path) -> None:
    with working_database(paths_of(home)) as con:
        build_recommendation_performance(con, MetricParams(attribution_hours=26))
        wide = con.execute(
            "SELECT event_id FROM analytics.recommendation_impressions "
            "WHERE attributed_start_at IS NOT NULL ORDER BY 1"
        ).fetchall()
        build_recommendation_performance(con, MetricParams())
    assert wide == [("i2",), ("i4",), ("i6",)]  # S3's start 25 h later now counts


def test_served_files_are_read_once(home: Path) -> None:
    files = sorted((home / "served").rglob("*.jsonl"))
    with working_database(paths_of(home)) as con:
        again = read_served_log(con, files)
    assert [r.status for r in again] == ["already_read"]


# ---- ingestion of impressions and clicks (CONTRACT §2a): canonical and Segment shapes


@pytest.fixture()
def paths(tmp_path: Path) -> Paths:
    write_catalog(tmp_path / "catalog")
    p = Paths(home=tmp_path, warehouse=tmp_path / "w" / "c.duckdb", landing=tmp_path,
              dagster_home=tmp_path / "d")  # fmt: skip
    with working_database(p) as con:
        load_catalog(con, tmp_path / "catalog")
    return p


PROPS = {"request_id": "r1", "model_version": "m1", "variant": "default", "surface": "home"}


def listed(message_id: str, products: list, **props: object) -> dict:
    return {"type": "track", "event": "Product List Viewed", "messageId": message_id,
            "userId": "u1", "timestamp": ts(7, "10:00:00"),
            "properties": {**PROPS, **props, "products": products}}  # fmt: skip


def products(*series: str) -> list[dict]:
    return [{"product_id": s, "position": i + 1} for i, s in enumerate(series)]


RECORDS = [
    listed("L1", products("S1", "S3")),  # 1: two impressions
    listed("L2", products("S1", "S9")),  # 2: a product of no known series: quarantined whole
    listed("L3", []),  # 3: no products
    {
        "type": "track",
        "event": "Product Clicked",
        "messageId": "C1",
        "userId": "u1",
        "timestamp": ts(7, "10:00:01"),
        "properties": {**PROPS, "product_id": "S1", "position": 1},
    },
    imp("i1", "u1", "r1", "S1", 3, ts(7, "10:00:00")),  # 5: canonical
    {
        k: v for k, v in imp("i2", "u1", "r1", "S1", 3, ts(7, "10:00:00")).items() if k != "surface"
    },  # 6: no surface  # fmt: skip
    imp("i3", "u1", "r1", "S1", "x", ts(7, "10:00:00"), kind="recommendation_click"),  # 7
    {
        k: v
        for k, v in imp("i4", "u1", "r1", "S1", 3, ts(7, "10:00:00")).items()
        if k != "request_id"
    },  # 8: no request id  # fmt: skip
    listed("L1", products("S1", "S3")),  # 9: the same list again: one duplicate record
    listed("L4", [{"product_id": "S4"}], list_id="for_you", surface=None),  # 10: list_id
    imp("i5", "u1", "r1", "S1", 0, ts(7, "10:00:00")),  # 11: position 0
]


def test_segment_lists_and_clicks_map_onto_impressions_and_the_record_counts_once(
    paths: Paths, tmp_path: Path
) -> None:
    f = tmp_path / "rec.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    with working_database(paths) as con:
        acc = ingest_file(con, f, now=NOW)
        stored = con.execute(
            "SELECT event_id, event_type, series_id, request_id, model_version, variant, "
            "surface, list_position, source_shape, record_number FROM raw.events ORDER BY 1"
        ).fetchall()
        quarantined = con.execute(
            "SELECT record_number, reason FROM raw.quarantine ORDER BY 1"
        ).fetchall()
        view = con.execute(
            "SELECT count(*) FROM raw.quarantine WHERE raw_record LIKE '%\"L2\"%'"
        ).fetchone()
    assert (acc.records_in, acc.loaded, acc.quarantined, acc.duplicates) == (11, 4, 6, 1)
    assert acc.reasons == {"bad_value:position": 2, "missing_field:products": 1,
                           "missing_field:request_id": 1, "missing_field:surface": 1,
                           "unknown_series": 1}  # fmt: skip
    assert stored == [
        ("C1", "recommendation_click", "S1", "r1", "m1", "default", "home", 1, "segment", 4),
        ("L1:1", "recommendation_impression", "S1", "r1", "m1", "default", "home", 1, "segment", 1),
        ("L1:2", "recommendation_impression", "S3", "r1", "m1", "default", "home", 2, "segment", 1),
        ("L4:1", "recommendation_impression", "S4", "r1", "m1", "default", "for_you", 1, "segment", 10),
        ("i1", "recommendation_impression", "S1", "r1", "m1", "default", "home", 3, "canonical", 5),
    ]  # fmt: skip
    assert quarantined == [
        (2, "unknown_series"), (3, "missing_field:products"), (6, "missing_field:surface"),
        (7, "bad_value:position"), (8, "missing_field:request_id"), (11, "bad_value:position"),
    ]  # fmt: skip
    assert view == (1,)  # the list record is kept once, whole


def test_a_quarantined_list_is_replayed_whole_once_its_series_exists(
    paths: Paths, tmp_path: Path
) -> None:
    f = tmp_path / "rec.jsonl"
    f.write_text(json.dumps(listed("L2", products("S1", "S9"))) + "\n")
    with working_database(paths) as con:
        assert ingest_file(con, f, now=NOW).quarantined == 1
        con.execute(
            "INSERT INTO raw.series SELECT * REPLACE ('S9' AS series_id) FROM raw.series "
            "WHERE series_id = 'S4'"
        )
        result = replay_quarantine(con, now=NOW)
        ids = con.execute("SELECT event_id FROM raw.events ORDER BY 1").fetchall()
        balance = con.execute(
            "SELECT records_in, loaded, quarantined, duplicates FROM raw.ingestion_files"
        ).fetchone()
    assert (result.examined, result.loaded, result.still_quarantined) == (1, 1, 0)
    assert ids == [("L2:1",), ("L2:2",)]
    assert balance == (1, 1, 0, 0)


# ---- generated data: the A/B analysis finds the planted lift and nothing in an A/A test


def analysed(root: Path, mode: str, users: int = 2000) -> Paths:
    from features.recommendation_performance import build_recommendation_experiment
    from features.sessions import build_sessions
    from ingest.catalog import refresh_public_catalog
    from ingest.events import event_files, ingest_files
    from ingest.served_log import served_files
    from synthetic import GenerateSpec, generate

    data = root / "data"
    generate(GenerateSpec(users=users, days=7, seed=11, out=data, feedback=mode))
    p = Paths(home=root, warehouse=root / "w" / "c.duckdb", landing=data,
              dagster_home=root / "d")  # fmt: skip
    with working_database(p) as con:
        load_catalog(con, data / "catalog")
        refresh_public_catalog(con)
        accounting = ingest_files(con, event_files([data / "events"]))
        assert all(a.quarantined == 0 and a.duplicates == 0 for a in accounting)
        read_served_log(con, served_files(data / "served"))
        build_sessions(con, MetricParams())
        build_recommendation_performance(con, MetricParams())
        build_recommendation_experiment(con, {"synthetic-ranker": 0.5})
    return p


def experiment(p: Paths) -> dict[str, dict]:
    with working_database(p) as con:
        rows = con.execute("SELECT * FROM analytics.recommendation_experiment").fetchall()
        names = [d[0] for d in con.description]
    return {r[1]: dict(zip(names, r, strict=True)) for r in rows}


@pytest.fixture(scope="module")
def ab(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    return analysed(tmp_path_factory.mktemp("ab"), "ab")


@pytest.fixture(scope="module")
def aa(tmp_path_factory: pytest.TempPathFactory) -> Paths:
    return analysed(tmp_path_factory.mktemp("aa"), "aa")


def test_the_planted_lift_is_found(ab: Paths) -> None:
    rows = experiment(ab)
    control, challenger = rows["control"], rows["challenger"]
    assert challenger["ctr_diff_ci_low"] > 0
    # the lift is planted on every tap but the discovery lists' own (variant-blind) taps
    assert 1.05 < challenger["ctr"] / control["ctr"] < 1.35
    assert not challenger["is_srm"] and challenger["srm_p_value"] > 0.001
    assert control["users_in_both_variants"] == 0
    with working_database(ab) as con:
        unmatched, starts = con.execute(
            "SELECT count(*) FILTER (WHERE NOT is_matched), count(attributed_start_at) "
            "FROM analytics.recommendation_impressions"
        ).fetchone()
    assert unmatched == 0 and starts > 0  # every simulated impression was served


def test_an_aa_test_stays_quiet(aa: Paths) -> None:
    challenger = experiment(aa)["challenger"]
    assert challenger["ctr_diff_ci_low"] < 0 < challenger["ctr_diff_ci_high"]
    assert challenger["start_rate_diff_ci_low"] < 0 < challenger["start_rate_diff_ci_high"]
    assert not challenger["is_srm"]


def test_srm_fires_on_a_skewed_split_and_not_on_a_fair_one() -> None:
    import polars as pl

    from features.recommendation_performance import experiment_rows

    def split(n_control: int, n_challenger: int) -> pl.DataFrame:
        variants = ["control"] * n_control + ["challenger"] * n_challenger
        return pl.DataFrame({"experiment": ["e"] * len(variants), "variant": variants,
                             "user_id": [f"u{i}" for i in range(len(variants))],
                             "impressions": [10] * len(variants), "clicks": [1] * len(variants),
                             "starts": [0] * len(variants)})  # fmt: skip

    fair = {r["variant"]: r for r in experiment_rows(split(1010, 990), {"e": 0.5})}
    skewed = {r["variant"]: r for r in experiment_rows(split(1100, 900), {"e": 0.5})}
    # chi-square by hand: (1010 - 1000)^2 / 1000 * 2 = 0.2; (1100 - 1000)^2 / 1000 * 2 = 20
    assert fair["challenger"]["srm_chi2"] == pytest.approx(0.2)
    assert not fair["challenger"]["is_srm"]
    assert skewed["challenger"]["srm_chi2"] == pytest.approx(20.0)
    assert skewed["challenger"]["is_srm"] and skewed["challenger"]["srm_p_value"] < 1e-5
    # the planned share is the reference: 900 of 2000 is what a 45 % challenger expects
    planned = {r["variant"]: r for r in experiment_rows(split(1100, 900), {"e": 0.45})}
    assert planned["challenger"]["srm_chi2"] == pytest.approx(0.0)


def test_ratio_of_means_by_hand() -> None:
    from features.recommendation_performance import ratio_of_means

    # users (clicks, impressions): (1, 2), (0, 2), (3, 4): R = 4 / 8 = 0.5; residuals 0, -1, 1;
    # se = sqrt(2 / (3 * 2)) / (8 / 3) = 0.2165
    r, se = ratio_of_means([1, 0, 3], [2, 2, 4])
    assert (r, se) == (0.5, pytest.approx((2 / 6) ** 0.5 / (8 / 3)))


def test_feedback_generation_is_deterministic_and_leaves_the_rest_unchanged(tmp_path: Path) -> None:
    from synthetic import GenerateSpec, generate

    def files(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes()
                for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip

    for name, mode in (("a", "ab"), ("b", "ab"), ("plain", "off")):
        generate(GenerateSpec(users=120, days=2, seed=5, out=tmp_path / name, fmt="segment",
                              feedback=mode))  # fmt: skip
    a, b, plain = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "plain")
    assert a == b
    extra = {k for k in a if k.startswith(("served/", "events/recommendations_"))}
    assert extra and "experiment.toml" in a
    assert {
        k: v for k, v in a.items() if k not in extra | {"experiment.toml", "manifest.json"}
    } == {k: v for k, v in plain.items() if k != "manifest.json"}
    first = json.loads(next(v for k, v in a.items() if k.startswith("events/rec")).splitlines()[0])
    assert first["event"] in ("Product List Viewed", "Product Clicked")
