"""Realistic delivery faults, injected at a given rate, with an exact manifest of each one.

Each fault touches one clean record (targets are distinct), so the expected outcome of every
input record is known: loaded, counted as a duplicate, or quarantined with one reason from
CONTRACT §2c. Ingestion tests compare their accounting with the manifest record by record.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

FAULT_KINDS = np.array(
    [
        "duplicate",
        "late",
        "malformed",
        "unknown_series",
        "missing_field",
        "bad_value",
        "ts_out_of_range",
        "unknown_event_type",
    ]
)
FAULT_WEIGHTS = np.array([0.25, 0.15, 0.10, 0.10, 0.15, 0.12, 0.08, 0.05])

POSITION_TYPES = {
    "episode_progress",
    "episode_complete",
    "episode_exit",
    "Video Content Playing",
    "Video Content Completed",
    "Video Playback Exited",
}
FAR_FUTURE_MS = int(dt.datetime(2099, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
LONG_AGO_MS = int(dt.datetime(2009, 6, 1, tzinfo=dt.UTC).timestamp() * 1000)


def _str_or_null(values: np.ndarray, keep: np.ndarray) -> pl.Series:
    return pl.Series(values.astype(str), dtype=pl.Utf8).zip_with(
        pl.Series(keep), pl.Series([None], dtype=pl.Utf8)
    )


def inject_faults(
    rng: np.random.Generator,
    rec: pl.DataFrame,
    rate: float,
    fmt: str,
    n_days: int,
    *,
    n_faults: int | None = None,
    first_fault_id: int = 0,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Apply faults to ``rate`` × records; returns the records and one row per fault.

    The fault table has ``fault_id`` (matching the record's ``fault_id`` column), ``kind``,
    ``expected`` (loaded / duplicate / quarantined), ``reason`` and ``event_id``. A streamed
    generation passes each chunk's share of the total as ``n_faults`` and numbers the faults
    on from ``first_fault_id`` (ghost series ids stay unique across chunks).
    """
    rec = rec.with_columns(
        fault_id=pl.lit(None, dtype=pl.Int64), order=pl.col("order").cast(pl.Float64)
    )
    n = rec.height
    if n_faults is None:
        n_faults = int(round(rate * n))
    empty = pl.DataFrame(
        schema={
            "fault_id": pl.Int64,
            "kind": pl.Utf8,
            "expected": pl.Utf8,
            "reason": pl.Utf8,
            "event_id": pl.Utf8,
        }
    )
    if n_faults == 0 or n == 0:
        return rec, empty
    n_faults = min(n_faults, n)
    targets = np.sort(rng.choice(n, size=n_faults, replace=False))
    weights = FAULT_WEIGHTS.copy()
    if fmt == "parquet":
        weights[FAULT_KINDS == "malformed"] = 0.0  # a Parquet row cannot be half a line
    kind = FAULT_KINDS[rng.choice(len(FAULT_KINDS), size=n_faults, p=weights / weights.sum())]

    t = rec[targets]
    etype = t["event_type"].to_numpy().astype(str)
    file_day = t["file_day"].to_numpy()
    has_series = t["series_id"].is_not_null().to_numpy()
    has_episode_id = t["episode_id"].is_not_null().to_numpy()
    is_segment = (t["shape"] == "segment").to_numpy()
    # faults that need something the record lacks fall back to a missing field
    kind = np.where(
        (kind == "unknown_series") & ~(has_episode_id | (has_series & ~is_segment)),
        "missing_field",
        kind,
    )
    kind = np.where((kind == "late") & (file_day >= n_days - 1), "duplicate", kind)

    fault_id = np.arange(n_faults) + first_fault_id
    reason = np.full(n_faults, "", dtype=object)
    expected = np.full(n_faults, "quarantined", dtype=object)
    expected[kind == "duplicate"] = "duplicate"
    expected[kind == "late"] = "loaded"
    reason[kind == "malformed"] = "malformed"
    reason[kind == "ts_out_of_range"] = "ts_out_of_range"
    reason[kind == "unknown_event_type"] = "unknown_event_type"
    unknown_ep = (kind == "unknown_series") & has_episode_id
    reason[kind == "unknown_series"] = "unknown_series"
    reason[unknown_ep] = "unknown_episode"

    # which field goes missing / gets a bad value: always one the record must have
    u = rng.random(n_faults)
    has_pos = np.isin(etype, list(POSITION_TYPES))
    missing_choice = np.where(
        has_pos & (u < 0.3),
        "position_s",
        np.where(
            (etype == "episode_unlock") & (u < 0.3),
            "unlock_method",
            np.where(
                (etype == "purchase") & (u < 0.3),
                "amount_usd",
                np.array(["event_id", "user_id", "ts", "event_type"])[(u * 1000).astype(int) % 4],
            ),
        ),
    )
    has_ep_number = t["episode_number"].is_not_null().to_numpy() & ~is_segment
    bad_choice = np.where(
        has_pos,
        "position_s",
        np.where(
            etype == "episode_unlock",
            "unlock_method",
            np.where(
                etype == "purchase",
                "amount_usd",
                np.where(has_ep_number & (u < 0.5), "episode_number", "ts"),
            ),
        ),
    )
    if fmt == "parquet":
        # a typed timestamp column cannot hold a bad string: make it a missing field instead
        kind = np.where((kind == "bad_value") & (bad_choice == "ts"), "missing_field", kind)
    reason = np.where(
        kind == "missing_field", np.char.add("missing_field:", missing_choice), reason
    )
    reason = np.where(kind == "bad_value", np.char.add("bad_value:", bad_choice), reason)
    expected = np.where(kind == "missing_field", "quarantined", expected)
    expected = np.where(kind == "bad_value", "quarantined", expected)

    faults = pl.DataFrame(
        {
            "fault_id": fault_id,
            "kind": kind.astype(str),
            "expected": expected.astype(str),
            "reason": _str_or_null(reason, expected == "quarantined"),
            "event_id": t["event_id"],
            "row": targets,
            "missing": _str_or_null(missing_choice, kind == "missing_field"),
            "bad": _str_or_null(bad_choice, kind == "bad_value"),
            "day_shift": rng.integers(1, 4, size=n_faults),
            "same_file": rng.random(n_faults) < 0.5,
            "line_shift": rng.integers(1, 400, size=n_faults),
            "far_future": rng.random(n_faults) < 0.7,
        }
    )

    row_fault = np.full(n, -1, dtype=np.int64)
    row_fault[targets] = fault_id
    rec = rec.with_columns(fault_id=pl.Series(row_fault)).with_columns(
        fault_id=pl.when(pl.col("fault_id") >= 0).then(pl.col("fault_id"))
    )
    f = faults.select(
        "fault_id",
        fault_kind="kind",
        missing="missing",
        bad="bad",
        day_shift="day_shift",
        far_future="far_future",
    )
    rec = rec.join(f, on="fault_id", how="left", maintain_order="left")
    last_day = n_days - 1
    kindc, miss, bad = pl.col("fault_kind"), pl.col("missing"), pl.col("bad")
    segment = pl.col("shape") == "segment"
    rec = rec.with_columns(
        malformed=kindc == "malformed",
        file_day=pl.when(kindc == "late")
        .then(pl.min_horizontal(pl.col("file_day") + pl.col("day_shift"), pl.lit(last_day)))
        .otherwise(pl.col("file_day")),
        event_id=pl.when(miss == "event_id").then(None).otherwise(pl.col("event_id")),
        user_id=pl.when(miss == "user_id").then(None).otherwise(pl.col("user_id")),
        ts_ms=pl.when(miss == "ts")
        .then(None)
        .when(kindc == "ts_out_of_range")
        .then(
            pl.when(pl.col("far_future"))
            .then(pl.lit(FAR_FUTURE_MS) + pl.col("ts_ms") % 86_400_000)
            .otherwise(pl.lit(LONG_AGO_MS) + pl.col("ts_ms") % 86_400_000)
        )
        .otherwise(pl.col("ts_ms")),
        ts_override=pl.when(bad == "ts")
        .then(pl.lit("not-a-time"))
        .otherwise(pl.col("ts_override")),
        event_type=pl.when(miss == "event_type")
        .then(None)
        .when(kindc == "unknown_event_type")
        .then(
            pl.when(segment)
            .then(pl.lit("Video Content Rewound"))
            .otherwise(pl.lit("episode_rewind"))
        )
        .otherwise(pl.col("event_type")),
        position_s=pl.when(miss == "position_s")
        .then(None)
        .when(bad == "position_s")
        .then(pl.lit(-3.5))
        .otherwise(pl.col("position_s")),
        unlock_method=pl.when(miss == "unlock_method")
        .then(None)
        .when(bad == "unlock_method")
        .then(pl.lit("gems"))
        .otherwise(pl.col("unlock_method")),
        amount_usd=pl.when(miss == "amount_usd")
        .then(None)
        .when(bad == "amount_usd")
        .then(pl.lit(-4.99))
        .otherwise(pl.col("amount_usd")),
        episode_number=pl.when(bad == "episode_number")
        .then(pl.lit(0, dtype=pl.Int32))
        .otherwise(pl.col("episode_number")),
        series_id=pl.when((kindc == "unknown_series") & pl.col("episode_id").is_null())
        .then(pl.lit("S-GHOST-") + pl.col("fault_id").cast(pl.Utf8))
        .otherwise(pl.col("series_id")),
        episode_id=pl.when((kindc == "unknown_series") & pl.col("episode_id").is_not_null())
        .then(pl.lit("S-GHOST-") + pl.col("fault_id").cast(pl.Utf8) + pl.lit("-E001"))
        .otherwise(pl.col("episode_id")),
    )

    # duplicate deliveries: a copy later in the same file or in a later day's file
    dups = faults.filter(pl.col("kind") == "duplicate")
    copies = (
        rec.filter(pl.col("fault_kind") == "duplicate")
        .join(dups.select("fault_id", "same_file", "line_shift", "day_shift"), on="fault_id")
        .with_columns(
            file_day=pl.when(pl.col("same_file") | (pl.col("file_day") >= last_day))
            .then(pl.col("file_day"))
            .otherwise(
                pl.min_horizontal(pl.col("file_day") + pl.col("day_shift_right"), pl.lit(last_day))
            ),
            order=pl.col("order") + pl.col("line_shift").cast(pl.Float64) + 0.5,
        )
        .select(rec.columns)
    )
    # the original of a duplicate is a clean, loaded record: only the copy carries the fault
    rec = rec.with_columns(
        fault_id=pl.when(pl.col("fault_kind") == "duplicate").then(None).otherwise("fault_id")
    )
    rec = pl.concat([rec, copies]).drop("fault_kind", "missing", "bad", "day_shift", "far_future")
    return rec, faults.select("fault_id", "kind", "expected", "reason", "event_id")
