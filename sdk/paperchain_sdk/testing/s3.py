"""The SDK's pytest plugin for an S3 blob store (entry point ``pytest11``): moto's S3 on loopback.

Fixtures:

``paperchain_moto``
    The session's ``moto[server]`` S3 endpoint (``http://127.0.0.1:<free port>``), started on first
    use and stopped at the end. moto is an S3 stand-in (MinIO is not installable here): it answers
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

import pytest

INSTALL_HINT = "pip install 'moto[server]' aiobotocore (the kernel's s3 extra: pip install -e '.[s3,test]')"
_BUCKETS = itertools.count(1)
_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "paperchain-test", "AWS_SECRET_ACCESS_KEY": "paperchain-test-secret",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}


@pytest.fixture(scope="session")
def paperchain_moto():
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        message = f"moto is not installed: {INSTALL_HINT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_blob_url(paperchain_moto, monkeypatch):
    import boto3

    for name, value in _CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = f"paperchain-test-{os.getpid()}-{next(_BUCKETS)}"
    boto3.client("s3", endpoint_url=paperchain_moto, region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}?endpoint={paperchain_moto}&region=us-east-1"
