"""Recommender benchmark: training vs implicit's bare fit, batch recommendations, quality.

``python -m benchmarks.recommender --users 1000000 --series 2000`` simulates viewing with the
data generator (catalog, users and the viewing simulation, without expanding views into
events: a million users' events would not fit the session), turns the views into the
interaction table the pipeline builds from ``analytics.episode_views``, and then measures,
each step in a fresh process (peak RSS from VmHWM):

- ``train_als``: Cliffhanger's training (matrix building from the interaction table + ALS
  fit) against implicit's bare ``fit`` on the same CSR matrix, same parameters, same run;
- ``batch_recommendations``: top-10 for every user (scores, exclusion of started stories);
- ``quality``: NDCG@10 etc. with bootstrap CIs of ALS, EASE, popularity and trending on the
  time split (last 7 days), over a fixed random sample of the scored users.

Writes ``benchmarks/results/recommender.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from benchmarks.runner import RESULTS, WORK, Timing, machine, repeat, row, timed

DAYS = 14
START = dt.datetime(2026, 9, 7, tzinfo=dt.UTC)
ALS_PARAMS = {"factors": 64, "regularization": 0.05, "alpha": 2.0, "iterations": 15}


def simulate_interactions(users: int, series: int, out: str, seed: int = 7) -> dict:
    """Viewing simulation -> the interaction table (one row per user x story) as Parquet."""
    import numpy as np
    import polars as pl

    from synthetic.catalog import build_catalog
    from synthetic.population import build_users
    from synthetic.simulate import simulate

    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)]
    catalog = build_catalog(rngs[0], series, START.date(), DAYS)
    people = build_users(rngs[1], users, DAYS)
    sim = simulate(rngs[2], people, catalog, DAYS, START.weekday())
    story = pl.Series(catalog.story_of_version.astype(np.int32))
    lang = pl.Series(catalog.version_language.astype(np.int32))
    views = sim.views.select(
        "user", "version", "episode_number", "full", "locked", "view_start_ms",
    ).with_columns(
        story=pl.col("version").map_batches(lambda s: story.gather(s)),
        language=pl.col("version").map_batches(lambda s: lang.gather(s)),
    )  # fmt: skip
    start_ms = int(START.timestamp() * 1000)
    frame = views.group_by("user", "story").agg(
        episodes_viewed=pl.col("episode_number").n_unique(),
        episodes_completed=pl.col("episode_number").filter(pl.col("full")).n_unique(),
        unlocks=pl.col("locked").sum().cast(pl.Int64),
        first_ms=pl.col("view_start_ms").min() + start_ms,
        last_ms=pl.col("view_start_ms").max() + start_ms,
    )
    Path(out).mkdir(parents=True, exist_ok=True)
    frame.write_parquet(Path(out) / "interactions.parquet")
    meta = {"users": users, "series": series, "stories": int(catalog.story_of_version.max()) + 1,
            "rows": frame.height, "views": views.height}  # fmt: skip
    (Path(out) / "meta.json").write_text(json.dumps(meta))
    return meta


def _frame(data: str, cut_ms: int | None = None, as_of_ms: int | None = None):
    import polars as pl

    frame = pl.read_parquet(Path(data) / "interactions.parquet")
    if cut_ms is not None:
        frame = frame.filter(pl.col("first_ms") < cut_ms)  # views before the cut only
    as_of = as_of_ms or int(frame["last_ms"].max())
    return frame.select(
        user_id=pl.col("user").cast(pl.String), story_id=pl.col("story").cast(pl.String),
        episodes_viewed="episodes_viewed", episodes_completed="episodes_completed",
        unlocks="unlocks", liked=pl.lit(False),
        age_days=(as_of - pl.col("last_ms")) / 86_400_000.0,
    )  # fmt: skip


def _items(data: str):
    import numpy as np

    meta = json.loads((Path(data) / "meta.json").read_text())
    return np.array([str(i) for i in range(meta["stories"])], dtype=object)


def train_stage(data: str) -> dict:
    """Cliffhanger's training: interaction table -> CSR matrix -> ALS fit (timed inside)."""
    from models.interactions import build_matrix
    from models.recommenders import make

    frame = _frame(data)  # reading the file is not part of training
    start = time.perf_counter()
    matrix = build_matrix(frame, _items(data))
    make("als", ALS_PARAMS).fit(matrix)
    return {"timed_seconds": time.perf_counter() - start, "nnz": int(matrix.X.nnz),
            "users": int(matrix.X.shape[0])}  # fmt: skip


