"""An independent, deliberately plain reading of CONTRACT §2 used as a test oracle.

It classifies one input record at a time with ordinary Python (no project code), so tests can
check the generator's fault manifest — and later, ingestion's accounting — against it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

CANONICAL_TYPES = {
    "app_open", "episode_start", "episode_progress", "episode_complete", "episode_exit",
    "paywall_view", "episode_unlock", "purchase", "like", "share", "follow",
}  # fmt: skip
SEGMENT_TO_CANONICAL = {
    "Video Content Started": "episode_start",
    "Video Content Playing": "episode_progress",
    "Video Content Completed": "episode_complete",
    "Video Playback Exited": "episode_exit",
    "Video Playback Interrupted": "episode_exit",
}
# Video Spec events kept as their own types
SEGMENT_KEPT = {
    "Video Playback Started", "Video Playback Paused", "Video Playback Resumed",
    "Video Playback Buffer Started", "Video Playback Buffer Completed",
    "Video Playback Seek Started", "Video Playback Seek Completed", "Video Playback Completed",
    "Video Ad Started", "Video Ad Playing", "Video Ad Completed", "Video Quality Updated",
}  # fmt: skip
NEEDS_EPISODE = {"episode_start", "episode_progress", "episode_complete", "episode_exit",
                 "paywall_view", "episode_unlock"}  # fmt: skip
NEEDS_POSITION = {"episode_progress", "episode_complete", "episode_exit"}
MIN_TS_MS = int(dt.datetime(2015, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)


def _missing(value: object) -> bool:
    return value is None or value == ""


def parse_ts_ms(value: object) -> int | None:
    """Epoch ms from an ISO-8601 string with offset, epoch milliseconds, or a datetime."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000) if value.tzinfo else None
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None
        return int(parsed.timestamp() * 1000)
    return None


def to_canonical(record: dict) -> dict:
    """Map a Segment Video Spec track call onto canonical field names (CONTRACT §2b)."""
    if record.get("type") != "track":
        return record
    props = record.get("properties") or {}
    name = record.get("event")
    asset = props.get("asset_id")
    if asset is None:
        asset = props.get("content_asset_id")
    if asset is None and isinstance(props.get("content_asset_ids"), list):
        ids = props["content_asset_ids"]
        asset = ids[0] if ids else None
    user = record.get("userId")
    if _missing(user):
        user = record.get("anonymousId")
    if name is None:
        event_type = None
    elif name in SEGMENT_TO_CANONICAL:
        event_type = SEGMENT_TO_CANONICAL[name]
    elif name in SEGMENT_KEPT:
        event_type = name.lower().replace(" ", "_")
    else:
        event_type = "<unknown>"
    return {
        "event_id": record.get("messageId"),
        "event_type": event_type,
        "ts": record.get("timestamp"),
        "user_id": user,
        "episode_id": asset,
        "position_s": props.get("position"),
        "_segment": True,
    }


def classify(record: object, series: dict[str, int], episodes: set[str], now_ms: int) -> str | None:
    """The quarantine reason for ``record``, or None when it is loadable."""
    if not isinstance(record, dict):
        return "malformed"
    rec = to_canonical(record)
    for name in ("event_id", "event_type", "ts", "user_id"):
        if _missing(rec.get(name)):
            return f"missing_field:{name}"
    etype = rec["event_type"]
    segment_kept = rec.get("_segment") and etype.startswith("video_")
    if etype not in CANONICAL_TYPES and not segment_kept:
        return "unknown_event_type"
    ts = parse_ts_ms(rec["ts"])
    if ts is None:
        return "bad_value:ts"
    if ts < MIN_TS_MS or ts > now_ms + 86_400_000:
        return "ts_out_of_range"
    series_id, number, episode_id = (
        rec.get("series_id"),
        rec.get("episode_number"),
        rec.get("episode_id"),
    )
    if not _missing(episode_id):
        if episode_id not in episodes:
            return "unknown_episode"
    elif not _missing(series_id):
        if series_id not in series:
            return "unknown_series"
        if not _missing(number):
            if not isinstance(number, int) or isinstance(number, bool) or number < 1:
                return "bad_value:episode_number"
            if number > series[series_id]:
                return "unknown_episode"
        elif etype in NEEDS_EPISODE:
            return "missing_field:episode_number"
    elif etype in NEEDS_EPISODE:
        return "missing_field:series_id"
    if etype in NEEDS_POSITION:
        pos = rec.get("position_s")
        if _missing(pos):
            return "missing_field:position_s"
        if not isinstance(pos, int | float) or isinstance(pos, bool) or pos < 0 or math.isnan(pos):
            return "bad_value:position_s"
    if etype == "episode_unlock":
        method = rec.get("unlock_method")
        if _missing(method):
            return "missing_field:unlock_method"
        if method not in {"coins", "ad", "subscription"}:
            return "bad_value:unlock_method"
    if etype == "purchase":
        amount = rec.get("amount_usd")
        if _missing(amount):
            return "missing_field:amount_usd"
        if not isinstance(amount, int | float) or amount < 0:
            return "bad_value:amount_usd"
    return None


def read_records(path: Path) -> Iterator[object]:
    """Each record of an event file; an unparseable JSON line yields the string itself."""
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        for row in table.to_pylist():
            yield {k: v for k, v in row.items() if v is not None}
        return
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                yield line


def account(
    event_files: list[Path], series: dict[str, int], episodes: set[str], now_ms: int
) -> dict[str, dict]:
    """Per file: records_in, loaded, duplicates, quarantine reasons and each outcome.

    Files are read in name order (the day order), so the first delivery of an event_id wins.
    """
    seen: set[str] = set()
    result: dict[str, dict] = {}
    for path in sorted(event_files):
        stats = {"records": 0, "loaded": 0, "duplicates": 0, "reasons": {}, "outcomes": {}}
        for number, record in enumerate(read_records(path), start=1):
            stats["records"] += 1
            reason = classify(record, series, episodes, now_ms)
            if reason is not None:
                stats["reasons"][reason] = stats["reasons"].get(reason, 0) + 1
                stats["outcomes"][number] = ("quarantined", reason)
                continue
            event_id = to_canonical(record)["event_id"]  # type: ignore[arg-type]
            if event_id in seen:
                stats["duplicates"] += 1
                stats["outcomes"][number] = ("duplicate", None)
            else:
                seen.add(event_id)
                stats["loaded"] += 1
        result[path.name] = stats
    return result
