"""The served log: one JSON line per list the API served (docs/feedback-loop.md §2).

Request handlers call :meth:`ServedLog.add` with a ready dict — an append to a deque, no I/O,
no serialization. A background thread turns the dicts into JSON lines and appends them to the
file of the current process and UTC hour::

    <folder>/2026-12-02/served-13-<pid>-<8 hex>.jsonl.open   while being written
    <folder>/2026-12-02/served-13-<pid>-<8 hex>.jsonl        closed: complete, never written again

A file is closed (renamed without ``.open``) when its hour ends, when the server stops, and by
the next server start for files whose process is gone (their partial last line dropped). The
pipeline reads closed files only.

If the disk cannot keep up, the queue is bounded (``MAX_PENDING`` lines): lines beyond it are
dropped and counted (``cliffhanger_served_log_dropped_total``), never blocking a request.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("cliffhanger.serving")

#: lines waiting for the writer thread at most; more are dropped (and counted)
MAX_PENDING = 200_000
#: how often the writer wakes to write what is queued and to close a finished hour, seconds
FLUSH_INTERVAL = 0.25
_OPEN_RE = re.compile(r"^served-(\d{2})-(\d+)-([0-9a-f]{8})\.jsonl\.open$")


_SECOND: list = [None, ""]  # the last second formatted: (int second, "2026-12-02T13:04:05")


def served_at(now: float | None = None) -> str:
    """``2026-12-02T13:04:05.123Z``: a UTC time with milliseconds (the second's text is
    cached: formatting a datetime costs more than the rest of a request's logging)."""
    now = time.time() if now is None else now
    second = int(now)
    if _SECOND[0] != second:
        text = dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _SECOND[0], _SECOND[1] = second, text
    return f"{_SECOND[1]}.{int((now - second) * 1000):03d}Z"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():  # a previous server that had our pid (a container restart)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def close_file(path: Path) -> Path:
    """Drop a partial last line of ``path`` (a ``.jsonl.open`` file) and rename it closed."""
    with open(path, "rb+") as fh:
        data = fh.read()
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            fh.truncate(keep)
    closed = path.with_name(path.name[: -len(".open")])
    os.replace(path, closed)
    return closed


def recover(folder: Path) -> list[Path]:
    """Close the ``.open`` files of processes that are gone; return the closed files."""
    closed = []
    if not folder.is_dir():
        return closed
    for path in sorted(folder.glob("*/served-*.jsonl.open")):
        match = _OPEN_RE.match(path.name)
        if match is None or _pid_alive(int(match.group(2))):
            continue
        try:
            closed.append(close_file(path))
        except OSError as exc:
            log.warning("served log: cannot close %s: %s", path, exc)
    return closed


class ServedLog:
    """Buffered, per-process, per-hour writer of served lists.

    Parameters
    ----------
    folder : Path
        ``$CLIFFHANGER_SERVED_LOG`` (default ``$CLIFFHANGER_HOME/served``).
    clock : callable
        Unix time now (tests move the hour).
    on_drop : callable, optional
        Called with the number of lines dropped (queue full or a write error), for metrics.
    """

    def __init__(
        self,
        folder: Path,
        clock: Callable[[], float] = time.time,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.clock = clock
        self._on_drop = on_drop or (lambda n: None)
        self._pending: collections.deque[dict[str, Any]] = collections.deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fh: Any = None
        self._path: Path | None = None
        self._hour: str | None = None  # "2026-12-02T13" of the open file
        self.written = 0
        self.dropped = 0

    # ------------------------------------------------------------------ the request side

    def add(self, record: dict[str, Any]) -> None:
        """Queue one line (a dict with ``served_at`` first); never blocks, never raises."""
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            self._on_drop(1)
            return
        self._pending.append(record)

    # ------------------------------------------------------------------ the writer thread

    def start(self) -> None:
        try:
            for path in recover(self.folder):
                log.info("served log: closed %s (its process is gone)", path.name)
        except OSError as exc:
            log.warning("served log: cannot scan %s: %s", self.folder, exc)
        self._thread = threading.Thread(target=self._run, name="served-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, close the open file (rename it), stop the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()
        self._close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # keep writing whatever happens
                log.exception("served log: unexpected error")

    def flush(self) -> None:
        """Write every queued line, then close the file if its hour has ended."""
        pending = self._pending
        while pending:
            lines: list[str] = []
            hour = None
            while pending and len(lines) < 4096:
                record = pending[0]
                line_hour = record["served_at"][:13]
                if hour is None:
                    hour = line_hour
                elif line_hour != hour:
                    break
                lines.append(orjson.dumps(record).decode())
                pending.popleft()
            self._write(hour, lines)
        now_hour = served_at(self.clock())[:13]
        if self._hour is not None and self._hour < now_hour:
            self._close()

    def _write(self, hour: str | None, lines: list[str]) -> None:
        if not lines or hour is None:
            return
        try:
            if self._hour != hour:
                self._close()
                self._open(hour)
            self._fh.write("\n".join(lines) + "\n")
            self._fh.flush()
            self.written += len(lines)
        except OSError as exc:
            self.dropped += len(lines)
            self._on_drop(len(lines))
            log.error("served log: %d lines lost: %s", len(lines), exc)
            self._fh = None
            self._hour = None

    def _open(self, hour: str) -> None:
        day, hh = hour[:10], hour[11:13]
        folder = self.folder / day
        folder.mkdir(parents=True, exist_ok=True)
        self._path = folder / f"served-{hh}-{os.getpid()}-{secrets.token_hex(4)}.jsonl.open"
        self._fh = open(self._path, "a", encoding="utf-8")  # noqa: SIM115 - closed in _close
        self._hour = hour

    def _close(self) -> None:
        if self._fh is None or self._path is None:
            self._fh = self._path = self._hour = None
            return
        try:
            self._fh.close()
            os.replace(self._path, self._path.with_name(self._path.name[: -len(".open")]))
        except OSError as exc:
            log.error("served log: cannot close %s: %s", self._path, exc)
        self._fh = self._path = self._hour = None
