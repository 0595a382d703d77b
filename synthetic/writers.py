"""Serialize logical records to daily files: JSON Lines (canonical or Segment) or Parquet.

JSON is assembled with polars string expressions: every value we write is an id, a number or
a title from a fixed word list (checked to need no escaping), so no per-record Python runs.
Gzip output uses mtime 0 so the same data gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from synthetic.records import LOCALES, SEGMENT_PLAYBACK_EVENTS


def _q(expr: pl.Expr) -> pl.Expr:
    """A JSON string literal of a value that needs no escaping."""
    return pl.lit('"') + expr + pl.lit('"')


def _field(key: str, value: pl.Expr, quoted: bool = True) -> pl.Expr:
    """``"key":value``, or null when the value is null (so the key is left out)."""
    v = _q(value) if quoted else value
    return pl.lit(f'"{key}":') + v


def _num(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.Utf8)


def _ts_json(iso_only: bool) -> pl.Expr:
    ts = pl.col("ts_ms")
    utc_iso = pl.from_epoch(ts, time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
    off = pl.col("utc_offset_h")
    sign = pl.when(off < 0).then(pl.lit("-")).otherwise(pl.lit("+"))
    off_txt = sign + off.abs().cast(pl.Utf8).str.zfill(2) + pl.lit(":00")
    local_iso = (
        pl.from_epoch(ts + off * 3_600_000, time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%S%.3f")
        + off_txt
    )
    kind = pl.col("ts_kind")
    value = (
        pl.when(pl.col("ts_override").is_not_null())
        .then(_q(pl.col("ts_override")))
        .when((kind == "epoch") & pl.lit(not iso_only))
        .then(_num(ts))
        .when(kind == "iso_local")
        .then(_q(local_iso))
        .otherwise(_q(utc_iso))
    )
    return value


def _canonical_line() -> pl.Expr:
    parts = [
        _field("event_id", pl.col("event_id")),
        _field("event_type", pl.col("event_type")),
        _field("ts", _ts_json(iso_only=False), quoted=False),
        _field("user_id", pl.col("user_id")),
        _field("session_id", pl.col("session_id")),
        _field("series_id", pl.col("series_id")),
        _field("episode_number", _num(pl.col("episode_number")), quoted=False),
        _field("episode_id", pl.col("episode_id")),
        _field("position_s", _num(pl.col("position_s")), quoted=False),
        _field("unlock_method", pl.col("unlock_method")),
        _field("amount_usd", _num(pl.col("amount_usd")), quoted=False),
        _field("platform", pl.col("platform")),
        _field("app_version", pl.col("app_version")),
        _field("country", pl.col("country")),
        _field("language", pl.col("language")),
    ]
    return pl.lit("{") + pl.concat_str(parts, separator=",", ignore_nulls=True) + pl.lit("}")


def _segment_line() -> pl.Expr:
    etype = pl.col("event_type")
    asset = pl.col("episode_id")
    asset_field = (
        pl.when(etype == "Video Playback Started")
        .then(pl.lit('"content_asset_ids":[') + _q(asset) + pl.lit("]"))
        .when(etype.is_in(list(SEGMENT_PLAYBACK_EVENTS)))
        .then(_field("content_asset_id", asset))
        .otherwise(_field("asset_id", asset))
    )
    props = pl.concat_str(
        [
            _field("session_id", pl.col("session_id")),
            asset_field,
            _field("position", _num(pl.col("position_s")), quoted=False),
            _field("total_length", _num(pl.col("total_length")), quoted=False),
            _field("program", pl.col("program")),
            _field("episode", _num(pl.col("episode_number"))),
            pl.lit('"season":"1","full_episode":true,"livestream":false'),
        ],
        separator=",",
        ignore_nulls=True,
    )
    user = (
        pl.when(pl.col("anonymous"))
        .then(_field("anonymousId", pl.col("user_id")))
        .otherwise(_field("userId", pl.col("user_id")))
    )
    context = (
        pl.lit('"context":{"app":{"version":')
        + _q(pl.col("app_version"))
        + pl.lit('},"os":{"name":')
        + _q(pl.col("platform"))
        + pl.lit('},"locale":')
        + _q(pl.col("language").replace(LOCALES))
        + pl.lit("}")
    )
    parts = [
        pl.lit('"type":"track"'),
        _field("event", etype),
        _field("messageId", pl.col("event_id")),
        user,
        _field("timestamp", _ts_json(iso_only=True), quoted=False),
        pl.lit('"properties":{') + props + pl.lit("}"),
        context,
    ]
    return pl.lit("{") + pl.concat_str(parts, separator=",", ignore_nulls=True) + pl.lit("}")


def serialize_json(rec: pl.DataFrame, cut: np.ndarray) -> pl.Series:
    """One JSON line per record; a malformed record is cut short at fraction ``cut``."""
    titles = rec["program"].drop_nulls().unique()
    if titles.str.contains(r'["\\]').any():
        raise ValueError("a title needs JSON escaping")
    line = (
        rec.select(
            pl.when(pl.col("shape") == "segment").then(_segment_line()).otherwise(_canonical_line())
        )
        .to_series()
        .alias("line")
    )
    return (
        pl.DataFrame({"line": line, "malformed": rec["malformed"], "cut": cut})
        .select(
            pl.when(pl.col("malformed"))
            .then(
                pl.col("line").str.slice(
                    0, (pl.col("line").str.len_chars() * pl.col("cut")).cast(pl.Int64)
                )
            )
            .otherwise(pl.col("line"))
        )
        .to_series()
    )


PARQUET_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("user_id", pa.string()),
        ("session_id", pa.string()),
        ("series_id", pa.string()),
        ("episode_number", pa.int32()),
        ("episode_id", pa.string()),
        ("position_s", pa.float64()),
        ("unlock_method", pa.string()),
        ("amount_usd", pa.float64()),
        ("platform", pa.string()),
        ("app_version", pa.string()),
        ("country", pa.string()),
        ("language", pa.string()),
    ]
)


def day_name(start: dt.date, day: int) -> str:
    return (start + dt.timedelta(days=int(day))).isoformat()


def write_event_files(
    rec: pl.DataFrame,
    out_dir: Path,
    fmt: str,
    gzip_json: bool,
    start: dt.date,
    n_days: int,
    rng: np.random.Generator,
) -> tuple[list[Path], pl.DataFrame, pl.DataFrame]:
    """Write one file per day.

    Returns the paths, each faulty record's file and 1-based record number, and the record
    count of every file.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    rec = rec.sort(["file_day", "order"]).with_columns(
        record_number=pl.int_range(1, pl.len() + 1).over("file_day")
    )
    if fmt == "parquet":
        ts = pl.from_epoch("ts_ms", time_unit="ms").dt.replace_time_zone("UTC").alias("ts")
        body = rec.select([ts if name == "ts" else name for name in PARQUET_SCHEMA.names])
    else:
        body = rec
        cut = rng.uniform(0.2, 0.8, size=rec.height)
    suffix = ".parquet" if fmt == "parquet" else (".jsonl.gz" if gzip_json else ".jsonl")
    days = rec["file_day"].to_numpy()
    bounds = np.searchsorted(days, np.arange(n_days + 1))
    paths: list[Path] = []
    for day in range(n_days):
        lo, hi = int(bounds[day]), int(bounds[day + 1])
        part = body.slice(lo, hi - lo)
        path = out_dir / f"events_{day_name(start, day)}{suffix}"
        if fmt != "parquet":
            # one day at a time keeps only that day's JSON text in memory
            part = pl.DataFrame({"line": serialize_json(part, cut[lo:hi])})
        if fmt == "parquet":
            table = part.to_arrow().cast(PARQUET_SCHEMA)
            pq.write_table(table, path, compression="zstd", row_group_size=256_000)
        else:
            buf = io.BytesIO()
            if part.height:
                part.write_csv(buf, include_header=False, quote_style="never")
            data = buf.getvalue()
            if gzip_json:
                with (
                    open(path, "wb") as raw,
                    gzip.GzipFile(
                        filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=5
                    ) as gz,
                ):
                    gz.write(data)
            else:
                path.write_bytes(data)
        paths.append(path)
    file_name = (
        pl.lit("events/events_")
        + (pl.lit(start) + pl.duration(days=pl.col("file_day"))).dt.strftime("%Y-%m-%d")
        + pl.lit(suffix)
    )
    located = rec.filter(pl.col("fault_id").is_not_null()).select(
        "fault_id", file_name.alias("file"), pl.col("record_number").cast(pl.Int64)
    )
    counts = rec.group_by("file_day").agg(records=pl.len())
    per_file = (
        pl.DataFrame({"file_day": np.arange(n_days, dtype=np.int64)})
        .join(counts, on="file_day", how="left")
        .select(file_name.alias("file"), pl.col("records").fill_null(0).cast(pl.Int64))
    )
    return paths, located, per_file
