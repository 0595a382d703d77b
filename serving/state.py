"""The model the API serves, and the watcher that swaps in newly published bundles.

Requests read ``ModelHolder.model`` once and use that object to the end: swapping is the
assignment of a single attribute (atomic under the GIL), so a request in flight keeps the
model it started with while new requests get the new one. Loading and preparing a bundle
happens on the watcher thread, never on the request path.

Failure policy (CONTRACT §4: a missing or corrupt model never takes the service down):

- a bundle that fails to load is logged and skipped; the last good model stays in service;
- if no full model was ever loaded, the popular lists of the newest bundle whose catalogue and
  lists verify are served instead, marked ``fallback``; ``/healthz`` answers 503 meanwhile;
- a failed version is not retried until ``current`` points somewhere else (bundles are
  immutable, so retrying the same folder cannot help).
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from models.bundle import (
    BundleError,
    current_bundle_path,
    list_bundles,
    load_bundle,
    load_popular_only,
)
from serving.model import ServingModel

log = logging.getLogger("cliffhanger.serving")


class ModelHolder:
    """Holds the served model and loads new bundles from ``root`` (``root/current``).

    Parameters
    ----------
    root : Path
        The models folder (``paths().models_dir``).
    on_change : callable, optional
        Called with ``(event, detail)`` after each load attempt (``"loaded"``, ``"failed"``,
        ``"degraded"``), for metrics.
    """

    def __init__(self, root: Path, on_change: Callable[[str, str], None] | None = None) -> None:
        self.root = Path(root)
        self.model: ServingModel | None = None
        self.last_error: str | None = None
        self._seen: Path | None = None
        self._seen_mtime: int | None = None
        self._attempted = False
        self._on_change = on_change or (lambda event, detail: None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one load at a time (watcher vs. an explicit refresh)

    @property
    def healthy(self) -> bool:
        """True when a full model (not the popular-list fallback) is in service."""
        model = self.model
        return model is not None and model.full

    def refresh(self) -> bool:
        """Load ``root/current`` if it changed since the last attempt; True if a model changed."""
        with self._lock:
            try:
                target = current_bundle_path(self.root)
            except OSError as exc:  # a symlink loop, permissions...
                target, error = None, f"cannot resolve {self.root / 'current'}: {exc}"
            else:
                error = None if target else f"no published model: {self.root / 'current'} is missing"  # fmt: skip
            mtime = _mtime(target)
            if self._attempted and target == self._seen and mtime == self._seen_mtime:
                return False
            self._attempted = True
            self._seen, self._seen_mtime = target, mtime
            if target is not None:
                try:
                    started = time.perf_counter()
                    bundle = load_bundle(target)
                    model = ServingModel.from_bundle(bundle)
                except BundleError as exc:
                    error = str(exc)
                except Exception as exc:  # never let an unexpected error kill the watcher
                    error = f"{target.name}: unexpected {type(exc).__name__}: {exc}"
                else:
                    old = self.model
                    self.model = model  # the swap: one reference assignment
                    self.last_error = None
                    log.info(
                        "serving model %s (%s, %d users, %d series) loaded in %.2f s%s",
                        model.version,
                        model.model,
                        model.n_users,
                        len(model.series_ids),
                        time.perf_counter() - started,
                        f"; replaced {old.version}" if old is not None else "",
                    )
                    self._on_change("loaded", model.version)
                    _freeze_heap()
                    return True
            self.last_error = error
            if self.model is not None and self.model.full:
                log.error("model not updated, still serving %s: %s", self.model.version, error)
                self._on_change("failed", error or "")
                return False
            log.error("no model could be loaded: %s", error)
            self._on_change("failed", error or "")
            return self._degrade(error or "no model")

    def _degrade(self, reason: str) -> bool:
        """Serve the popular lists of the newest bundle whose catalogue and lists verify."""
        candidates = []
        if self._seen is not None:
            candidates.append(self._seen)
        candidates += [p for p in list_bundles(self.root) if p.resolve() != self._seen]
        for path in candidates:
            try:
                manifest, series, popular = load_popular_only(path)
                model = ServingModel(manifest, series, popular, degraded_reason=reason)
            except BundleError as exc:
                log.warning("no popular list in %s either: %s", path.name, exc)
                continue
            except Exception as exc:
                log.warning("no popular list in %s either: %s", path.name, type(exc).__name__)
                continue
            if self.model is not None and self.model.version == model.version:
                return False
            self.model = model
            log.warning(
                "serving the popular lists of %s as a fallback (no model loaded)", model.version
            )
            self._on_change("degraded", model.version)
            return True
        return False

    # -----------------------------------------------------------------------------------------
    # the watcher thread

    def start(self, interval: float = 1.0) -> None:
        """Load now, then poll ``root/current`` every ``interval`` seconds in a daemon thread."""
        self.refresh()
        self._thread = threading.Thread(
            target=self._watch, args=(interval,), name="bundle-watcher", daemon=True
        )
        self._thread.start()

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.refresh()
            except Exception:  # keep watching whatever happens; the reason is logged
                log.exception("bundle watcher: unexpected error")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _mtime(path: Path | None) -> int | None:
    """The manifest's mtime: a bundle rewritten in place under the same name is noticed too."""
    if path is None:
        return None
    try:
        return os.stat(path / "manifest.json").st_mtime_ns
    except OSError:
        return None


def _freeze_heap() -> None:
    """Move every object alive now out of the garbage collector's reach.

    The server holds ~90,000 long-lived container objects (FastAPI, pydantic, polars, the
    model); a full collection walks them all, ~20 ms during which no request progresses, at
    unpredictable times. After a load they are all long-lived: collect once (cheap — objects
    frozen earlier are not walked), then freeze, so later collections see only new objects.
    """
    gc.collect()
    gc.freeze()
