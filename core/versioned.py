"""Immutable versions published behind a symlink: stage, fsync, rename, switch, prune.

One mechanism for everything Cliffhanger publishes to readers in other processes: warehouse
snapshots (one DuckDB file per version, ``core.warehouse``) and model bundles (one folder per
version, ``models.bundle``). A version is written under a hidden staging name, flushed to
disk, renamed to its final name (one ``rename``), and only then does the pointer — a symlink
with a relative target — move to it, by renaming a fresh temporary symlink over the old one.
A reader that follows the pointer gets the previous version or the new one, complete; a
reader holding an old version open keeps reading it after it is pruned (POSIX keeps an
unlinked file alive until its last handle closes).

One writer per store at a time (the callers publish under the pipeline's single writer):
pruning removes every staging leftover it finds.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STAGING_SUFFIX = ".building"


class NotAPointer(FileExistsError):
    """The pointer's path holds a real file or folder, which is never replaced."""


def fsync_path(path: Path) -> None:
    """Flush a file or a folder (its entries) to disk.

    Parameters
    ----------
    path : Path
        A regular file or a directory.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """Flush a file, or a folder with everything in it, to disk (files before their folders).

    Parameters
    ----------
    path : Path
        A regular file or a directory.
    """
    if path.is_dir() and not path.is_symlink():
        for folder, _dirs, files in os.walk(path, topdown=False):
            for name in files:
                fsync_path(Path(folder) / name)
            fsync_path(Path(folder))
    else:
        fsync_path(path)


def remove(path: Path) -> None:
    """Delete a file or a folder tree; a missing path is not an error."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def switch_pointer(pointer: Path, target: Path) -> None:
    """Point the symlink ``pointer`` at ``target`` in one atomic rename.

    A fresh symlink with a relative target (so the folder holding both can be moved or
    mounted elsewhere as a whole) is created beside ``pointer`` and renamed over it, then the
    folder is flushed, so a crash leaves the old pointer or the new one.

    Parameters
    ----------
    pointer : Path
        The symlink to create or replace; its folder is created if missing.
    target : Path
        What it should name.

    Raises
    ------
    NotAPointer
        If ``pointer`` exists and is not a symlink (a real file is never replaced).
    """
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if pointer.exists() and not pointer.is_symlink():
        raise NotAPointer(f"{pointer} exists and is not a symlink; move it away")
    tmp = pointer.with_name(f".{pointer.name}.{uuid.uuid4().hex[:8]}.tmp")
    os.symlink(os.path.relpath(target, pointer.parent), tmp)
    try:
        os.replace(tmp, pointer)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(pointer.parent)


