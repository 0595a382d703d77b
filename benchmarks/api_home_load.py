"""Home page vs next-series vs a bare endpoint under the same load, in one run.

``python -m benchmarks.api_home_load --users 1000000 --seconds 20 --repeats 3``

Reuses ``benchmarks.api_load`` (its bundle, its wrk runner): one bundle of ``--users`` users,
a synthetic viewer activity (20 % of the users in the middle of 1–3 series, so continue
watching and the fold-in have work), then, alternating on the same machine with the same wrk
settings (one round = the three stages one after another, ``--repeats`` rounds, medians):

- ``bare``: a FastAPI endpoint returning a fixed 10-item list, served by uvicorn with the
  server's settings (uvloop, httptools, no access log) — BENCHMARKS.md's api_load baseline;
- ``next-series``: ``cliffhanger serve`` with the served log on, the mix of api_load
  (70 % known, 10 % known + after_series_id, 20 % unknown);
- ``home``: the same server, ``/v1/users/{id}/home?k=10`` for the same mix of users.

Targets: next-series ≥ 0.6× bare's req/s and p99 ≤ 2× bare's (BENCHMARKS.md api_load); home's
p99 ≤ 2× next-series' (issue #15). Writes ``benchmarks/results/api_home_load.{json,md}``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks import api_load

ROOT = api_load.ROOT
RESULTS = api_load.RESULTS

HOME_LUA = (
    api_load.LUA.replace(
        'path = string.format("/v1/users/x%07d/next-series?k=10", math.random(0, 9999999))',
        'path = string.format("/v1/users/x%07d/home?k=10", math.random(0, 9999999))',
    )
    .replace(
        'path = string.format("/v1/users/u%07d/next-series?k=10&after_series_id=s%05d-en",\n'
        "      math.random(0, n_users - 1), math.random(0, n_stories - 1))",
        'path = string.format("/v1/users/u%07d/home?k=10", math.random(0, n_users - 1))',
    )
    .replace(
        'path = string.format("/v1/users/u%07d/next-series?k=10", math.random(0, n_users - 1))',
        'path = string.format("/v1/users/u%07d/home?k=10", math.random(0, n_users - 1))',
    )
)
BARE_LUA = """
function request()
  return wrk.format("GET", "/bare")
end
""" + api_load.LUA[api_load.LUA.index("function done") :]

_BARE_ITEMS = [
    {"series_id": f"s{i:05d}-en", "title": f"Series {i}", "language": "en", "n_episodes": 60,
     "free_episodes": 10, "production_type": "ai", "score": round(1 / (i + 1), 6),
     "source": "als", "reason": "picked for you"}
    for i in range(10)
]  # fmt: skip


def bare_app():  # noqa: ANN201 - uvicorn factory
    """The baseline: one FastAPI route returning a fixed 10-item list."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})

    @app.get("/bare")
    async def bare() -> JSONResponse:
        return JSONResponse({"user_id": "u1", "items": _BARE_ITEMS})

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return app


def write_activity(home: Path, n_users: int, n_stories: int, share: float = 0.2) -> int:
    """A synthetic viewer activity: ``share`` of the users in 1–3 series each."""
    import polars as pl

    from models.activity import SCHEMA
    from models.activity import write_activity as publish

    rng = np.random.default_rng(11)
    users = np.flatnonzero(rng.random(n_users) < share)
    per = rng.integers(1, 4, len(users))
    user_col = np.repeat(users, per)
    n = len(user_col)
    frame = pl.DataFrame(
        {
            "user_id": [f"u{u:07d}" for u in user_col],
            "series_id": [f"s{s:05d}-en" for s in rng.integers(0, n_stories, n)],
            "started_at": "2026-11-20T10:00:00Z",
            "last_watched_at": [f"2026-11-{d:02d}T12:00:00Z" for d in rng.integers(21, 30, n)],
            "next_episode_number": rng.integers(2, 30, n).astype(np.int32),
            "next_episode_locked": rng.random(n) < 0.3,
            "finished": rng.random(n) < 0.2,
        },
        schema=SCHEMA,
    ).unique(["user_id", "series_id"])
    publish(home / "models_published" / "activity.parquet", frame)
    return frame.height


