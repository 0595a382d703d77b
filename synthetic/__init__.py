"""``cliffhanger generate``: a synthetic micro-drama app that behaves like a real one.

The behavioural model is documented in ``docs/generator.md``. Each stage draws from its own
child of one ``numpy.random.SeedSequence``, so the same arguments give byte-identical files and
a dirty data set is the clean one plus exactly the faults listed in its manifest.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from synthetic.catalog import Catalog, build_catalog
from synthetic.events import build_events
from synthetic.faults import inject_faults
from synthetic.feedback import FEEDBACK_MODES, FeedbackFiles, simulate_feedback
from synthetic.launches import build_launch_catalog
from synthetic.population import Users, build_users
from synthetic.records import logical_records
from synthetic.simulate import EXIT_MODELS, WeakScene, launch_taste_balance, simulate
from synthetic.writers import EventFileWriter

FORMATS = ("jsonl", "parquet", "segment")
MANIFEST = "manifest.json"
DEFAULT_START = dt.date(2026, 9, 7)


class GenerateError(ValueError):
    """A user mistake in the generator's arguments (reported as one line, exit 2)."""


@dataclass(frozen=True)
class GenerateSpec:
    """Arguments of one generation; the same spec gives the same bytes."""

    users: int
    days: int
    seed: int = 7
    out: Path = Path("landing")
    fmt: str = "jsonl"
    gzip: bool = False
    dirty: float = 0.0
    series: int | None = None  # series versions; default scales with users
    start: dt.date = DEFAULT_START
    launches: bool = False  # launch mode: a release flow with planted appeal (launches.py)
    exits: str = "classic"  # where views end: classic, or kuairand (calibrated on real logs)
    weak_scenes: tuple[WeakScene, ...] = ()  # planted weak scenes (exit-moment tests)
    # the app shows recommended lists (served log + impression/click events): off, ab or aa
    feedback: str = "off"
    feedback_lift: float = 1.2  # ab: the challenger's click probability x this

    def validate(self) -> None:
        if self.users < 1:
            raise GenerateError(f"--users must be at least 1 (got {self.users})")
        if not 1 <= self.days <= 3660:
            raise GenerateError(f"--days must be between 1 and 3660 (got {self.days})")
        if self.fmt not in FORMATS:
            raise GenerateError(f"--format must be one of {', '.join(FORMATS)} (got {self.fmt!r})")
        if not 0.0 <= self.dirty <= 0.5:
            raise GenerateError(f"--dirty must be a rate between 0 and 0.5 (got {self.dirty})")
        if self.series is not None and self.series < 1:
            raise GenerateError(f"--series must be at least 1 (got {self.series})")
        if self.seed < 0:
            raise GenerateError(f"--seed must be a non-negative integer (got {self.seed})")
        if self.exits not in EXIT_MODELS:
            raise GenerateError(
                f"--exits must be one of {', '.join(EXIT_MODELS)} (got {self.exits!r})"
            )
        for scene in self.weak_scenes:
            if scene.episode_number < 1 or scene.second < 0 or not 0 < scene.share <= 1:
                raise GenerateError(
                    "--weak-scene needs SERIES:EPISODE:SECOND:SHARE with an episode >= 1, a "
                    f"second >= 0 and a share in (0, 1] (got {scene})"
                )
        if self.feedback not in FEEDBACK_MODES:
            raise GenerateError(
                f"--feedback must be one of {', '.join(FEEDBACK_MODES)} (got {self.feedback!r})"
            )
        if not 0.1 <= self.feedback_lift <= 5:
            raise GenerateError(
                f"--feedback-lift must be between 0.1 and 5 (got {self.feedback_lift})"
            )
        if self.gzip and self.fmt == "parquet":
            raise GenerateError("--gzip applies to JSON Lines; Parquet is compressed already")

    @property
    def n_series(self) -> int:
        if self.series is not None:
            return self.series
        return int(min(2000, max(60, self.users // 25)))


@dataclass
class GenerateResult:
    """What was written, with counts and per-stage timings."""

    out: Path
    event_files: list[Path]
    n_series: int
    n_episodes: int
    n_users: int
    n_events: int
    n_records: int
    n_faults: int
    seconds: dict[str, float] = field(default_factory=dict)
    n_chunks: int = 1  # chunks of users simulated one after the other
    max_chunk_records: int = 0  # the most records held in memory at once (the largest chunk)


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise GenerateError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).exists():
        raise GenerateError(
            f"--out {out} is not empty and was not written by cliffhanger generate; "
            "choose an empty or new folder"
        )
    parent = out.resolve().parent
    probe_dir = parent
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    try:
        with tempfile.TemporaryFile(dir=probe_dir):
            pass
    except OSError as exc:
        raise GenerateError(f"--out {out} is not writable: {exc.strerror or exc}") from None


# Streaming: users are simulated in chunks of about CHUNK_USER_DAYS user-days (~20 events
# each, so ~3 M events and ~2.4 GB of peak memory per chunk) and every chunk's records are
# appended to the daily files before the next chunk starts. The chunk size depends on --days only, never
# on the machine, so the same arguments give the same bytes; a run of one chunk (users × days
# up to CHUNK_USER_DAYS, as every committed sample) draws exactly the numbers it always did.
CHUNK_USER_DAYS = 150_000
CHUNK_STREAM_KEY = 100  # per-chunk random streams: SeedSequence(seed, spawn_key=(100, chunk))


def chunk_bounds(n_users: int, days: int, chunk_users: int | None = None) -> list[tuple[int, int]]:
    """The ``[lo, hi)`` user ranges simulated one at a time."""
    size = chunk_users if chunk_users is not None else max(1, CHUNK_USER_DAYS // max(days, 1))
    if size < 1:
        raise ValueError(f"chunk_users must be at least 1 (got {size})")
    return [(lo, min(lo + size, n_users)) for lo in range(0, n_users, size)]


@dataclass(frozen=True)
class ChunkStreams:
    """The random streams of one chunk's stages."""

    simulate: np.random.Generator
    events: np.random.Generator
    faults: np.random.Generator
    write: np.random.Generator


def chunk_streams(
    seed: int, stage_rngs: list[np.random.Generator], chunk: int, n_chunks: int
) -> ChunkStreams:
    """A single chunk uses the stage streams themselves (the output of a small run is what it
    was before streaming); with several, every chunk gets its own children of ``seed``."""
    if n_chunks == 1:
        return ChunkStreams(*stage_rngs[2:6])
    children = np.random.SeedSequence(seed, spawn_key=(CHUNK_STREAM_KEY, chunk)).spawn(4)
    return ChunkStreams(*(np.random.default_rng(c) for c in children))


@dataclass
class ChunkOutput:
    """One chunk of users turned into records (faults injected), ready to be written."""

    records: pl.DataFrame
    faults: pl.DataFrame
    n_events: int
    events_by_type: dict[str, int]
    n_clean_records: int
    affinity_norm: tuple[float, float]
    feedback_rows: pl.DataFrame | None = None  # app_open / episode_start, for --feedback


def generate_chunk(
    spec: GenerateSpec,
    catalog: Catalog,
    users: Users,
    streams: ChunkStreams,
    *,
    taste_balance: np.ndarray | None,
    affinity_norm: tuple[float, float] | None,
    faults_before: int,
    records_before: int,
    timings: dict[str, float],
    keep_feedback_rows: bool = False,
) -> ChunkOutput:
    """Simulate one chunk of users (no user interacts with another) down to its records.

    What is shared by the whole population comes in: the catalog, the launch-mode taste
    balance, the taste-fit normalization (the first chunk's), and the fault tally so far, so
    that the total stays ``round(dirty × records)`` and fault ids stay unique.
    """
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(timings.get(name, 0.0) + now - clock, 3)
        clock = now

    sim = simulate(
        streams.simulate,
        users,
        catalog,
        spec.days,
        spec.start.weekday(),
        spec.exits,
        spec.weak_scenes,
        taste_balance=taste_balance,
        affinity_norm=affinity_norm,
    )
    lap("simulate")
    start_ms = int(dt.datetime.combine(spec.start, dt.time(), dt.UTC).timestamp() * 1000)
    events = build_events(streams.events, sim, users, catalog, spec.days, start_ms)
    n_events = events.height
    by_type = dict(events.group_by("event_type").len().iter_rows())
    feedback_rows = (
        events.filter(pl.col("event_type").is_in(["app_open", "episode_start"])).select(
            "event_type", "ts_ms", "user_id", "series_id"
        )
        if keep_feedback_rows
        else None
    )
    norm = sim.affinity_norm
    del sim
    lap("events")
    records = logical_records(
        events.with_columns(ts_ms=pl.col("ts_ms") - start_ms), users, catalog, spec.fmt
    ).with_columns(ts_ms=pl.col("ts_ms") + start_ms)
    del events
    n_clean = records.height
    # faults so far + this chunk's = round(rate × records so far): exact over the whole run
    n_faults = int(round(spec.dirty * (records_before + n_clean))) - faults_before
    records, faults = inject_faults(
        streams.faults,
        records,
        spec.dirty,
        spec.fmt,
        spec.days,
        n_faults=n_faults,
        first_fault_id=faults_before,
    )
    lap("records_faults")
    return ChunkOutput(records, faults, n_events, by_type, n_clean, norm, feedback_rows)


def generate(
    spec: GenerateSpec,
    progress: Callable[[str], None] | None = None,
    *,
    chunk_users: int | None = None,
) -> GenerateResult:
    """Generate the catalog and daily event files described by ``spec`` into ``spec.out``.

    Users are simulated and written in chunks (``chunk_bounds``), so memory stays bounded
    whatever the size. ``chunk_users`` overrides the chunk size, for tests only: it changes
    the output.
    """
    spec.validate()
    out = Path(spec.out)
    _check_out(out)
    say = progress or (lambda _msg: None)
    seeds = np.random.SeedSequence(spec.seed).spawn(7)
    rngs = [np.random.default_rng(s) for s in seeds]
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    started = clock

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(timings.get(name, 0.0) + now - clock, 3)
        clock = now

    say("catalog")
    if spec.launches:
        catalog = build_launch_catalog(rngs[0], spec.n_series, spec.start, spec.days)
    else:
        catalog = build_catalog(rngs[0], spec.n_series, spec.start, spec.days)
    say("users")
    users = build_users(rngs[1], spec.users, spec.days, launches=spec.launches)
    # population-level state, computed once for every chunk
    taste_balance = launch_taste_balance(users, catalog) if spec.launches else None
    lap("catalog_users")
    bounds = chunk_bounds(spec.users, spec.days, chunk_users)

    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        catalog_dir = staging / "catalog"
        catalog_dir.mkdir()
        if spec.fmt == "parquet":
            catalog.series.write_parquet(catalog_dir / "series.parquet")
            catalog.episodes.write_parquet(catalog_dir / "episodes.parquet")
        else:
            catalog.series.write_csv(catalog_dir / "series.csv")
            catalog.episodes.write_csv(catalog_dir / "episodes.csv")
        affinity_norm: tuple[float, float] | None = None
        n_events = n_records = n_clean = n_faults = max_chunk = 0
        by_type: dict[str, int] = {}
        fault_parts: list[pl.DataFrame] = []
        feedback_parts: list[pl.DataFrame] = []  # app opens and starts the app's lists follow
        with EventFileWriter(
            staging / "events", spec.fmt, spec.gzip, spec.start, spec.days
        ) as writer:
            for i, (lo, hi) in enumerate(bounds):
                say(f"chunk {i + 1}/{len(bounds)}: users {lo:,}-{hi - 1:,} of {spec.users:,}")
                streams = chunk_streams(spec.seed, rngs, i, len(bounds))
                part = generate_chunk(
                    spec,
                    catalog,
                    users.slice(lo, hi),
                    streams,
                    taste_balance=taste_balance,
                    affinity_norm=affinity_norm,
                    faults_before=n_faults,
                    records_before=n_clean,
                    timings=timings,
                    keep_feedback_rows=spec.feedback != "off",
                )
                clock = time.perf_counter()
                affinity_norm = affinity_norm or part.affinity_norm  # the first chunk's
                located = writer.write(part.records, streams.write, last=i == len(bounds) - 1)
                fault_parts.append(part.faults.join(located, on="fault_id", how="left"))
                lap("write")
                n_events += part.n_events
                n_records += part.records.height
                n_clean += part.n_clean_records
                n_faults += part.faults.height
                max_chunk = max(max_chunk, part.records.height)
                if part.feedback_rows is not None:
                    feedback_parts.append(part.feedback_rows)
                for kind, count in part.events_by_type.items():
                    by_type[kind] = by_type.get(kind, 0) + count
                del part, located
                elapsed = time.perf_counter() - started
                say(
                    f"chunk {i + 1}/{len(bounds)} written: {n_events:,} events so far, "
                    f"{n_events / max(elapsed, 1e-9):,.0f} events/s"
                )
        say("manifest")
        faults = pl.concat(fault_parts).sort("file", "record_number")
        per_file = writer.per_file()
        feedback = None
        if spec.feedback != "off":
            say("recommended lists")
            start_ms = int(dt.datetime.combine(spec.start, dt.time(), dt.UTC).timestamp() * 1000)
            # its own child of the seed: the other stages draw exactly as without it
            rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(7,)))
            feedback = simulate_feedback(
                rng, pl.concat(feedback_parts), catalog.series, spec.feedback,
                spec.feedback_lift, staging, spec.fmt, spec.gzip and spec.fmt != "parquet",
                start_ms, start_ms + spec.days * 86_400_000,
            )  # fmt: skip
            extra = pl.DataFrame(
                {
                    "file": list(feedback.event_files),
                    "records": list(feedback.event_files.values()),
                },
                schema=per_file.schema,
            )
            per_file = pl.concat([per_file, extra]).sort("file")
        manifest = _manifest(
            spec,
            catalog.series.height,
            catalog.episodes.height,
            n_events,
            by_type,
            n_records,
            faults,
            per_file,
        )
        if spec.launches:
            manifest["series"] = _planted_series(catalog)
        if feedback is not None:
            manifest["feedback"] = _feedback_manifest(spec, feedback, staging)
        if faults.height:
            faults.select(
                "file", "record_number", "kind", "expected", "reason", "event_id"
            ).write_csv(staging / "faults.csv")
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        lap("write")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    written = [p.name for p in writer.paths] + (sorted(feedback.event_files) if feedback else [])
    return GenerateResult(
        out=out,
        event_files=[out / "events" / name for name in written],
        n_series=catalog.series.height,
        n_episodes=catalog.episodes.height,
        n_users=spec.users,
        n_events=n_events,
        n_records=n_records,
        n_faults=faults.height,
        seconds=timings,
        n_chunks=len(bounds),
        max_chunk_records=max_chunk,
    )


def _feedback_manifest(spec: GenerateSpec, files: FeedbackFiles, root: Path) -> dict[str, object]:
    """What the feedback simulation planted and wrote."""
    return {
        "mode": spec.feedback,
        "planted_ctr_lift": spec.feedback_lift if spec.feedback == "ab" else 1.0,
        "lists": files.lists,
        "impressions": files.impressions,
        "clicks": files.clicks,
        "event_files": sorted(files.event_files),
        "served_files": [p.relative_to(root).as_posix() for p in files.served_files],
        "experiment_file": "experiment.toml",
    }


def _planted_series(catalog: Catalog) -> dict[str, dict[str, object]]:
    """Launch mode: what was planted per series version, for tests of launch analytics.

    ``appeal`` is the story's (a dub shares its original's); ``promotion`` (the "new" shelf)
    and ``virality`` (word of mouth) are the version's own factors, independent of appeal.
    """
    truth = catalog.launch
    assert truth is not None
    rows = catalog.series.select("series_id", "release_date", "original_series_id").iter_rows()
    return {
        series_id: {
            "appeal": round(float(truth.appeal[i]), 4),
            "promotion": round(float(truth.promotion[i]), 4),
            "virality": round(float(truth.virality[i]), 4),
            "release_date": release.isoformat(),
            "is_dub": original is not None,
            "original_series_id": original,
        }
        for i, (series_id, release, original) in enumerate(rows)
    }


def _manifest(
    spec: GenerateSpec,
    n_series: int,
    n_episodes: int,
    n_events: int,
    events_by_type: dict[str, int],
    n_records: int,
    faults: pl.DataFrame,
    per_file: pl.DataFrame,
) -> dict[str, object]:
    """Arguments, counts and, per file, exactly what ingestion should conclude."""
    args = asdict(spec)
    # nothing machine-specific: the same data set written to two places is byte-identical
    del args["out"]
    args["start"] = spec.start.isoformat()
    args["n_series"] = spec.n_series
    if not spec.launches:  # the default mode's manifest stays as it always was
        del args["launches"]
    if spec.exits == "classic":
        del args["exits"]
    if spec.feedback == "off":  # the default manifest stays as it always was
        del args["feedback"], args["feedback_lift"]
    if spec.weak_scenes:
        args["weak_scenes"] = [asdict(w) for w in spec.weak_scenes]
    else:
        del args["weak_scenes"]
    by_file = faults.group_by("file").agg(
        quarantined=(pl.col("expected") == "quarantined").sum(),
        duplicates=(pl.col("expected") == "duplicate").sum(),
    )
    reasons = (
        faults.filter(pl.col("expected") == "quarantined")
        .group_by("file", "reason")
        .len()
        .sort("file", "reason")
    )
    files = []
    for row in per_file.join(by_file, on="file", how="left").fill_null(0).iter_rows(named=True):
        file_reasons = reasons.filter(pl.col("file") == row["file"])
        files.append(
            {
                "file": row["file"],
                "records": row["records"],
                "expected_loaded": row["records"] - row["quarantined"] - row["duplicates"],
                "expected_quarantined": row["quarantined"],
                "expected_duplicates": row["duplicates"],
                "quarantine_reasons": dict(
                    zip(
                        file_reasons["reason"].to_list(), file_reasons["len"].to_list(), strict=True
                    )
                ),
            }
        )
    return {
        "generator": "cliffhanger generate",
        "args": args,
        "counts": {
            "series": n_series,
            "episodes": n_episodes,
            "events": n_events,
            "records": n_records,
            "faults": faults.height,
            "events_by_type": dict(sorted(events_by_type.items())),
        },
        "faults_file": "faults.csv" if faults.height else None,
        "faults_by_kind": dict(sorted(faults.group_by("kind").len().iter_rows())),
        "files": files,
    }