def bare_fit_stage(data: str) -> dict:
    """implicit's bare fit on the same CSR matrix (built, untimed, by the same code)."""
    from implicit.cpu.als import AlternatingLeastSquares

    from models.interactions import build_matrix

    X = build_matrix(_frame(data), _items(data)).X
    model = AlternatingLeastSquares(random_state=0, **ALS_PARAMS)
    start = time.perf_counter()
    model.fit(X, show_progress=False)
    return {"timed_seconds": time.perf_counter() - start}


def batch_stage(data: str) -> dict:
    """Top-10 for every user (fit untimed)."""
    import numpy as np

    from models.evaluate import recommend_rows
    from models.interactions import build_matrix
    from models.recommenders import make

    matrix = build_matrix(_frame(data), _items(data))
    model = make("als", ALS_PARAMS).fit(matrix)
    start = time.perf_counter()
    recs = recommend_rows(model, np.arange(matrix.X.shape[0]), matrix.X, k=10, batch=16384)
    return {"timed_seconds": time.perf_counter() - start, "users": int(recs.shape[0])}


def quality_stage(data: str, sample: int) -> dict:
    """NDCG@10 and friends with CIs on the last-7-days split, over sampled scored users."""
    import numpy as np
    import polars as pl
    import scipy.sparse as sp

    from models.evaluate import Split, evaluate
    from models.interactions import build_matrix
    from models.recommenders import make

    full = pl.read_parquet(Path(data) / "interactions.parquet")
    end = int(full["last_ms"].max()) + 1
    cut = end - 7 * 86_400_000
    train = build_matrix(_frame(data, cut, cut), _items(data))
    truth_rows = (
        full.filter(pl.col("first_ms") >= cut)
        .select(user_id=pl.col("user").cast(pl.String), story_id=pl.col("story").cast(pl.String))
        .join(pl.DataFrame({"user_id": list(train.users), "row": np.arange(len(train.users))}),
              on="user_id")
        .join(pl.DataFrame({"story_id": list(train.items), "col": np.arange(len(train.items))}),
              on="story_id")
    )  # fmt: skip
    truth = sp.csr_matrix((np.ones(truth_rows.height, dtype=np.float32),
                           (truth_rows["row"].to_numpy(), truth_rows["col"].to_numpy())),
                          shape=train.X.shape)  # fmt: skip
    truth = (truth - truth.multiply(train.X != 0)).tocsr()  # only series not started before the cut
    truth.eliminate_zeros()
    scored = np.flatnonzero(np.diff(truth.indptr) > 0)
    rng = np.random.default_rng(0)
    if len(scored) > sample:
        scored = np.sort(rng.choice(scored, sample, replace=False))
    split = Split("test", dt.datetime.fromtimestamp(cut / 1000, dt.UTC),
                  dt.datetime.fromtimestamp(end / 1000, dt.UTC), train, truth, scored)  # fmt: skip
    out = {"scored_users": int(len(scored)), "models": {}}
    for name, params in (("als", ALS_PARAMS), ("ease", {"lambda": 200.0}), ("popularity", {}),
                         ("trending", {"half_life_days": 3.0})):  # fmt: skip
        ev = evaluate(make(name, params), split)
        out["models"][name] = {m: [e.value, e.ci_low, e.ci_high] for m, e in ev.metrics.items()}
        out["models"][name]["fit_seconds"] = ev.fit_seconds
    return out


