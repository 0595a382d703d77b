"""Load benchmark of the recommendation API (BENCHMARKS.md stage ``api_load``).

``python -m benchmarks.api_load --users 1000000 --stories 1000 --seconds 30 --connections 32``

1. builds a synthetic bundle (``models.bundle.synthetic_bundle_content``: ~1 M users, ~1,000
   stories × 2 languages ≈ 1,900 series versions, 64 factors) under ``benchmarks/data/``
   (reused when the same size was built before);
2. times, in this process, loading the bundle and the scoring function alone over 10,000
   random users (known, known with ``after_series_id``, unknown);
3. starts ``cliffhanger serve`` (uvicorn, loopback only, access log off) in its own process;
4. runs ``wrk`` (Debian's package) in another process: a Lua script picks random users —
   70 % known, 10 % known with ``after_series_id``, 20 % unknown — for a warm-up, then the
   timed run; it reports throughput, latency percentiles and errors (non-2xx included);
5. writes ``benchmarks/results/api_load.json`` (rows as in BENCHMARKS.md) and ``api_load.md``.

Targets (absolute, loopback): ≥ 1,000 req/s, p99 ≤ 20 ms, 0 errors at 32 connections for 30 s.
The machine has 2 cores shared with other work: the load average before and after is recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
RESULTS = ROOT / "benchmarks" / "results"
TARGET = "≥ 1,000 req/s, p99 ≤ 20 ms, 0 errors (32 connections, loopback)"
BARE_TARGET = "≥ 0.6× the bare endpoint's req/s, p99 ≤ 2× its p99, 0 errors"
RELOAD_TARGET = "0 errors while a new bundle of the same size is published and swapped in"

LUA = r"""
-- random users: 70 % known, 10 % known + after_series_id, 20 % unknown (trending)
local n_users = tonumber(os.getenv("API_LOAD_USERS"))
local n_stories = tonumber(os.getenv("API_LOAD_STORIES"))
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  math.randomseed(os.time() * 100 + (tid or 0))
end
function request()
  local r = math.random()
  local path
  if r < 0.2 then
    path = string.format("/v1/users/x%07d/next-series?k=10", math.random(0, 9999999))
  elseif r < 0.3 then
    path = string.format("/v1/users/u%07d/next-series?k=10&after_series_id=s%05d-en",
      math.random(0, n_users - 1), math.random(0, n_stories - 1))
  else
    path = string.format("/v1/users/u%07d/next-series?k=10", math.random(0, n_users - 1))
  end
  return wrk.format("GET", path)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "max": %d, "p50": %d, "p90": %d, "p95": %d, "p99": %d, "p999": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(95), latency:percentile(99), latency:percentile(99.9)))
