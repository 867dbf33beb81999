"""The services beside the database: the Redis broker, the blob store (disk or S3) and system tools."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from pathlib import Path

from ..config import Config, masked_url
from .findings import OK, PROBLEM, WARNING, Finding, one_line

BROKER_TIMEOUT = 2.0  # seconds for Redis to answer PING


def check_broker(url: str) -> Finding:
    """Redis answers PING within ``BROKER_TIMEOUT`` seconds."""
    shown = masked_url(url)
    try:
        import redis
    except ImportError:
        return Finding("broker", PROBLEM, f"the broker {shown} cannot be checked: the redis client library is missing.",
                       "pip install 'celery[redis]' into paperchain's environment (the Celery executor needs it too)")
    client = redis.Redis.from_url(url, socket_connect_timeout=BROKER_TIMEOUT, socket_timeout=BROKER_TIMEOUT)
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        return Finding("broker", PROBLEM, f"the broker {shown} refused our credentials: {one_line(exc, url)}",
                       "set the password Redis expects (requirepass) in broker_url: redis://:PASSWORD@HOST:PORT/DB")
    except Exception as exc:  # noqa: BLE001 - refused, timed out, name not found: the same advice
        return Finding("broker", PROBLEM, f"the broker {shown} does not answer: {one_line(exc, url)}",
                       "start Redis there (redis-server), or fix broker_url (PAPERCHAIN_BROKER_URL)")
    finally:
        client.close()
    return Finding("broker", OK, f"the broker {shown} answers PING.")


def check_blobs(config: Config) -> Finding:
    """A probe object written, read back and deleted through the deployment's blob store."""
    url = config.kernel.blob_url
    if not url:
        return _check_disk_blobs(config.data_dir / "blobs")
    from ..store.blobs_s3 import S3BlobStore, check_bucket, parse_blob_url

    where = str(parse_blob_url(url))
    with tempfile.TemporaryDirectory(prefix="paperchain-doctor-") as scratch:
        try:
            check_bucket(url)  # the start-up's own check: endpoint, credentials, the bucket
            store = S3BlobStore(url, Path(scratch) / "scratch", plain_dir=Path(scratch) / "plain")
        except Exception as exc:  # noqa: BLE001 - what the store said, with its fix
            return Finding("blobs", PROBLEM, f"the blob store {where} cannot be used: {one_line(exc)}", _blob_fix(exc))
        try:
            _probe(store)
        except Exception as exc:  # noqa: BLE001 - reported with its fix
            return Finding("blobs", PROBLEM, f"the blob store {where} did not take a probe object: {one_line(exc)}",
                           _blob_fix(exc))
        finally:
            store.close()
    return Finding("blobs", OK, f"the blob store {where} stored, returned and deleted a probe object.")


def _check_disk_blobs(root: Path) -> Finding:
    from ..store.blobs import DiskBlobStore

    if not root.exists():
        parent = next(p for p in root.parents if p.exists())
        if parent.is_dir() and _writable(parent):
            return Finding("blobs", OK, f"the blob folder {root} does not exist yet; {parent} is writable, "
                                        "so the first start creates it.")
        return Finding("blobs", PROBLEM, f"the blob folder {root} does not exist and {parent} is not a writable folder.",
                       f"create {root} and let the user that runs paperchain write to it, or set data_dir")
    with tempfile.TemporaryDirectory(prefix="paperchain-doctor-") as plain:
        try:
            store = DiskBlobStore(root, plain_dir=Path(plain))
            try:
                _probe(store)
            finally:
                store.close()
        except OSError as exc:
            return Finding("blobs", PROBLEM, f"the blob folder {root} is not writable: {one_line(exc)}",
                           f"make {root} a folder the user that runs paperchain can write to "
                           "(chown -R that user, or fix the mount), or set data_dir (PAPERCHAIN_DATA_DIR) elsewhere")
    return Finding("blobs", OK, f"the blob folder {root} stored, returned and deleted a probe file.")


def _writable(folder: Path) -> bool:
    import os

    return os.access(folder, os.W_OK | os.X_OK)


def _probe(store) -> None:
    """Content unique to this probe, so deleting it can never remove a real blob."""
    data = f"paperchain doctor probe {uuid.uuid4()} {time.time()}".encode()
    name, _, _ = store.put_bytes(data)
    try:
        if store.read_bytes(name) != data:
            raise OSError("the probe read back differs from what was written")
    finally:
        store.delete(name)


def _blob_fix(exc: BaseException) -> str:
    from paperchain_sdk import PaperchainError

    if isinstance(exc, PaperchainError) and exc.hint:
        return exc.hint
    return ("check that the object store is up, that the bucket exists, and that AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY allow PutObject, GetObject and DeleteObject on it; or fix blob_url (PAPERCHAIN_BLOB_URL)")


# -- system tools ---------------------------------------------------------------------------------

TOOLS = {  # program: (who needs it, Debian packages)
    "tesseract": ("the OCR plugin (paperchain-ocr)", "tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa"),
    "chromium": ("the web UI's browser tests (make test), not serving", "chromium"),
}


def check_tools(plugins: dict[str, str]) -> list[Finding]:
    findings = []
    for program, (user, packages) in TOOLS.items():
        if program == "tesseract" and "ocr" not in plugins:
            continue
        found = shutil.which(program)
        if found:
            findings.append(Finding("tools", OK, f"{program} is installed ({found})."))
        else:
            findings.append(Finding("tools", WARNING, f"{program} is not on PATH on this machine; {user} needs it.",
                                    f"apt-get install {packages}"))
    return findings
