"""Real data: the KuaiRand-Pure log slice in data_samples/ (CC BY-SA 4.0, see its README).

Each video is a one-episode series (a story of its own, language ``zh``, genres its tags,
released on its upload date). A log row with ``is_click = 1`` and ``play_time_ms > 0`` is a
start; its depth is the watch ratio ``min(1, play_time / duration)`` (plus likes and follows,
weighted as in :mod:`models.interactions`).

Two ways in:

- ``python -m models.kuairand convert OUT`` writes the slice as a Cliffhanger catalog and
  canonical events (``OUT/catalog/``, ``OUT/events/``: per start an ``episode_start``, an
  ``episode_exit`` at the position reached — an ``episode_complete`` when the video was played
  to its end — and ``like`` / ``follow`` events), for ``cliffhanger ingest OUT/catalog
  OUT/events`` and ``cliffhanger run``: the product's own pipeline on real data;
- ``python -m models.kuairand [PATH]`` evaluates directly on the log (no warehouse), with the
  same windows (``test_days = auto``: the last day of the six) and the same models.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from models.evaluate import GRID, Selection, Split, select_and_evaluate, windows
from models.interactions import (
    DEFAULT_WEIGHTS,
    InteractionWeights,
    Matrix,
    StoryInfo,
    build_matrix,
    story_info_of,
)

SAMPLES = Path(__file__).resolve().parent.parent / "data_samples" / "kuairand-pure"
SLICE = SAMPLES / "log_standard_20220425_20220430.parquet"
VIDEOS = SAMPLES / "video_features_basic_pure.csv"
LANGUAGE = "zh"
#: event-id prefixes of the converted events (one event of each type per start at most)
CODES = {"episode_start": "s", "episode_exit": "x", "episode_complete": "c", "like": "l",
         "follow": "f"}  # fmt: skip


def load_starts(path: Path = SLICE) -> pl.DataFrame:
    """One row per clicked impression with play time: user, video, time, watch ratio, likes."""
    log = pl.read_parquet(path).unique()  # about 2 % exact duplicates, as in the source
    return (
        log.filter((pl.col("is_click") == 1) & (pl.col("play_time_ms") > 0))
        .with_columns(
            ts=pl.from_epoch("time_ms", time_unit="ms").dt.replace_time_zone("UTC"),
            ratio=(pl.col("play_time_ms") / pl.col("duration_ms").clip(lower_bound=1)).clip(
                upper_bound=1.0
            ),
        )
        .select("user_id", "video_id", "ts", "ratio", "is_like", "is_follow")
        .with_columns(pl.col("user_id").cast(pl.String), pl.col("video_id").cast(pl.String))
    )


def _matrix(frame: pl.DataFrame, users: np.ndarray, items: np.ndarray, as_of: dt.datetime,
            weights: InteractionWeights, stories: StoryInfo | None = None) -> Matrix:  # fmt: skip
    """The interaction matrix of the starts ``frame`` before ``as_of``, built like the
    pipeline's (``build_matrix``): a one-episode series, completed by its watch ratio."""
    per_pair = frame.group_by("user_id", "video_id").agg(
        pl.col("ratio").max(), pl.col("is_like").max(), pl.col("is_follow").max(),
        pl.col("ts").max().alias("last_at"), pl.col("ts").min().alias("first_at"),
    )  # fmt: skip
    interactions = per_pair.select(
        "user_id", story_id="video_id", episodes_viewed=pl.lit(1),
        episodes_completed="ratio",  # the depth of a one-episode series: its watch ratio
        unlocks=pl.lit(0), liked=pl.max_horizontal("is_like", "is_follow") > 0,
        language=pl.lit(LANGUAGE),
        age_days=(pl.lit(as_of) - pl.col("last_at")).dt.total_seconds() / 86400.0,
        first_age_days=(pl.lit(as_of) - pl.col("first_at")).dt.total_seconds() / 86400.0,
    )  # fmt: skip
    return build_matrix(interactions, items, weights, users=users, as_of=as_of, stories=stories)


def video_info(items: np.ndarray, path: Path = VIDEOS) -> StoryInfo:
    """The videos' upload dates and tags as :class:`StoryInfo` (language ``zh``)."""
    videos = _videos(path)
    return story_info_of(
        videos.select(story_id="video_id", release_date="release_date",
                      langs=pl.concat_list(pl.lit(LANGUAGE)),
                      genres=pl.col("genres").str.split("|")),
        items,
    )  # fmt: skip


