"""Dashboard page benchmark: first visit, sidebar clicks and page loads in Chromium on a ~10 M-event warehouse.

    python -m benchmarks.dashboard_pages --events 10000000 --out benchmarks/results/

Builds the warehouse with the real CLI (``cliffhanger generate --format parquet`` then
``cliffhanger ingest``; reused while the user count is the same), starts ``cliffhanger
dashboard``, and times every page in Debian's Chromium: from navigation start to the page's
own content being visible (``performance.now()`` read as soon as the page's marker text shows),
and to the end of Streamlit's script run. Every timed load uses a fresh browser context (no
HTTP cache, a new Streamlit session). One warm-up pass first: its numbers are reported too, as
the "cold" first visit of a freshly started server (empty query caches). Targets
(BENCHMARKS.md, dashboard_pages): the **first visit** after the server starts (the app's root,
in a new browser, as soon as the server answers its health check) ≤ 3 s, and a **sidebar
click** (in one session, from the click to the new page's content, and to the end of its run)
≤ 1 s. Writes dashboard_pages.json and dashboard_pages.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.runner import machine  # read-only use of the shared runner's helper
from dashboards.browser import PAGES, launch_chromium, serve, wait_rendered

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "data" / "dashboard"
DAYS = 14
# events per user over 14 days, measured by the main benchmark (benchmarks/results/latest.json:
# 31,333 users gave 9,266,591 events, i.e. about 3,380 users per million events)
USERS_PER_MILLION_EVENTS = 3_380
TARGET_S = 2.0  # a fresh load of one page (new browser context)
FIRST_VISIT_TARGET_S = 3.0
CLICK_TARGET_S = 1.0


def _cli(home: Path, *args: str, landing: Path | None = None) -> float:
    env = {**os.environ, "CLIFFHANGER_HOME": str(home)}
    if landing is not None:
        env["CLIFFHANGER_LANDING"] = str(landing)
    env.pop("CLIFFHANGER_WAREHOUSE", None)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "cliffhanger.cli", *args],
        cwd=home,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def build_warehouse(events: int, work: Path = WORK) -> tuple[Path, dict]:
    """A published warehouse of about ``events`` generated events (reused when it exists)."""
    users = max(100, round(events * USERS_PER_MILLION_EVENTS / 1_000_000))
    home, data = work / "home", work / "data"
    stamp = work / "built.json"
    built = json.loads(stamp.read_text()) if stamp.exists() else {}
    if built.get("users") == users and built.get("models"):
        return home, json.loads(stamp.read_text())
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    home.mkdir(parents=True)
    print(f"generating {users:,} users × {DAYS} days…", file=sys.stderr, flush=True)
    gen_s = _cli(home, "generate", "--users", str(users), "--days", str(DAYS), "--format",
                 "parquet", "--out", str(data))  # fmt: skip
    print(f"  {gen_s:.1f} s; ingesting…", file=sys.stderr, flush=True)
    ingest_s = _cli(home, "ingest", str(data / "catalog"), str(data / "events"))
    # the full pipeline on the same landing folder (files already ingested are skipped): model
    # evaluation, recommendations and similar series, so the Recommendations page is real
    print(f"  {ingest_s:.1f} s; running the pipeline (models)…", file=sys.stderr, flush=True)
    run_s = _cli(home, "run", landing=data)
    import duckdb

    con = duckdb.connect(
        os.path.realpath(home / "warehouse" / "cliffhanger.duckdb"), read_only=True
    )
    n_events = con.execute("SELECT count(*) FROM analytics.events").fetchone()[0]
    n_series = con.execute("SELECT count(*) FROM analytics.series").fetchone()[0]
    con.close()
    info = {"users": users, "events": n_events, "series": n_series,
            "generate_s": round(gen_s, 1), "ingest_s": round(ingest_s, 1),
            "run_s": round(run_s, 1), "models": True}  # fmt: skip
    stamp.write_text(json.dumps(info))
    shutil.rmtree(data)  # the warehouse holds everything the pages read
    return home, info


def time_page(browser, url: str, spec) -> dict[str, float]:  # noqa: ANN001
    """One load in a fresh context: navigation start → content visible, → run finished."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{url}/{spec.path}", wait_until="commit")
        page.get_by_text(spec.ready_text, exact=False).first.wait_for(
            state="visible", timeout=60_000
        )
        visible_ms = page.evaluate("() => performance.now()")
        wait_rendered(page, spec, timeout_ms=60_000)
        done_ms = page.evaluate("() => performance.now()")
        errors = page.locator('[data-testid="stException"]').count()
        if errors:
            raise RuntimeError(f"page {spec.name} shows an exception")
    finally:
        context.close()
    return {"visible_s": visible_ms / 1000, "done_s": done_ms / 1000}


