"""Real servers for the lake tests, started in temporary folders on loopback and stopped
after: a PostgreSQL (the DuckLake catalog) and an S3-compatible moto server (the data files).

The README's test command installs PostgreSQL when it is missing (scripts/test.sh); a
missing server fails the lake tests with the reason, it never skips them.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bindir() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").is_file():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError(
        "the lake tests need PostgreSQL's server programs (initdb, pg_ctl): "
        "`bash scripts/test.sh` installs Debian's postgresql package"
    )


@dataclass(frozen=True)
class Postgres:
    """A running PostgreSQL on 127.0.0.1:``port`` that trusts local user ``lake``."""

    port: int
    bindir: Path

    def create_database(self) -> str:
        """A new empty database; returns its DuckLake catalog string."""
        name = "lake_" + uuid.uuid4().hex[:10]
        subprocess.run(
            [str(self.bindir / "psql"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U",
             "lake", "-d", "postgres", "-c", f"CREATE DATABASE {name}"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        return f"postgres:dbname={name} host=127.0.0.1 port={self.port} user=lake"


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    """initdb + pg_ctl in a temporary folder (as the ``postgres`` user when run as root:
    PostgreSQL refuses to run as root), stopped and deleted at exit."""
    bindir = _pg_bindir()
    folder = Path(tempfile.mkdtemp(prefix="cliffhanger-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()
    try:
        subprocess.run(
            [*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "lake",
             "--no-sync", "-E", "UTF8"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
             str(folder / "server.log"), "-w", "-t", "60", "start"],
            check=True, capture_output=True, timeout=90,
        )  # fmt: skip
        try:
            yield Postgres(port=port, bindir=bindir)
        finally:
            subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                capture_output=True, timeout=60,
            )  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class S3:
    """A moto S3 server on loopback and the environment that points DuckDB at it."""

    endpoint: str

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def create_bucket(self) -> str:
        import boto3

        name = "lake-" + uuid.uuid4().hex[:10]
        boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        ).create_bucket(Bucket=name)  # fmt: skip
        return name


@contextlib.contextmanager
def s3_server() -> Iterator[S3]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3(endpoint=f"http://{host}:{port}")
    finally:
        server.stop()


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A Redis server on loopback (no persistence) in a temporary folder; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "the celery test needs redis-server: `bash scripts/test.sh` installs Debian's package"
        )
    folder = Path(tempfile.mkdtemp(prefix="cliffhanger-redis-"))
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"redis-server did not start on 127.0.0.1:{port}")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
