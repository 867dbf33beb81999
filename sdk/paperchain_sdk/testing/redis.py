"""The SDK's pytest plugin for a Redis broker (entry point ``pytest11``): Debian's redis-server on loopback.

Fixtures:

``paperchain_redis``
    The session's Redis URL (``redis://127.0.0.1:<free port>/0``): a ``redis-server`` process with no
    persistence (no RDB snapshots, no AOF) in a temporary folder, started on first use and stopped at
    the end. For ``executor = "celery"`` (``broker_url``) and ``paperchain worker``. Without
    redis-server the test is skipped, naming the package to install (under ``CI=true`` it fails).
``redis_url``
    A fresh, empty database of it for the test (``FLUSHDB`` first), as a ``broker_url``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

INSTALL_HINT = "install Debian's redis-server (apt-get install redis-server), or PAPERCHAIN_REDIS_SERVER=/path/to/redis-server"


def find_server() -> str | None:
    return os.environ.get("PAPERCHAIN_REDIS_SERVER") or shutil.which("redis-server")


class RedisServer:
    """``start()`` a throwaway redis-server on a free loopback port, ``stop()`` it and remove its folder."""

    def __init__(self, program: str):
        self.program = program
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.folder = ""

    def start(self, timeout: float = 30) -> RedisServer:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.folder = tempfile.mkdtemp(prefix="paperchain-redis-")
        self.process = subprocess.Popen(
            [self.program, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", self.folder, "--protected-mode", "yes", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                code = self.process.poll()
                self.stop()
                raise RuntimeError(f"redis-server did not start on 127.0.0.1:{self.port} (exit code {code})")
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = ""


@pytest.fixture(scope="session")
def paperchain_redis():
    program = find_server()
    if program is None:
        message = f"Redis is not installed (no redis-server found): {INSTALL_HINT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = RedisServer(program).start()
    try:
        yield server.url()
    finally:
        server.stop()


@pytest.fixture
def redis_url(paperchain_redis):
    import redis

    client = redis.Redis.from_url(paperchain_redis)
    try:
        client.flushdb()
    finally:
        client.close()
    return paperchain_redis