def time_clicks(browser, url: str, repeats: int) -> dict[str, list[dict[str, float]]]:  # noqa: ANN001
    """Sidebar clicks in one session: click → the new page's content visible, → run over."""
    from dashboards.browser import click_sidebar

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    out: dict[str, list[dict[str, float]]] = {spec.name: [] for spec in PAGES}
    try:
        page = context.new_page()
        root = next(s for s in PAGES if s.path == "")
        page.goto(f"{url}/")
        wait_rendered(page, root, timeout_ms=60_000)
        current = root
        for _ in range(repeats):
            for spec in PAGES:
                if spec.name == current.name:
                    continue
                start = page.evaluate("() => performance.now()")
                click_sidebar(page, spec)
                page.get_by_text(spec.ready_text, exact=False).first.wait_for(
                    state="visible", timeout=60_000
                )
                visible = page.evaluate("() => performance.now()")
                wait_rendered(page, spec, timeout_ms=60_000)
                done = page.evaluate("() => performance.now()")
                out[spec.name].append(
                    {"visible_s": (visible - start) / 1000, "done_s": (done - start) / 1000}
                )
                current = spec
    finally:
        context.close()
    return out


def run(events: int, out: Path, repeats: int = 3) -> list[dict]:
    from playwright.sync_api import sync_playwright

    home, info = build_warehouse(events)
    print(f"warehouse: {info['events']:,} events, {info['series']:,} series", file=sys.stderr)
    rows = []
    started = time.perf_counter()
    with serve(home) as url, sync_playwright() as pw:
        server_start_s = time.perf_counter() - started
        browser = launch_chromium(pw)
        try:
            root = next(s for s in PAGES if s.path == "")
            first = time_page(browser, url, root)  # the first visit after the server started
            print(f"  first visit: {first['visible_s']:.2f} s", file=sys.stderr, flush=True)
            cold = {spec.name: time_page(browser, url, spec) for spec in PAGES}  # warm-up
            clicks = time_clicks(browser, url, repeats)
            runs: dict[str, list[dict]] = {spec.name: [] for spec in PAGES}
            for i in range(repeats):
                for spec in PAGES:
                    t = time_page(browser, url, spec)
                    runs[spec.name].append(t)
                    print(f"  {spec.name}: run {i + 1}/{repeats} {t['visible_s']:.2f} s",
                          file=sys.stderr, flush=True)  # fmt: skip
        finally:
            browser.close()
    m = machine()
    rows.append({
        "stage": "dashboard_first_visit", "events": info["events"],
        "seconds": round(first["visible_s"], 3),
        "run_finished_seconds": round(first["done_s"], 3),
        "server_start_seconds": round(server_start_s, 3),
        "baseline": None, "baseline_seconds": None, "ratio": None,
        "target": f"≤ {FIRST_VISIT_TARGET_S:g} s first visit after start",
        "meets_target": first["visible_s"] <= FIRST_VISIT_TARGET_S,
        "users": info["users"], "series": info["series"], **m,
    })  # fmt: skip
    for spec in PAGES:
        visible = [r["visible_s"] for r in clicks[spec.name]]
        done = [r["done_s"] for r in clicks[spec.name]]
        rows.append({
            "stage": f"dashboard_click:{spec.name}", "events": info["events"],
            "seconds": round(statistics.median(visible), 3),
            "runs_seconds": [round(v, 3) for v in visible],
            "run_finished_seconds": round(statistics.median(done), 3),
            "baseline": None, "baseline_seconds": None, "ratio": None,
            "target": f"≤ {CLICK_TARGET_S:g} s sidebar click",
            "meets_target": statistics.median(visible) <= CLICK_TARGET_S,
            "users": info["users"], "series": info["series"], **m,
        })  # fmt: skip
    for spec in PAGES:
        visible = [r["visible_s"] for r in runs[spec.name]]
        done = [r["done_s"] for r in runs[spec.name]]
        seconds = statistics.median(visible)
        rows.append({
            "stage": f"dashboard_page:{spec.name}",
            "events": info["events"],
            "seconds": round(seconds, 3),
            "runs_seconds": [round(s, 3) for s in visible],
            "run_finished_seconds": round(statistics.median(done), 3),
            "cold_first_visit_seconds": round(cold[spec.name]["visible_s"], 3),
            "baseline": None, "baseline_seconds": None, "ratio": None,
            "target": f"≤ {TARGET_S:g} s first render in Chromium",
            "meets_target": seconds <= TARGET_S,
            "users": info["users"], "series": info["series"],
            **m,
        })  # fmt: skip
    write(rows, out, info)
    return rows


