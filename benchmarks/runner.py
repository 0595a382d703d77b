"""Benchmark runner: time each stage against a baseline measured in the same run.

Every timed repetition runs in a fresh child process (spawned, so it shares no warm caches
with the parent) which reports its wall time and its own peak RSS. Each stage runs once as a
warm-up and ``--repeats`` times after; the report gives the median. See BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
WORK = Path(__file__).resolve().parent / "data"
DAYS = 14
ALL_STAGES = (
    "generate_parquet", "generate_jsonl_gz", "ingest_jsonl_gz", "ingest_parquet",
    "metrics_full", "metrics_increment_1day", "sessions_vs_pandas", "launch_assets",
    "launch_forecast_100",
)  # fmt: skip


@dataclass(frozen=True)
class Timing:
    seconds: float
    peak_rss_mb: float
    detail: dict


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM): unlike ru_maxrss it restarts at exec, so a
    spawned child does not inherit its parent's peak."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(fn: Callable[..., dict], args: tuple, queue: mp.Queue) -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    start = time.perf_counter()
    detail = fn(*args) or {}
    seconds = time.perf_counter() - start
    rss_mb = _peak_rss_mb()
    queue.put(Timing(seconds, rss_mb, detail))


def timed(fn: Callable[..., dict], *args: object) -> Timing:
    """Run ``fn(*args)`` in a spawned child; its wall time and its own peak RSS."""
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    while True:
        try:
            result = queue.get(timeout=1.0)
            break
        except Exception:  # queue.Empty: keep waiting while the child lives
            if not proc.is_alive():
                raise RuntimeError(
                    f"benchmark child {fn.__name__} died with exit code {proc.exitcode}"
                ) from None
    proc.join()
    return result


def repeat(fn: Callable[..., dict], args: tuple, repeats: int, label: str) -> list[Timing]:
    print(f"  {label}: warm-up", file=sys.stderr, flush=True)
    timed(fn, *args)
    runs = []
    for i in range(repeats):
        t = timed(fn, *args)
        print(f"  {label}: run {i + 1}/{repeats} {t.seconds:.2f} s", file=sys.stderr, flush=True)
        runs.append(t)
    return runs


# ---- stage bodies (module level so spawned children can import them) -------------------------


def generate_stage(users: int, series: int, out: str, fmt: str, gzip: bool) -> dict:
    from synthetic import GenerateSpec, generate

    result = generate(
        GenerateSpec(
            users=users, days=DAYS, seed=1, out=Path(out), fmt=fmt, gzip=gzip, series=series
        )
    )
    return {"events": result.n_events, "stage_seconds": result.seconds}


def calibrate_users(target_events: int) -> tuple[int, int]:
    """Users (and catalog size) that give about ``target_events`` over ``DAYS`` days.

    Events per user depend on the catalog size, which scales with users, so the estimate is
    refined by a second pilot with the catalog of the estimated scale.
    """
    from synthetic import GenerateSpec, generate

    pilot = WORK / "pilot"
    users, series = 4000, None
    for _ in range(2):
        spec = GenerateSpec(users=users, days=DAYS, seed=1, out=pilot, fmt="parquet", series=series)
        result = generate(spec)
        shutil.rmtree(pilot, ignore_errors=True)
        estimate = max(1, round(target_events * users / result.n_events))
        series = GenerateSpec(users=estimate, days=DAYS).n_series
        users = estimate  # the second pilot runs at full scale
    return estimate, series


def bare_load_stage(data: str, fmt: str) -> dict:
    """The floor: DuckDB loads the same files with no validation at all."""
    import duckdb

    db = Path(data).parent / f"bare_{fmt}.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    con.execute("SET memory_limit = '4GB'")
    con.execute("SET enable_progress_bar = false")
    files = sorted(str(p) for p in (Path(data) / "events").iterdir())
    if fmt == "parquet":
        con.execute("CREATE TABLE t AS SELECT * FROM read_parquet(?)", [files])
    else:
        con.execute(
            "CREATE TABLE t AS SELECT * FROM read_json(?, format = 'newline_delimited')", [files]
        )
    n = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()
    db.unlink(missing_ok=True)
    return {"rows": n}


def ingest_stage(data: str, home: str) -> dict:
    """Cliffhanger's ingestion of the catalog and every event file into a fresh warehouse."""
    from core.config import Paths
    from core.warehouse import working_database
    from ingest.catalog import load_catalog
    from ingest.events import event_files, ingest_file

    root = Path(home)
    shutil.rmtree(root, ignore_errors=True)
    paths = Paths(home=root, warehouse=root / "warehouse" / "cliffhanger.duckdb",
                  landing=Path(data), dagster_home=root / "dagster")  # fmt: skip
    loaded = 0
    with working_database(paths, memory_limit="4GB") as con:
        load_catalog(con, Path(data) / "catalog")
        for f in event_files([Path(data) / "events"]):
            loaded += ingest_file(con, f).loaded
    shutil.rmtree(root, ignore_errors=True)
    return {"loaded": loaded}


