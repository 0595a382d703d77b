"""The online experiment: a deterministic split of users between the served bundle and a
challenger bundle (docs/feedback-loop.md §4).

``variant = challenger`` when ``int(sha256(salt + ":" + user_id).hexdigest()[:8], 16) / 2**32
< challenger_share``, else ``control``. The configuration is a TOML file
(``$CLIFFHANGER_HOME/experiment.toml`` or ``$CLIFFHANGER_EXPERIMENT``)::

    name = "ranker-vs-ease"
    salt = "2026-12-ranker"
    challenger_bundle = "models/challenger"   # a bundle folder, relative to CLIFFHANGER_HOME
    challenger_share = 0.5

:class:`ExperimentHolder` re-reads the file and (re)loads the challenger bundle on the watcher
thread, like the served bundle. A missing or unreadable file means no experiment; a bad file
or a challenger that cannot be loaded never takes the service down: everyone gets the served
bundle (variant ``control``) and ``/v1/model`` and the log say why.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.bundle import BundleError, load_bundle
from serving.model import ServingModel

log = logging.getLogger("cliffhanger.serving")

DEFAULT = "default"
CONTROL = "control"
CHALLENGER = "challenger"
_KEYS = {"name", "salt", "challenger_bundle", "challenger_share"}


class ExperimentError(ValueError):
    """An experiment file that cannot be used; the message says why."""


@dataclass(frozen=True)
class Experiment:
    name: str
    salt: str
    challenger_bundle: Path
    challenger_share: float

    def variant(self, user_id: str) -> str:
        """``challenger`` or ``control`` for ``user_id`` (the documented hash)."""
        return CHALLENGER if bucket(self.salt, user_id) < self.challenger_share else CONTROL

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "salt": self.salt,
            "challenger_bundle": str(self.challenger_bundle),
            "challenger_share": self.challenger_share,
        }


def bucket(salt: str, user_id: str) -> float:
    """The user's position in [0, 1) for the split."""
    digest = hashlib.sha256(f"{salt}:{user_id}".encode("utf-8", "surrogatepass")).hexdigest()
    return int(digest[:8], 16) / 2**32


def parse_experiment(text: str, home: Path) -> Experiment:
    """The experiment described by TOML ``text`` (``ExperimentError`` says what is wrong)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"not valid TOML: {exc}") from None
    missing = sorted(_KEYS - set(data))
    extra = sorted(set(data) - _KEYS)
    if missing or extra:
        raise ExperimentError(
            f"needs exactly {sorted(_KEYS)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {extra}" if extra else "")
        )
    name, salt, bundle, share = (data[k] for k in ("name", "salt", "challenger_bundle", "challenger_share"))  # fmt: skip
    for key, value in (("name", name), ("salt", salt), ("challenger_bundle", bundle)):
        if not isinstance(value, str) or not value.strip():
            raise ExperimentError(f"{key} must be a non-empty string, got {value!r}")
    ok = isinstance(share, int | float) and not isinstance(share, bool) and math.isfinite(share)
    if not ok or not 0 <= share <= 1:
        raise ExperimentError(f"challenger_share must be a number in [0, 1], got {share!r}")
    path = Path(bundle).expanduser()
    return Experiment(name, salt, path if path.is_absolute() else home / path, float(share))


class ExperimentHolder:
    """The configured experiment and its challenger model, reloaded when either changes.

    Requests read :attr:`state` once: ``(experiment, challenger model or None)``.
    """

    def __init__(self, config_file: Path, home: Path) -> None:
        self.config_file = Path(config_file)
        self.home = Path(home)
        self.state: tuple[Experiment | None, ServingModel | None] = (None, None)
        self.problem: str | None = None  # why the challenger is not served (None: it is)
        self._seen_config: tuple[int, int] | None = None
        self._seen_bundle: tuple[str, int] | None = None
        self._lock = threading.Lock()

    def describe(self) -> dict[str, Any] | None:
        experiment, challenger = self.state
        if experiment is None:
            return {"running": False, "problem": self.problem} if self.problem else None
        return {
            **experiment.describe(),
            "running": True,
            "challenger_served": challenger is not None,
            "challenger_version": challenger.version if challenger is not None else None,
            "problem": self.problem,
        }

    def refresh(self) -> bool:
        """Re-read the file and the challenger if they changed; True if the state changed."""
        with self._lock:
            try:
                st = os.stat(self.config_file)
                stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
            except OSError:
                stamp = None
            if stamp is None:
                changed = self.state != (None, None) or self.problem is not None
                if changed:
                    log.info("experiment: %s is gone, no experiment runs", self.config_file)
                self.state, self.problem = (None, None), None
                self._seen_config = self._seen_bundle = None
                return changed
            experiment = self.state[0]
            if stamp != self._seen_config:
                self._seen_config = stamp
                try:
                    experiment = parse_experiment(self.config_file.read_text(), self.home)
                except (OSError, UnicodeDecodeError, ExperimentError) as exc:
                    self.problem = f"{self.config_file}: {exc}; no experiment runs"
                    log.error("experiment: %s", self.problem)
                    self.state, self._seen_bundle = (None, None), None
                    return True
                self._seen_bundle = None
                log.info("experiment %r: challenger share %s of %s", experiment.name,
                         experiment.challenger_share, experiment.challenger_bundle)  # fmt: skip
            if experiment is None:
                return False
            return self._refresh_challenger(experiment)

    def _refresh_challenger(self, experiment: Experiment) -> bool:
        path = experiment.challenger_bundle
        try:
            real = os.path.realpath(path)
            bundle_stamp = (real, os.stat(Path(real) / "manifest.json").st_mtime_ns)
        except OSError:
            bundle_stamp = (str(path), -1)
        if bundle_stamp == self._seen_bundle:
            return False
        self._seen_bundle = bundle_stamp
        old = self.state[1]
        try:
            model = ServingModel.from_bundle(load_bundle(Path(bundle_stamp[0])))
        except BundleError as exc:
            problem = str(exc)
        except FileNotFoundError as exc:
            problem = f"no bundle at {path}: {exc}"
        except Exception as exc:  # never let the challenger take the service down
            problem = f"unexpected {type(exc).__name__}: {exc}"
        else:
            self.state, self.problem = (experiment, model), None
            log.info("experiment %r: challenger %s loaded", experiment.name, model.version)
            return True
        if old is not None and self.state[0] == experiment:
            self.problem = f"challenger not updated, still serving {old.version}: {problem}"
        else:
            self.state = (experiment, None)
            self.problem = f"challenger not served (everyone gets control): {problem}"
        log.error("experiment %r: %s", experiment.name, self.problem)
        return True