end
"""


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def _rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set of a process, MB."""
    cur = peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            cur = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return cur, peak


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children processes (workers), seconds."""
    pids = [pid] + [int(p) for p in subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]  # fmt: skip
    total = 0
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("fastapi", "uvicorn", "starlette", "numpy", "polars", "uvloop", "httptools"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    out["wrk"] = (wrk.stdout + wrk.stderr).split()[1] if (wrk.stdout + wrk.stderr) else "?"
    return out


def build_bundle(users: int, stories: int, factors: int, scorer: str = "factors"
                 ) -> tuple[Path, float]:  # fmt: skip
    """A synthetic bundle of this size under benchmarks/data (reused if built before).

    ``scorer``: ``factors`` (an ALS-like model scored per request) or ``precomputed`` (what
    the two-stage ranker publishes: per-user ranked lists of 40 stories computed by the
    pipeline, then the trending list — also every unknown user's list)."""
    from models.bundle import current_bundle_path, synthetic_bundle_content, write_bundle

    suffix = "" if scorer == "factors" else f"-{scorer}"
    home = DATA / f"api_load-{users}u-{stories}s-{factors}f{suffix}"
    root = home / "models_published"
    if current_bundle_path(root) is not None and (current_bundle_path(root) / "manifest.json").exists():  # fmt: skip
        return home, 0.0
    if home.exists():
        shutil.rmtree(home)
    started = time.perf_counter()
    content = synthetic_bundle_content(users, stories, ("en", "es"), factors, seed=42)
    content = dataclasses.replace(content, model_version=f"bench-{users}u-{stories}s{suffix}")
    if scorer == "precomputed":
        content = precomputed_content(content, seed=43)
    write_bundle(root, content)
    return home, time.perf_counter() - started


def precomputed_content(content, length: int = 40, seed: int = 0):  # noqa: ANN001, ANN201
    """``content`` served like the ranker: each user's ``length`` stories (drawn by
    popularity, distinct; as the ranker's lists, they may include started stories, which
    serving drops) over a trending list."""
    from models.scoring import Scorer

    rng = np.random.default_rng(seed)
    n_users = content.users.height
    n_items = int(content.series["story_index"].max()) + 1
    starts = np.bincount(content.history_indices, minlength=n_items).astype(np.float64)
    log_p = np.log((starts + 1) / (starts + 1).sum()).astype(np.float32)
    top = np.empty((n_users, length), dtype=np.int32)
    for lo in range(0, n_users, 50_000):  # Gumbel top-k: distinct draws by popularity
        hi = min(lo + 50_000, n_users)
        uniform = np.maximum(rng.random((hi - lo, n_items), dtype=np.float32), 1e-12)
        keys = log_p - np.log(-np.log(uniform))
        best = np.argpartition(-keys, length, axis=1)[:, :length]
        order = np.argsort(-np.take_along_axis(keys, best, axis=1), axis=1)
        top[lo:hi] = np.take_along_axis(best, order, axis=1)
    trending = (starts * rng.lognormal(0, 0.5, n_items)).astype(np.float32)
    spec = Scorer("precomputed", "ranker", {"length": length, "base": Scorer("list", "trending")})
    return dataclasses.replace(
        content, scorer=spec, arrays={"top_items": top, "item_scores": trending},
        params={**content.params, "scorer": "precomputed", "length": length},
    )  # fmt: skip


def time_scoring(home: Path, n: int = 10_000) -> dict:
    """Load time and in-process scoring time per request (µs), no HTTP."""
    from models.bundle import load_bundle
    from serving.model import ServingModel

    t0 = time.perf_counter()
    bundle = load_bundle(home / "models_published" / "current")
    t1 = time.perf_counter()
    model = ServingModel.from_bundle(bundle)
    t2 = time.perf_counter()
    rng = np.random.default_rng(7)
    users = [f"u{i:07d}" for i in rng.integers(0, model.n_users, n)]
    afters = [f"s{i:05d}-en" for i in rng.integers(0, model.n_stories, n)]
    out: dict = {
        "bundle_load_s": round(t1 - t0, 3),
        "bundle_prepare_s": round(t2 - t1, 3),
        "n_users": model.n_users,
        "n_series": len(model.series_ids),
        "n_stories": model.n_stories,
    }
    cases = {
        "known": lambda i: model.recommend(users[i], 10),
        "known_after": lambda i: model.recommend(users[i], 10, after_series_id=afters[i]),
        "unknown": lambda i: model.recommend("x" + users[i], 10),
    }
    for name, fn in cases.items():
        for i in range(200):  # warm caches
            fn(i)
        times = np.empty(n)
        for i in range(n):
            a = time.perf_counter()
            fn(i)
            times[i] = time.perf_counter() - a
        times *= 1e6
        out[f"score_{name}_us"] = {
            "mean": round(float(times.mean()), 1),
            "p50": round(float(np.percentile(times, 50)), 1),
            "p99": round(float(np.percentile(times, 99)), 1),
        }
    return out


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the server was not healthy after {timeout} s")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_wrk(url: str, seconds: int, connections: int, threads: int, env: dict) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(LUA)
        script = fh.name
    try:
        cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
               "-s", script, url]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60)
    finally:
        os.unlink(script)
    for line in proc.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line[len("WRK_JSON ") :])
    raise RuntimeError(f"wrk printed no summary:\n{proc.stdout}\n{proc.stderr}")