def _metrics_paths(home: str):
    from core.config import Paths

    root = Path(home)
    return Paths(home=root, warehouse=root / "warehouse" / "cliffhanger.duckdb",
                 landing=root, dagster_home=root / "dagster")  # fmt: skip


def prepare_metrics_home(data: str, home: str) -> dict:
    """Ingest the data once (untimed) into a warehouse the metrics stages reuse."""
    from core.warehouse import working_database
    from ingest.catalog import load_catalog, refresh_public_catalog
    from ingest.events import event_files, ingest_files

    shutil.rmtree(home, ignore_errors=True)
    with working_database(_metrics_paths(home)) as con:
        load_catalog(con, Path(data) / "catalog")
        refresh_public_catalog(con)
        loaded = sum(r.loaded for r in ingest_files(con, event_files([Path(data) / "events"])))
    return {"loaded": loaded}


def metrics_full_stage(home: str) -> dict:
    """Every analytics object of issue #4 rebuilt from all stored events."""
    from core.config import MetricParams
    from core.warehouse import working_database
    from features import build_all

    with working_database(_metrics_paths(home)) as con:
        start = time.perf_counter()
        build_all(con, MetricParams(), full=True)
        seconds = time.perf_counter() - start
    return {"timed_seconds": seconds}


def metrics_without_launches_stage(home: str) -> dict:
    """The full metrics build without the launch tables: the launch_assets baseline."""
    from core.config import MetricParams
    from core.warehouse import working_database
    from features import build_all

    with working_database(_metrics_paths(home)) as con:
        build_all(con, MetricParams(), full=True, launches=False)
    return {}


def prepare_forecast_home(home: str) -> dict:
    """80 days of a 4,000-user app with 200 series versions (about 40 launches with a
    complete 28-day horizon), built once: the history the forecast learns from."""
    import datetime as dt

    from core.config import MetricParams
    from core.warehouse import working_database
    from features import build_all
    from ingest.catalog import load_catalog, refresh_public_catalog
    from ingest.events import event_files, ingest_files
    from synthetic import GenerateSpec, generate

    shutil.rmtree(home, ignore_errors=True)
    data = Path(home) / "data"
    generate(GenerateSpec(users=4000, days=80, seed=11, out=data, fmt="parquet", series=200,
                          start=dt.date(2026, 5, 4)))  # fmt: skip
    with working_database(_metrics_paths(home)) as con:
        load_catalog(con, data / "catalog")
        refresh_public_catalog(con)
        loaded = sum(r.loaded for r in ingest_files(con, event_files([data / "events"])))
        build_all(con, MetricParams())
    return {"loaded": loaded}


def launch_forecast_stage(home: str, n_young: int = 100) -> dict:
    """Forecast ``n_young`` young series (copies of the current ones under new ids) at the
    horizon; only the forecast is timed. The backtest's time is reported beside it."""
    import polars as pl

    from core.config import MetricParams
    from core.warehouse import working_database
    from features.launch_forecast import (
        ForecastSettings,
        History,
        backtest,
        forecast_young,
        load_history,
    )

    with working_database(_metrics_paths(home)) as con:
        history = load_history(con)
    last = history.last_complete_date
    young = history.rows.filter((pl.col("date") == last) & (pl.col("age_days") < 28))
    copies = pl.concat(
        [young.with_columns(series_id=pl.col("series_id") + f"#{k}") for k in range(n_young)]
    ).head(n_young)
    rows = history.rows.filter(pl.col("date") < last)
    history = History(pl.concat([rows, copies], how="vertical_relaxed"), last)
    settings = ForecastSettings.from_params(MetricParams())
    start = time.perf_counter()
    out = forecast_young(history, settings)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    bt_rows, _ = backtest(history, settings)
    return {"timed_seconds": seconds, "series": out["series_id"].n_unique(),
            "backtest_seconds": time.perf_counter() - start,
            "backtest_forecasts": bt_rows.height}  # fmt: skip