@dataclass(frozen=True)
class VersionedStore:
    """Immutable versions in one folder, and a symlink naming the current one.

    Version ``v`` is the entry ``directory / (prefix + v + suffix)``; while it is written it
    is ``directory / ("." + prefix + v + suffix + ".building")``.

    Parameters
    ----------
    directory : Path
        Where the versions live (created when a version is staged).
    pointer : Path
        The symlink to the current version (any folder; its target is stored relative).
    prefix, suffix : str
        What a version's entry name adds around the version (e.g. ``"cliffhanger-"`` and
        ``".duckdb"``); hidden names are never versions.
    folders : bool
        Versions are folders (else regular files).
    order : Callable[[Path], Any] or None
        Sort key of a version's entry, larger is newer; by default the entry name (versions
        that sort by time, such as ``20260907T101500Z-…``).
    """

    directory: Path
    pointer: Path
    prefix: str = ""
    suffix: str = ""
    folders: bool = False
    order: Callable[[Path], Any] | None = None

    def path(self, version: str) -> Path:
        """The final entry of ``version`` (which may not exist yet).

        Raises
        ------
        ValueError
            If ``version`` is not a plain name (empty, hidden, or with a path separator).
        """
        if not version or version.startswith(".") or "/" in version or "\0" in version:
            raise ValueError(f"version {version!r} is not a plain name")
        return self.directory / f"{self.prefix}{version}{self.suffix}"

    def version_of(self, entry: Path | str) -> str | None:
        """The version an entry name stands for, or None if it is no version's name."""
        name = Path(entry).name
        if name.startswith(".") or not name.startswith(self.prefix):
            return None
        if not name.endswith(self.suffix):
            return None
        return name[len(self.prefix) : len(name) - len(self.suffix)]

    def stage(self, version: str) -> Path:
        """A fresh staging path for ``version``: an empty folder, or a path for a new file.

        A leftover of a crashed write of the same version is removed first.
        """
        final = self.path(version)
        staged = self.directory / f".{final.name}{STAGING_SUFFIX}"
        self.directory.mkdir(parents=True, exist_ok=True)
        remove(staged)
        if self.folders:
            staged.mkdir()
        return staged

    def discard(self, staged: Path) -> None:
        """Delete a staged version that will not be published."""
        remove(staged)

    def commit(self, staged: Path, version: str) -> Path:
        """Flush ``staged`` to disk and rename it to ``version``'s final entry.

        Returns
        -------
        Path
            The final entry. Nothing points at it yet (see :meth:`switch`).

        Raises
        ------
        FileExistsError
            If ``version`` exists already (versions are immutable); ``staged`` is discarded.
        """
        final = self.path(version)
        try:
            if final.exists() or final.is_symlink():
                raise FileExistsError(f"{final} exists already; versions are immutable")
            fsync_tree(staged)
            os.rename(staged, final)
        except BaseException:
            self.discard(staged)
            raise
        fsync_path(self.directory)
        return final

    def switch(self, version: str) -> None:
        """Point the pointer at ``version`` atomically.

        Raises
        ------
        FileNotFoundError
            If ``version`` is not published.
        NotAPointer
            If the pointer's path holds a real file or folder.
        """
        target = self.path(version)
        if not (target.is_dir() if self.folders else target.is_file()):
            raise FileNotFoundError(f"no published version {version!r} at {target}")
        switch_pointer(self.pointer, target)

    def publish(self, staged: Path, version: str, keep: int) -> Path:
        """Commit ``staged`` as ``version``, make it current and prune to ``keep`` versions.

        Returns
        -------
        Path
            The published entry.
        """
        final = self.commit(staged, version)
        self.switch(version)
        self.prune(keep)
        return final

    def current(self) -> Path | None:
        """What the pointer names (resolved), or None if there is no pointer."""
        if not self.pointer.is_symlink() and not self.pointer.exists():
            return None
        return self.pointer.resolve()

    def current_version(self) -> str | None:
        """The version the pointer names, or None (no pointer, or not a symlink)."""
        if not self.pointer.is_symlink():
            return None
        return self.version_of(os.readlink(self.pointer))

    def versions(self) -> list[Path]:
        """Published entries, newest first."""
        if not self.directory.is_dir():
            return []
        found = [
            p
            for p in self.directory.iterdir()
            if self.version_of(p) is not None and (p.is_dir() if self.folders else p.is_file())
        ]
        return sorted(found, key=self.order or (lambda p: p.name), reverse=True)

    def prune(self, keep: int) -> list[Path]:
        """Delete all but the newest ``keep`` versions, never the current one.

        Staging leftovers of crashed writes (hidden ``….building`` entries, with any side file
        such as DuckDB's ``.wal``) are deleted too.

        Returns
        -------
        list of Path
            The versions deleted.
        """
        current = self.current()
        removed = []
        for old in self.versions()[max(keep, 0) :]:
            if current is not None and old.resolve() == current:
                continue
            remove(old)
            removed.append(old)
        if self.directory.is_dir():
            for entry in self.directory.iterdir():
                name = entry.name
                if name.startswith("." + self.prefix) and STAGING_SUFFIX in name:
                    remove(entry)
        return removed
