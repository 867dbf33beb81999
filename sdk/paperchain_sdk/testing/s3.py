"""The SDK's pytest plugin for an S3 blob store (entry point ``pytest11``): moto's S3 on loopback.

Fixtures:

``paperchain_moto``
    The session's ``moto[server]`` S3 endpoint (``http://127.0.0.1:<free port>``): a ``moto_server``
    process (not a thread, so what a test measures in its own process is the client's), started on
    first use and stopped at the end. moto is an S3 stand-in (MinIO is not installable here): it answers
    the API, conditional writes included, but says nothing about a real store's speed.
``s3_blob_url``
    A fresh, empty bucket on it as a ``blob_url`` (``s3://…?endpoint=…&region=us-east-1``), with
    throwaway credentials in the environment (and botocore kept off any configuration file and the
    instance metadata service, so nothing leaves loopback). Pass it to a kernel as
    ``config={"paperchain": {"blob_url": s3_blob_url}}``. Without moto the test is skipped, naming
    the package to install (under ``CI=true`` it fails instead).
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

INSTALL_HINT = "pip install 'moto[server]' aiobotocore (the kernel's s3 extra: pip install -e '.[s3,test]')"
_BUCKETS = itertools.count(1)
_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "paperchain-test", "AWS_SECRET_ACCESS_KEY": "paperchain-test-secret",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}


@pytest.fixture(scope="session")
def paperchain_moto():
    program = Path(sys.executable).parent / "moto_server"
    if not program.exists():
        message = f"moto is not installed (no {program}): {INSTALL_HINT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(program), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(server, port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_for(server: subprocess.Popen, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not start on 127.0.0.1:{port} (exit code {server.poll()})") from None
            time.sleep(0.1)


@pytest.fixture
def s3_blob_url(paperchain_moto, monkeypatch):
    import boto3

    for name, value in _CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = f"paperchain-test-{os.getpid()}-{next(_BUCKETS)}"
    boto3.client("s3", endpoint_url=paperchain_moto, region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}?endpoint={paperchain_moto}&region=us-east-1"