def prepare_increment_home(data: str, home: str) -> dict:
    """A warehouse holding the first 13 days, built; the 14th day is what each run adds."""
    from core.config import MetricParams
    from core.warehouse import working_database
    from features import build_all
    from ingest.catalog import load_catalog, refresh_public_catalog
    from ingest.events import event_files, ingest_files

    shutil.rmtree(home, ignore_errors=True)
    paths = _metrics_paths(home)
    files = event_files([Path(data) / "events"])
    with working_database(paths) as con:
        load_catalog(con, Path(data) / "catalog")
        refresh_public_catalog(con)
        ingest_files(con, files[:-1])
        build_all(con, MetricParams(), full=True)
    template = Path(home) / "template.duckdb"
    shutil.copyfile(paths.working_db, template)
    return {"last_day": str(files[-1])}


def metrics_increment_stage(home: str, last_day: str) -> dict:
    """Ingest the 14th day (not timed), then bring every analytics object up to date (timed)."""
    from core.config import MetricParams
    from core.warehouse import working_database
    from features import build_all
    from ingest.events import ingest_files

    paths = _metrics_paths(home)
    shutil.copyfile(Path(home) / "template.duckdb", paths.working_db)
    with working_database(paths) as con:
        new = sum(r.loaded for r in ingest_files(con, [Path(last_day)]))
        start = time.perf_counter()
        counts = build_all(con, MetricParams())
        seconds = time.perf_counter() - start
    assert counts["mode"] == "incremental", counts
    return {"timed_seconds": seconds, "new_events": new}


def sessions_stage(home: str) -> dict:
    """Cliffhanger's sessions stage: sessions and episode views from all stored events."""
    from core.config import MetricParams
    from core.warehouse import working_database
    from features.sessions import build_sessions

    with working_database(_metrics_paths(home)) as con:
        build_sessions(con, MetricParams(), full=True)
    return {}


def sessionization_floor_stage(home: str) -> dict:
    """The floor of issue #4: one bare DuckDB sessionization query over the same events --
    LAG for the gap, a running SUM numbering each user's sessions, sessions counted."""
    import duckdb

    db = _metrics_paths(home).working_db
    con = duckdb.connect(str(db), read_only=True)
    con.execute("SET enable_progress_bar = false")
    n = con.execute(
        """
        SELECT count(*) FROM (
            SELECT DISTINCT user_id, session_no FROM (
                SELECT user_id,
                       sum(starts) OVER (PARTITION BY user_id ORDER BY ts) AS session_no
                FROM (SELECT user_id, ts,
                             CASE WHEN ts - lag(ts) OVER (PARTITION BY user_id ORDER BY ts)
                                       <= INTERVAL 30 MINUTE THEN 0 ELSE 1 END AS starts
                      FROM raw.events)))
        """
    ).fetchone()[0]
    con.close()
    return {"sessions": n}


def pandas_sessions_stage(home: str) -> dict:
    """A straightforward pandas sessionization + episodes per session (loading not timed)."""
    import duckdb

    db = _metrics_paths(home).working_db
    con = duckdb.connect(str(db), read_only=True)
    df = con.execute("SELECT user_id, ts, event_type FROM raw.events").df()
    con.close()
    start = time.perf_counter()
    df = df.sort_values(["user_id", "ts"])
    gap = df.groupby("user_id")["ts"].diff()
    df["session"] = (gap.isna() | (gap > __import__("pandas").Timedelta(minutes=30))).cumsum()
    per_session = (df["event_type"] == "episode_start").groupby(df["session"]).sum()
    seconds = time.perf_counter() - start
    return {"sessions": int(len(per_session)), "timed_seconds": seconds,
            "median_episodes": float(per_session.median())}  # fmt: skip


# ---- the report --------------------------------------------------------------------------------


def machine() -> dict:
    import duckdb
    import numpy
    import polars
    import pyarrow

    versions = {
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "polars": polars.__version__,
        "numpy": numpy.__version__,
        "pyarrow": pyarrow.__version__,
    }
    try:
        import implicit

        versions["implicit"] = implicit.__version__
    except ImportError:  # pragma: no cover
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {"cores": os.cpu_count(), "memory_gb": round(memory_gb, 1), "versions": versions}


