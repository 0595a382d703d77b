"""Run the dashboards as a user would, for the real-browser tests and the page benchmark.

``serve`` starts ``cliffhanger dashboard`` as a subprocess on a free loopback port;
``launch_chromium`` starts Debian's Chromium through Playwright (browser downloads fail on
these machines, so Playwright never installs its own); ``PAGES`` says, for every page, its
URL path and the text that appears only once the page's own content has rendered.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# as root in a sandboxed machine with a closed network: no sandbox, no GPU, and none of the
# background connections Chromium would otherwise retry at every start
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class PageSpec:
    name: str
    path: str  # URL path under the server root
    ready_text: str  # text that exists only once the page's own content has rendered
    title: str  # its link in the sidebar


PAGES = [
    PageSpec("overview", "overview", "Daily trends", "Overview"),
    PageSpec("series", "series", "Episodes that lose viewers to the story:", "Series"),
    PageSpec("catalog", "catalog", "Dubs vs their originals", "Catalog"),
    PageSpec("retention", "retention", "D1 and D7 retention by cohort", "Retention"),
    PageSpec("recommendations", "recommendations", "Similar series", "Recommendations"),
    PageSpec("data_health", "data-health", "Freshness of every table", "Data health"),
    # the app opens on it (the server root)
    PageSpec("launches", "", "Is a new release a hit?", "Launches"),
]


def click_sidebar(page, spec: PageSpec) -> None:  # noqa: ANN001
    """Open a page through its sidebar link, as a user does (no page load)."""
    page.locator('[data-testid="stSidebarNav"]').get_by_text(spec.title, exact=True).click()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(home: Path, port: int | None = None, timeout_s: float = 60.0) -> Iterator[str]:
    """``cliffhanger dashboard`` on a free loopback port with CLIFFHANGER_HOME=home; its URL."""
    port = port or free_port()
    home = Path(home).resolve()  # the server runs in home: a relative path would nest
    env = {**os.environ, "CLIFFHANGER_HOME": str(home)}
    env.pop("CLIFFHANGER_WAREHOUSE", None)
    log = open(Path(home) / f"dashboard-{port}.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cliffhanger.cli", "dashboard", "--port", str(port)],
        cwd=home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped as a whole below
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"cliffhanger dashboard exited with {proc.returncode}: "
                    + (Path(home) / f"dashboard-{port}.log").read_text()[-2000:]
                )
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the dashboards did not answer on {url} in {timeout_s:.0f} s")
            time.sleep(0.2)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def launch_chromium(playwright):  # noqa: ANN001, ANN201 (playwright's own types)
    """Headless Debian Chromium driven by Playwright (a fresh profile each launch)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def wait_rendered(page, spec: PageSpec, timeout_ms: float = 30_000) -> None:  # noqa: ANN001
    """Wait until the page's own content is visible and Streamlit has finished the run."""
    page.get_by_text(spec.ready_text, exact=False).first.wait_for(
        state="visible", timeout=timeout_ms
    )
    # the script may still be drawing below the marker: wait for Streamlit's run to end (the
    # app root's script state, which Streamlit's own end-to-end tests wait on too)
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(
        state="attached", timeout=timeout_ms
    )
    # charts and tables are lazy-loaded components (a skeleton first) that Vega then draws
    # asynchronously: wait until no skeleton is left and every chart has its canvas
    page.wait_for_function(
        """() => !document.querySelector('[data-testid*="Skeleton"]')
                 && [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
                    .every(c => c.querySelector('canvas, svg'))""",
        polling=100,
        timeout=timeout_ms,
    )


ERROR_SELECTOR = '[data-testid="stException"], [data-testid="stAlertContentError"]'