def _median_run(runs: list[dict]) -> dict:
    """Per-figure medians of several wrk summaries; errors are summed, max is the max."""
    if len(runs) == 1:
        return dict(runs[0], runs=[_brief(runs[0])])
    med = {
        "requests": int(statistics.median(r["requests"] for r in runs)),
        "duration_us": int(statistics.median(r["duration_us"] for r in runs)),
        "bytes": int(statistics.median(r["bytes"] for r in runs)),
        "errors": {k: sum(r["errors"][k] for r in runs) for k in runs[0]["errors"]},
        "latency_us": {
            k: statistics.median(r["latency_us"][k] for r in runs) for k in runs[0]["latency_us"]
        },
        "runs": [_brief(r) for r in runs],
    }
    med["latency_us"]["max"] = max(r["latency_us"]["max"] for r in runs)
    return med


def _brief(run: dict) -> dict:
    seconds = run["duration_us"] / 1e6
    return {
        "req_per_s": round(run["requests"] / seconds),
        "p99_ms": round(run["latency_us"]["p99"] / 1000, 2),
        "errors": sum(run["errors"].values()),
    }


def _row(stage: str, result: dict, target: str, peak_rss_mb: int, common: dict) -> dict:
    """One BENCHMARKS.md row from a wrk summary."""
    seconds = result["duration_us"] / 1e6
    return {
        "stage": stage,
        "events": None,
        "requests": result["requests"],
        "seconds": round(seconds, 2),
        "baseline": None,
        "baseline_seconds": None,
        "ratio": None,
        "throughput_per_s": round(result["requests"] / seconds),
        "peak_rss_mb": peak_rss_mb,
        "target": target,
        "latency_ms": {k: round(v / 1000, 2) for k, v in result["latency_us"].items()},
        "runs": result.get("runs", [_brief(result)]),
        "errors": sum(result["errors"].values()),
        "error_detail": result["errors"],
        **common,
    }


def republish(root: Path, url: str, delay: float, info: dict) -> None:
    """After ``delay`` s, publish the current bundle again under a new version (hard links, so
    the copy is instant) and record how long until the server answers with it."""
    from models.bundle import current_bundle_path, prune_bundles, switch_current

    time.sleep(delay)
    src = current_bundle_path(root)
    version = f"reload-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    staging = root / "bundles" / f".{version}.building"
    shutil.copytree(src, staging, copy_function=os.link)
    manifest_path = staging / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["model_version"] = version
    manifest["published_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    manifest_path.unlink()  # a hard link to the source's manifest: replace, never edit it
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.rename(staging, root / "bundles" / version)
    switched = time.perf_counter()
    switch_current(root, version)
    deadline = switched + 60
    while time.perf_counter() < deadline:
        with urllib.request.urlopen(url + "/v1/model", timeout=5) as resp:
            if json.loads(resp.read())["model_version"] == version:
                info.update(reload_version=version, served=True,
                            reload_to_served_s=round(time.perf_counter() - switched, 2))  # fmt: skip
                break
        time.sleep(0.05)
    else:
        info.update(reload_version=version, served=False)
    prune_bundles(root)


def _start(cmd: list[str], env: dict, log_path: Path, url: str) -> tuple[subprocess.Popen, float]:
    """Start a server in its own session; (process, seconds until healthy)."""
    log = open(log_path, "wb")  # noqa: SIM115 - the child keeps it; closed with the process
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)  # fmt: skip
    log.close()
    t0 = time.perf_counter()
    try:
        _wait_healthy(url, server, timeout=180)
    except BaseException:
        _stop(server)
        raise
    return server, time.perf_counter() - t0


