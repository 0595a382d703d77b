"""pipeline_100m and increment_100m (BENCHMARKS.md): the whole pipeline at scale, per stage.

``python -m benchmarks.pipeline_scale --data DIR [--data DIR ...] [--repeats R]`` runs, for each
generated data set (``cliffhanger generate --format parquet``), the product's own
``cliffhanger run`` (the Dagster job ``everything``: ingest → metrics → model → publish) in a
fresh process over a fresh home, ``R`` times. A sampler reads the resident set of the process
tree every 0.2 s; Dagster's event log gives each step's start and end, so each stage gets its
wall time and the peak RSS seen while it ran.

``--increment`` then measures the one-day increment of the metrics of the last data set with
``benchmarks.runner``'s stages: a warehouse holding every day but the last is built (untimed),
the last day is ingested (untimed), and ``features.build_all`` brings every derived table up
to date (timed); the baseline is the full build (``build_all(full=True)``) of the whole
warehouse, alternated with it in the same run.

Results: ``benchmarks/results/pipeline_scale.{json,md}``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.runner import (
    RESULTS,
    machine,
    metrics_full_stage,
    metrics_increment_stage,
    prepare_increment_home,
    timed,
)

# which stage each Dagster step belongs to, by the asset its key starts with (an asset
# check runs as a step of its own, named after its asset)
STAGE_PREFIXES = (
    ("catalog", "ingest"), ("ingested_events", "ingest"), ("served_log", "ingest"),
    ("model_evaluation", "model"), ("served_model", "model"),
    ("warehouse_snapshot", "publish"), ("viewer_activity", "publish"),
)  # fmt: skip


def stage_of(step_key: str) -> str:
    """The stage of a Dagster step: ingest, metrics, model or publish."""
    return next((stage for prefix, stage in STAGE_PREFIXES if step_key.startswith(prefix)),
                "metrics")  # fmt: skip


STAGES = ("ingest", "metrics", "model", "publish")


def _tree_rss_mb(root: int) -> float:
    """Resident set of ``root`` and every descendant, from /proc (MB)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total / 2**20


class Sampler(threading.Thread):
    """Samples a process tree's RSS until stopped: (seconds since start, MB) pairs."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float]] = []
        self.start_wall = time.time()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append((time.time(), _tree_rss_mb(self.pid)))
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def peak(self, start: float, end: float) -> float:
        inside = [mb for t, mb in self.samples if start <= t <= end]
        return max(inside, default=0.0)


def _step_windows(dagster_home: Path) -> dict[str, tuple[float, float]]:
    """step key -> (start, end) wall-clock seconds of the latest run, from Dagster's event log."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    with dg.DagsterInstance.get() as instance:
        run = instance.get_runs(limit=1)[0]
        windows: dict[str, list[float]] = {}
        for record in instance.all_logs(run.run_id):
            event = record.dagster_event
            if event is None or record.step_key is None:
                continue
            kind = event.event_type_value
            if kind == "STEP_START":
                windows.setdefault(record.step_key, [record.timestamp, record.timestamp])
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
                windows.setdefault(record.step_key, [record.timestamp, record.timestamp])[1] = (
                    record.timestamp
                )
    return {k: (a, b) for k, (a, b) in windows.items()}