def row(
    stage: str,
    events: int,
    runs: list[Timing],
    baseline: str | None = None,
    baseline_runs: list[Timing] | None = None,
    target: str = "",
    **extra: object,
) -> dict:
    seconds = statistics.median(t.seconds for t in runs)
    base_seconds = statistics.median(t.seconds for t in baseline_runs) if baseline_runs else None
    return {
        "stage": stage,
        "events": events,
        "seconds": round(seconds, 3),
        "runs_seconds": [round(t.seconds, 3) for t in runs],
        "baseline": baseline,
        "baseline_seconds": round(base_seconds, 3) if base_seconds else None,
        "ratio": round(seconds / base_seconds, 3) if base_seconds else None,
        "throughput_per_s": round(events / seconds) if seconds else None,
        "peak_rss_mb": round(max(t.peak_rss_mb for t in runs)),
        "target": target,
        **machine(),
        **extra,
    }


def write_report(rows: list[dict], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "latest.json").write_text(json.dumps(rows, indent=2) + "\n")
    m = machine()
    lines = [
        f"Benchmarks of {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {m['cores']} cores, "
        f"{m['memory_gb']} GB; medians of the timed runs after a warm-up, each in a fresh "
        "process.",
        "",
        "| stage | events | seconds | baseline (same run) | baseline s | ratio | events/s "
        "| peak RSS MB | target |",
        "|---|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        base = "" if r["baseline_seconds"] is None else f"{r['baseline_seconds']:.2f}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}×"
        lines.append(
            f"| {r['stage']} | {r['events']:,} | {r['seconds']:.2f} | {r['baseline'] or '—'} | "
            f"{base} | {ratio} | {r['throughput_per_s']:,} | {r['peak_rss_mb']:,} | "
            f"{r['target']} |"
        )
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lines += ["", f"Versions: {versions}."]
    (out_dir / "latest.md").write_text("\n".join(lines) + "\n")


def _has_data(folder: Path, users: int) -> bool:
    """Whether ``folder`` already holds a generated data set of this many users."""
    manifest = folder / "manifest.json"
    return manifest.exists() and json.loads(manifest.read_text())["args"]["users"] == users


