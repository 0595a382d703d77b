"""The same evaluation on real data: the KuaiRand-Pure log slice in data_samples/.

Each video is a one-episode series (a story of its own). A log row with ``is_click = 1`` and
``play_time_ms > 0`` is a start; its depth is the watch ratio ``min(1, play_time / duration)``
(plus likes and follows, weighted as in :mod:`models.interactions`). The six days are split in
time: the last two are the test period, the two before them validation, training before each
cut. Run ``python -m models.kuairand [PATH]`` to print the table docs/recommender.md quotes.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from models.evaluate import GRID, Selection, Split, select_and_evaluate, windows
from models.interactions import DEFAULT_WEIGHTS, InteractionWeights, Matrix

SLICE = (
    Path(__file__).resolve().parent.parent
    / "data_samples" / "kuairand-pure" / "log_standard_20220425_20220430.parquet"
)  # fmt: skip


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
            weights: InteractionWeights) -> Matrix:  # fmt: skip
    per_pair = frame.group_by("user_id", "video_id").agg(
        pl.col("ratio").max(), pl.col("is_like").max(), pl.col("is_follow").max(),
        pl.col("ts").max().alias("last_at"),
    )  # fmt: skip
    # the depth of a one-episode series: ln(1 + 1) for the view, completion by watch ratio
    confidence = (
        np.log(2.0) + weights.completion * per_pair["ratio"].to_numpy()
        + weights.like * np.maximum(per_pair["is_like"].to_numpy(),
                                    per_pair["is_follow"].to_numpy())
    )  # fmt: skip
    u = {x: i for i, x in enumerate(users.tolist())}
    v = {x: i for i, x in enumerate(items.tolist())}
    rows = np.array([u[x] for x in per_pair["user_id"].to_list()])
    cols = np.array([v[x] for x in per_pair["video_id"].to_list()])
    ages = (as_of - per_pair["last_at"]).dt.total_seconds().to_numpy() / 86400.0
    shape = (len(users), len(items))
    X = sp.csr_matrix((confidence.astype(np.float32), (rows, cols)), shape=shape)
    A = sp.csr_matrix((ages.astype(np.float32) + 1e-6, (rows, cols)), shape=shape)
    return Matrix(X=X, users=users, items=items, age_days=A)


def split_at(starts: pl.DataFrame, name: str, cut: dt.datetime, end: dt.datetime,
             weights: InteractionWeights = DEFAULT_WEIGHTS) -> Split:  # fmt: skip
    """Train on starts before ``cut``; truth = videos a user first started in [cut, end)."""
    items = np.sort(starts["video_id"].unique().to_numpy()).astype(object)
    before = starts.filter(pl.col("ts") < cut)
    users = np.sort(before["user_id"].unique().to_numpy()).astype(object)
    train = _matrix(before, users, items, cut, weights)
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


def main(argv: list[str] | None = None) -> None:
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
