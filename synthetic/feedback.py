"""``generate --feedback ab|aa``: the app shows recommended lists and viewers tap them.

Plays both sides of docs/feedback-loop.md without product code: the API's served log (one JSON
line per served list, files per UTC hour under ``served/<date>/``) and the app's
``recommendation_impression`` / ``recommendation_click`` events (canonical JSON Lines, or
Segment "Product List Viewed" / "Product Clicked" with ``--format segment``) in their own
``events/recommendations_<date>.jsonl`` files, so every other file stays byte-identical.

- Users are split by the experiment rule of docs/feedback-loop.md §4 (sha256 of salt and user
  id, ``challenger_share`` 0.5).
- **Home lists**: at every app_open the app shows a home row of ``HOME_ITEMS`` series (position
  1 first); each is tapped with probability ``HOME_CTR[position]``, times ``lift`` for the
  challenger in ``ab`` mode (the planted better variant); ``aa`` serves the same model to both
  arms and plants nothing.
- **Discovery lists**: a share ``DISCOVERY_P`` of the first starts of a story by a user are
  preceded (5-120 s before) by a ``next-series`` list of ``NEXT_ITEMS`` holding that series,
  tapped 1 s before the start; its other items are tapped as home items are.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

FEEDBACK_MODES = ("off", "ab", "aa")
EXPERIMENT = "synthetic-ranker"
SALT = "synthetic-2026"
CHALLENGER_SHARE = 0.5
CONTROL_VERSION = "20260906T000000Z"
CHALLENGER_VERSION = "20260906T000000Z-challenger"
HOME_ITEMS = 6
NEXT_ITEMS = 4
HOME_CTR = np.array([0.10, 0.08, 0.065, 0.055, 0.045, 0.04])
DISCOVERY_P = 0.35
SERVER_PID = 4242


@dataclass(frozen=True)
class FeedbackFiles:
    """What was written: event files (name -> records) and served-log files."""

    event_files: dict[str, int]
    served_files: list[Path]
    impressions: int
    clicks: int
    lists: int


def variant_of(user_id: str, salt: str = SALT, share: float = CHALLENGER_SHARE) -> str:
    """The experiment split of docs/feedback-loop.md §4."""
    h = int(hashlib.sha256(f"{salt}:{user_id}".encode()).hexdigest()[:8], 16) / 2**32
    return "challenger" if h < share else "control"


def _iso(ms: int) -> str:
    t = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _lists(events: pl.DataFrame, series_ids: np.ndarray, story_of: dict[str, str],
           rng: np.random.Generator, start_ms: int, end_ms: int) -> list[dict]:  # fmt: skip
    """The lists shown, in time order: surface, time, user and the series at each position."""
    lists: list[dict] = []
    opens = events.filter(pl.col("event_type") == "app_open").select("ts_ms", "user_id")
    for ts_ms, user_id in opens.iter_rows():
        items = rng.choice(len(series_ids), size=min(HOME_ITEMS, len(series_ids)), replace=False)
        lists.append({"kind": "home", "ts_ms": ts_ms + 1500, "user_id": user_id,
                      "items": [str(series_ids[i]) for i in items], "tapped": None})  # fmt: skip
    starts = (
        events.filter(pl.col("event_type") == "episode_start")
        .select("ts_ms", "user_id", "series_id")
        .with_columns(story=pl.col("series_id").replace_strict(story_of, default=None))
        .sort("ts_ms", "user_id")
        .unique(["user_id", "story"], keep="first", maintain_order=True)
    )
    chosen = rng.random(starts.height) < DISCOVERY_P
    delays = rng.integers(5_000, 120_000, size=starts.height)
    for (ts_ms, user_id, series_id, _story), pick, delay in zip(
        starts.iter_rows(), chosen, delays, strict=True
    ):
        if not pick:
            continue
        size = min(NEXT_ITEMS + 1, len(series_ids))
        pool = rng.choice(len(series_ids), size=size, replace=False)
        others = [str(series_ids[i]) for i in pool if str(series_ids[i]) != series_id]
        others = others[: NEXT_ITEMS - 1]
        at = int(rng.integers(0, len(others) + 1))
        items = [*others[:at], series_id, *others[at:]]
        lists.append({"kind": "next", "ts_ms": ts_ms - int(delay), "user_id": user_id,
                      "items": items, "tapped": at + 1, "start_ms": ts_ms})  # fmt: skip
    lists.sort(key=lambda x: (x["ts_ms"], x["user_id"], x["kind"]))
    # only lists shown inside the data's days (and served after the first instant)
    return [x for x in lists if start_ms + 1000 <= x["ts_ms"] < end_ms]


def simulate_feedback(
    rng: np.random.Generator,
    events: pl.DataFrame,
    series: pl.DataFrame,
    mode: str,
    lift: float,
    out: Path,
    fmt: str,
    gzip_json: bool,
    start_ms: int,
    end_ms: int,
) -> FeedbackFiles:
    """Write the served log under ``out/served`` and the feedback events under ``out/events``."""
    series_ids = series["series_id"].to_numpy()
    story_of = dict(
        zip(
            series["series_id"].to_list(),
            [o or s for s, o in series.select("series_id", "original_series_id").iter_rows()],
            strict=True,
        )
    )
    lists = _lists(events, series_ids, story_of, rng, start_ms, end_ms)
    request_ids = rng.bytes(16 * len(lists)).hex()
    served_lines: dict[tuple[str, int], list[str]] = {}
    records: dict[str, list[str]] = {}
    n_imp = n_click = 0
    segment = fmt == "segment"
    variants: dict[str, str] = {}
    for n, lst in enumerate(lists):
        user_id = lst["user_id"]
        variant = variants.setdefault(user_id, variant_of(user_id))
        version = (
            CHALLENGER_VERSION if variant == "challenger" and mode == "ab" else CONTROL_VERSION
        )
        request_id = request_ids[32 * n : 32 * (n + 1)]
        endpoint, surface = ("home", "home:for_you") if lst["kind"] == "home" else ("next-series", "next-series")  # fmt: skip
        app_surface = "home" if lst["kind"] == "home" else "after_episode"
        served_ms = lst["ts_ms"] - int(rng.integers(100, 900))
        line = {"request_id": request_id, "served_at": _iso(served_ms), "user_id": user_id,
                "endpoint": endpoint, "surface": surface, "model_version": version,
                "variant": variant, "experiment": EXPERIMENT,
                "items": [{"series_id": s, "position": i + 1, "source": "als",
                           "score": round(0.95 - 0.05 * i, 4)}
                          for i, s in enumerate(lst["items"])]}  # fmt: skip
        day = dt.datetime.fromtimestamp(served_ms / 1000, dt.UTC)
        served_lines.setdefault((day.date().isoformat(), day.hour), []).append(json.dumps(line))
        boost = lift if (variant == "challenger" and mode == "ab") else 1.0
        ctr = np.minimum(1.0, HOME_CTR[: len(lst["items"])] * boost)
        taps = rng.random(len(lst["items"])) < ctr
        if lst["tapped"]:
            taps[lst["tapped"] - 1] = True
        tap_delay = rng.integers(2_000, 20_000, size=len(lst["items"]))
        file_day = _iso(lst["ts_ms"])[:10]
        out_lines = records.setdefault(file_day, [])
        common = {"request_id": request_id, "model_version": version, "variant": variant,
                  "surface": app_surface}  # fmt: skip
        who = {"anonymousId": user_id} if user_id.startswith("anon-") else {"userId": user_id}
        if segment:
            out_lines.append(json.dumps({
                "type": "track", "event": "Product List Viewed", "messageId": f"plv-{n:08d}",
                **who, "timestamp": _iso(lst["ts_ms"]),
                "properties": {**common, "products": [
                    {"product_id": s, "position": i + 1} for i, s in enumerate(lst["items"])]},
            }))  # fmt: skip
        else:
            for i, s in enumerate(lst["items"]):
                out_lines.append(json.dumps({
                    "event_id": f"imp-{n:08d}-{i + 1}", "event_type": "recommendation_impression",
                    "ts": _iso(lst["ts_ms"]), "user_id": user_id, **common, "series_id": s,
                    "position": i + 1}))  # fmt: skip
        n_imp += len(lst["items"])
        for i in np.flatnonzero(taps):
            s = lst["items"][i]
            if lst["tapped"] and i == lst["tapped"] - 1:
                at = lst["start_ms"] - 1000
            else:
                at = lst["ts_ms"] + int(tap_delay[i])
            if segment:
                out_lines.append(json.dumps({
                    "type": "track", "event": "Product Clicked", "messageId": f"pc-{n:08d}-{i + 1}",
                    **who, "timestamp": _iso(at),
                    "properties": {**common, "product_id": s, "position": int(i) + 1}}))  # fmt: skip
            else:
                out_lines.append(json.dumps({
                    "event_id": f"clk-{n:08d}-{i + 1}", "event_type": "recommendation_click",
                    "ts": _iso(at), "user_id": user_id, **common, "series_id": s,
                    "position": int(i) + 1}))  # fmt: skip
            n_click += 1
    event_files: dict[str, int] = {}
    suffix = ".jsonl.gz" if gzip_json else ".jsonl"
    for day, lines in sorted(records.items()):
        name = f"recommendations_{day}{suffix}"
        _write(out / "events" / name, lines, gzip_json)
        event_files[name] = len(lines)
    served_paths = []
    tags = rng.bytes(4 * len(served_lines)).hex()
    for k, ((day, hour), lines) in enumerate(sorted(served_lines.items())):
        path = (
            out / "served" / day / f"served-{hour:02d}-{SERVER_PID}-{tags[8 * k : 8 * k + 8]}.jsonl"
        )
        _write(path, lines, False)
        served_paths.append(path)
    (out / "experiment.toml").write_text(
        f'name = "{EXPERIMENT}"\nsalt = "{SALT}"\nchallenger_bundle = "models/challenger"\n'
        f"challenger_share = {CHALLENGER_SHARE}\n"
        f'# generate --feedback {mode}: {"challenger CTR x " + str(lift) if mode == "ab" else "A/A, the same model in both arms"}\n'
    )  # fmt: skip
    return FeedbackFiles(event_files, served_paths, n_imp, n_click, len(lists))


def _write(path: Path, lines: list[str], gzip_json: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode() if lines else b""
    if gzip_json:
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=5) as gz:
            gz.write(data)
        data = buf.getvalue()
    path.write_bytes(data)