def _videos(path: Path = VIDEOS) -> pl.DataFrame:
    """video_id (string), release_date, genres (``tag<n>|...``), duration_ms."""
    return pl.read_csv(path, schema_overrides={"tag": pl.String}).select(
        video_id=pl.col("video_id").cast(pl.String),
        release_date=pl.col("upload_dt").str.to_date(),
        genres=pl.col("tag").fill_null("").str.split(",").list.eval(
            pl.when(pl.element() != "").then(pl.lit("tag") + pl.element())
        ).list.drop_nulls().list.join("|"),
        duration_ms=pl.col("video_duration"),
    )  # fmt: skip


def split_at(starts: pl.DataFrame, name: str, cut: dt.datetime, end: dt.datetime,
             weights: InteractionWeights = DEFAULT_WEIGHTS) -> Split:  # fmt: skip
    """Train on starts before ``cut``; truth = videos a user first started in [cut, end)."""
    items = np.sort(starts["video_id"].unique().to_numpy()).astype(object)
    before = starts.filter(pl.col("ts") < cut)
    users = np.sort(before["user_id"].unique().to_numpy()).astype(object)
    train = _matrix(before, users, items, cut, weights, video_info(items))
    seen = before.select("user_id", "video_id").unique().with_columns(seen=pl.lit(True))
    new = (
        starts.filter((pl.col("ts") >= cut) & (pl.col("ts") < end))
        .select("user_id", "video_id").unique()
        .join(seen, on=["user_id", "video_id"], how="left").filter(pl.col("seen").is_null())
    )  # fmt: skip
    u = {x: i for i, x in enumerate(users.tolist())}
    v = {x: i for i, x in enumerate(items.tolist())}
    pairs = [(u[a], v[b]) for a, b in new.select("user_id", "video_id").iter_rows() if a in u]
    rows = np.array([p[0] for p in pairs], dtype=np.int64)
    cols = np.array([p[1] for p in pairs], dtype=np.int64)
    truth = sp.csr_matrix((np.ones(len(pairs), dtype=np.float32), (rows, cols)),
                          shape=train.X.shape)  # fmt: skip
    scored = np.flatnonzero(np.diff(truth.indptr) > 0)
    return Split(name, cut, end, train, truth, scored)


def evaluate_kuairand(
    path: Path = SLICE, progress=lambda _m: None, test_days: int | str = "auto"
) -> Selection:
    """Tune and evaluate every model on the KuaiRand slice (see the module docstring)."""
    starts = load_starts(path)
    win = windows(starts["ts"].min(), starts["ts"].max(), test_days)
    val = split_at(starts, "validation", win.validation_start, win.test_start)
    test = split_at(starts, "test", win.test_start, win.test_end)
    return select_and_evaluate(val, test, grid=GRID, progress=progress, win=win)


