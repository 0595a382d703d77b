"""Hand-written records: Segment Video Spec mapping, canonical edge cases, hostile files."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from core.config import Paths
from core.warehouse import working_database
from ingest.catalog import load_catalog
from ingest.events import ingest_file

NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
UTC = dt.UTC


@pytest.fixture()
def paths(tmp_path: Path) -> Paths:
    cat = tmp_path / "catalog"
    cat.mkdir()
    (cat / "series.csv").write_text(
        "series_id,title,genres,language,original_series_id,n_episodes,free_episodes,"
        "release_date,production_type,production_cost_usd\n"
        "S1,Show,romance|revenge,en,,3,1,2026-01-01,ai,15000\n"
        "S2,Show [es],romance|revenge,es,S1,3,1,2026-02-01,ai,900\n"
    )
    (cat / "episodes.csv").write_text(
        "episode_id,series_id,episode_number,duration_s\n"
        + "".join(f"S{s}-E{e},S{s},{e},90\n" for s in (1, 2) for e in (1, 2, 3))
    )
    p = Paths(home=tmp_path, warehouse=tmp_path / "w" / "c.duckdb", landing=tmp_path,
              dagster_home=tmp_path / "d")  # fmt: skip
    with working_database(p) as con:
        load_catalog(con, cat)
    return p


def segment(event: str, props: dict, message_id: str, **top: object) -> dict:
    record = {"type": "track", "event": event, "messageId": message_id,
              "timestamp": "2026-09-07T10:00:00.000Z", "properties": props}  # fmt: skip
    record.update(top)
    if "userId" not in record and "anonymousId" not in record:
        record["userId"] = "u1"
    return record


LINES = [
    # 1..10: Segment Video Spec
    segment(
        "Video Content Started",
        {
            "session_id": "c1",
            "asset_id": "S1-E2",
            "position": 0,
            "total_length": 90,
            "episode": "2",
            "program": "Show",
        },
        "m1",
    ),  # fmt: skip
    segment("Video Content Playing", {"asset_id": "S1-E2", "position": 5}, "m2"),
    segment("Video Playback Exited", {"content_asset_id": "S1-E2", "position": 42.5}, "m3"),
    segment("Video Playback Started", {"content_asset_ids": ["S1-E2"], "position": 0}, "m4"),
    segment(
        "Video Content Completed", {"asset_id": "S1-E3", "position": 90}, "m5", anonymousId="anon-9"
    ),  # fmt: skip
    segment("Video Playback Interrupted", {"content_asset_id": "S1-E3", "position": 7}, "m6"),
    segment("Video Content Rewound", {"asset_id": "S1-E2", "position": 3}, "m7"),
    {"type": "identify", "userId": "u1", "traits": {"plan": "vip"}, "messageId": "m8"},
    segment("Video Content Playing", {"asset_id": "S1-E2"}, "m9"),
    segment("Video Content Started", {"asset_id": "S9-E1", "position": 0}, "m10"),
    # 11..18: canonical
    {
        "event_id": "c11",
        "event_type": "episode_start",
        "ts": "2026-09-07T19:00:00.250+09:00",
        "user_id": "u2",
        "series_id": "S1",
        "episode_number": 1,
    },  # fmt: skip
    {
        "event_id": "c12",
        "event_type": "episode_progress",
        "ts": 1788775200000,
        "user_id": "u2",
        "series_id": "S1",
        "episode_number": 1,
        "position_s": 5,
    },  # fmt: skip
    {
        "event_id": "c13",
        "event_type": "episode_start",
        "ts": "2026-09-07T10:00:00Z",
        "user_id": "u3",
        "episode_id": "S2-E1",
    },  # fmt: skip
    {"event_id": "c14", "event_type": "app_open", "ts": "2026-09-07T10:00:00", "user_id": "u3"},
    {
        "event_id": "c15",
        "event_type": "episode_start",
        "ts": "2026-09-07T10:00:00Z",
        "user_id": "u3",
        "series_id": "S1",
        "episode_number": 4,
    },  # fmt: skip
    {
        "event_id": "c16",
        "event_type": "purchase",
        "ts": "2026-09-07T10:00:00Z",
        "user_id": "u3",
        "series_id": "S2",
        "amount_usd": 4.99,
    },  # fmt: skip
    [1, 2],
    {
        "event_id": "m1",
        "event_type": "episode_start",
        "ts": "2026-09-07T10:00:00Z",
        "user_id": "u1",
        "series_id": "S1",
        "episode_number": 2,
    },  # fmt: skip
]


def write_lines(path: Path, lines: list, blank_after: int | None = None) -> None:
    text = []
    for i, rec in enumerate(lines, start=1):
        text.append(json.dumps(rec))
        if blank_after == i:
            text.append("")
    path.write_text("\n".join(text) + "\n")


def test_segment_and_canonical_records_map_to_canonical_events(
    paths: Paths, tmp_path: Path
) -> None:
    f = tmp_path / "mixed.jsonl"
    write_lines(f, LINES, blank_after=16)  # a blank line: skipped, but line numbers go on
    with working_database(paths) as con:
        result = ingest_file(con, f, now=NOW)
        rows = con.execute(
            "SELECT record_number, event_id, event_type, ts, user_id, session_id, series_id, "
            "episode_number, position_s, amount_usd, source_shape FROM raw.events "
            "ORDER BY record_number"
        ).fetchall()
        quarantine = con.execute(
            "SELECT record_number, reason FROM raw.quarantine ORDER BY record_number"
        ).fetchall()
    t10 = dt.datetime(2026, 9, 7, 10, 0, tzinfo=UTC)
    assert rows == [
        (1, "m1", "episode_start", t10, "u1", "c1", "S1", 2, 0.0, None, "segment"),
        (2, "m2", "episode_progress", t10, "u1", None, "S1", 2, 5.0, None, "segment"),
        (3, "m3", "episode_exit", t10, "u1", None, "S1", 2, 42.5, None, "segment"),
        (4, "m4", "video_playback_started", t10, "u1", None, "S1", 2, 0.0, None, "segment"),
        (5, "m5", "episode_complete", t10, "anon-9", None, "S1", 3, 90.0, None, "segment"),
        (6, "m6", "episode_exit", t10, "u1", None, "S1", 3, 7.0, None, "segment"),
        (
            11,
            "c11",
            "episode_start",
            dt.datetime(2026, 9, 7, 10, 0, 0, 250000, tzinfo=UTC),
            "u2",
            None,
            "S1",
            1,
            None,
            None,
            "canonical",
        ),  # fmt: skip
        (
            12,
            "c12",
            "episode_progress",
            dt.datetime.fromtimestamp(1788775200, UTC),
            "u2",
            None,
            "S1",
            1,
            5.0,
            None,
            "canonical",
        ),  # fmt: skip
        (13, "c13", "episode_start", t10, "u3", None, "S2", 1, None, None, "canonical"),
        (16, "c16", "purchase", t10, "u3", None, "S2", None, None, 4.99, "canonical"),
    ]
    assert quarantine == [
        (7, "unknown_event_type"),
        (8, "unsupported_shape"),
        (9, "missing_field:position_s"),
        (10, "unknown_episode"),
        (14, "bad_value:ts"),
        (15, "unknown_episode"),
        (18, "malformed"),
    ]
    # line 19 repeats m1: a duplicate; line 17 is blank and carries no record
    assert (result.records_in, result.loaded, result.quarantined, result.duplicates) == (
        18, 10, 7, 1,
    )  # fmt: skip
    assert result.reader == "duckdb"  # the fast path read it


def test_crlf_and_odd_bytes_take_the_exact_reader_with_the_same_result(
    paths: Paths, tmp_path: Path
) -> None:
    """CRLF line ends, a raw 0x01 and invalid UTF-8 go through the Python reader: same
    records, same line numbers."""
    lines = [json.dumps(r) for r in LINES[10:13]]
    crlf = tmp_path / "crlf.jsonl"
    crlf.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    odd = tmp_path / "odd.jsonl"
    odd.write_bytes(
        lines[0].encode() + b"\n" + b'{"event_id": "z\x01", "bad": "\xff"}\n'
        + lines[1].replace("c12", "c12b").encode() + b"\n"
    )  # fmt: skip
    with working_database(paths) as con:
        r1 = ingest_file(con, crlf, now=NOW)
        r2 = ingest_file(con, odd, now=NOW)
        quarantine = con.execute(
            "SELECT file_path, record_number, reason FROM raw.quarantine ORDER BY 1, 2"
        ).fetchall()
        numbers = con.execute(
            "SELECT event_id, record_number FROM raw.events ORDER BY 1"
        ).fetchall()
    assert (r1.reader, r1.records_in, r1.loaded) == ("python", 3, 3)
    assert (r2.reader, r2.records_in, r2.loaded, r2.quarantined, r2.duplicates) == (
        "python", 3, 1, 1, 1,
    )  # fmt: skip
    assert quarantine == [(str(odd), 2, "malformed")]
    assert numbers == [("c11", 1), ("c12", 2), ("c12b", 3), ("c13", 3)]


def test_quarantine_keeps_the_raw_record(paths: Paths, tmp_path: Path) -> None:
    f = tmp_path / "one.jsonl"
    f.write_text('{"event_id": "x", "event_type": "like", "user_id": "u"}\n{not json\n')
    with working_database(paths) as con:
        ingest_file(con, f, now=NOW)
        rows = con.execute(
            "SELECT file_path, record_number, reason, raw_record FROM raw.quarantine ORDER BY 2"
        ).fetchall()
    assert rows == [
        (str(f), 1, "missing_field:ts", '{"event_id": "x", "event_type": "like", "user_id": "u"}'),
        (str(f), 2, "malformed", "{not json"),
    ]


def test_csv_and_parquet_inputs(paths: Paths, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv_file = tmp_path / "events.csv"
    csv_file.write_text(
        "event_id,event_type,ts,user_id,series_id,episode_number,position_s\n"
        "a1,episode_start,2026-09-07T10:00:00Z,u1,S1,1,\n"
        "a2,episode_progress,1788775200000,u1,S1,1,5\n"
        "a3,episode_progress,2026-09-07T10:00:10Z,u1,S1,1,-1\n"
    )
    table = pa.table({
        "event_id": ["p1", "p2"], "event_type": ["episode_exit", "episode_exit"],
        "ts": pa.array([dt.datetime(2026, 9, 7, 10, 0, tzinfo=UTC)] * 2, pa.timestamp("ms", "UTC")),
        "user_id": ["u1", None], "series_id": ["S1", "S1"], "episode_number": [2, 2],
        "position_s": [12.5, 3.0],
    })  # fmt: skip
    pq.write_table(table, tmp_path / "events.parquet")
    with working_database(paths) as con:
        csv_result = ingest_file(con, csv_file, now=NOW)
        pq_result = ingest_file(con, tmp_path / "events.parquet", now=NOW)
        rows = con.execute(
            "SELECT event_id, ts, position_s FROM raw.events ORDER BY event_id"
        ).fetchall()
        quarantine = con.execute(
            "SELECT record_number, reason, raw_record::JSON->>'event_id' FROM raw.quarantine ORDER BY 1"
        ).fetchall()
    assert (csv_result.loaded, csv_result.quarantined) == (2, 1)
    assert (pq_result.loaded, pq_result.quarantined) == (1, 1)
    assert rows == [
        ("a1", dt.datetime(2026, 9, 7, 10, 0, tzinfo=UTC), None),
        ("a2", dt.datetime.fromtimestamp(1788775200, UTC), 5.0),
        ("p1", dt.datetime(2026, 9, 7, 10, 0, tzinfo=UTC), 12.5),
    ]
    assert quarantine == [(2, "missing_field:user_id", "p2"), (3, "bad_value:position_s", "a3")]


def test_hostile_files_are_refused_or_quarantined_not_crashing(
    paths: Paths, tmp_path: Path
) -> None:
    bomb = tmp_path / "bomb.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        zeros = b"\n" * (64 << 20)
        for _ in range(6):  # 384 MiB of newlines in a file of a few hundred KiB
            fh.write(zeros)
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(bytes(range(256)) * 100)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.jsonl.gz"
    payload = "".join(json.dumps({"event_id": f"e{i}", "n": i * 7919 % 10007}) + "\n"
                      for i in range(20_000)).encode()  # fmt: skip
    packed = gzip.compress(payload)
    corrupt.write_bytes(packed[: len(packed) // 2])  # cut mid-stream
    huge = tmp_path / "huge.jsonl"
    with open(huge, "w") as fh:
        fh.write(
            '{"event_id": "ok1", "event_type": "app_open", "ts": 1788775200000, "user_id": "u"}\n'
        )
        fh.write('{"event_id": "big", "pad": "' + "x" * (100 << 20) + '"}\n')
        fh.write(
            '{"event_id": "ok2", "event_type": "app_open", "ts": 1788775200000, "user_id": "u"}\n'
        )
    with working_database(paths) as con:
        results = {
            p.name: ingest_file(con, p, now=NOW) for p in (bomb, binary, empty, corrupt, huge)
        }
        big = con.execute(
            "SELECT record_number, reason, length(raw_record) FROM raw.quarantine"
        ).fetchall()
        refused = con.execute("SELECT count(*) FROM raw.refused_files").fetchone()[0]
        stored = con.execute("SELECT event_id FROM raw.events ORDER BY 1").fetchall()
    assert results["bomb.jsonl.gz"].status == "refused"
    assert "gzip bomb" in results["bomb.jsonl.gz"].message
    assert results["binary.jsonl"].status == "refused"
    assert "binary" in results["binary.jsonl"].message
    assert results["empty.jsonl"].status == "refused"
    assert "empty" in results["empty.jsonl"].message
    assert results["corrupt.jsonl.gz"].status == "refused"
    assert "corrupt" in results["corrupt.jsonl.gz"].message
    assert refused == 4
    r = results["huge.jsonl"]
    assert (r.status, r.records_in, r.loaded, r.quarantined) == ("ingested", 3, 2, 1)
    assert big == [(2, "record_too_large", 64 << 10)]
    assert stored == [("ok1",), ("ok2",)]


def test_paths_with_quotes_are_bound_not_pasted(paths: Paths, tmp_path: Path) -> None:
    odd = tmp_path / 'it\'s "odd"; DROP TABLE raw.events; --.jsonl'
    odd.write_text(json.dumps({"event_id": "q1", "event_type": "app_open",
                               "ts": "2026-09-07T10:00:00Z", "user_id": "u"}) + "\n")  # fmt: skip
    parquet_dir = tmp_path / "o'brien"
    parquet_dir.mkdir()
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table(
            {
                "event_id": ["q2"],
                "event_type": ["app_open"],
                "ts": ["2026-09-07T10:00:00Z"],
                "user_id": ["u"],
            }
        ),  # fmt: skip
        parquet_dir / "x'.parquet",
    )
    with working_database(paths) as con:
        assert ingest_file(con, odd, now=NOW).loaded == 1
        assert ingest_file(con, parquet_dir / "x'.parquet", now=NOW).loaded == 1
        assert con.execute("SELECT count(*) FROM raw.events").fetchone()[0] == 2
        assert con.execute("SELECT file_path FROM raw.ingestion_files ORDER BY 1").fetchall() == [
            (str(odd),), (str(parquet_dir / "x'.parquet"),)
        ]  # fmt: skip


def test_a_file_refused_half_way_leaves_nothing_behind(paths: Paths, tmp_path: Path) -> None:
    """A gzip file corrupt past its first MiB is refused after some of it was read; its
    records must not count as earlier deliveries of the next file's events."""
    records = [
        json.dumps(
            {
                "event_id": f"e{i}",
                "event_type": "app_open",
                "user_id": "u",
                "ts": 1788775200000 + i,
                "pad": f"{i * 7919 % 100003:08d}",
            }
        )  # fmt: skip
        for i in range(200_000)
    ]
    packed = gzip.compress(("\n".join(records) + "\n").encode())
    broken = tmp_path / "a_broken.jsonl.gz"
    broken.write_bytes(packed[: int(len(packed) * 0.6)])
    after = tmp_path / "b_after.jsonl"
    after.write_text("\n".join(records[:3]) + "\n")
    with working_database(paths) as con:
        from ingest.events import ingest_files

        first, second = ingest_files(con, [broken, after], now=NOW)
        stored = con.execute("SELECT event_id FROM raw.events ORDER BY 1").fetchall()
    assert first.status == "refused" and "corrupt" in first.message
    assert (second.status, second.loaded, second.duplicates) == ("ingested", 3, 0)
    assert stored == [("e0",), ("e1",), ("e2",)]
