"""A throwaway PostgreSQL cluster on loopback for tests and benchmarks (Debian's ``postgresql``).

``initdb`` refuses to run as root, so as root the cluster's folder belongs to the ``postgres``
user and ``initdb``/``pg_ctl`` run through ``runuser -u postgres --``. The folder is a fresh one
under the system's temporary directory (pytest's own is private to root), removed on ``stop``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

INSTALL_HINT = "install Debian's postgresql (apt-get install postgresql), or run only the SQLite half: pytest -m 'not postgres'"


def find_bin_dir() -> Path | None:
    """The folder holding initdb, pg_ctl and psql: ``PAPERCHAIN_POSTGRES_BIN`` if set, else the
    newest of Debian's, else the PATH's; None if there is none."""
    chosen = os.environ.get("PAPERCHAIN_POSTGRES_BIN")
    if chosen is not None:
        return Path(chosen) if Path(chosen, "initdb").exists() else None
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _version(path: str) -> float:
    try:
        return float(Path(path).parent.name)
    except ValueError:
        return 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresCluster:
    """``start()`` a cluster, ``create_database()`` per test, ``stop()`` at the end.

    ``durable=False`` (tests) turns fsync off; benchmarks keep the server's durable defaults."""

    def __init__(self, bin_dir: Path, *, durable: bool = False):
        self.bin_dir = Path(bin_dir)
        self.durable = durable
        self.folder: Path | None = None
        self.port = 0
        self._as_postgres = os.geteuid() == 0
        self._count = 0

    def _run(self, *argv: str) -> None:
        command = [str(self.bin_dir / argv[0]), *argv[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> PostgresCluster:
        self.folder = Path(tempfile.mkdtemp(prefix="paperchain-pg-"))
        data = self.folder / "data"
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        self.port = _free_port()
        self._run("initdb", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "-D", str(data))
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder}"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(data), "-l", str(self.folder / "server.log"), "-o", options, "-w", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "test", *, template: str = "") -> str:
        """A new empty database, or a copy of the database named ``template`` (nobody may be
        connected to it); returns its URL."""
        self._count += 1
        name = f"{prefix}_{os.getpid()}_{self._count}"
        copy = f' TEMPLATE "{template}"' if template else ""
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                  "-q", "-c", f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def stop(self) -> None:
        if self.folder is None:
            return
        try:
            self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
