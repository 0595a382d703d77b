"""Run the API with uvicorn (what ``cliffhanger serve`` calls)."""

from __future__ import annotations

import copy
import importlib.util
import logging
import socket

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from core.config import paths

log = logging.getLogger("cliffhanger.serving")


def log_config() -> dict:
    """uvicorn's logging setup, without client addresses, plus the ``cliffhanger`` loggers."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["default"]["fmt"] = "%(asctime)s %(levelprefix)s %(name)s: %(message)s"
    # no client address in the access log: an IP address is personal data, ids are enough
    config["formatters"]["access"]["fmt"] = (
        '%(asctime)s %(levelprefix)s "%(request_line)s" %(status_code)s'
    )
    config["loggers"]["cliffhanger"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    return config


def bind_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (in use, unknown host...), or ``None``.

    Checked before the model is loaded, so the mistake is one line, not a load and a
    traceback-shaped uvicorn log.
    """
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            sock.bind(addr)
    except OSError as exc:
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def run_server(
    host: str,
    port: int,
    workers: int = 1,
    access_log: bool = True,
    app: str = "serving.app:create_app",
) -> None:
    """Serve the app factory ``app`` (the API's by default) on ``host:port`` until interrupted.

    ``app`` is another factory only for the load benchmark's bare baseline
    (``benchmarks.bare_api``), which must run under exactly these server settings.

    uvloop and httptools are used when installed (uvicorn's ``auto``): they roughly halve the
    per-request overhead of the event loop and HTTP parsing, which dominates a request whose
    scoring takes tens of microseconds.
    """
    root = paths().models_dir
    if app == "serving.app:create_app" and not (root / "current").exists():
        logging.getLogger("cliffhanger.serving").warning(
            "no model published yet at %s: serving 503 until the pipeline publishes one", root
        )
    uvicorn.run(
        app,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_config=log_config(),
        loop="uvloop" if importlib.util.find_spec("uvloop") else "auto",
        http="httptools" if importlib.util.find_spec("httptools") else "auto",
        # the API has no streaming or long requests: shut down quickly on SIGTERM
        timeout_graceful_shutdown=5,
        server_header=False,
    )
