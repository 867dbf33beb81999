"""llama-cpp-python's own OpenAI-compatible server (``python -m llama_cpp.server``, the local
extra's ``[server]``) on a free loopback port: the peer that the tests and bench/ai.py reach through
``ai.openai-compatible``, with the same model and threads as ``ai.local``."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def llama_server(gguf: Path, *, threads: int = 1, n_ctx: int = 2048, chat_format: str = "gemma",
                 startup: float = 180.0) -> Iterator[str]:
    """Its ``/v1`` URL once ``/v1/models`` answers; the server is stopped on leaving."""
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="paperchain-llama-server-")) / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--chat_format", chat_format,
             "--n_threads", str(threads), "--n_threads_batch", str(threads), "--n_ctx", str(n_ctx),
             "--host", "127.0.0.1", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + startup
        while not _answers(f"{url}/models"):
            if server.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited ({server.returncode}): {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not answer in {startup:g} s: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