@contextlib.contextmanager
def server(
    cmd: list[str], env: dict, log_path: Path, url: str, cwd: Path = ROOT
) -> Iterator[subprocess.Popen]:
    log = open(log_path, "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    try:
        api_load._wait_healthy(url, proc, timeout=300)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def run(url: str, lua: str, args: argparse.Namespace, env: dict) -> dict:
    """One wrk run with ``lua`` (api_load.run_wrk reads its module's LUA)."""
    saved = api_load.LUA
    api_load.LUA = lua
    try:
        return api_load.run_wrk(url, args.seconds, args.connections, args.threads, env)
    finally:
        api_load.LUA = saved


def _summary(runs: list[dict]) -> dict:
    med = api_load._median_run(runs)
    seconds = med["duration_us"] / 1e6
    return {
        "req_per_s": round(med["requests"] / seconds),
        "p50_ms": round(med["latency_us"]["p50"] / 1000, 2),
        "p99_ms": round(med["latency_us"]["p99"] / 1000, 2),
        "max_ms": round(med["latency_us"]["max"] / 1000, 2),
        "errors": sum(med["errors"].values()),
        "runs": med["runs"],
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--stories", type=int, default=1000)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument(
        "--before",
        type=Path,
        help="a source tree of an earlier version (e.g. `git archive <commit> | tar -x -C "
        "DIR`): adds its next-series as a stage of each round, to see what the new fields cost",
    )
    args = ap.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("api_home_load: wrk is not installed (Debian: apt-get install -y wrk)")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    load_before = api_load._loadavg()
    home, _ = api_load.build_bundle(args.users, args.stories, args.factors)
    n_activity = write_activity(home, args.users, args.stories)
    served = home / "served-bench"
    shutil.rmtree(served, ignore_errors=True)
    env = dict(os.environ, CLIFFHANGER_HOME=str(home), OPENBLAS_NUM_THREADS="1",
               CLIFFHANGER_SERVED_LOG=str(served))  # fmt: skip
    env.pop("CLIFFHANGER_API_KEY", None)
    env.pop("CLIFFHANGER_EXPERIMENT", None)
    wrk_env = dict(env, API_LOAD_USERS=str(args.users), API_LOAD_STORIES=str(args.stories))
    uvicorn_opts = ["--no-access-log", "--loop", "uvloop", "--http", "httptools"]
    stages: dict[str, list[dict]] = {"bare": [], "next-series": [], "home": []}
    if args.before:
        stages["next-series-before"] = []
    bare_port, api_port = api_load._free_port(), api_load._free_port()
    bare_url, api_url = f"http://127.0.0.1:{bare_port}", f"http://127.0.0.1:{api_port}"
    bare_cmd = [sys.executable, "-m", "uvicorn", "benchmarks.api_home_load:bare_app",
                "--factory", "--port", str(bare_port), *uvicorn_opts]  # fmt: skip
    api_cmd = [sys.executable, "-m", "cliffhanger.cli", "serve", "--port", str(api_port),
               "--no-access-log"]  # fmt: skip
    log_path = home / "api_home_load.log"
    for _ in range(args.repeats):
        with server(bare_cmd, env, log_path, bare_url):
            if args.warmup:
                run(bare_url, BARE_LUA, argparse.Namespace(**{**vars(args), "seconds": args.warmup}), wrk_env)  # fmt: skip
            stages["bare"].append(run(bare_url, BARE_LUA, args, wrk_env))
        with server(api_cmd, env, log_path, api_url):
            if args.warmup:
                warm = argparse.Namespace(**{**vars(args), "seconds": args.warmup})
                run(api_url, api_load.LUA, warm, wrk_env)
                run(api_url, HOME_LUA, warm, wrk_env)
            stages["next-series"].append(run(api_url, api_load.LUA, args, wrk_env))
            stages["home"].append(run(api_url, HOME_LUA, args, wrk_env))
        if args.before:
            before_env = dict(env, PYTHONPATH=str(args.before.resolve()))
            with server(api_cmd, before_env, log_path, api_url, cwd=args.before.resolve()):
                if args.warmup:
                    warm = argparse.Namespace(**{**vars(args), "seconds": args.warmup})
                    run(api_url, api_load.LUA, warm, wrk_env)
                stages["next-series-before"].append(run(api_url, api_load.LUA, args, wrk_env))
    lines = sum(len(p.read_bytes().splitlines()) for p in served.glob("*/*.jsonl"))
    summary = {name: _summary(runs) for name, runs in stages.items()}
    ns, page = summary["next-series"], summary["home"]
    # ratios per round (same round = same neighbours), then their median
    rounds = list(zip(stages["bare"], stages["next-series"], stages["home"], strict=True))

    def rps(r: dict) -> float:
        return r["requests"] / (r["duration_us"] / 1e6)

    ratios = {
        "next_series_vs_bare_req_per_s": round(
            statistics.median(rps(n) / rps(b) for b, n, _ in rounds), 3
        ),  # fmt: skip
        "next_series_vs_bare_p99": round(
            statistics.median(
                n["latency_us"]["p99"] / b["latency_us"]["p99"] for b, n, _ in rounds
            ),
            3,
        ),  # fmt: skip
        "home_vs_next_series_p99": round(
            statistics.median(
                h["latency_us"]["p99"] / n["latency_us"]["p99"] for _, n, h in rounds
            ),
            3,
        ),  # fmt: skip
        "home_vs_next_series_req_per_s": round(
            statistics.median(rps(h) / rps(n) for _, n, h in rounds), 3
        ),  # fmt: skip
    }
    if args.before:
        pairs = list(zip(stages["next-series"], stages["next-series-before"], strict=True))
        ratios["next_series_vs_before_req_per_s"] = round(
            statistics.median(rps(n) / rps(o) for n, o in pairs), 3
        )
        ratios["next_series_vs_before_p99"] = round(
            statistics.median(n["latency_us"]["p99"] / o["latency_us"]["p99"] for n, o in pairs),
            3,
        )
    targets = {
        "next_series_api_load": ratios["next_series_vs_bare_req_per_s"] >= 0.6
        and ratios["next_series_vs_bare_p99"] <= 2 and ns["errors"] == 0,
        "home_p99_le_2x_next_series": ratios["home_vs_next_series_p99"] <= 2
        and page["errors"] == 0,
    }  # fmt: skip
    result = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "users": args.users, "stories": args.stories, "activity_rows": n_activity,
        "seconds": args.seconds, "repeats": args.repeats, "connections": args.connections,
        "loadavg_before": load_before, "loadavg_after": api_load._loadavg(),
        "stages": summary, "ratios": ratios, "targets_met": targets,
        "served_log_lines": lines,
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "api_home_load.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "api_home_load.md").write_text(render(result))
    print(render(result))


def render(r: dict) -> str:
    def per_round(s: dict) -> str:
        return ", ".join(f"{x['req_per_s']:,} / {x['p99_ms']}" for x in s["runs"])

    rows = "\n".join(
        f"| {name} | {s['req_per_s']:,} | {s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} | "
        f"{s['errors']} | {per_round(s)} |"
        for name, s in r["stages"].items()
    )
    q, t = r["ratios"], r["targets_met"]
    before = ""
    if "next_series_vs_before_req_per_s" in q:
        before = (
            f"- next-series / the same endpoint before this change (`--before`): req/s "
            f"**{q['next_series_vs_before_req_per_s']}×**, p99 **{q['next_series_vs_before_p99']}×**.\n"
        )
    return f"""# api_home_load — home vs next-series vs a bare endpoint, same run

Run of {r["at"]}: {r["users"]:,} users × {r["stories"]:,} stories (2 languages), viewer
activity of {r["activity_rows"]:,} rows; {r["repeats"]} rounds of bare → next-series → home,
{r["seconds"]} s each, wrk {r["connections"]} connections; load average before
{r["loadavg_before"]}, after {r["loadavg_after"]} (2 shared cores).

| stage | req/s | p50 ms | p99 ms | max ms | errors | per round: req/s / p99 ms |
|---|---:|---:|---:|---:|---:|---|
{rows}

Ratios (median over rounds of the same-round ratio):

- next-series / bare: req/s **{q["next_series_vs_bare_req_per_s"]}×** (target ≥ 0.6×), p99
  **{q["next_series_vs_bare_p99"]}×** (target ≤ 2×): {"met" if t["next_series_api_load"] else "NOT met"};
- home / next-series: p99 **{q["home_vs_next_series_p99"]}×** (target ≤ 2×):
  {"met" if t["home_p99_le_2x_next_series"] else "NOT met"}; req/s {q["home_vs_next_series_req_per_s"]}×.
{before}
The API wrote {r["served_log_lines"]:,} served-log lines meanwhile (one per next-series
response, one per home row).
"""


if __name__ == "__main__":
    main()
