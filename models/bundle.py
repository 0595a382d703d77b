"""The versioned model bundle: what the pipeline publishes and the recommendation API reads.

No pickle anywhere: arrays go into one ``np.savez`` file read back with
``allow_pickle=False``, tables into Parquet, metadata into JSON. Layout under a root folder::

    <root>/bundles/<version>/manifest.json
    <root>/bundles/<version>/arrays.npz
    <root>/bundles/<version>/users.parquet
    <root>/bundles/<version>/series.parquet
    <root>/bundles/<version>/popular.parquet
    <root>/current -> bundles/<version>        (symlink, switched with one rename)

A bundle is written into ``bundles/.<version>.building/``, renamed into place once complete,
and only then is ``current`` switched (a temporary symlink renamed over the old one), so a
reader that follows ``current`` sees a complete bundle or the previous one, never a mix.
Published bundles are immutable; the newest three are kept. The publishing mechanism is
``core.versioned``'s (the warehouse's snapshots use it too). See ``docs/model-bundle.md``.

How the API scores is the manifest's ``scorer`` (a ``models.scoring.Scorer``, exported by the
trained model) and the arrays it names; the writer and the reader check both against the
scorer registry, so nothing is inferred from a model's name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from core.versioned import VersionedStore
from models import scoring
from models.scoring import Scorer

FORMAT = "cliffhanger-bundle/2"
MODELS = ("als", "bpr", "item_knn", "ease", "ranker", "popularity", "trending")
KINDS = scoring.KINDS
#: arrays of every bundle, whatever the scorer; the scorer's own come beside them
COMMON_ARRAYS = ("history_indptr", "history_indices", "history_weights", "similarity")
LISTS = ("popular", "trending")
KEEP = 3
CURRENT = "current"
BUNDLES = "bundles"
ARRAYS_FILE = "arrays.npz"
TABLE_FILES = ("users.parquet", "series.parquet", "popular.parquet")
DATA_FILES = (ARRAYS_FILE, *TABLE_FILES)
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

USERS_SCHEMA = {"user_id": pl.String, "user_index": pl.Int32, "main_language": pl.String}
#: optional columns: a bundle without them is read as if each held its default
#: (``watched_languages``: the user's main language alone)
OPTIONAL_USERS_SCHEMA = {"watched_languages": pl.List(pl.String)}
SERIES_SCHEMA = {
    "series_id": pl.String,
    "story_id": pl.String,
    "story_index": pl.Int32,
    "language": pl.String,
    "title": pl.String,
    "genres": pl.List(pl.String),
    "production_type": pl.String,
    "is_dubbed": pl.Boolean,
    "original_series_id": pl.String,
}
#: optional catalogue columns (a bundle without them reads them as nulls): what the API's items
#: show (episodes, free episodes) and what its "new releases" row orders by
OPTIONAL_SERIES_SCHEMA = {
    "n_episodes": pl.Int32,
    "free_episodes": pl.Int32,
    "release_date": pl.Date,
}
POPULAR_SCHEMA = {
    "language": pl.String,
    "list": pl.String,
    "rank": pl.Int32,
    "series_id": pl.String,
    "score": pl.Float64,
}


class BundleError(Exception):
    """A bundle that cannot be served: missing, corrupt, or inconsistent. The message says why."""


@dataclass
class _ContentFields:
    model_version: str
    trained_at: dt.datetime
    data_start: dt.datetime
    data_end: dt.datetime
    users: pl.DataFrame
    series: pl.DataFrame
    popular: pl.DataFrame
    history_indptr: np.ndarray
    history_indices: np.ndarray
    history_weights: np.ndarray
    similarity: np.ndarray
    scorer: Scorer
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    model: str | None = None
    kind: str | None = None
    fallback: bool = False
    fallback_reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    most_watched_language: str | None = None


_CONTENT_FIELDS = frozenset(f.name for f in dataclasses.fields(_ContentFields))


class BundleContent(_ContentFields):
    """Everything the pipeline hands over to publish one model version.

    Parameters
    ----------
    model_version : str
        Unique, directory-safe version name (letters, digits, ``._-``).
    trained_at, data_start, data_end : datetime.datetime
        When the model was trained and the range of the training events.
    users, series, popular : polars.DataFrame
        Tables with the columns of ``USERS_SCHEMA``, ``SERIES_SCHEMA``, ``POPULAR_SCHEMA``.
    history_indptr, history_indices, history_weights : numpy.ndarray
        CSR rows (one per user index) of the stories each user started, with the
        interaction weights (confidences).
    similarity : numpy.ndarray
        ``n_stories × n_stories`` float32 item similarity, diagonal 0.
    scorer : models.scoring.Scorer
        How to score (``Recommender.export()``); ``arrays`` holds the arrays it needs.
    arrays : dict
        The scorer's arrays by name (e.g. ``user_factors``, ``item_factors``). They may also be
        passed by name, ``BundleContent(..., user_factors=u)``, and read as attributes
        (``content.user_factors``); ``None`` leaves one out.
    model, kind : str, optional
        What ``/v1/model`` reports: the served model (one of ``MODELS``) and the kind of
        scoring (one of ``KINDS``). Derived from ``scorer`` when left out; checked against it
        when given.
    fallback, fallback_reason
        Whether the pipeline served a fallback model instead of the one it meant to, and why.
    metrics, params : dict
        Offline metrics (name -> value) and training parameters, for ``/v1/model``.
    evaluation : dict
        The evaluation's split (validation and test periods) and the gate's paired test
        (``models.publish.evaluation_summary``), for ``/v1/model``.
    most_watched_language : str, optional
        The catalogue's most watched language: the last language a short list is filled
        from (default: the most common main language of the users).
    """

    def __init__(self, **values: Any) -> None:
        named = {k: values.pop(k) for k in list(values) if k not in _CONTENT_FIELDS}
        super().__init__(**values)
        if named:
            merged = {**self.arrays, **named}
            self.arrays = {k: v for k, v in merged.items() if v is not None}

    def __getattr__(self, name: str) -> np.ndarray:  # only for names that are not attributes
        try:
            return self.__dict__["arrays"][name]
        except KeyError:
            raise AttributeError(f"BundleContent has no attribute or array {name!r}") from None


@dataclass
class Bundle:
    """A loaded, verified bundle (arrays in memory, tables as polars frames)."""

    path: Path
    manifest: dict[str, Any]
    arrays: dict[str, np.ndarray]
    users: pl.DataFrame
    series: pl.DataFrame
    popular: pl.DataFrame
    scorer: Scorer

    @property
    def scorer_arrays(self) -> dict[str, np.ndarray]:
        """The arrays the scorer needs (validated), for ``models.scoring.bind``."""
        return {name: self.arrays[name] for name in self.scorer.array_specs()}

    @property
    def version(self) -> str:
        return str(self.manifest["model_version"])

    @property
    def n_users(self) -> int:
        return int(self.arrays["history_indptr"].shape[0] - 1)

    @property
    def n_stories(self) -> int:
        return int(self.arrays["similarity"].shape[0])


# ---------------------------------------------------------------------------------------------
# validation shared by the writer and the reader


def _iso(value: dt.datetime | dt.date | str) -> str:
    if isinstance(value, str):
        dt.datetime.fromisoformat(value)  # raises ValueError on nonsense
        return value
    return value.isoformat()


_check_array = scoring.check_array


def _check_tables(
    users: pl.DataFrame, series: pl.DataFrame, popular: pl.DataFrame, fail: type[Exception]
) -> None:
    for name, frame, schema in (
        ("users", users, USERS_SCHEMA),
        ("series", series, SERIES_SCHEMA),
        ("popular", popular, POPULAR_SCHEMA),
    ):
        if not isinstance(frame, pl.DataFrame):
            raise fail(f"{name} must be a polars DataFrame, got {type(frame).__name__}")
        missing = [c for c in schema if c not in frame.columns]
        if missing:
            raise fail(f"{name} table lacks column(s) {', '.join(missing)}")
        for col, dtype in schema.items():
            if frame.schema[col] != dtype and frame[col].null_count() != frame.height:
                raise fail(f"{name}.{col} must be {dtype}, got {frame.schema[col]}")
        for col in schema:
            if col != "original_series_id" and frame[col].null_count():
                raise fail(f"{name}.{col} has null values")
    for col, dtype in OPTIONAL_SERIES_SCHEMA.items():
        bad_type = col in series.columns and series.schema[col] != dtype
        if bad_type and series[col].null_count() != series.height:
            raise fail(f"series.{col} must be {dtype}, got {series.schema[col]}")
    for col, dtype in OPTIONAL_USERS_SCHEMA.items():
        if col in users.columns:
            if users.schema[col] != dtype and users[col].null_count() != users.height:
                raise fail(f"users.{col} must be {dtype}, got {users.schema[col]}")
            if users[col].null_count():
                raise fail(f"users.{col} has null values")


def _check_consistency(
    arrays: dict[str, np.ndarray],
    spec: Scorer,
    users: pl.DataFrame,
    series: pl.DataFrame,
    popular: pl.DataFrame,
    fail: type[Exception],
) -> None:
    """Shapes, dtypes and index ranges that the API relies on without re-checking."""
    if "similarity" not in arrays:
        raise fail("arrays lack 'similarity'")
    sim = arrays["similarity"]
    if not isinstance(sim, np.ndarray) or sim.ndim != 2:
        raise fail("similarity must be a 2-D array")
    n_stories = sim.shape[0]
    n_users = users.height
    _check_array("similarity", sim, np.float32, (n_stories, n_stories), fail)
    if n_stories and np.any(np.diagonal(sim) != 0):
        raise fail("similarity must have a zero diagonal")
    indptr = _check_array("history_indptr", arrays.get("history_indptr"), np.int32, (n_users + 1,), fail)  # fmt: skip
    indices = _check_array("history_indices", arrays.get("history_indices"), np.int32, (None,), fail)  # fmt: skip
    _check_array("history_weights", arrays.get("history_weights"), np.float32, (indices.shape[0],), fail)  # fmt: skip
    if indptr[0] != 0 or indptr[-1] != indices.shape[0] or np.any(np.diff(indptr) < 0):
        raise fail("history_indptr must start at 0, never decrease and end at len(history_indices)")
    if indices.size and (indices.min() < 0 or indices.max() >= n_stories):
        raise fail(f"history_indices must be story indices in 0..{n_stories - 1}")
    # the scorer's arrays: exactly those it needs, with its dtypes and shapes, finite
    scorer_arrays = {k: v for k, v in arrays.items() if k not in COMMON_ARRAYS}
    scoring.validate(spec, scorer_arrays, n_users, n_stories, fail)
    # users: user_index is a permutation of 0..n_users-1 and ids are unique
    idx = users["user_index"].to_numpy()
    if n_users and not np.array_equal(np.sort(idx), np.arange(n_users)):
        raise fail(f"users.user_index must be a permutation of 0..{n_users - 1}")
    if users["user_id"].n_unique() != n_users:
        raise fail("users.user_id has duplicates")
    # series: unique ids, story indices in range, one version per story and language
    if series["series_id"].n_unique() != series.height:
        raise fail("series.series_id has duplicates")
    s_idx = series["story_index"].to_numpy()
    if series.height and (s_idx.min() < 0 or s_idx.max() >= n_stories):
        raise fail(f"series.story_index must be in 0..{n_stories - 1}")
    if series.select(["story_index", "language"]).is_duplicated().any():
        raise fail("series has two versions of one story in the same language")
    if (
        series.group_by("story_index")
        .agg(pl.col("story_id").n_unique())
        .filter(pl.col("story_id") > 1)
        .height
    ):
        raise fail("series: one story_index carries several story_id values")
    languages = set(series["language"].unique().to_list())
    bad_main = set(users["main_language"].unique().to_list()) - languages
    if bad_main:
        raise fail(f"users.main_language has languages with no series: {sorted(bad_main)}")
    if "watched_languages" in users.columns:
        bad = set(users["watched_languages"].explode().drop_nulls().unique().to_list()) - languages
        if bad:
            raise fail(f"users.watched_languages has languages with no series: {sorted(bad)}")
    # popular: known series in the list's language, known list names, ranks 1..n
    bad_lists = set(popular["list"].unique().to_list()) - set(LISTS)
    if bad_lists:
        raise fail(f"popular.list must be one of {LISTS}, got {sorted(bad_lists)}")
    joined = popular.join(
        series.select("series_id", pl.col("language").alias("series_language")),
        on="series_id",
        how="left",
    )
    if joined["series_language"].null_count():
        raise fail("popular lists a series_id that is not in series")
    if (joined["series_language"] != joined["language"]).any():
        raise fail("popular lists a series under a language other than its own")
    if popular.select(["language", "list", "rank"]).is_duplicated().any():
        raise fail("popular has duplicate ranks within a (language, list)")


# ---------------------------------------------------------------------------------------------
# writing


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def content_arrays(content: BundleContent) -> dict[str, np.ndarray]:
    """The arrays of ``content`` that go into ``arrays.npz``: the common ones and the scorer's."""
    clash = set(content.arrays) & set(COMMON_ARRAYS)
    if clash:
        raise ValueError(f"scorer arrays {sorted(clash)} clash with the bundle's own arrays")
    return {name: getattr(content, name) for name in COMMON_ARRAYS} | dict(content.arrays)