def _stop(server: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def _peak_rss(server: subprocess.Popen) -> tuple[list[float], int]:
    rss = [_rss_mb(server.pid)]
    children = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True)
    rss += [_rss_mb(int(p)) for p in children.stdout.split()]
    return [round(c) for c, _ in rss], round(max(p for _, p in rss))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--stories", type=int, default=1000)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument(
        "--scorer",
        choices=("precomputed", "factors"),
        default="precomputed",
        help="what the bundle serves: the ranker's precomputed lists (the pipeline's output "
        "when the ranker wins) or per-request ALS-like factors",
    )
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3, help="seconds of load before timing")
    ap.add_argument("--repeats", type=int, default=3,
                    help="timed runs of each server, alternated (medians are reported)")  # fmt: skip
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="wrk threads (one keeps up and leaves the server a core)",
    )
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--no-bare", action="store_true", help="skip the bare baseline")
    ap.add_argument(
        "--reload-seconds",
        type=int,
        default=10,
        help="second run of this length with a new bundle published a third of the way in "
        "(0: skip)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="api_load", help="file name of the report")
    args = ap.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("api_load: wrk is not installed (Debian: apt-get install -y wrk)")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

    load_before = _loadavg()
    print(f"building/reusing a {args.scorer} bundle of {args.users:,} users × "
          f"{args.stories:,} stories…")  # fmt: skip
    home, build_s = build_bundle(args.users, args.stories, args.factors, args.scorer)
    print(f"  {home} ({build_s:.1f} s)")
    scoring = time_scoring(home)
    print(f"  in-process: {json.dumps(scoring)}")

    port, bare_port = _free_port(), _free_port()
    url, bare_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
    env = dict(os.environ, CLIFFHANGER_HOME=str(home), OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=str(ROOT))  # fmt: skip
    env.pop("CLIFFHANGER_API_KEY", None)
    flags = ["--no-access-log", "--workers", str(args.workers)]
    cmd = [sys.executable, "-m", "cliffhanger.cli", "serve", "--port", str(port), *flags]
    bare_cmd = [sys.executable, "-m", "benchmarks.bare_api", "--port", str(bare_port), *flags]
    wrk_env = dict(env, API_LOAD_USERS=str(scoring["n_users"]),
                   API_LOAD_STORIES=str(scoring["n_stories"]))  # fmt: skip
    server, startup_s = _start(cmd, env, home / "serve.log", url)
    bare = None
    try:
        if not args.no_bare:
            bare, _ = _start(bare_cmd, env, home / "bare.log", bare_url)
        if args.warmup:
            run_wrk(url, args.warmup, args.connections, args.threads, wrk_env)
            if bare is not None:
                run_wrk(bare_url, args.warmup, args.connections, args.threads, wrk_env)
        runs, bare_runs, cpu_s, cpu_bare_s = [], [], 0.0, 0.0
        for _ in range(args.repeats):  # alternated: the neighbours' load hits both alike
            c0 = _cpu_seconds(server.pid)
            runs.append(run_wrk(url, args.seconds, args.connections, args.threads, wrk_env))
            cpu_s += _cpu_seconds(server.pid) - c0
            if bare is not None:
                c0 = _cpu_seconds(bare.pid)
                bare_runs.append(
                    run_wrk(bare_url, args.seconds, args.connections, args.threads, wrk_env)
                )
                cpu_bare_s += _cpu_seconds(bare.pid) - c0
        # the server's own CPU per request: unlike latency, barely moved by busy neighbours
        cpu_us = cpu_s / sum(r["requests"] for r in runs) * 1e6
        result = _median_run(runs)
        reload_result, reload_info = None, {}
        if args.reload_seconds:
            publisher = threading.Thread(
                target=republish,
                args=(home / "models_published", url, args.reload_seconds / 3, reload_info),
            )
            publisher.start()
            reload_result = run_wrk(url, args.reload_seconds, args.connections, args.threads,
                                    wrk_env)  # fmt: skip
            publisher.join(timeout=120)
        rss, peak = _peak_rss(server)
        bare_peak = _peak_rss(bare)[1] if bare is not None else None
        with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
            metrics_text = resp.read().decode()
    finally:
        _stop(server)
        if bare is not None:
            _stop(bare)
    load_after = _loadavg()

    common = {
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "versions": _versions(),
        "connections": args.connections,
        "wrk_threads": args.threads,
        "workers": args.workers,
        "scorer": args.scorer,
        "users": scoring["n_users"],
        "series_versions": scoring["n_series"],
        "stories": scoring["n_stories"],
        "factors": args.factors,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "mix": "70% known users, 10% known + after_series_id, 20% unknown; k=10",
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    row = _row("api_load", result, TARGET, peak, common)
    row.update(
        server_startup_s=round(startup_s, 2),
        server_cpu_us_per_request=round(cpu_us, 1),
        server_rss_mb=rss,
        bundle_build_s=round(build_s, 1),
        in_process=scoring,
        metrics_requests_seen=sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics_text.splitlines()
            if line.startswith("cliffhanger_api_requests_total{")
        ),
    )
    rows = [row]
    if bare_runs:
        bare_row = _row("api_load_bare", _median_run(bare_runs), "the baseline", bare_peak, common)
        bare_row["server_cpu_us_per_request"] = round(
            cpu_bare_s / sum(r["requests"] for r in bare_runs) * 1e6, 1
        )
        bare_row["target_met"] = None
        rps_ratio = row["throughput_per_s"] / bare_row["throughput_per_s"]
        p99_ratio = row["latency_ms"]["p99"] / bare_row["latency_ms"]["p99"]
        row.update(
            baseline="bare_fastapi_fixed_list",
            baseline_seconds=bare_row["seconds"],
            baseline_throughput_per_s=bare_row["throughput_per_s"],
            baseline_p99_ms=bare_row["latency_ms"]["p99"],
            ratio=round(rps_ratio, 3),
            p99_ratio=round(p99_ratio, 3),
            target=BARE_TARGET,
            target_met=rps_ratio >= 0.6 and p99_ratio <= 2 and row["errors"] == 0,
        )
        rows.append(bare_row)
    else:
        row["target_met"] = (
            row["throughput_per_s"] >= 1000 and row["latency_ms"]["p99"] <= 20
            and row["errors"] == 0
        )  # fmt: skip
    if reload_result is not None:
        reload_row = _row("api_load_reload", reload_result, RELOAD_TARGET, peak, common)
        reload_row.update(reload_info)
        reload_row["target_met"] = reload_row["errors"] == 0 and bool(reload_info.get("served"))
        rows.append(reload_row)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(rows, indent=2) + "\n")
    (args.out / f"{args.name}.md").write_text(render(rows))
    print(render(rows))