def table(selection: Selection) -> str:
    """A markdown table of every model on the test period, served model marked."""
    lines = [
        "| model | NDCG@10 (95 % CI) | recall@10 | hit rate@10 | MAP@10 | coverage | served |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for ev in sorted(selection.test, key=lambda e: -e.metrics["ndcg"].value):
        m = ev.metrics
        lines.append(
            f"| {ev.model} | {m['ndcg'].value:.4f} ({m['ndcg'].ci_low:.4f}–{m['ndcg'].ci_high:.4f})"
            f" | {m['recall'].value:.4f} | {m['hit_rate'].value:.4f} | {m['map'].value:.4f} "
            f"| {m['coverage'].value:.3f} | {'**yes**' if ev.model == selection.served else ''} |"
        )
    return "\n".join(lines)


def convert(out: Path, path: Path = SLICE, videos: Path = VIDEOS) -> dict[str, int]:
    """Write the log as a Cliffhanger catalog (``out/catalog``) and canonical events
    (``out/events``, one Parquet file per UTC day); return what was written."""
    log = pl.read_parquet(path).unique().sort("time_ms", "user_id", "video_id")  # ~2 % repeats
    starts = log.filter((pl.col("is_click") == 1) & (pl.col("play_time_ms") > 0)).with_row_index()
    info = _videos(videos)
    seen = starts.group_by("video_id").agg(pl.col("play_time_ms").max().alias("longest"))
    catalog = (
        info.join(seen.with_columns(pl.col("video_id").cast(pl.String)), on="video_id")
        .with_columns(duration_ms=pl.coalesce("duration_ms", "longest", pl.lit(60_000.0)))
        .sort(pl.col("video_id").cast(pl.Int64))
    )
    series = catalog.select(
        series_id=pl.lit("v") + pl.col("video_id"), title=pl.lit("Video ") + pl.col("video_id"),
        genres="genres", language=pl.lit(LANGUAGE), original_series_id=pl.lit(None, pl.String),
        n_episodes=pl.lit(1, pl.Int32), free_episodes=pl.lit(1, pl.Int32),
        release_date="release_date", production_type=pl.lit("live_action"),
        production_cost_usd=pl.lit(None, pl.Float64),
    )  # fmt: skip
    episodes = catalog.select(
        episode_id=pl.lit("v") + pl.col("video_id") + "-e1",
        series_id=pl.lit("v") + pl.col("video_id"), episode_number=pl.lit(1, pl.Int32),
        duration_s=pl.col("duration_ms").cast(pl.Float64) / 1000.0,
    )  # fmt: skip
    durations = catalog.select(pl.col("video_id").cast(pl.Int64), "duration_ms")
    views = (
        starts.join(durations, on="video_id", suffix="_catalog")
        .with_columns(
            start=pl.from_epoch("time_ms", time_unit="ms").dt.replace_time_zone("UTC"),
            reached_ms=pl.min_horizontal("play_time_ms", "duration_ms_catalog"),
            series_id=pl.lit("v") + pl.col("video_id").cast(pl.String),
            user=pl.lit("u") + pl.col("user_id").cast(pl.String),
        )
        .with_columns(end=pl.col("start") + pl.duration(milliseconds=pl.col("reached_ms")))
    )

    def kind(
        name: str, ts: str, where: pl.Expr | None = None, position: bool = False
    ) -> pl.DataFrame:
        part = views if where is None else views.filter(where)
        return part.select(
            event_id=pl.lit(f"kr-{CODES[name]}") + pl.col("index").cast(pl.String),
            event_type=pl.lit(name), ts=pl.col(ts).dt.cast_time_unit("ms"),
            user_id="user", series_id="series_id", episode_number=pl.lit(1, pl.Int32),
            position_s=(pl.col("reached_ms") / 1000.0) if position else pl.lit(None, pl.Float64),
        )  # fmt: skip

    events = pl.concat([
        kind("episode_start", "start"),
        kind("episode_exit", "end", pl.col("play_time_ms") < pl.col("duration_ms_catalog"), True),
        kind("episode_complete", "end", pl.col("play_time_ms") >= pl.col("duration_ms_catalog"),
             True),
        kind("like", "end", pl.col("is_like") == 1),
        kind("follow", "end", pl.col("is_follow") == 1),
    ]).sort("ts", "event_id")  # fmt: skip
    (out / "catalog").mkdir(parents=True, exist_ok=True)
    (out / "events").mkdir(parents=True, exist_ok=True)
    series.write_parquet(out / "catalog" / "series.parquet")
    episodes.write_parquet(out / "catalog" / "episodes.parquet")
    days = events.with_columns(day=pl.col("ts").dt.date())
    for (day,), part in days.group_by("day", maintain_order=True):
        part.drop("day").write_parquet(out / "events" / f"kuairand_{day}.parquet")
    return {"series": series.height, "events": events.height, "starts": views.height,
            "users": views["user"].n_unique()}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    argv = list(argv if argv is not None else __import__("sys").argv[1:])
    if argv[:1] == ["convert"]:
        parser = argparse.ArgumentParser(prog="python -m models.kuairand convert",
                                         description=convert.__doc__)  # fmt: skip
        parser.add_argument("out", type=Path, help="folder for catalog/ and events/")
        parser.add_argument("--log", type=Path, default=SLICE)
        parser.add_argument("--videos", type=Path, default=VIDEOS)
        args = parser.parse_args(argv[1:])
        for file in (args.log, args.videos):
            if not file.is_file():
                parser.error(f"no such file: {file}")
        done = convert(args.out, args.log, args.videos)
        print(f"wrote {done['series']:,} series and {done['events']:,} events "
              f"({done['starts']:,} starts of {done['users']:,} users) under {args.out}; now: "
              f"cliffhanger ingest {args.out / 'catalog'} {args.out / 'events'} && "
              "cliffhanger run")  # fmt: skip
        return
    parser = argparse.ArgumentParser(prog="python -m models.kuairand", description=__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=SLICE)
    args = parser.parse_args(argv)
    if not args.path.is_file():
        parser.error(f"no such file: {args.path} (the KuaiRand-Pure log, as in data_samples/)")
    selection = evaluate_kuairand(args.path, progress=print)
    test = selection.test[0]
    print(f"\nscored users: {test.n_users}; served: {selection.served}; gate passed: "
          f"{selection.gate_passed}; fallback: {selection.fallback_reason}\n")  # fmt: skip
    print(table(selection))


if __name__ == "__main__":
    main()
