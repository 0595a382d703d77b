"""train_served: the recommender's train + evaluate + publish, with the ranker vs without.

``python -m benchmarks.train_served [--home HOME] [--repeats 2]``

``HOME`` is a ``CLIFFHANGER_HOME`` the pipeline has run on (``cliffhanger ingest`` +
``cliffhanger run``; by default the 31 k-user home kept by ``python -m
benchmarks.pipeline_quality --datasets gen31k --keep``). Each run, in a fresh process, copies
its working database to a temporary home (untimed) and then times exactly what the two model
assets do (``pipelines/assets_models.py``): ``tune_and_evaluate`` (every model tuned on
validation, scored on the test period, the paired gate), ``save_selection``,
``train_served`` (the choice refit through the data end; the ranker's lists precomputed for
the active users) and ``publish_served`` (warehouse tables and the bundle). The baseline is
the same run with the ranker off (``RecommenderConfig(ranker=False)``: the single models and
blends only), alternated with it, same data. Peak RSS is each process's VmHWM.

Writes ``benchmarks/results/train_served.json`` and ``.md``. Target (BENCHMARKS.md): ≤ 2×.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.runner import RESULTS, WORK, Timing, machine, timed

TARGET = "≤ 2× the same train + evaluate + publish without the ranker"


def one_run(home: str, ranker: bool) -> dict:
    """Copy ``home``'s working database to a temporary home; time the model assets' work."""
    os.environ["CLIFFHANGER_HOME"] = tempfile.mkdtemp(prefix="train-served-", dir=WORK)
    from core import event_store
    from core.config import AUTO_TEST_DAYS_MAX, metric_params, parse_test_days, paths
    from core.warehouse import working_database
    from models.evaluate import LEARNED, MODELS, tune_and_evaluate
    from models.publish import (
        load_selection_record,
        publish_served,
        save_selection,
        selection_from_record,
    )
    from models.recommenders import BASELINES
    from models.train import model_version, train_served

    source = Path(home) / "warehouse" / "_work" / "cliffhanger-work.duckdb"
    target = paths()
    target.working_db.parent.mkdir(parents=True)
    shutil.copyfile(source, target.working_db)
    # the events' Parquet files beside it (core/event_store.py), hard-linked: never edited
    shutil.copytree(source.parent / "events", target.working_db.parent / "events",
                    copy_function=os.link, dirs_exist_ok=True)  # fmt: skip
    test_days = metric_params().test_days
    try:
        with working_database(target) as con:
            event_store.refresh_view(con, event_store.root_of(con))  # over the copied files
            events = con.execute("SELECT count(*) FROM raw.events").fetchone()[0]
            start = time.perf_counter()
            selection = tune_and_evaluate(
                con, test_days=test_days, models=(MODELS if ranker else LEARNED) + BASELINES
            )
            evaluated = time.perf_counter()
            version = model_version(selection.served, dt.datetime.now(dt.UTC))
            save_selection(con, selection, version)
            record = load_selection_record(con)
            active_days = parse_test_days(test_days) or AUTO_TEST_DAYS_MAX
            served = train_served(con, selection_from_record(record), version=version,
                                  active_days=active_days)  # fmt: skip
            trained = time.perf_counter()
            metrics = {f"{m}@10": v for m, v in con.execute(
                "SELECT metric, value FROM analytics.model_evaluation WHERE model = ?",
                [record["served"]]).fetchall()}  # fmt: skip
            out = publish_served(con, served, record, metrics, target.models_dir,
                                 active_days=active_days)  # fmt: skip
            done = time.perf_counter()
            users = int(served.matrix.X.shape[0])
            interactions = int(served.matrix.X.nnz)
    finally:
        shutil.rmtree(target.home, ignore_errors=True)
    return {"timed_seconds": done - start, "evaluate_s": round(evaluated - start, 2),
            "train_s": round(trained - evaluated, 2), "publish_s": round(done - trained, 2),
            "served": out["served"], "users": users, "interactions": interactions,
            "recommendations": out["recommendations"], "events": events}  # fmt: skip


def default_home() -> Path | None:
    path = RESULTS / "pipeline_quality.json"
    if path.exists():
        for r in json.loads(path.read_text()):
            if r["dataset"] == "gen31k" and r.get("home") and Path(r["home"]).is_dir():
                return Path(r["home"])
    return None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.train_served",
                                 description=__doc__.split("\n\n")[0])  # fmt: skip
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=2, help="runs of each, alternated")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    home = args.home or default_home()
    if home is None:
        sys.exit("no home: run `python -m benchmarks.pipeline_quality --datasets gen31k --keep` "
                 "first, or pass --home")  # fmt: skip
    with_runs: list[Timing] = []
    without_runs: list[Timing] = []
    for i in range(args.repeats):
        for ranker, runs in ((False, without_runs), (True, with_runs)):
            t = timed(one_run, str(home), ranker)
            t = Timing(t.detail["timed_seconds"], t.peak_rss_mb, t.detail)
            runs.append(t)
            print(f"  run {i + 1}/{args.repeats} ranker={ranker}: {t.seconds:.1f} s, "
                  f"{t.peak_rss_mb:.0f} MB, {json.dumps(t.detail)}", file=sys.stderr)  # fmt: skip
    seconds = statistics.median(t.seconds for t in with_runs)
    base = statistics.median(t.seconds for t in without_runs)
    detail = with_runs[0].detail
    row = {
        "stage": "train_served", "events": detail["events"], "users": detail["users"],
        "interactions": detail["interactions"], "seconds": round(seconds, 2),
        "runs_seconds": [round(t.seconds, 2) for t in with_runs],
        "baseline": "train_served_without_ranker", "baseline_seconds": round(base, 2),
        "baseline_runs_seconds": [round(t.seconds, 2) for t in without_runs],
        "ratio": round(seconds / base, 3),
        "peak_rss_mb": round(max(t.peak_rss_mb for t in with_runs)),
        "baseline_peak_rss_mb": round(max(t.peak_rss_mb for t in without_runs)),
        "served": detail["served"], "baseline_served": without_runs[0].detail["served"],
        "parts_s": {k: [t.detail[k] for t in with_runs] for k in ("evaluate_s", "train_s",
                                                                   "publish_s")},
        "baseline_parts_s": {k: [t.detail[k] for t in without_runs]
                             for k in ("evaluate_s", "train_s", "publish_s")},
        "home": str(home), "target": TARGET, "target_met": seconds / base <= 2.0, **machine(),
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_served.json").write_text(json.dumps([row], indent=2, default=str) + "\n")
    (args.out / "train_served.md").write_text(render(row))
    print(render(row))


def render(r: dict) -> str:
    parts = ", ".join(f"{k[:-2]} {statistics.median(v):.1f} s" for k, v in r["parts_s"].items())
    bparts = ", ".join(
        f"{k[:-2]} {statistics.median(v):.1f} s" for k, v in r["baseline_parts_s"].items()
    )
    return f"""# train_served — train + evaluate + publish, with the ranker vs without