def write(rows: list[dict], out: Path, info: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "dashboard_pages.json").write_text(json.dumps(rows, indent=2) + "\n")
    m = machine()
    lines = [
        f"Dashboard pages, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {m['cores']} cores, "
        f"{m['memory_gb']} GB: a warehouse of {info['events']:,} generated events "
        f"({info['users']:,} users × {DAYS} days, {info['series']:,} series versions), "
        "`cliffhanger dashboard`, Debian Chromium headless via Playwright.",
        "",
        "First render = navigation start → the page's own content visible (`performance.now()`"
        " when its marker text shows), each load in a fresh browser context; median of "
        f"{len(rows[1]['runs_seconds'])} after a warm-up pass. *Cold* = that warm-up pass "
        "(empty query caches). *Run finished* = Streamlit's script run over (every chart "
        "drawn).",
        "",
    ]
    first = next(r for r in rows if r["stage"] == "dashboard_first_visit")
    lines += [
        f"**First visit after the server starts** (the app's root in a new browser, as soon as "
        f"the server answers; the server took {first['server_start_seconds']:.1f} s to start, "
        f"warm-up included): content visible in **{first['seconds']:.2f} s**, run finished in "
        f"{first['run_finished_seconds']:.2f} s ({first['target']}: "
        f"{'met' if first['meets_target'] else 'not met'}).",
        "",
        "**Sidebar clicks** in one session (click → the new page's content visible; median of "
        f"{len(rows[1]['runs_seconds'])}):",
        "",
        "| page | click → visible s (median) | runs | click → run finished s | target | met |",
        "|---|---:|---|---:|---|---|",
    ]
    for r in rows:
        if not r["stage"].startswith("dashboard_click:"):
            continue
        runs = ", ".join(f"{s:.2f}" for s in r["runs_seconds"])
        lines.append(
            f"| {r['stage'].split(':', 1)[1]} | {r['seconds']:.2f} | {runs} | "
            f"{r['run_finished_seconds']:.2f} | {r['target']} | "
            f"{'yes' if r['meets_target'] else 'no'} |"
        )
    lines += [
        "",
        "**Page loads** (each in a fresh browser context):",
        "",
        "| page | first render s (median) | runs | run finished s | cold first visit s | target | met |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    for r in rows:
        if not r["stage"].startswith("dashboard_page:"):
            continue
        runs = ", ".join(f"{s:.2f}" for s in r["runs_seconds"])
        lines.append(
            f"| {r['stage'].split(':', 1)[1]} | {r['seconds']:.2f} | {runs} | "
            f"{r['run_finished_seconds']:.2f} | {r['cold_first_visit_seconds']:.2f} | "
            f"{r['target']} | {'yes' if r['meets_target'] else 'no'} |"
        )
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    lines += ["", f"Versions: {versions}."]
    (out / "dashboard_pages.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rows = run(args.events, args.out, args.repeats)
    for r in rows:
        print(
            f"{r['stage']}: {r['seconds']:.2f} s (run finished {r['run_finished_seconds']:.2f} s)"
        )


if __name__ == "__main__":
    main()
