"""The published viewer activity (``models.activity``), prepared for requests.

Loaded on the watcher thread, swapped in with one reference assignment (like the bundle): a
request reads :attr:`ActivityHolder.activity` once. The rows of one user are contiguous, most
recently watched first; a lookup is a binary search of the user id (``IdIndex``).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from models.activity import read_activity
from serving.model import IdIndex

log = logging.getLogger("cliffhanger.serving")


@dataclass(frozen=True)
class Progress:
    """One series a user watched recently."""

    series_id: str
    next_episode_number: int
    next_episode_locked: bool
    finished: bool
    last_watched_at: str
    started_at: str


class Activity:
    """Per-user activity rows: ``rows(user_id)`` -> the user's :class:`Progress`, latest first."""

    def __init__(self, frame: pl.DataFrame, as_of: str | None) -> None:
        frame = frame.sort(["user_id", "last_watched_at", "series_id"],
                           descending=[False, True, False])  # fmt: skip
        self.as_of = as_of
        self.n_rows = frame.height
        users = frame["user_id"]
        first = (users != users.shift(1)).fill_null(True).to_numpy()
        starts = np.flatnonzero(first)
        self.indptr = np.append(starts, frame.height).astype(np.int64)
        self.index = IdIndex(users.gather(starts), np.arange(len(starts)))
        self.n_users = len(starts)
        self.series_ids = frame["series_id"].to_numpy().astype(object)
        self.next_episode = frame["next_episode_number"].fill_null(1).to_numpy()
        self.locked = frame["next_episode_locked"].fill_null(False).to_numpy()
        self.finished = frame["finished"].fill_null(False).to_numpy()
        self.last_at = frame["last_watched_at"].to_numpy().astype(object)
        self.started_at = frame["started_at"].to_numpy().astype(object)

    def rows(self, user_id: str) -> list[Progress]:
        group = self.index.get(user_id)
        if group is None:
            return []
        start, end = int(self.indptr[group]), int(self.indptr[group + 1])
        return [
            Progress(self.series_ids[i], int(self.next_episode[i]), bool(self.locked[i]),
                     bool(self.finished[i]), self.last_at[i], self.started_at[i])
            for i in range(start, end)
        ]  # fmt: skip

    def series_of(self, user_id: str) -> list[str]:
        """Every series the user watched recently, most recent first."""
        group = self.index.get(user_id)
        if group is None:
            return []
        return self.series_ids[self.indptr[group] : self.indptr[group + 1]].tolist()


EMPTY = Activity(
    pl.DataFrame(
        {
            "user_id": [],
            "series_id": [],
            "started_at": [],
            "last_watched_at": [],
            "next_episode_number": [],
            "next_episode_locked": [],
            "finished": [],
        },
        schema={
            "user_id": pl.String,
            "series_id": pl.String,
            "started_at": pl.String,
            "last_watched_at": pl.String,
            "next_episode_number": pl.Int32,
            "next_episode_locked": pl.Boolean,
            "finished": pl.Boolean,
        },
    ),
    None,
)


class ActivityHolder:
    """Holds the activity of ``path`` and reloads it when the file is replaced.

    A missing file means no activity (empty); a damaged one is logged and the last good one
    stays in service.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.activity: Activity = EMPTY
        self.last_error: str | None = None
        self._seen: tuple[int, int, int] | None = None
        self._lock = threading.Lock()

    def describe(self) -> dict[str, object]:
        a = self.activity
        return {"as_of": a.as_of, "users": a.n_users, "rows": a.n_rows, "problem": self.last_error}

    def refresh(self) -> bool:
        with self._lock:
            try:
                st = os.stat(self.path)
                stamp: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
            except OSError:
                stamp = None
            if stamp == self._seen:
                return False
            self._seen = stamp
            if stamp is None:
                changed = self.activity is not EMPTY
                self.activity, self.last_error = EMPTY, None
                return changed
            try:
                frame, as_of = read_activity(self.path)
                activity = Activity(frame, as_of)
            except Exception as exc:  # never let a bad file stop the watcher
                self.last_error = f"activity not updated: {exc}"
                log.error("%s", self.last_error)
                return False
            self.activity, self.last_error = activity, None
            log.info("activity of %s loaded: %d users, %d rows", as_of, activity.n_users,
                     activity.n_rows)  # fmt: skip
            return True
