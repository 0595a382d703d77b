"""Sensors: a run when new files land."""

import hashlib
import json

import dagster as dg

from ingest.reader import file_format
from pipelines.resources import CliffhangerStore


def landing_snapshot(folder) -> dict[str, list[int]]:
    """name -> [size, mtime_ns] of the event files in ``folder``."""
    if not folder.is_dir():
        return {}
    return {
        p.name: [p.stat().st_size, p.stat().st_mtime_ns]
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".") and file_format(p)
    }


@dg.sensor(job_name="everything", minimum_interval_seconds=30)
def landing_files(
    context: dg.SensorEvaluationContext, store: CliffhangerStore
) -> dg.SensorResult | dg.SkipReason:
    """Request a full run when files appear or change in the landing folder's events/."""
    seen = json.loads(context.cursor) if context.cursor else {}
    now = landing_snapshot(store.paths().landing / "events")
    changed = sorted(name for name, sig in now.items() if seen.get(name) != sig)
    if not changed:
        return dg.SkipReason("no new or changed files in the landing folder")
    key = hashlib.sha256(json.dumps({n: now[n] for n in changed}).encode()).hexdigest()[:16]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=key, tags={"landing_files": str(len(changed))})],
        cursor=json.dumps(now),
    )