def run_pipeline(data: Path, home: Path) -> dict:
    """One ``cliffhanger run`` over ``data`` in a fresh home: wall time, peak RSS, per stage."""
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {**os.environ, "CLIFFHANGER_HOME": str(home), "CLIFFHANGER_LANDING": str(data),
           "DAGSTER_HOME": str(home / "dagster_home")}  # fmt: skip
    cli = Path(sys.executable).parent / "cliffhanger"
    start = time.time()
    proc = subprocess.Popen([str(cli), "run"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    sampler = Sampler(proc.pid)
    sampler.start()
    output, _ = proc.communicate()
    end = time.time()
    sampler.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"cliffhanger run failed ({proc.returncode}):\n{output[-3000:]}")
    steps = _step_windows(home / "dagster_home")
    stage_windows: dict[str, list[tuple[float, float]]] = {s: [] for s in STAGES}
    for key, window in steps.items():
        stage_windows[stage_of(key)].append(window)
    stages = {}
    for stage, windows in stage_windows.items():
        stages[stage] = {
            "seconds": round(sum(b - a for a, b in windows), 2),
            "peak_rss_mb": round(max((sampler.peak(a, b) for a, b in windows), default=0.0)),
        }
    events = json.loads((data / "manifest.json").read_text())["counts"]["events"]
    warehouse = home / "warehouse"
    size = sum(p.stat().st_size for p in warehouse.rglob("*") if p.is_file())
    result = {
        "events": events,
        "seconds": round(end - start, 2),
        "peak_rss_mb": round(max((mb for _, mb in sampler.samples), default=0.0)),
        "stages": stages,
        "steps": {k: round(b - a, 2) for k, (a, b) in sorted(steps.items(), key=lambda kv: kv[1])},
        "warehouse_mb": round(size / 2**20),
    }
    shutil.rmtree(home, ignore_errors=True)
    return result


# ---- the one-day increment: benchmarks.runner's stages, on this data set ----------------------


def measure_increment(data: Path, work: Path, repeats: int) -> dict:
    """Increment vs full build on the same warehouse, alternated, medians of ``repeats``."""
    home = work / "increment"
    print(f"  increment: preparing {data.name} without its last day…", file=sys.stderr, flush=True)
    last_day = timed(prepare_increment_home, str(data), str(home)).detail["last_day"]
    inc, full = [], []
    for i in range(repeats):
        # each run restores the template and adds the last day again
        inc.append(timed(metrics_increment_stage, str(home), last_day))
        full.append(timed(metrics_full_stage, str(home)))  # the same warehouse, last day in
        print(f"  increment: run {i + 1}/{repeats} {inc[-1].detail['timed_seconds']:.2f} s vs "
              f"full {full[-1].detail['timed_seconds']:.2f} s", file=sys.stderr, flush=True)  # fmt: skip
    shutil.rmtree(home, ignore_errors=True)
    inc_s = statistics.median(t.detail["timed_seconds"] for t in inc)
    full_s = statistics.median(t.detail["timed_seconds"] for t in full)
    return {
        "data": str(data), "new_events": inc[0].detail["new_events"],
        "increment_seconds": [round(t.detail["timed_seconds"], 3) for t in inc],
        "full_seconds": [round(t.detail["timed_seconds"], 3) for t in full],
        "increment_median": round(inc_s, 3), "full_median": round(full_s, 3),
        "ratio": round(inc_s / full_s, 4),
        "increment_peak_rss_mb": round(max(t.peak_rss_mb for t in inc)),
        "full_peak_rss_mb": round(max(t.peak_rss_mb for t in full)),
    }  # fmt: skip


def _report(runs: list[dict], increment: dict | None, out: Path) -> str:
    lines = [
        "# The whole pipeline at scale (`benchmarks/pipeline_scale.py`)", "",
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {machine()['cores']} cores, "
        f"{machine()['memory_gb']} GB. Each run: `cliffhanger run` (the Dagster job `everything`) "
        "in a fresh process over a fresh home, the data set generated beforehand "
        "(`cliffhanger generate --format parquet`, 28 days). Stage seconds are the sums of their "
        "Dagster steps' windows; peak RSS is the process tree's, sampled every 0.2 s.", "",
        "| events | run | total s | ingest s | metrics s | model s | publish s | peak RSS MB "
        "| ingest / metrics / model / publish peak MB | warehouse MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]  # fmt: skip
    for r in runs:
        s = r["stages"]
        lines.append(
            f"| {r['events']:,} | {r['run']} | {r['seconds']:.1f} | "
            + " | ".join(f"{s[k]['seconds']:.1f}" for k in STAGES)
            + f" | {r['peak_rss_mb']:,} | "
            + " / ".join(f"{s[k]['peak_rss_mb']:,}" for k in STAGES)
            + f" | {r['warehouse_mb']:,} |"
        )
    by_size: dict[int, list[dict]] = {}
    for r in runs:
        by_size.setdefault(r["events"], []).append(r)
    if len(by_size) >= 2:
        small, big = sorted(by_size)[0], sorted(by_size)[-1]
        lines += ["", f"Growth from {small:,} to {big:,} events ({big / small:.2f}× the events; "
                  "medians of each size's runs):", "",
                  "| stage | seconds small | seconds big | time growth | peak MB small | "
                  "peak MB big | memory growth |", "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for stage in (*STAGES, "total"):

            def med(size: int, key: str, stage: str = stage) -> float:
                vals = [
                    (r["seconds"] if key == "seconds" else r["peak_rss_mb"])
                    if stage == "total"
                    else r["stages"][stage][key]
                    for r in by_size[size]
                ]
                return statistics.median(vals)

            ts, tb = med(small, "seconds"), med(big, "seconds")
            ms, mb = med(small, "peak_rss_mb"), med(big, "peak_rss_mb")
            lines.append(f"| {stage} | {ts:.1f} | {tb:.1f} | {tb / ts:.2f}× | {ms:,.0f} | "
                         f"{mb:,.0f} | {mb / ms:.2f}× |")  # fmt: skip
    if increment:
        lines += ["", f"One-day increment of the metrics ({increment['new_events']:,} new events "
                  f"on {increment['data']}): median {increment['increment_median']:.2f} s vs the "
                  f"full build's {increment['full_median']:.2f} s in the same run = "
                  f"**{increment['ratio']:.3f}×** (target ≤ 0.10×); runs "
                  f"{increment['increment_seconds']} vs {increment['full_seconds']}."]  # fmt: skip
    text = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / "pipeline_scale.md").write_text(text)
    (out / "pipeline_scale.json").write_text(
        json.dumps({"machine": machine(), "runs": runs, "increment": increment}, indent=2)
    )
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", required=True,
                        help="a generated data set (repeatable); each gets --repeats runs")  # fmt: skip
    parser.add_argument("--repeats", type=int, action="append",
                        help="runs per data set, in --data order (default 1 each)")  # fmt: skip
    parser.add_argument("--increment", action="store_true",
                        help="also the one-day increment vs the full build, on the last --data")  # fmt: skip
    parser.add_argument("--increment-repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "data" / "scale")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--previous", type=Path,
                        help="a pipeline_scale.json whose runs join this report (a long run "
                        "measured before, with the same code)")  # fmt: skip
    args = parser.parse_args(argv)
    repeats = args.repeats or [1] * len(args.data)
    if len(repeats) != len(args.data):
        parser.error("give one --repeats per --data (or none)")
    runs = json.loads(args.previous.read_text())["runs"] if args.previous else []
    for data, n in zip(args.data, repeats, strict=True):
        if not (data / "manifest.json").is_file():
            parser.error(f"{data} holds no generated data set (no manifest.json)")
        for i in range(n):
            print(f"{data.name}: run {i + 1}/{n}…", file=sys.stderr, flush=True)
            r = run_pipeline(data.resolve(), args.work / "home")
            r["run"] = i + 1
            runs.append(r)
            print(f"  {r['seconds']:.1f} s, peak {r['peak_rss_mb']:,} MB, "
                  + ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in r["stages"].items()),
                  file=sys.stderr, flush=True)  # fmt: skip
            _report(runs, None, args.out)
    increment = None
    if args.increment:
        increment = measure_increment(args.data[-1].resolve(), args.work, args.increment_repeats)
    print(_report(runs, increment, args.out))


if __name__ == "__main__":
    main()
