"""Peak memory and time of ``cliffhanger generate`` by size: does the generator stream?

Each run is a fresh child process (``python -c``) with its own ``PYTHONPATH``, so the same
script measures another checkout's generator (``--code /path/to/checkout``, e.g. the code
before streaming) against this one in the same session. The child reports its wall time and
peak RSS (VmHWM); results are merged into benchmarks/results/generate_stream.{json,md} under
``--label``.

    python -m benchmarks.generate_stream --label after --users 4500 45000
    python -m benchmarks.generate_stream --label before --code /tmp/base --users 4500 45000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from synthetic import GenerateSpec, generate
users, days, fmt, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
t0 = time.perf_counter()
r = generate(GenerateSpec(users=users, days=days, seed=7, out=out, fmt=fmt))
seconds = time.perf_counter() - t0
hwm = 0.0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        hwm = int(line.split()[1]) / 1024
use = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"events": r.n_events, "records": r.n_records, "seconds": round(seconds, 2),
                  "cpu_seconds": round(use.ru_utime + use.ru_stime, 1),
                  "peak_rss_mb": round(hwm), "chunks": getattr(r, "n_chunks", 1),
                  "max_chunk_records": getattr(r, "max_chunk_records", r.n_records),
                  "stages": r.seconds}))
"""


def run_one(code: Path, users: int, days: int, fmt: str, scratch: Path) -> dict:
    out = scratch / f"gen-{users}-{days}-{fmt}"
    env = {**os.environ, "PYTHONPATH": str(code), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(users), str(days), fmt, str(out)],
        env=env,
        cwd=code,  # ``python -c`` puts the working folder first on sys.path: make it ``code``
        capture_output=True,
        text=True,
        check=True,
    )
    load = round(os.getloadavg()[0], 1)  # the machine is shared: how busy it was
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    shutil.rmtree(out, ignore_errors=True)
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "users": users,
        "days": days,
        "format": fmt,
        "output_mb": round(size / 1e6, 1),
        "load_1min": load,
        **row,
    }


def write_markdown(results: dict) -> None:
    lines = [
        "# Generator memory and time by size (`benchmarks/generate_stream.py`)",
        "",
        f"Machine: {results.get('machine', '')}. One run per row, each a fresh process; "
        "peak RSS is the child's VmHWM, CPU seconds its user + system time (all threads), "
        "load the 1-minute load average when it ended (2 cores shared with other work: wall "
        "seconds vary with it, CPU seconds much less). Seed 7, Parquet.",
        "",
        "| code | users × days | events | chunks | largest chunk (records) | seconds "
        "| CPU seconds | peak RSS (MB) | events/s | load (1 min) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, rows in results["runs"].items():
        for r in rows:
            rate = r["events"] / r["seconds"] if r["seconds"] else 0
            lines.append(
                f"| {label} | {r['users']:,} × {r['days']} | {r['events']:,} | {r['chunks']} "
                f"| {r['max_chunk_records']:,} | {r['seconds']} | {r.get('cpu_seconds', '')} "
                f"| {r['peak_rss_mb']:,} | {rate:,.0f} | {r.get('load_1min', '')} |"
            )
    lines.append("")
    (RESULTS / "generate_stream.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="name of this code version (before/after)")
    parser.add_argument("--code", type=Path, default=REPO, help="checkout whose synthetic/ runs")
    parser.add_argument("--users", type=int, nargs="+", default=[4500, 45000])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--format", default="parquet")
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "generate_stream.json"
    results = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores (shared)"
    results["date"] = dt.date.today().isoformat()
    rows = [r for r in results["runs"].get(args.label, []) if r["users"] not in args.users]
    for users in args.users:
        row = run_one(args.code, users, args.days, args.format, args.scratch)
        print(json.dumps(row), flush=True)
        rows.append(row)
        rows.sort(key=lambda r: (r["users"], r["days"]))
        results["runs"][args.label] = rows
        path.write_text(json.dumps(results, indent=2) + "\n")
        write_markdown(results)


if __name__ == "__main__":
    main()
