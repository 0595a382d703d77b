"""Helpers of the API tests: a planted bundle with hand-checkable answers and a real server.

The planted catalogue (6 stories, 2 languages)::

    story  0 A   1 B   2 C   3 D   4 E   5 F
    en     A-en  B-en  C-en  D-en  E-en  —
    es     A-es  B-es  C-es  —     E-es  F-es

Item factors are 2-D: the first component falls with the story index (1.0, 0.9, ... 0.5), the
second rises (0.0, 0.1, ... 0.5). So a user with factors (1, 0) ranks stories A > B > ... > F
and a user with (0, 1) ranks them F > E > ... > A. Users:

- ``alice`` (1, 0), main language en, started story A (its Spanish version, A-es);
- ``bob`` (0, 1), main language es, started story B (B-en);
- ``carol`` (1, 0), main language en, started A, B and C.

Lists: en trending D-en, A-en, E-en (30, 20, 10); en popular A-en .. E-en; es has no trending
list, es popular B-es, A-es, F-es (9, 8, 7). ``SIMILARITY`` rows are written out below.

Other kinds: ``item_item`` scores the history (weights 1) with ``SIMILARITY`` as the item x item
matrix; ``none`` (popularity) scores the stories A..F by ``ITEM_SCORES`` (50, 49, .., 46 like
the en popular list, F 7).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import polars as pl

from models.bundle import (
    OPTIONAL_SERIES_SCHEMA,
    POPULAR_SCHEMA,
    SERIES_SCHEMA,
    USERS_SCHEMA,
    BundleContent,
)
from models.scoring import Scorer

REPO = Path(__file__).resolve().parents[1]
STORIES = "ABCDEF"
VERSIONS = {  # story letter -> languages with a version
    "A": ("en", "es"),
    "B": ("en", "es"),
    "C": ("en", "es"),
    "D": ("en",),
    "E": ("en", "es"),
    "F": ("es",),
}
SIMILARITY = np.array(
    [
        [0.0, 1.0, 0.2, 0.1, 0.1, 0.1],  # A: like B
        [1.0, 0.0, 0.3, 0.2, 0.1, 0.1],  # B: like A
        [0.1, 0.5, 0.0, 0.2, 1.0, 0.8],  # C: like E, then F, then B
        [0.1, 0.2, 0.3, 0.0, 0.4, 1.0],  # D: like F
        [0.1, 0.1, 1.0, 0.3, 0.0, 0.6],  # E: like C
        [0.1, 0.1, 0.8, 1.0, 0.6, 0.0],  # F: like D
    ],
    dtype=np.float32,
)
ITEM_SCORES = np.array([50.0, 49.0, 48.0, 47.0, 46.0, 7.0], dtype=np.float32)
USERS = {  # user -> (factors, main language, started stories)
    "alice": ((1.0, 0.0), "en", "A"),
    "bob": ((0.0, 1.0), "es", "B"),
    "carol": ((1.0, 0.0), "en", "ABC"),
}


def planted_content(
    version: str = "v1",
    *,
    swap_users: bool = False,
    model: str = "als",
    kind: str = "factors",
    fallback: bool = False,
) -> BundleContent:
    """The planted bundle. ``swap_users`` gives alice bob's taste (a visibly new model).

    ``kind`` picks the scorer: ``factors``, ``item_item`` (confidences) or ``none`` (a list).
    """
    rows = []
    for s, letter in enumerate(STORIES):
        for lang in VERSIONS[letter]:
            rows.append(
                {
                    "series_id": f"{letter}-{lang}",
                    "story_id": letter,
                    "story_index": s,
                    "language": lang,
                    "title": f"Story {letter} ({lang})",
                    "genres": ["revenge"],
                    "production_type": "ai",
                    "is_dubbed": lang != VERSIONS[letter][0],
                    "original_series_id": None
                    if lang == VERSIONS[letter][0]
                    else f"{letter}-{VERSIONS[letter][0]}",
                    "n_episodes": 10,
                    "free_episodes": 3,
                    # newer with the story index; a dubbed version a day after its original
                    "release_date": dt.date(2026, 11, 1 + s)
                    + dt.timedelta(days=int(lang != VERSIONS[letter][0])),
                }
            )
    series = pl.DataFrame(rows, schema={**SERIES_SCHEMA, **OPTIONAL_SERIES_SCHEMA})
    names = list(USERS)
    factors = np.array([USERS[u][0] for u in names], dtype=np.float32)
    if swap_users:
        factors = factors[:, ::-1].copy()
    users = pl.DataFrame(
        {
            "user_id": names,
            "user_index": np.arange(len(names), dtype=np.int32),
            "main_language": [USERS[u][1] for u in names],
        },
        schema=USERS_SCHEMA,
    )
    indptr = [0]
    indices: list[int] = []
    for u in names:
        indices += [STORIES.index(c) for c in USERS[u][2]]
        indptr.append(len(indices))
    item_factors = np.array(
        [[1.0 - 0.1 * s, 0.1 * s] for s in range(len(STORIES))], dtype=np.float32
    )
    popular = pl.DataFrame(
        [
            ("en", "trending", 1, "D-en", 30.0),
            ("en", "trending", 2, "A-en", 20.0),
            ("en", "trending", 3, "E-en", 10.0),
            *[("en", "popular", r + 1, f"{c}-en", 50.0 - r) for r, c in enumerate("ABCDE")],
            ("es", "popular", 1, "B-es", 9.0),
            ("es", "popular", 2, "A-es", 8.0),
            ("es", "popular", 3, "F-es", 7.0),
        ],
        schema=POPULAR_SCHEMA,
        orient="row",
    )
    scorers = {
        "factors": (
            Scorer("factors", model),
            {"user_factors": factors, "item_factors": item_factors},
        ),
        "item_item": (
            Scorer("item_item", model, {"history": "confidence"}),
            {"item_item": SIMILARITY.copy()},
        ),
        "none": (Scorer("list", model), {"item_scores": ITEM_SCORES.copy()}),
    }
    scorer, arrays = scorers[kind]
    t = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)
    return BundleContent(
        model_version=version,
        scorer=scorer,
        arrays=arrays,
        trained_at=t,
        data_start=dt.datetime(2026, 10, 28, tzinfo=dt.UTC),
        data_end=dt.datetime(2026, 11, 25, tzinfo=dt.UTC),
        users=users,
        series=series,
        popular=popular,
        history_indptr=np.array(indptr, dtype=np.int32),
        history_indices=np.array(indices, dtype=np.int32),
        history_weights=np.ones(len(indices), dtype=np.float32),
        similarity=SIMILARITY.copy(),
        fallback=fallback,
        fallback_reason="als did not beat popularity" if fallback else None,
        metrics={"ndcg@10": 0.21, "recall@10": 0.34},
        params={"factors": 2},
    )


#: planted viewer activity (models.activity.SCHEMA): user, series, started, last watched,
#: next episode, locked, finished
ACTIVITY = [
    # alice: C started after the training (so C leaves her lists), A in progress with the next
    # episode (4) behind the paywall, B finished (left out of continue-watching)
    ("alice", "C-en", "2026-12-01T08:00:00Z", "2026-12-01T09:00:00Z", 2, False, False),
    ("alice", "A-es", "2026-11-20T10:00:00Z", "2026-11-30T10:00:00Z", 4, True, False),
    ("alice", "B-en", "2026-11-26T10:00:00Z", "2026-11-28T10:00:00Z", 11, False, True),
    # dave signed up after the training: started C
    ("dave", "C-en", "2026-12-01T07:00:00Z", "2026-12-01T08:00:00Z", 2, False, False),
    # erin (not in the bundle either) unlocked episode 5 of A with coins
    ("erin", "A-en", "2026-11-29T07:00:00Z", "2026-11-30T08:00:00Z", 5, False, False),
]


def planted_activity(path: Path, rows: list[tuple] | None = None) -> Path:
    """Publish the planted activity (or ``rows``) at ``path`` (models.activity.write_activity)."""
    from models.activity import SCHEMA, write_activity

    frame = pl.DataFrame(ACTIVITY if rows is None else rows, schema=SCHEMA, orient="row")
    return write_activity(path, frame, as_of=dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ApiServer:
    """``cliffhanger serve`` in a subprocess on a free loopback port, logging to a file."""

    def __init__(
        self, home: Path, api_key: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / f"serve-{self.port}.log"
        extra_env = env or {}
        drop = {"CLIFFHANGER_API_KEY", "CLIFFHANGER_SERVED_LOG", "CLIFFHANGER_EXPERIMENT"}
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env.update(CLIFFHANGER_HOME=str(home), OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        if api_key is not None:
            env["CLIFFHANGER_API_KEY"] = api_key
        env.update(extra_env)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cliffhanger.cli", "serve", "--port", str(self.port)],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.client = httpx.Client(base_url=self.url, timeout=10)
        self._wait_ready(timeout=30)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.TransportError):
                self.client.get("/healthz")
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not up after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return self.client.get(path, **kwargs)  # type: ignore[arg-type]

    def wait_for(self, predicate, timeout: float = 10.0, interval: float = 0.1) -> None:  # noqa: ANN001
        """Poll until ``predicate()`` is true (AssertionError with the log after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(interval)
        raise AssertionError(f"condition not met within {timeout} s; server log:\n{self.log()}")

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


def metric_value(text: str, name: str, **labels: str) -> float:
    """Value of one sample in Prometheus text output (0.0 if absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        sample, _, label_txt = head.partition("{")
        if sample != name:
            continue
        got = dict(part.split("=", 1) for part in label_txt.rstrip("}").split(",") if "=" in part)
        got = {k: v.strip('"') for k, v in got.items()}
        if all(got.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0
