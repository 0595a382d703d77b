"""The model bundle: round trip, every kind of damage -> BundleError, atomic switch, pruning."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models.bundle import (
    FORMAT,
    BundleContent,
    BundleError,
    current_bundle_path,
    list_bundles,
    load_bundle,
    load_popular_only,
    prune_bundles,
    switch_current,
    synthetic_bundle_content,
    write_bundle,
)
from tests.serving_support import planted_content


@pytest.fixture(scope="module")
def content() -> BundleContent:
    return synthetic_bundle_content(n_users=300, n_stories=40, factors=8, seed=3)


def test_round_trip(tmp_path: Path, content: BundleContent) -> None:
    path = write_bundle(tmp_path, content)
    assert path == tmp_path / "bundles" / "synthetic-3"
    assert sorted(p.name for p in path.iterdir()) == [
        "arrays.npz",
        "manifest.json",
        "popular.parquet",
        "series.parquet",
        "users.parquet",
    ]
    assert os.readlink(tmp_path / "current") == "bundles/synthetic-3"  # relative
    assert current_bundle_path(tmp_path) == path.resolve()
    b = load_bundle(tmp_path / "current")
    m = b.manifest
    assert m["format"] == FORMAT
    assert (m["model_version"], m["model"], m["kind"]) == ("synthetic-3", "als", "factors")
    assert m["trained_at"] == "2026-11-20T03:00:00+00:00"
    assert m["fallback"] is False and m["fallback_reason"] is None
    assert m["metrics"] == {"ndcg@10": 0.21, "recall@10": 0.34, "precision@10": 0.05}
    assert m["params"] == {"factors": 8, "synthetic": True, "seed": 3}
    for name, digest in m["sha256"].items():
        assert hashlib.sha256((path / name).read_bytes()).hexdigest() == digest
    for name in ("user_factors", "item_factors", "history_indptr", "history_indices",
                 "history_weights", "similarity"):  # fmt: skip
        np.testing.assert_array_equal(b.arrays[name], getattr(content, name))
        assert b.arrays[name].dtype == getattr(content, name).dtype
    assert set(b.arrays) == {"user_factors", "item_factors", "history_indptr",
                             "history_indices", "history_weights", "similarity"}  # fmt: skip
    assert b.users.equals(content.users)
    assert b.series.equals(content.series)
    assert b.popular.equals(content.popular.sort(["language", "list", "rank"]))
    assert (b.n_users, b.n_stories) == (300, 40)


def test_synthetic_content_is_realistic() -> None:
    c = synthetic_bundle_content(n_users=5000, n_stories=200, factors=16, seed=1)
    per_user = np.diff(c.history_indptr)
    assert per_user.min() >= 1 and per_user.max() <= 30
    starts = np.bincount(c.history_indices, minlength=200)
    top10 = np.sort(starts)[::-1][:10].sum() / starts.sum()
    assert top10 > 0.2  # heavy-tailed: 5 % of the stories take over a fifth of the starts
    assert c.series.filter(pl.col("language") == "en").height == 200
    assert 150 < c.series.filter(pl.col("language") == "es").height < 200
    assert np.all(np.diagonal(c.similarity) == 0)


def test_other_kinds_round_trip(tmp_path: Path) -> None:
    write_bundle(tmp_path, planted_content("ii", model="item_knn", kind="item_item"))
    b = load_bundle(tmp_path / "current")
    assert b.manifest["kind"] == "item_item" and "item_item" in b.arrays
    assert "user_factors" not in b.arrays
    write_bundle(tmp_path, planted_content("pop", model="popularity", kind="none", fallback=True))
    b = load_bundle(tmp_path / "current")
    # a list scorer's only array is its per-story scores (format 2: the API scores with them)
    assert set(b.arrays) == {"history_indptr", "history_indices", "history_weights", "similarity",
                             "item_scores"}  # fmt: skip
    assert b.manifest["fallback"] is True
    assert b.manifest["fallback_reason"] == "als did not beat popularity"


# --------------------------------------------------------------------------------------------
# the writer refuses inconsistent content with a clear ValueError


def _with(content: BundleContent, **changes: object) -> BundleContent:
    return dataclasses.replace(content, **changes)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: _with(c, model_version="../x"), "model_version '../x' must be"),
        (lambda c: _with(c, model="svd"), "model must be one of"),
        (lambda c: _with(c, kind="dense"), "kind must be one of"),
        (
            lambda c: _with(c, user_factors=c.user_factors.astype(np.float64)),
            "user_factors must be float32",
        ),  # fmt: skip
        (
            lambda c: _with(c, user_factors=c.user_factors[:-1]),
            "user_factors has shape (299, 8), expected 300×8",
        ),  # fmt: skip
        (
            lambda c: _with(c, item_factors=c.item_factors[:, :4]),
            "item_factors has shape (40, 4), expected 40×8",
        ),  # fmt: skip
        (lambda c: _with(c, user_factors=None), "kind 'factors' needs a 2-D user_factors"),
        (
            lambda c: _with(
                c,
                history_indices=np.where(c.history_indices == 0, 40, c.history_indices).astype(
                    np.int32
                ),
            ),
            "history_indices must be story indices in 0..39",
        ),  # fmt: skip
        (lambda c: _with(c, history_indptr=c.history_indptr[:-1]), "history_indptr has shape"),
        (lambda c: _with(c, history_weights=c.history_weights[:-1]), "history_weights has shape"),
        (
            lambda c: _with(c, similarity=np.ones((40, 40), np.float32)),
            "similarity must have a zero diagonal",
        ),  # fmt: skip
        (
            lambda c: _with(c, user_factors=np.full_like(c.user_factors, np.nan)),
            "user_factors holds NaN",
        ),  # fmt: skip
        (
            lambda c: _with(c, users=c.users.with_columns(user_index=pl.lit(0, pl.Int32))),
            "users.user_index must be a permutation",
        ),  # fmt: skip
        (
            lambda c: _with(c, users=c.users.drop("main_language")),
            "users table lacks column(s) main_language",
        ),  # fmt: skip
        (
            lambda c: _with(c, users=c.users.with_columns(main_language=pl.lit("fr"))),
            "users.main_language has languages with no series: ['fr']",
        ),  # fmt: skip
        (
            lambda c: _with(c, series=c.series.with_columns(story_index=pl.lit(99, pl.Int32))),
            "series.story_index must be in 0..39",
        ),  # fmt: skip
        (
            lambda c: _with(c, popular=c.popular.with_columns(list=pl.lit("hot"))),
            "popular.list must be one of",
        ),  # fmt: skip
        (
            lambda c: _with(c, popular=c.popular.with_columns(series_id=pl.lit("nope"))),
            "popular lists a series_id that is not in series",
        ),  # fmt: skip
        (
            lambda c: _with(c, metrics={"ndcg@10": float("nan")}),
            "metric 'ndcg@10' must be a finite number",
        ),  # fmt: skip
    ],
)
def test_write_refuses_bad_content(
    tmp_path: Path,
    content: BundleContent,
    change: Callable[[BundleContent], BundleContent],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=_re(message)):
        write_bundle(tmp_path, change(content))
    assert not (tmp_path / "current").exists()
    assert list_bundles(tmp_path) == []
    assert not any(p.name.endswith(".building") for p in (tmp_path / "bundles").glob(".*")) if (tmp_path / "bundles").exists() else True  # fmt: skip


def _re(text: str) -> str:
    import re

    return re.escape(text)


def test_versions_are_immutable(tmp_path: Path, content: BundleContent) -> None:
    write_bundle(tmp_path, content)
    with pytest.raises(ValueError, match="exists already"):
        write_bundle(tmp_path, content)


# --------------------------------------------------------------------------------------------
# the reader refuses any damage with a BundleError naming it


def _rehash(path: Path, name: str) -> None:
    """Make the manifest agree with a file we rewrote, so the content checks must catch it."""
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["sha256"][name] = hashlib.sha256((path / name).read_bytes()).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_manifest(**changes: object) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        manifest = json.loads((path / "manifest.json").read_text())
        for key, value in changes.items():
            if value is None:
                manifest.pop(key)
            else:
                manifest[key] = value
        (path / "manifest.json").write_text(json.dumps(manifest))

    return apply


def _rewrite_arrays(**arrays: np.ndarray) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        with np.load(path / "arrays.npz") as npz:
            current = {k: npz[k] for k in npz.files}
        current.update(arrays)
        np.savez(path / "arrays.npz", **current)
        _rehash(path, "arrays.npz")

    return apply


def _rewrite_users(path: Path) -> None:
    pl.read_parquet(path / "users.parquet").head(10).write_parquet(path / "users.parquet")
    _rehash(path, "users.parquet")


def _pickled_arrays(path: Path) -> None:
    with np.load(path / "arrays.npz") as npz:
        current = {k: npz[k] for k in npz.files}
    current["similarity"] = np.array([{"evil": 1}], dtype=object)
    np.savez(path / "arrays.npz", **current)
    _rehash(path, "arrays.npz")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: (p / "manifest.json").unlink(), "manifest.json is missing"),
        (
            lambda p: (p / "manifest.json").write_text("{not json"),
            "manifest.json is not valid JSON",
        ),  # fmt: skip
        (lambda p: (p / "manifest.json").write_text("[1]"), "manifest.json is not a JSON object"),
        (_edit_manifest(format="cliffhanger-bundle/9"), "format 'cliffhanger-bundle/9' is not"),
        (_edit_manifest(kind=None), "manifest.json lacks 'kind'"),
        (_edit_manifest(model="gpt"), "unknown model 'gpt'"),
        (lambda p: (p / "arrays.npz").unlink(), "arrays.npz is missing"),
        (lambda p: _flip_byte(p / "arrays.npz"), "arrays.npz is corrupt (sha256"),
        (lambda p: _flip_byte(p / "series.parquet"), "series.parquet is corrupt (sha256"),
        (lambda p: (p / "popular.parquet").write_bytes(b""), "popular.parquet is corrupt"),
        (lambda p: (p / "users.parquet").unlink(), "users.parquet is missing"),
        (
            _rewrite_arrays(user_factors=np.zeros((5, 8), np.float32)),
            "user_factors has shape (5, 8), expected 300×8",
        ),  # fmt: skip
        (
            _rewrite_arrays(item_factors=np.zeros((40, 8), np.float64)),
            "item_factors must be float32",
        ),  # fmt: skip
        (_rewrite_arrays(history_indices=np.full(10, 77, np.int32)), "history_weights has shape"),
        (
            _rewrite_arrays(item_item=np.zeros((40, 40), np.float32)),
            "arrays ['item_item'] do not belong",
        ),  # fmt: skip
        (_pickled_arrays, "arrays.npz is unreadable"),
        (_rewrite_users, "history_indptr has shape (301,), expected 11"),
    ],
)
def test_load_refuses_damage(
    tmp_path: Path, content: BundleContent, damage: Callable[[Path], None], message: str
) -> None:
    path = write_bundle(tmp_path, content)
    damage(path)
    with pytest.raises(BundleError, match=_re(message)) as info:
        load_bundle(path)
    assert str(info.value).startswith("synthetic-3: ")  # names the bundle


def test_load_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no bundle folder at"):
        load_bundle(tmp_path / "nothing")


def test_popular_only_survives_damaged_arrays(tmp_path: Path, content: BundleContent) -> None:
    path = write_bundle(tmp_path, content)
    _flip_byte(path / "arrays.npz")
    manifest, series, popular = load_popular_only(path)
    assert manifest["model_version"] == "synthetic-3"
    assert series.height == content.series.height and popular.height == content.popular.height
    _flip_byte(path / "popular.parquet")
    with pytest.raises(BundleError, match=_re("popular.parquet is corrupt")):
        load_popular_only(path)


# --------------------------------------------------------------------------------------------
# publication: atomic switch, pruning


def test_atomic_switch_readers_always_see_a_complete_bundle(tmp_path: Path) -> None:
    small = synthetic_bundle_content(n_users=200, n_stories=30, factors=4, seed=9)
    write_bundle(tmp_path, dataclasses.replace(small, model_version="p0"))
    errors: list[str] = []
    seen: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.add(load_bundle(tmp_path / "current").version)
            except Exception as exc:  # any failure here is a torn read
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(1, 8):
            write_bundle(tmp_path, dataclasses.replace(small, model_version=f"p{i}"))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert errors == []
    assert len(seen) >= 2  # the readers did see the switch happen
    assert current_bundle_path(tmp_path) == (tmp_path / "bundles" / "p7").resolve()
    assert not list((tmp_path).glob(".current.*"))  # no temporary symlink left behind


def test_pruning_keeps_newest_three_and_never_the_current(tmp_path: Path) -> None:
    small = synthetic_bundle_content(n_users=50, n_stories=10, factors=4, seed=2)
    for i in range(5):
        write_bundle(tmp_path, dataclasses.replace(small, model_version=f"v{i}"))
    assert [p.name for p in list_bundles(tmp_path)] == ["v4", "v3", "v2"]
    # roll back to v2 (the oldest kept): pruning to one keeps the newest and the current
    switch_current(tmp_path, "v2")
    assert current_bundle_path(tmp_path) == (tmp_path / "bundles" / "v2").resolve()
    assert [p.name for p in prune_bundles(tmp_path, keep=1)] == ["v3"]
    assert [p.name for p in list_bundles(tmp_path)] == ["v4", "v2"]
    assert load_bundle(tmp_path / "current").version == "v2"
    # publishing again prunes to three, the new one current
    write_bundle(tmp_path, dataclasses.replace(small, model_version="v5"))
    assert [p.name for p in list_bundles(tmp_path)] == ["v5", "v4", "v2"]
    with pytest.raises(ValueError, match="no published bundle 'v0'"):
        switch_current(tmp_path, "v0")


def test_crashed_build_is_cleaned_and_never_served(tmp_path: Path) -> None:
    small = synthetic_bundle_content(n_users=50, n_stories=10, factors=4, seed=2)
    leftover = tmp_path / "bundles" / ".v1.building"
    leftover.mkdir(parents=True)
    (leftover / "arrays.npz").write_bytes(b"half")
    assert list_bundles(tmp_path) == []  # building folders are not bundles
    write_bundle(tmp_path, dataclasses.replace(small, model_version="v1"))
    assert not leftover.exists()
    assert load_bundle(tmp_path / "current").version == "v1"