def render(rows: list[dict]) -> str:
    row, sc = rows[0], rows[0]["in_process"]
    lines = []
    for r in rows:
        lat = r["latency_ms"]
        met = "" if r["target_met"] is None else (": **met**" if r["target_met"] else
                                                  ": **NOT met**")  # fmt: skip
        ratio = "—" if not r.get("ratio") else f"{r['ratio']}× req/s, {r['p99_ratio']}× p99"
        lines.append(
            f"| {r['stage']} | {r['requests']:,} | {r['seconds']} | {r['throughput_per_s']:,} | "
            f"{lat['p50']} | {lat['p90']} | {lat['p99']} | {lat['max']} | "
            f"{r['errors']} | {r['peak_rss_mb']:,} | {ratio} | {r['target']}{met} |"
        )
    notes = []
    by_stage = {r["stage"]: r for r in rows}
    if "api_load_bare" in by_stage:
        b = by_stage["api_load_bare"]
        bare_runs = ", ".join(f"{r['req_per_s']:,} / {r['p99_ms']}" for r in b["runs"])
        notes.append(
            f"- Baseline (`api_load_bare`): `python -m benchmarks.bare_api` — a FastAPI app "
            "whose `/v1/users/{id}/next-series` returns a fixed 10-item list of the same shape, "
            f"run by the same `serving.server.run_server` (same uvicorn settings, "
            f"`--workers {row['workers']} --no-access-log`), loaded by the same wrk command "
            f"and script; its {len(b['runs'])} runs alternated with the real endpoint's in the "
            f"same run (per run, req/s and p99 ms: "
            f"{bare_runs}); "
            f"server CPU per request {b['server_cpu_us_per_request']} µs."
        )
    if "api_load_reload" in by_stage:
        rr = by_stage["api_load_reload"]
        notes.append(
            f"- Reload: {rr['seconds']} s of the same load, during which the bundle was "
            f"published again as `{rr.get('reload_version')}` (hard-linked copy, `current` "
            f"switched); the server answered with it {rr.get('reload_to_served_s')} s after "
            "the switch (1 s polling + loading and preparing the bundle on the watcher "
            f"thread), {rr['errors']} errors."
        )
    model = (
        f"the ranker's precomputed lists (40 stories per user, then trending; unknown users "
        f"trending), {row['users']:,} users × {row['series_versions']:,} series versions "
        f"({row['stories']:,} stories × 2 languages)"
        if row.get("scorer") == "precomputed"
        else f"{row['users']:,} users × {row['series_versions']:,} series versions "
        f"({row['stories']:,} stories × 2 languages), {row['factors']} factors"
    )
    table = "\n".join(lines)
    note_text = "\n".join(notes)
    runs = ", ".join(f"{r['req_per_s']:,} / {r['p99_ms']}" for r in row["runs"])
    return f"""# api_load — recommendation API under load

Run of {row["at"]} on {row["cores"]} cores, {row["memory_gb"]} GB; load average before
{row["loadavg_before"]}, after {row["loadavg_after"]} (the machine is shared with other work).

`python -m benchmarks.api_load --users {row["users"]} --stories {row["stories"]} --scorer {row.get("scorer", "factors")} --seconds {round(row["seconds"])} --repeats {len(row["runs"])} --connections {row["connections"]}`

| stage | requests | seconds | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | server RSS MB | vs bare (same run) | target |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|
{table}

- Model: {model}; request mix: {row["mix"]}.
- Server: `cliffhanger serve --workers {row["workers"]} --no-access-log` (uvicorn with uvloop + httptools), started and healthy in {row["server_startup_s"]} s (bundle load included); load from `wrk -t{row["wrk_threads"]} -c{row["connections"]}` (after a warm-up) in a separate process, random users from a Lua script; every non-2xx response counts as an error. api_load: medians of {len(row["runs"])} timed runs of {round(row["seconds"])} s (per run, req/s and p99 ms: {runs}), errors summed over all runs, max over all runs. Closed loop: {row["connections"]} requests always in flight, so latency ≈ {row["connections"]} / throughput plus scheduling noise.
{note_text}
- Server CPU per request (user + system, all timed runs): {row["server_cpu_us_per_request"]} µs, i.e. about {round(1e6 / row["server_cpu_us_per_request"]):,} req/s per fully available core — the figure least affected by the neighbours.
- In-process (no HTTP), {sc["n_users"]:,} users: bundle load {sc["bundle_load_s"]} s + preparation {sc["bundle_prepare_s"]} s; scoring per request, µs mean / p50 / p99: known user {sc["score_known_us"]["mean"]} / {sc["score_known_us"]["p50"]} / {sc["score_known_us"]["p99"]}, with after_series_id {sc["score_known_after_us"]["mean"]} / {sc["score_known_after_us"]["p50"]} / {sc["score_known_after_us"]["p99"]}, unknown user {sc["score_unknown_us"]["mean"]} / {sc["score_unknown_us"]["p50"]} / {sc["score_unknown_us"]["p99"]}.
- Versions: {", ".join(f"{k} {v}" for k, v in row["versions"].items())}.
"""


if __name__ == "__main__":
    main()
