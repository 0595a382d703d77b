"""Serialize logical records to daily files: JSON Lines (canonical or Segment) or Parquet.

JSON is assembled with polars string expressions: every value we write is an id, a number or
a title from a fixed word list (checked to need no escaping), so no per-record Python runs.
Gzip output uses mtime 0 so the same data gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import resource
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


ROW_GROUP_SIZE = 256_000


def _allow_open_files(needed: int) -> None:
    """Raise this process's soft limit on open files if one file per day needs it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class EventFileWriter:
    """The daily event files, written incrementally: one open file per day.

    Each ``write`` call takes one chunk's records (with ``file_day`` and ``order``) and
    appends each day's part to that day's file: a row group (or more) of the day's Parquet
    file, or the next lines of its JSON Lines stream (one gzip stream per file, mtime 0).
    Record numbers run on across calls, so fault locations are file-wide. Only the chunk is
    held in memory; what stays is a few counters per file (and, for gzip, a compressor).
    A single ``write`` gives the same bytes as writing each file whole.
    """

    def __init__(
        self, out_dir: Path, fmt: str, gzip_json: bool, start: dt.date, n_days: int
    ) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        _allow_open_files(n_days + 256)
        self.fmt, self.gzip_json, self.start, self.n_days = fmt, gzip_json, start, n_days
        self.suffix = ".parquet" if fmt == "parquet" else (".jsonl.gz" if gzip_json else ".jsonl")
        self.paths = [out_dir / f"events_{day_name(start, d)}{self.suffix}" for d in range(n_days)]
        self.records = np.zeros(n_days, dtype=np.int64)  # written so far, per file
        self.writes = np.zeros(n_days, dtype=np.int64)  # non-empty parts written, per file
        self._parquet: list[pq.ParquetWriter] = []
        self._raw: list = []
        self._gz: list[gzip.GzipFile] = []
        for path in self.paths:
            if fmt == "parquet":
                self._parquet.append(pq.ParquetWriter(path, PARQUET_SCHEMA, compression="zstd"))
            else:
                raw = open(path, "wb")  # noqa: SIM115 - closed in close()
                self._raw.append(raw)
                if gzip_json:
                    self._gz.append(
                        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=5)
                    )

    def file_name(self) -> pl.Expr:
        """The ``events/...`` name of the file of each record's ``file_day``."""
        return (
            pl.lit("events/events_")
            + (pl.lit(self.start) + pl.duration(days=pl.col("file_day"))).dt.strftime("%Y-%m-%d")
            + pl.lit(self.suffix)
        )

    def write(self, rec: pl.DataFrame, rng: np.random.Generator, last: bool = True) -> pl.DataFrame:
        """Append one chunk's records; returns each faulty record's file and record number.

        ``last`` says no chunk follows: a file that got no record at all then receives its
        empty part (an empty Parquet file has the same bytes as a file written whole).
        """
        rec = rec.sort(["file_day", "order"]).with_columns(
            record_number=pl.int_range(1, pl.len() + 1).over("file_day")
        )
        if self.fmt == "parquet":
            ts = pl.from_epoch("ts_ms", time_unit="ms").dt.replace_time_zone("UTC").alias("ts")
            body = rec.select([ts if name == "ts" else name for name in PARQUET_SCHEMA.names])
        else:
            body = rec
            cut = rng.uniform(0.2, 0.8, size=rec.height)
        days = rec["file_day"].to_numpy()
        bounds = np.searchsorted(days, np.arange(self.n_days + 1))
        offset = self.records.copy()
        for day in range(self.n_days):
            lo, hi = int(bounds[day]), int(bounds[day + 1])
            if hi == lo and not (last and self.writes[day] == 0):
                continue
            part = body.slice(lo, hi - lo)
            if self.fmt == "parquet":
                table = part.to_arrow().cast(PARQUET_SCHEMA)
                self._parquet[day].write_table(table, row_group_size=ROW_GROUP_SIZE)
            else:
                # one day at a time keeps only that day's JSON text in memory
                lines = pl.DataFrame({"line": serialize_json(part, cut[lo:hi])})
                buf = io.BytesIO()
                if lines.height:
                    lines.write_csv(buf, include_header=False, quote_style="never")
                data = buf.getvalue()
                if data:
                    (self._gz[day] if self.gzip_json else self._raw[day]).write(data)
            self.records[day] += hi - lo
            self.writes[day] += 1
        faulty = rec.filter(pl.col("fault_id").is_not_null())
        before = offset[faulty["file_day"].to_numpy()]  # records of earlier chunks in the file
        return faulty.select(
            "fault_id",
            self.file_name().alias("file"),
            (pl.col("record_number").cast(pl.Int64) + pl.Series(before, dtype=pl.Int64)),
        )

    def per_file(self) -> pl.DataFrame:
        """The record count of every file."""
        return pl.DataFrame(
            {"file_day": np.arange(self.n_days, dtype=np.int64), "records": self.records}
        ).select(self.file_name().alias("file"), pl.col("records").cast(pl.Int64))

    def close(self) -> None:
        for writer in self._parquet:
            writer.close()
        for gz in self._gz:
            gz.close()
        for raw in self._raw:
            raw.close()
        self._parquet, self._gz, self._raw = [], [], []

    def __enter__(self) -> EventFileWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_event_files(
    rec: pl.DataFrame,
    out_dir: Path,
    fmt: str,
    gzip_json: bool,
    start: dt.date,
    n_days: int,
    rng: np.random.Generator,
) -> tuple[list[Path], pl.DataFrame, pl.DataFrame]:
    """Write one file per day from all the records at once.

    Returns the paths, each faulty record's file and 1-based record number, and the record
    count of every file.
    """
    with EventFileWriter(out_dir, fmt, gzip_json, start, n_days) as writer:
        located = writer.write(rec, rng)
    return writer.paths, located, writer.per_file()