def described(content: BundleContent) -> tuple[str, str]:
    """``(model, kind)`` for the manifest: as given, else the scorer's (its innermost model)."""
    spec = content.scorer
    return (content.model or spec.leaf.model, content.kind or spec.kind)


def _check_described(model: str, kind: str, spec: Scorer, fail: type[Exception]) -> None:
    """The manifest's ``model`` and ``kind`` must say what the scorer serves."""
    if (model, kind) != (spec.leaf.model, spec.kind):
        raise fail(
            f"model {model!r} of kind {kind!r} is not what the scorer serves "
            f"({spec.leaf.model!r} of kind {spec.kind!r})"
        )


def validate_content(content: BundleContent) -> None:
    """Raise ``ValueError`` naming the first problem that would make ``content`` unservable."""
    if not _VERSION_RE.match(content.model_version or ""):
        raise ValueError(
            f"model_version {content.model_version!r} must be 1-128 letters, digits, '.', '_' "
            "or '-', not starting with '.'"
        )
    if not isinstance(content.scorer, Scorer):
        raise ValueError(f"scorer must be a models.scoring.Scorer, got {content.scorer!r}")
    model, kind = described(content)
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    _check_described(model, kind, content.scorer, ValueError)
    for name in ("trained_at", "data_start", "data_end"):
        try:
            _iso(getattr(content, name))
        except (TypeError, ValueError, AttributeError):
            raise ValueError(f"{name} must be a datetime or ISO-8601 string") from None
    for name, value in content.metrics.items():
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"metric {name!r} must be a finite number, got {value!r}")
    for name in ("params", "evaluation"):
        try:
            json.dumps(getattr(content, name))
        except TypeError as exc:
            raise ValueError(f"{name} must be JSON-serialisable: {exc}") from None
    _check_tables(content.users, content.series, content.popular, ValueError)
    catalogue = set(content.series["language"].unique().to_list())
    if content.most_watched_language is not None and content.most_watched_language not in catalogue:
        raise ValueError(f"most_watched_language {content.most_watched_language!r} has no series")
    _check_consistency(
        content_arrays(content),
        content.scorer,
        content.users,
        content.series,
        content.popular,
        ValueError,
    )