def run(users: int, series: int, repeats: int, sample: int, out_dir: Path) -> list[dict]:
    data = WORK / f"rec_{users}_{series}"
    meta_path = data / "meta.json"
    if not meta_path.exists() or json.loads(meta_path.read_text())["users"] != users:
        print(f"simulating {users:,} users x {series:,} series versions…", file=sys.stderr)
        timed(simulate_interactions, users, series, str(data))
    meta = json.loads(meta_path.read_text())
    print(f"  {meta['rows']:,} user x story interactions from {meta['views']:,} views",
          file=sys.stderr)  # fmt: skip

    def inner(runs: list[Timing]) -> list[Timing]:
        return [Timing(t.detail["timed_seconds"], t.peak_rss_mb, t.detail) for t in runs]

    bare = inner(repeat(bare_fit_stage, (str(data),), repeats, "implicit bare fit"))
    ours = inner(repeat(train_stage, (str(data),), repeats, "train_als"))
    rows = [row("train_als", meta["rows"], ours, baseline="implicit_bare_fit",
                baseline_runs=bare, target="≤ 1.25× the bare fit", users=users,
                series=series, nnz=ours[0].detail["nnz"])]  # fmt: skip
    batch = inner(repeat(batch_stage, (str(data),), max(1, repeats - 2), "batch_recommendations"))
    rows.append(row("batch_recommendations", meta["rows"], batch, target="reported",
                    users=batch[0].detail["users"]))  # fmt: skip
    quality = timed(quality_stage, str(data), sample)
    q = quality.detail
    ratio = (
        max(q["models"]["als"]["ndcg"][0], q["models"]["ease"]["ndcg"][0])
        / q["models"]["popularity"]["ndcg"][0]
    )
    rows.append({"stage": "quality", "scored_users": q["scored_users"], "models": q["models"],
                 "ndcg_ratio_best_vs_popularity": round(ratio, 3),
                 "target": "ALS or EASE NDCG@10 ≥ 1.5× popularity", "peak_rss_mb":
                 round(quality.peak_rss_mb), **machine()})  # fmt: skip
    write(rows, out_dir)
    return rows


def write(rows: list[dict], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "recommender.json").write_text(json.dumps(rows, indent=2, default=str))
    m = rows[0]
    lines = [
        f"Recommender benchmark of {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on "
        f"{m['cores']} cores, {m['memory_gb']} GB; medians after a warm-up, fresh process each.",
        "",
        "| stage | rows | seconds | baseline (same run) | baseline s | ratio | peak RSS MB | target |",
        "|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in rows[:2]:
        lines.append(
            f"| {r['stage']} | {r['events']:,} | {r['seconds']:.2f} | {r['baseline'] or '—'} | "
            f"{r['baseline_seconds'] or '—'} | {str(r['ratio']) + '×' if r['ratio'] else '—'} | "
            f"{r['peak_rss_mb']:,} | {r['target']} |"
        )
    q = rows[2]
    lines += [
        "",
        f"Users: {m['users']:,}; series versions: {m['series']:,}; matrix non-zeros: "
        f"{m['nnz']:,}. Quality on the last 7 days, {q['scored_users']:,} sampled scored users "
        f"(peak RSS {q['peak_rss_mb']:,} MB); best of ALS/EASE vs popularity: "
        f"**{q['ndcg_ratio_best_vs_popularity']}×** (target ≥ 1.5×).",
        "",
        "| model | NDCG@10 (95 % CI) | precision@10 | recall@10 | MAP@10 | hit rate@10 | coverage |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, ms in q["models"].items():
        n = ms["ndcg"]
        lines.append(
            f"| {name} | {n[0]:.4f} ({n[1]:.4f}–{n[2]:.4f}) | {ms['precision'][0]:.4f} | "
            f"{ms['recall'][0]:.4f} | {ms['map'][0]:.4f} | {ms['hit_rate'][0]:.4f} | "
            f"{ms['coverage'][0]:.3f} |"
        )
    (out_dir / "recommender.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.recommender", description=__doc__)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sample", type=int, default=50_000, help="scored users for quality")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    run(args.users, args.series, args.repeats, args.sample, args.out)
    print((args.out / "recommender.md").read_text())


if __name__ == "__main__":
    main()
