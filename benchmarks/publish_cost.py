"""Publishing cost against the size of the event history (issue #16, BENCHMARKS.md style).

``python -m benchmarks.publish_cost --sizes 1000000 10000000``

For each size, a working database is filled with that many generated events (30 days, through
``core.event_store``: date-partitioned Parquet files, as ingestion stores them) and a small
``analytics`` schema (the events view and a per-user table). Then, in the same run:

- ``publish_shared``: ``core.warehouse.publish`` as the pipeline runs it — the snapshot's
  ``analytics.events`` is a view over the fixed list of the events' files;
- ``publish_copy`` (the baseline, the design before): the same publish with the events view
  reading a native table instead, so it is materialized into the snapshot as before.

Writes ``benchmarks/results/publish_cost.json`` and ``.md``: seconds (median of 3), snapshot
size, and the growth of each from the smallest to the largest size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from core import event_store
from core.config import Paths
from core.warehouse import publish, working_database
from ingest.events import ensure_schema

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"

GENERATED = """
SELECT 'e' || range AS event_id, 'episode_heartbeat' AS event_type,
       TIMESTAMPTZ '2026-09-01 00:00:00+00' + to_seconds(range * (30 * 86400 // $n)) AS ts,
       (TIMESTAMPTZ '2026-09-01 00:00:00+00' + to_seconds(range * (30 * 86400 // $n)))::DATE,
       'u' || (range % 100000) AS user_id, NULL, 'S' || (range % 300), (range % 60)::INTEGER,
       (range % 120)::DOUBLE, NULL, NULL, 'ios', '1.0', 'US', 'en', 'canonical', 'sha',
       range, now(), NULL, NULL, NULL, NULL, NULL
FROM range($n)
"""


def build(paths: Paths, n: int) -> None:
    with working_database(paths) as con:
        ensure_schema(con)
        root = event_store.root_of(con)
        files = event_store.write(con, root, GENERATED, {"n": n})  # type: ignore[arg-type]
        con.execute("BEGIN TRANSACTION")
        event_store.register(con, root, files, dt.datetime.now(dt.UTC))  # type: ignore[arg-type]
        con.execute("COMMIT")
        con.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        con.execute(
            "CREATE TABLE analytics.users AS SELECT user_id, count(*) AS events FROM raw.events "
            "GROUP BY 1"
        )
        # the baseline's source: the same events in a native table
        con.execute("CREATE TABLE raw.events_native AS SELECT * FROM raw.events")


def time_publish(paths: Paths, source: str, repeats: int) -> tuple[list[float], int]:
    times, size = [], 0
    for _ in range(repeats):
        with working_database(paths) as con:
            # source: one of this module's two table names, never input
            cols = "event_id, event_type, ts, event_date, user_id, series_id, episode_number"
            view = f"CREATE OR REPLACE VIEW analytics.events AS SELECT {cols} FROM {source}"  # noqa: S608
            con.execute(view)
            started = time.perf_counter()
            snap = publish(con, paths, keep=2)
            times.append(time.perf_counter() - started)
            size = snap.path.stat().st_size
    return times, size


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    rows = []
    for n in args.sizes:
        tmp = Path(tempfile.mkdtemp(prefix=f"publish-{n}-"))
        try:
            paths = Paths(tmp, tmp / "warehouse" / "cliffhanger.duckdb", tmp / "landing", tmp)
            t0 = time.perf_counter()
            build(paths, n)
            print(f"{n:,} events built in {time.perf_counter() - t0:.1f} s", flush=True)
            for stage, source in (("publish_shared", "raw.events"),
                                  ("publish_copy", "raw.events_native")):  # fmt: skip
                times, size = time_publish(paths, source, args.repeats)
                rows.append({"stage": stage, "events": n, "runs_s": [round(t, 3) for t in times],
                             "seconds": round(statistics.median(times), 3),
                             "snapshot_mb": round(size / 1e6, 2)})  # fmt: skip
                print(json.dumps(rows[-1]), flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    lo, hi = min(args.sizes), max(args.sizes)

    def at(stage: str, n: int) -> dict:
        return next(r for r in rows if r["stage"] == stage and r["events"] == n)

    lines = [
        "# Publishing cost against the event history",
        "",
        f"`python -m benchmarks.publish_cost --sizes {' '.join(map(str, args.sizes))}` "
        f"({dt.date.today().isoformat()}, medians of {args.repeats})",
        "",
        "| stage | events | seconds | runs (s) | snapshot MB |",
        "|---|---:|---:|---|---:|",
        *(
            f"| {r['stage']} | {r['events']:,} | {r['seconds']} | {r['runs_s']} | "
            f"{r['snapshot_mb']} |"
            for r in rows
        ),  # fmt: skip
        "",
    ]
    for stage in ("publish_shared", "publish_copy"):
        a, b = at(stage, lo), at(stage, hi)
        lines.append(f"- {stage}: {hi // lo}× the events → {b['seconds'] / a['seconds']:.2f}× "
                     f"the time, {b['snapshot_mb'] / max(a['snapshot_mb'], 0.01):.2f}× the size")  # fmt: skip
    s, c = at("publish_shared", hi), at("publish_copy", hi)
    lines.append(f"- at {hi:,} events: shared {s['seconds']} s vs copy {c['seconds']} s "
                 f"(the baseline, same run) = {s['seconds'] / c['seconds']:.3f}×")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "publish_cost.json").write_text(json.dumps(rows, indent=2) + "\n")
    (args.out / "publish_cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