def write_bundle(root: Path, content: BundleContent, *, keep: int = KEEP) -> Path:
    """Validate ``content``, write it as an immutable bundle and make it ``current``.

    Parameters
    ----------
    root : Path
        The models folder (``paths().models_dir``); created if missing.
    content : BundleContent
        What to publish.
    keep : int
        How many bundles to keep (newest first; the current one is never deleted).

    Returns
    -------
    Path
        The published bundle folder ``root/bundles/<version>``.

    Raises
    ------
    ValueError
        If the content is inconsistent (shapes, dtypes, index ranges, names) or the version
        exists already (bundles are immutable).
    """
    validate_content(content)
    model, kind = described(content)
    store = _store(root)
    if store.path(content.model_version).exists():
        raise ValueError(f"bundle {content.model_version!r} exists already; versions are immutable")
    building = store.stage(content.model_version)  # a crashed write's leftover is removed
    try:
        np.savez(building / ARRAYS_FILE, **content_arrays(content))
        optional = {c: t for c, t in OPTIONAL_USERS_SCHEMA.items() if c in content.users.columns}
        user_schema = {**USERS_SCHEMA, **optional}
        users = content.users.select(list(user_schema)).cast(user_schema)  # type: ignore[arg-type]
        optional = {c: t for c, t in OPTIONAL_SERIES_SCHEMA.items() if c in content.series.columns}
        series_schema = {**SERIES_SCHEMA, **optional}
        series = content.series.select(list(series_schema)).cast(series_schema)  # type: ignore[arg-type]
        popular = content.popular.select(list(POPULAR_SCHEMA)).cast(POPULAR_SCHEMA)  # type: ignore[arg-type]
        users.write_parquet(building / "users.parquet")
        series.write_parquet(building / "series.parquet")
        popular.sort(["language", "list", "rank"]).write_parquet(building / "popular.parquet")
        manifest = {
            "format": FORMAT,
            "model_version": content.model_version,
            "model": model,
            "kind": kind,
            "scorer": content.scorer.to_json(),
            "trained_at": _iso(content.trained_at),
            "data_start": _iso(content.data_start),
            "data_end": _iso(content.data_end),
            "fallback": bool(content.fallback),
            "fallback_reason": content.fallback_reason,
            "metrics": {k: float(v) for k, v in content.metrics.items()},
            "params": content.params,
            "evaluation": content.evaluation,
            "most_watched_language": content.most_watched_language,
            "n_users": content.users.height,
            "n_stories": int(content.similarity.shape[0]),
            "n_series": content.series.height,
            "languages": sorted(content.series["language"].unique().to_list()),
            "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
            "sha256": {name: _sha256(building / name) for name in DATA_FILES},
        }
        (building / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    except BaseException:
        store.discard(building)
        raise
    # fsync, rename into place, switch ``current``, prune to ``keep``
    return store.publish(building, content.model_version, keep=keep)


def _store(root: Path) -> VersionedStore:
    """Bundle folders ``root/bundles/<version>``, ``root/current`` their pointer."""
    root = Path(root)
    return VersionedStore(
        directory=root / BUNDLES, pointer=root / CURRENT, folders=True, order=_published_key
    )


def switch_current(root: Path, version: str) -> None:
    """Point ``root/current`` at ``bundles/<version>`` atomically (new symlink + rename)."""
    root = Path(root)
    if not (root / BUNDLES / version / "manifest.json").is_file():
        raise ValueError(f"no published bundle {version!r} under {root / BUNDLES}")
    # relative target: the models folder can be moved or mounted elsewhere as a whole
    _store(root).switch(version)


def current_bundle_path(root: Path) -> Path | None:
    """The folder ``root/current`` points at (resolved), or ``None`` if there is no pointer."""
    return _store(root).current()


def list_bundles(root: Path) -> list[Path]:
    """Published bundle folders under ``root/bundles``, newest first (by publication time)."""
    return _store(root).versions()


def _published_key(path: Path) -> tuple[str, int, str]:
    """Sort key by publication: the manifest's microsecond timestamp (directory mtimes can be
    coarser than the time between two publications), then mtime for damaged manifests."""
    try:
        published = str(json.loads((path / "manifest.json").read_text()).get("published_at", ""))
    except (OSError, ValueError, AttributeError):
        published = ""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = 0
    return (published, mtime, path.name)


def prune_bundles(root: Path, keep: int = KEEP) -> list[Path]:
    """Delete all but the newest ``keep`` bundles, never the current one; return the deleted.

    Leftover ``.<version>.building`` folders of crashed writes are deleted too.
    """
    return _store(root).prune(keep)


# ---------------------------------------------------------------------------------------------
# reading


def read_manifest(path: Path) -> dict[str, Any]:
    """Read and check ``manifest.json`` of the bundle folder ``path``."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"no bundle folder at {path}")
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except FileNotFoundError:
        raise BundleError(f"{path.name}: manifest.json is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path.name}: manifest.json is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{path.name}: manifest.json is not a JSON object")
    if manifest.get("format") != FORMAT:
        raise BundleError(
            f"{path.name}: format {manifest.get('format')!r} is not {FORMAT!r} "
            "(written by another version of Cliffhanger?)"
        )
    for key in ("model_version", "model", "kind", "scorer", "trained_at", "data_start", "data_end",
                "sha256"):  # fmt: skip
        if key not in manifest:
            raise BundleError(f"{path.name}: manifest.json lacks {key!r}")
    if manifest["kind"] not in KINDS:
        raise BundleError(f"{path.name}: unknown kind {manifest['kind']!r}")
    if manifest["model"] not in MODELS:
        raise BundleError(f"{path.name}: unknown model {manifest['model']!r}")
    if not isinstance(manifest["sha256"], dict):
        raise BundleError(f"{path.name}: manifest sha256 must be an object")
    return manifest


def _verified(path: Path, manifest: dict[str, Any], name: str) -> Path:
    file = path / name
    want = manifest["sha256"].get(name)
    if want is None:
        raise BundleError(f"{path.name}: manifest has no checksum for {name}")
    if not file.is_file():
        raise BundleError(f"{path.name}: {name} is missing")
    got = _sha256(file)
    if got != want:
        raise BundleError(f"{path.name}: {name} is corrupt (sha256 {got[:12]}… ≠ {want[:12]}…)")
    return file


def _read_table(path: Path, manifest: dict[str, Any], name: str) -> pl.DataFrame:
    file = _verified(path, manifest, name)
    try:
        return pl.read_parquet(file)
    except Exception as exc:  # polars raises several types for a damaged file
        raise BundleError(f"{path.name}: {name} is unreadable ({type(exc).__name__})") from None


def load_bundle(path: Path) -> Bundle:
    """Load and verify the bundle folder ``path`` (checksums, shapes, dtypes, index ranges).

    Raises
    ------
    BundleError
        With a message naming the bundle and the problem, for anything that would make the
        bundle unservable.
    """
    path = Path(path).resolve()
    manifest = read_manifest(path)
    arrays_file = _verified(path, manifest, ARRAYS_FILE)
    try:
        with np.load(arrays_file, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except Exception as exc:  # zipfile / ValueError on a damaged or pickled file
        raise BundleError(f"{path.name}: {ARRAYS_FILE} is unreadable ({exc})") from None
    users = _read_table(path, manifest, "users.parquet")
    series = _read_table(path, manifest, "series.parquet")
    popular = _read_table(path, manifest, "popular.parquet")
    try:
        spec = Scorer.from_json(manifest["scorer"])
    except ValueError as exc:
        raise BundleError(f"{path.name}: manifest scorer: {exc}") from None
    try:
        _check_described(manifest["model"], manifest["kind"], spec, BundleError)
        _check_tables(users, series, popular, BundleError)
        _check_consistency(arrays, spec, users, series, popular, BundleError)
    except BundleError as exc:
        raise BundleError(f"{path.name}: {exc}") from None
    return Bundle(path, manifest, arrays, users, series, popular, spec)


def load_popular_only(path: Path) -> tuple[dict[str, Any], pl.DataFrame, pl.DataFrame]:
    """Read just the manifest, series and popular lists of a bundle (checksums verified).

    For the API's last resort: a bundle whose model arrays are damaged may still provide a
    non-personalised list. Raises ``BundleError`` if these parts are damaged too.
    """
    path = Path(path).resolve()
    manifest = read_manifest(path)
    series = _read_table(path, manifest, "series.parquet")
    popular = _read_table(path, manifest, "popular.parquet")
    empty_users = pl.DataFrame(schema=USERS_SCHEMA)
    try:
        _check_tables(empty_users, series, popular, BundleError)
    except BundleError as exc:
        raise BundleError(f"{path.name}: {exc}") from None
    return manifest, series, popular


# ---------------------------------------------------------------------------------------------
# synthetic content for tests and benchmarks


def synthetic_bundle_content(
    n_users: int = 1000,
    n_stories: int = 100,
    languages: tuple[str, ...] = ("en", "es"),
    factors: int = 64,
    seed: int = 0,
    *,
    model_version: str | None = None,
) -> BundleContent:
    """Random but realistic content: heavy-tailed popularity, 1–30 started stories per user.

    Every story has a version in ``languages[0]``; each other language has a dubbed version of
    90 % of the stories (popular ones first would be more realistic, but a uniform draw keeps
    the catalogue shape simple). Users' main languages follow a 70/30-ish split.
    """
    rng = np.random.default_rng(seed)
    f = factors
    # story popularity: Zipf-like, so a few stories take most starts
    pop = 1.0 / np.arange(1, n_stories + 1) ** 0.9
    rng.shuffle(pop)
    pop /= pop.sum()
    # factors: item vectors carry a popularity direction so scores are not pure noise
    item_f = rng.normal(0, 1 / np.sqrt(f), (n_stories, f)).astype(np.float32)
    item_f[:, 0] += (np.log(pop * n_stories) * 0.3).astype(np.float32)
    user_f = rng.normal(0, 1 / np.sqrt(f), (n_users, f)).astype(np.float32)
    user_f[:, 0] = np.abs(user_f[:, 0]) + 0.2
    # histories: count per user 1..30 (geometric-ish), stories drawn by popularity, deduplicated
    counts = np.minimum(1 + rng.geometric(0.15, n_users) - 1, 30).astype(np.int64)
    counts = np.maximum(counts, 1)
    draws = rng.choice(n_stories, size=int(counts.sum()), p=pop).astype(np.int64)
    owner = np.repeat(np.arange(n_users, dtype=np.int64), counts)
    keys = np.unique(owner * n_stories + draws)  # sorted by user, then story; dedup per user
    h_users = (keys // n_stories).astype(np.int64)
    h_items = (keys % n_stories).astype(np.int32)
    indptr = np.zeros(n_users + 1, dtype=np.int32)
    np.cumsum(np.bincount(h_users, minlength=n_users), out=indptr[1:])
    weights = (1.0 + rng.exponential(2.0, h_items.shape[0])).astype(np.float32)
    # similarity: cosine of item factors, negatives clipped, diagonal 0, rows scaled to max 1
    unit = item_f / np.linalg.norm(item_f, axis=1, keepdims=True)
    sim = np.clip(unit @ unit.T, 0, None).astype(np.float32)
    np.fill_diagonal(sim, 0)
    sim /= np.maximum(sim.max(axis=1, keepdims=True), 1e-12)
    # catalogue: one version per story in languages[0], 90 % dubbed into each other language
    genres_pool = ["revenge", "romance", "ceo", "werewolf", "family", "mystery", "comedy"]
    rows = []
    for s in range(n_stories):
        story_id = f"st{s:05d}"
        original = f"s{s:05d}-{languages[0]}"
        for li, lang in enumerate(languages):
            if li and rng.random() >= 0.9:
                continue
            rows.append(
                {
                    "series_id": f"s{s:05d}-{lang}",
                    "story_id": story_id,
                    "story_index": s,
                    "language": lang,
                    "title": f"Story {s} ({lang})",
                    "genres": [genres_pool[s % len(genres_pool)]],
                    "production_type": ("ai", "live_action", "hybrid")[s % 3],
                    "is_dubbed": li > 0,
                    "original_series_id": original if li else None,
                }
            )
    series = pl.DataFrame(rows, schema=SERIES_SCHEMA)
    lang_p = np.array([0.7] + [0.3 / max(len(languages) - 1, 1)] * (len(languages) - 1))
    lang_p /= lang_p.sum()
    main = np.asarray(languages)[rng.choice(len(languages), size=n_users, p=lang_p)]
    users = pl.DataFrame(
        {
            "user_id": [f"u{i:07d}" for i in range(n_users)],
            "user_index": np.arange(n_users, dtype=np.int32),
            "main_language": main,
        },
        schema=USERS_SCHEMA,
    )
    # popular = starts per story; trending = the same with noise (a recent window)
    starts = np.bincount(h_items, minlength=n_stories).astype(np.float64)
    trend = starts * rng.lognormal(0, 0.5, n_stories)
    pop_rows = []
    for lang in languages:
        versions = series.filter(pl.col("language") == lang)
        s_idx = versions["story_index"].to_numpy()
        ids = versions["series_id"].to_numpy()
        for name, score in (("popular", starts), ("trending", trend)):
            order = np.lexsort((s_idx, -score[s_idx]))[:100]
            for rank, o in enumerate(order, start=1):
                pop_rows.append((lang, name, rank, str(ids[o]), float(score[s_idx[o]])))
    popular = pl.DataFrame(pop_rows, schema=POPULAR_SCHEMA, orient="row")
    now = dt.datetime(2026, 11, 20, 3, 0, tzinfo=dt.UTC)
    return BundleContent(
        model_version=model_version or f"synthetic-{seed}",
        scorer=Scorer("factors", "als"),
        trained_at=now,
        data_start=now - dt.timedelta(days=28),
        data_end=now - dt.timedelta(hours=3),
        users=users,
        series=series,
        popular=popular,
        history_indptr=indptr,
        history_indices=h_items,
        history_weights=weights,
        similarity=sim,
        arrays={"user_factors": user_f, "item_factors": item_f},
        metrics={"ndcg@10": 0.21, "recall@10": 0.34, "precision@10": 0.05},
        params={"factors": f, "synthetic": True, "seed": seed},
    )