def run_benchmarks(
    events: int = 1_000_000,
    repeats: int = 3,
    stages: tuple[str, ...] = ALL_STAGES,
    out_dir: Path = RESULTS,
) -> list[dict]:
    """Run the selected stages at about ``events`` events; write latest.json and latest.md."""
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"calibrating users for about {events:,} events over {DAYS} days…", file=sys.stderr)
    users, series = calibrate_users(events)
    print(f"  {users:,} users, {series:,} series versions", file=sys.stderr)
    rows: list[dict] = []
    generations = (
        ("generate_parquet", "gen_parquet", "parquet", False, "10 M events ≤ 60 s"),
        ("generate_jsonl_gz", "gen_jsonl", "jsonl", True, "reported"),
    )
    for stage, folder, fmt, gz, target in generations:
        if stage not in stages:
            continue
        runs = repeat(generate_stage, (users, series, str(WORK / folder), fmt, gz), repeats, stage)
        rows.append(
            row(stage, runs[0].detail["events"], runs, target=target, users=users,
                stage_seconds=runs[-1].detail["stage_seconds"])
        )  # fmt: skip
    for fmt, data in (("jsonl_gz", WORK / "gen_jsonl"), ("parquet", WORK / "gen_parquet")):
        stage = f"ingest_{fmt}"
        if stage not in stages:
            continue
        if not _has_data(data, users):
            gz = fmt == "jsonl_gz"
            generate_stage(users, series, str(data), "jsonl" if gz else "parquet", gz)
        kind = "jsonl" if fmt == "jsonl_gz" else "parquet"
        base = repeat(bare_load_stage, (str(data), kind), repeats, f"{stage} baseline")
        runs = repeat(ingest_stage, (str(data), str(WORK / f"home_{fmt}")), repeats, stage)
        target = "≤ 3× the floor" if fmt == "jsonl_gz" else "≤ 6× the floor"
        rows.append(
            row(stage, runs[0].detail["loaded"], runs, baseline="duckdb_bare_load",
                baseline_runs=base, target=target + ", peak RSS ≤ 4 GB")
        )  # fmt: skip
    if {"metrics_full", "sessions_vs_pandas", "launch_assets"} & set(stages):
        data = WORK / "gen_parquet"
        if not _has_data(data, users):
            generate_stage(users, series, str(data), "parquet", False)
        home = str(WORK / "metrics_home")
        loaded = timed(prepare_metrics_home, str(data), home).detail["loaded"]
        if "metrics_full" in stages:
            floor = repeat(sessionization_floor_stage, (home,), repeats, "metrics_full baseline")
            runs = repeat(metrics_full_stage, (home,), repeats, "metrics_full")
            rows.append(row("metrics_full", loaded, runs, baseline="duckdb_bare_sessionization",
                            baseline_runs=floor, target="≤ 4× the floor"))  # fmt: skip
        if "metrics_increment_1day" in stages:
            inc_home = str(WORK / "increment_home")
            last_day = timed(prepare_increment_home, str(data), inc_home).detail["last_day"]
            full = [r for r in rows if r["stage"] == "metrics_full"]
            if full:
                full_runs = [Timing(full[0]["seconds"], full[0]["peak_rss_mb"], {})]
            else:
                full_runs = repeat(metrics_full_stage, (home,), repeats, "metrics_full")
            runs = repeat(metrics_increment_stage, (inc_home, last_day), repeats, "increment")
            new_events = runs[0].detail["new_events"]
            # only the build is timed: ingesting the day is the ingest stage's business
            runs = [Timing(t.detail["timed_seconds"], t.peak_rss_mb, t.detail) for t in runs]
            rows.append(row("metrics_increment_1day", loaded, runs, baseline="metrics_full",
                            baseline_runs=full_runs, target="≤ 0.15× the full build",
                            new_events=new_events))  # fmt: skip
        if "sessions_vs_pandas" in stages:
            pandas_runs = repeat(pandas_sessions_stage, (home,), repeats, "pandas sessions")
            # the pandas time excludes loading the frame: only the sessionization is timed
            pandas_runs = [Timing(t.detail["timed_seconds"], t.peak_rss_mb, t.detail)
                           for t in pandas_runs]  # fmt: skip
            runs = repeat(sessions_stage, (home,), repeats, "sessions")
            rows.append(row("sessions_vs_pandas", loaded, runs, baseline="pandas_sessionization",
                            baseline_runs=pandas_runs,
                            target="≤ 0.33× pandas (≥ 3× faster)"))  # fmt: skip
        if "launch_assets" in stages:
            # the same full build with and without the launch tables (curves, forecast,
            # backtest), alternated run by run so that a change in the machine's load between
            # two blocks of runs does not pass for a difference between the builds
            print("  launch_assets: warm-up", file=sys.stderr, flush=True)
            timed(metrics_without_launches_stage, home)
            timed(metrics_full_stage, home)
            base, runs = [], []
            for i in range(repeats):
                base.append(timed(metrics_without_launches_stage, home))
                runs.append(timed(metrics_full_stage, home))
                print(f"  launch_assets: run {i + 1}/{repeats} {runs[-1].seconds:.2f} s with, "
                      f"{base[-1].seconds:.2f} s without", file=sys.stderr, flush=True)  # fmt: skip
            paired = statistics.median(
                r.seconds / b.seconds for r, b in zip(runs, base, strict=True)
            )
            rows.append(row("launch_assets", loaded, runs, baseline="metrics_full_without_launches",
                            baseline_runs=base, target="≤ 1.10× with them",
                            paired_ratio_median=round(paired, 3)))  # fmt: skip
    if "launch_forecast_100" in stages:
        fc_home = str(WORK / "forecast_home")
        fc_loaded = timed(prepare_forecast_home, fc_home).detail["loaded"]
        runs = repeat(launch_forecast_stage, (fc_home,), repeats, "launch_forecast_100")
        detail = runs[-1].detail
        runs = [Timing(t.detail["timed_seconds"], t.peak_rss_mb, t.detail) for t in runs]
        rows.append(row("launch_forecast_100", fc_loaded, runs, target="100 young series ≤ 1 s",
                        series=detail["series"], backtest_seconds=round(detail["backtest_seconds"], 3),
                        backtest_forecasts=detail["backtest_forecasts"]))  # fmt: skip
    write_report(rows, out_dir)
    print((out_dir / "latest.md").read_text())
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="about this many events")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after a warm-up")
    parser.add_argument("--stages", default=",".join(ALL_STAGES), help="comma-separated stages")
    parser.add_argument("--out", type=Path, default=RESULTS, help="report folder")
    args = parser.parse_args(argv)
    if args.events < 1000 or args.repeats < 1:
        parser.error("--events must be at least 1000 and --repeats at least 1")
    run_benchmarks(args.events, args.repeats, tuple(args.stages.split(",")), args.out)


if __name__ == "__main__":
    main()
