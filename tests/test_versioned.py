"""core.versioned: stage, commit, switch the pointer, prune (tiny files and folders)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.versioned import NotAPointer, VersionedStore, switch_pointer


def file_store(root: Path) -> VersionedStore:
    return VersionedStore(
        directory=root / "versions", pointer=root / "public" / "data.txt", prefix="data-",
        suffix=".txt",
    )  # fmt: skip


def folder_store(root: Path) -> VersionedStore:
    return VersionedStore(directory=root / "bundles", pointer=root / "current", folders=True)


def publish_file(store: VersionedStore, version: str, keep: int = 3) -> Path:
    staged = store.stage(version)
    staged.write_text(f"content of {version}\n")
    return store.publish(staged, version, keep=keep)


def names(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_publishing_four_versions_keeps_the_newest_three(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    for v in ("v1", "v2", "v3", "v4"):
        final = publish_file(store, v)
        assert final == tmp_path / "versions" / f"data-{v}.txt"
    assert names(store.versions()) == ["data-v4.txt", "data-v3.txt", "data-v2.txt"]
    assert not (tmp_path / "versions" / "data-v1.txt").exists()
    assert store.current_version() == "v4"
    assert (tmp_path / "public" / "data.txt").read_text() == "content of v4\n"
    assert sorted(os.listdir(tmp_path / "versions")) == [
        "data-v2.txt",
        "data-v3.txt",
        "data-v4.txt",
    ]
    assert os.listdir(tmp_path / "public") == ["data.txt"]  # no temporary symlink left


def test_the_pointer_is_a_relative_symlink_that_survives_moving_the_folder(tmp_path: Path) -> None:
    store = file_store(tmp_path / "a")
    publish_file(store, "v1")
    pointer = tmp_path / "a" / "public" / "data.txt"
    assert pointer.is_symlink()
    assert os.readlink(pointer) == "../versions/data-v1.txt"
    (tmp_path / "a").rename(tmp_path / "b")
    assert (tmp_path / "b" / "public" / "data.txt").read_text() == "content of v1\n"
    assert file_store(tmp_path / "b").current_version() == "v1"


def test_the_current_version_is_never_pruned_even_when_old(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    for v in ("v1", "v2", "v3"):
        publish_file(store, v)
    store.switch("v1")  # a rollback to the oldest
    assert names(store.prune(keep=1)) == ["data-v2.txt"]
    assert names(store.versions()) == ["data-v3.txt", "data-v1.txt"]
    assert store.current() == (tmp_path / "versions" / "data-v1.txt").resolve()
    assert names(store.prune(keep=0)) == ["data-v3.txt"]
    assert names(store.versions()) == ["data-v1.txt"]


def test_crash_leftovers_of_staging_are_removed_and_nothing_else(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / ".data-v9.txt.building").write_text("half")  # a crashed write
    (versions / ".data-v9.txt.building.wal").write_text("half")  # and a side file of it
    (versions / ".keep").write_text("not ours")
    (versions / "notes.md").write_text("not a version")
    publish_file(store, "v1")
    assert sorted(os.listdir(versions)) == [".keep", "data-v1.txt", "notes.md"]
    assert names(store.versions()) == ["data-v1.txt"]
    # a leftover of the same version is cleared when that version is staged again
    folders = folder_store(tmp_path)
    leftover = tmp_path / "bundles" / ".b1.building"
    leftover.mkdir(parents=True)
    (leftover / "part").write_text("half")
    assert folders.versions() == []  # staging is never a version
    staged = folders.stage("b1")
    assert staged == leftover and list(staged.iterdir()) == []


def test_folders_are_published_whole(tmp_path: Path) -> None:
    store = folder_store(tmp_path)
    for v in ("b1", "b2"):
        staged = store.stage(v)
        (staged / "sub").mkdir()
        (staged / "sub" / "x.txt").write_text(v)
        (staged / "manifest.json").write_text("{}")
        store.publish(staged, v, keep=3)
    assert os.readlink(tmp_path / "current") == "bundles/b2"
    assert (tmp_path / "current" / "sub" / "x.txt").read_text() == "b2"
    assert names(store.versions()) == ["b2", "b1"]
    assert sorted(os.listdir(tmp_path / "bundles")) == ["b1", "b2"]


def test_readers_holding_an_old_version_keep_reading_it(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    publish_file(store, "v1")
    with open(tmp_path / "public" / "data.txt") as reader:  # opened through the pointer
        for v in ("v2", "v3", "v4"):
            publish_file(store, v, keep=1)
        assert not (tmp_path / "versions" / "data-v1.txt").exists()
        assert reader.read() == "content of v1\n"
    assert (tmp_path / "public" / "data.txt").read_text() == "content of v4\n"


def test_versions_are_immutable_and_a_failed_commit_leaves_nothing(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    publish_file(store, "v1")
    staged = store.stage("v1")
    staged.write_text("other")
    with pytest.raises(FileExistsError, match="versions are immutable"):
        store.commit(staged, "v1")
    assert not staged.exists()
    assert (tmp_path / "versions" / "data-v1.txt").read_text() == "content of v1\n"
    with pytest.raises(ValueError, match="not a plain name"):
        store.stage("../escape")
    with pytest.raises(FileNotFoundError, match="no published version 'v7'"):
        store.switch("v7")
    assert store.current_version() == "v1"


def test_a_real_file_at_the_pointer_is_never_replaced(tmp_path: Path) -> None:
    pointer = tmp_path / "data.txt"
    pointer.write_text("someone's own file")
    target = tmp_path / "v1.txt"
    target.write_text("v1")
    with pytest.raises(NotAPointer, match="exists and is not a symlink"):
        switch_pointer(pointer, target)
    assert pointer.read_text() == "someone's own file"
    assert sorted(os.listdir(tmp_path)) == ["data.txt", "v1.txt"]


def test_a_custom_order_decides_which_versions_are_newest(tmp_path: Path) -> None:
    rank = {"zeta": 1, "alpha": 2, "mid": 3}  # publication order, not name order
    store = VersionedStore(
        directory=tmp_path / "v", pointer=tmp_path / "cur", order=lambda p: rank[p.name]
    )
    for v in ("zeta", "alpha", "mid"):
        publish_file(store, v, keep=2)
    assert names(store.versions()) == ["mid", "alpha"]
    assert store.current_version() == "mid"
