"""Input records as a client would send them: canonical (CONTRACT §2a) or Segment (§2b).

Records are kept in a *logical* frame (one column per field, whatever the wire shape) so that
fault injection can act on fields, and are serialized to JSON Lines or Parquet at the end.
Shapes differ only in serialization: ``shape == "segment"`` rows become Segment Video Spec
track calls; everything else becomes a canonical event.
"""

from __future__ import annotations

import polars as pl

from synthetic.catalog import Catalog
from synthetic.population import Users

SEGMENT_NAMES = {
    "episode_start": "Video Content Started",
    "episode_progress": "Video Content Playing",
    "episode_complete": "Video Content Completed",
    "episode_exit": "Video Playback Exited",
}
# Segment's playback events carry ``content_asset_id``; content events carry ``asset_id``
SEGMENT_PLAYBACK_EVENTS = {
    "Video Playback Started",
    "Video Playback Exited",
    "Video Playback Interrupted",
}
LOCALES = {"en": "en-US", "es": "es-MX", "pt": "pt-BR", "ko": "ko-KR", "ja": "ja-JP", "fr": "fr-FR"}


def logical_records(events: pl.DataFrame, users: Users, catalog: Catalog, fmt: str) -> pl.DataFrame:
    """Logical records for ``fmt`` in ``{"jsonl", "parquet", "segment"}``.

    Canonical: iOS sends ISO-8601 with the device's offset, Android epoch milliseconds, the
    web player ISO in UTC and the episode by ``episode_id`` alone. Segment: the four playback
    events become Video Spec calls (guests send only ``anonymousId``), a ``Video Playback
    Started`` opens each app session, and everything else stays canonical.
    """
    offsets = pl.Series(users.utc_offset_h).gather(events["user"])
    episodes = catalog.episodes.select("series_id", "episode_number", "episode_id", "duration_s")
    rec = events.with_columns(
        utc_offset_h=offsets,
        ts_kind=pl.when(pl.col("platform") == "android")
        .then(pl.lit("epoch"))
        .when(pl.col("platform") == "web")
        .then(pl.lit("iso_utc"))
        .otherwise(pl.lit("iso_local")),
    ).join(episodes, on=["series_id", "episode_number"], how="left", maintain_order="left")
    by_episode_id = (pl.col("platform") == "web") & pl.col("episode_id").is_not_null()
    if fmt == "segment":
        rec = rec.with_columns(
            shape=pl.when(pl.col("event_type").is_in(list(SEGMENT_NAMES)))
            .then(pl.lit("segment"))
            .otherwise(pl.lit("canonical")),
        ).with_columns(
            event_type=pl.when(pl.col("shape") == "segment")
            .then(pl.col("event_type").replace(SEGMENT_NAMES))
            .otherwise(pl.col("event_type")),
            ts_kind=pl.when(pl.col("shape") == "segment")
            .then(pl.lit("iso_utc"))
            .otherwise(pl.col("ts_kind")),
        )
        rec = rec.with_columns(
            # Segment events name the episode by asset id and carry the series title
            episode_id=pl.when((pl.col("shape") == "segment") | by_episode_id)
            .then(pl.col("episode_id"))
            .otherwise(None),
        )
        starts = rec.filter(pl.col("event_type") == "Video Content Started").with_columns(
            first=pl.col("ts_ms") == pl.col("ts_ms").min().over("user", "session_id")
        )
        playback = (
            starts.filter("first")
            .with_columns(
                event_type=pl.lit("Video Playback Started"),
                ts_ms=pl.col("ts_ms") - 1,
                # the added record needs its own id: the same sequence number with a "p" mark
                event_id=pl.col("event_id").str.replace(r"-(\d+)$", "-p$1"),
            )
            .drop("first")
        )
        rec = pl.concat([rec, playback]).sort(["ts_ms", "event_id"])
    else:
        rec = rec.with_columns(
            shape=pl.lit("canonical"),
            episode_id=pl.when(by_episode_id).then(pl.col("episode_id")).otherwise(None),
        )
    web_canonical = (pl.col("shape") == "canonical") & pl.col("episode_id").is_not_null()
    rec = rec.with_columns(
        # a canonical record that names its episode by id carries no series/episode number
        series_id=pl.when(web_canonical).then(None).otherwise(pl.col("series_id")),
        episode_number=pl.when(web_canonical).then(None).otherwise(pl.col("episode_number")),
        anonymous=(pl.col("shape") == "segment") & pl.col("is_guest"),
        ts_override=pl.lit(None, dtype=pl.Utf8),
        malformed=pl.lit(False),
        file_day=(pl.col("ts_ms") // 86_400_000).cast(pl.Int64),
        order=pl.int_range(pl.len(), dtype=pl.Int64),
    )
    titles = catalog.series.select("series_id", program="title")
    ep_series = catalog.episodes.select("episode_id", series_of_episode="series_id")
    rec = (
        rec.join(ep_series, on="episode_id", how="left", maintain_order="left")
        .join(
            titles,
            left_on=pl.coalesce("series_id", "series_of_episode"),
            right_on="series_id",
            how="left",
            maintain_order="left",
        )
        .drop("series_of_episode")
    )
    return rec.select(
        "shape",
        "event_id",
        "event_type",
        "ts_kind",
        "ts_ms",
        "ts_override",
        "utc_offset_h",
        "user_id",
        "anonymous",
        "session_id",
        "series_id",
        "episode_number",
        "episode_id",
        "position_s",
        "unlock_method",
        "amount_usd",
        "platform",
        "app_version",
        "country",
        "language",
        pl.col("duration_s").alias("total_length"),
        "program",
        "malformed",
        "file_day",
        "order",
    )
