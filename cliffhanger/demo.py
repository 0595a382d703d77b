"""The demo's process supervisor: the API and the dashboards side by side until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from rich.console import Console

from cliffhanger.errors import UserError

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


def serve_demo(host: str, api_port: int, dashboard_port: int, query: str) -> None:
    """Start the API and the dashboards, wait until both answer, print where, run until ^C."""
    me = [sys.executable, "-m", "cliffhanger.cli"]
    servers = {
        "API": (me + ["serve", "--host", host, "--port", str(api_port)],
                f"http://{host}:{api_port}/healthz", f"http://{host}:{api_port}/docs"),
        "dashboards": (me + ["dashboard", "--host", host, "--port", str(dashboard_port)],
                       f"http://{host}:{dashboard_port}/_stcore/health",
                       f"http://{host}:{dashboard_port}"),
    }  # fmt: skip
    procs = {name: subprocess.Popen(cmd, start_new_session=True)
             for name, (cmd, _, _) in servers.items()}  # fmt: skip

    def stop(*_: object) -> None:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    try:
        with err.status("starting the API and the dashboards…"):
            deadline = time.monotonic() + 120
            waiting = dict(servers)
            while waiting and time.monotonic() < deadline:
                for name, (_, health, _) in list(waiting.items()):
                    if procs[name].poll() is not None:
                        raise UserError(f"the {name} server exited with code "
                                        f"{procs[name].returncode}; is the port in use?")  # fmt: skip
                    try:
                        with urllib.request.urlopen(health, timeout=2) as response:  # noqa: S310 (loopback URL we built)
                            if response.status == 200:
                                del waiting[name]
                    except OSError:
                        pass
                time.sleep(0.5)
            if waiting:
                raise UserError(f"{', '.join(waiting)} did not come up within 120 s")
        out.print("\n[bold]Cliffhanger is up[/bold] (Ctrl-C stops both servers):")
        for name, (_, _, url) in servers.items():
            out.print(f"  {name:<11} {url}")
        out.print(f"  warehouse   {query}")
        while all(proc.poll() is None for proc in procs.values()):
            time.sleep(1)
        raise UserError("a server stopped unexpectedly; see its output above")
    except KeyboardInterrupt:
        out.print("stopping…")
    finally:
        stop()