Run of {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {r["cores"]} cores, {r["memory_gb"]} GB (shared machine).
`python -m benchmarks.train_served`: medians of {len(r["runs_seconds"])} runs of each, alternated, each in a fresh process on a copy of the same working database.

| stage | users | interactions | seconds | baseline (same run) | baseline s | ratio | peak RSS MB | baseline peak RSS MB | target |
|---|---:|---:|---:|---|---:|---:|---:|---:|---|
| train_served | {r["users"]:,} | {r["interactions"]:,} | {r["seconds"]} | {r["baseline"]} | {r["baseline_seconds"]} | {r["ratio"]}× | {r["peak_rss_mb"]:,} | {r["baseline_peak_rss_mb"]:,} | {r["target"]}: **{"met" if r["target_met"] else "NOT met"}** |

- Runs (s): with the ranker {r["runs_seconds"]} ({parts}; served: {r["served"]}); without {r["baseline_runs_seconds"]} ({bparts}; served: {r["baseline_served"]}).
- Data: the pipeline's warehouse of `{Path(r["home"]).name}` ({r["users"]:,} users known to the model), not the 1 M-user set BENCHMARKS.md names: a 1 M-user event log (about 300 M events) does not fit this session's time on a shared 2-core machine.
"""


if __name__ == "__main__":
    main()
