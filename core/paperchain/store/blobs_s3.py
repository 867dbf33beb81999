"""The blob store in an S3 bucket (a second implementation of the ``blobstore.BlobStore`` port),
chosen by ``blob_url = "s3://bucket/optional/prefix?endpoint=http://host:port&region=eu-west-1"``.

Objects are keyed like the disk store's files, ``<prefix>/<aa>/<bb>/<name>`` (``<name>.pce`` when
encrypted): the same staging code, the same ``blobcrypt`` format and per-tenant keys, so a blob
moved between stores opens the same. Only where the bytes end up differs:

- **Create if absent**: every object is written with ``If-None-Match: *`` (on the single PUT, or on
  CompleteMultipartUpload above ``MULTIPART`` bytes); a 412 means another writer put the same
  content first, which for content-addressed names is success. Concurrent puts leave one object.
- **Streamed both ways**: a put is staged (hashed, encrypted) into a local file, then sent in
  ``PART``-sized pieces; a read is fetched in 1 MiB chunks into a private spool file (unlinked
  at once), checked, then handed out. A damaged object is refused (``BlobDamaged``) before its
  first byte: unencrypted objects against their SHA-256 (kept in the object's metadata, and the
  caller's digest when given), encrypted ones by their authenticated trailer, bound to the name.
- **Credentials** come from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
  ``AWS_PROFILE``, …, as botocore finds them), never from the URL, and are never logged.

The client is aiobotocore, run on a private event loop thread: the port is synchronous (the kernel
calls it from worker threads), and aiobotocore exposes S3's API call for call, so the conditional
``IfNoneMatch`` on PutObject and CompleteMultipartUpload, the metadata and multipart control are
plain parameters. s3fs (fsspec's file system on the same aiobotocore) would hide those behind a
file-system model and add a layer of caching we would have to turn off. Tests run it against
``moto[server]`` on loopback (MinIO is not installable here).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import parse_qsl, urlsplit

import attrs

from paperchain_sdk import ConfigError, NotFoundError, PaperchainError

from . import blobcrypt
from .blobcrypt import BlobDamaged
from .blobs import SUFFIX, DiskBlobStore, Staged, _CheckedReader

MULTIPART = 16 << 20  # objects above this go up in parts (S3 wants parts of at least 5 MiB)
PART = 8 << 20
_CHUNK = blobcrypt.CHUNK
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,200}")
_HEADER_MAX = len(blobcrypt.MAGIC) + 10 + 0xFFFF + 16
_FIX_URL = 'write it as blob_url = "s3://bucket?endpoint=http://127.0.0.1:9000&region=us-east-1" (or PAPERCHAIN_BLOB_URL)'


class BlobStoreUnavailable(PaperchainError):
    """The object store did not answer as it should (down, refusing our credentials, …)."""


@attrs.frozen
class BlobUrl:
    bucket: str
    prefix: str = ""  # "" or "some/folder/"
    endpoint: str | None = None  # None: AWS itself
    region: str = "us-east-1"

    def __str__(self) -> str:  # for messages: no secrets in it (the URL may hold none)
        where = f" at {self.endpoint}" if self.endpoint else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"


def parse_blob_url(url: str, *, where: str = "blob_url") -> BlobUrl:
    """The checked ``blob_url``; ConfigError naming what is wrong and how to write it."""
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ConfigError(f"{where}: {url!r} is not an s3:// URL (the only object store so far).", hint=_FIX_URL)
    if "@" in parts.netloc:
        raise ConfigError(f"{where} must not hold credentials.",
                          hint="remove them from the URL and set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    if not _BUCKET.fullmatch(parts.hostname or "") or ".." in (parts.hostname or ""):
        raise ConfigError(f"{where}: {parts.netloc!r} is not a bucket name (3 to 63 lowercase letters, digits, "
                          "dots and hyphens).", hint=_FIX_URL)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = set(query) - {"endpoint", "region"}
    if unknown:
        raise ConfigError(f"{where}: unknown parameter(s) {', '.join(sorted(unknown))}.",
                          hint="the parameters are endpoint and region")
    endpoint = query.get("endpoint") or None
    if endpoint is not None:
        target = urlsplit(endpoint)
        if target.scheme not in ("http", "https") or not target.hostname:
            raise ConfigError(f"{where}: endpoint={endpoint!r} is not an http:// or https:// address.", hint=_FIX_URL)
    region = query.get("region") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    prefix = parts.path.strip("/")
    return BlobUrl(parts.hostname or "", prefix + "/" if prefix else "", endpoint, region)


class _Client:
    """An aiobotocore S3 client on its own event loop thread, called synchronously."""

    def __init__(self, url: BlobUrl):
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        self.url = url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="paperchain-s3", daemon=True)
        self._thread.start()
        self._stack = contextlib.AsyncExitStack()
        config = AioConfig(connect_timeout=5, read_timeout=60, retries={"mode": "standard", "max_attempts": 3},
                           s3={"addressing_style": "path"} if url.endpoint else None, max_pool_connections=16)
        creator = get_session().create_client("s3", region_name=url.region, endpoint_url=url.endpoint, config=config)
        try:
            self.s3 = self.run(self._stack.enter_async_context(creator))
        except BaseException:
            self.close()
            raise

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def call(self, operation: str, **kwargs) -> Any:
        """``s3.<operation>(Bucket=…, **kwargs)``; a store that does not answer is BlobStoreUnavailable."""
        from botocore.exceptions import BotoCoreError

        try:
            return self.run(getattr(self.s3, operation)(Bucket=self.url.bucket, **kwargs))
        except BotoCoreError as exc:
            raise _unavailable(self.url, exc) from None

    def close(self) -> None:
        if self._loop.is_running():
            with contextlib.suppress(Exception):
                self.run(self._stack.aclose())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()


def _unavailable(url: BlobUrl, exc: Exception) -> PaperchainError:
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return ConfigError(f"no credentials for the blob store {url}.",
                           hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for paperchain")
    if isinstance(exc, EndpointConnectionError):
        return ConfigError(f"nothing answers at the blob store's endpoint {url.endpoint or 'AWS S3'}.",
                           hint="start the object store, or fix endpoint= in blob_url (or PAPERCHAIN_BLOB_URL)")
    code = f" {_code(exc)}" if _code(exc) else ""
    return BlobStoreUnavailable(f"the blob store {url} failed: {type(exc).__name__}{code}.",
                                hint="check that the object store is up and reachable")


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _status(exc: Exception) -> int:
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def check_bucket(blob_url: str) -> BlobUrl:
    """Startup's check: the URL is well formed and its bucket is there and ours to use; else a
    ConfigError saying what to fix."""
    from botocore.exceptions import ClientError

    url = parse_blob_url(blob_url)
    client = _Client(url)
    try:
        client.call("head_bucket")
    except ClientError as exc:
        status = _status(exc)
        if status == 404 or _code(exc) in ("404", "NoSuchBucket"):
            raise ConfigError(f"the bucket {url.bucket!r} does not exist at {url.endpoint or 'AWS S3'}.",
                              hint=f"create it (aws s3 mb s3://{url.bucket}) or fix the bucket in blob_url") from None
        if status in (401, 403):
            raise ConfigError(f"the blob store refuses our credentials for the bucket {url.bucket!r}.",
                              hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a key allowed to use it") from None
        raise _unavailable(url, exc) from None
    finally:
        client.close()
    return url


class S3BlobStore(DiskBlobStore):
    """Staging (hashing, encrypting, the plaintext copies) is the disk store's, in a local scratch
    folder; filing, reading and deleting go to the bucket."""

    def __init__(self, blob_url: str, scratch: Path, *, keyring=None, encrypt: bool = False,
                 plain_dir: Path | None = None, plain_limit: int = 2 << 30):
        super().__init__(scratch, keyring=keyring, encrypt=encrypt, plain_dir=plain_dir, plain_limit=plain_limit)
        self.url = parse_blob_url(blob_url)
        self._client = _Client(self.url)

    def close(self) -> None:
        self._client.close()
        super().close()

    # -- where blobs are -------------------------------------------------------------------------

    def _key(self, name: str, encrypted: bool) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a blob name")
        return f"{self.url.prefix}{name[:2]}/{name[2:4]}/{name}{SUFFIX if encrypted else ''}"

    def _head(self, key: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return self._client.call("head_object", Key=key)
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise _unavailable(self.url, exc) from None

    def stored_path(self, name: str) -> Path | None:
        raise NotImplementedError("an S3 blob has no local file: use open() or path()")

    def _stored_key(self, name: str) -> tuple[str, bool] | None:
        """``(object key, encrypted)`` of blob ``name``, or None."""
        for encrypted in (True, False):
            if self._head(self._key(name, encrypted)) is not None:
                return self._key(name, encrypted), encrypted
        return None

    def exists(self, name: str) -> bool:
        return self._stored_key(name) is not None

    def is_encrypted(self, name: str) -> bool:
        stored = self._stored_key(name)
        return stored is not None and stored[1]

    def path(self, name: str) -> Path:
        """A readable plaintext file of blob ``name`` (a transient private copy); a path that does
        not exist if there is no such blob."""
        cached = self.plain.get(name)
        if cached is not None:
            return cached
        try:
            reader = self.open(name)
        except NotFoundError:
            return self.plain.slot(name)
        fd, tmp = tempfile.mkstemp(dir=self.plain.spool, prefix="copy-")
        try:
            with os.fdopen(fd, "wb") as out, reader:
                shutil.copyfileobj(reader, out, _CHUNK)
            return self.plain.add(name, tmp)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    # -- writing --------------------------------------------------------------------------------

    def commit(self, staged: Staged, name: str) -> Path:
        """File a staged blob as ``name`` in the bucket (create if absent: an existing object of
        that name wins); return a readable plaintext path of it."""
        try:
            written = False
            if not self.exists(name):
                if self.encrypt:
                    blobcrypt.seal(staged.tmp, self._key_for, name)
                written = self._create(staged.tmp, self._key(name, self.encrypt), staged.sha256, staged.size)
            keep = staged.plain if self.encrypt else staged.tmp  # unencrypted: the staged file is the plaintext
            if written and keep and self.plain.get(name) is None:  # the copy of what is stored, not of a loser
                with contextlib.suppress(OSError):
                    self.plain.add(name, keep)
            return self.path(name)
        finally:
            self.discard(staged)

    def _create(self, file: str, key: str, sha256: str, size: int, *, replace: bool = False) -> bool:
        """Send ``file`` as ``key`` unless it exists (``replace``: whether or not); say whether it
        was written."""
        from botocore.exceptions import ClientError

        condition = {} if replace else {"IfNoneMatch": "*"}
        meta = {"Metadata": {"sha256": sha256, "size": str(size)}}
        try:
            if os.path.getsize(file) <= MULTIPART:
                with open(file, "rb") as fh:
                    self._client.call("put_object", Key=key, Body=fh.read(), **meta, **condition)
            else:
                self._multipart(file, key, meta, condition)
        except ClientError as exc:
            if _status(exc) == 412:
                return False  # another writer filed the same content first
            if _status(exc) == 409 and self._head(key) is not None:
                return False  # a concurrent conditional write won (S3 answers 409 to the loser at times)
            raise _unavailable(self.url, exc) from None
        return True

    def _multipart(self, file: str, key: str, meta: dict, condition: dict) -> None:
        upload = self._client.call("create_multipart_upload", Key=key, **meta)["UploadId"]
        try:
            parts: list[dict] = []
            with open(file, "rb") as fh:
                while piece := fh.read(PART):  # one part in memory at a time
                    number = len(parts) + 1
                    sent = self._client.call("upload_part", Key=key, UploadId=upload, PartNumber=number, Body=piece)
                    parts.append({"ETag": sent["ETag"], "PartNumber": number})
            self._client.call("complete_multipart_upload", Key=key, UploadId=upload,
                              MultipartUpload={"Parts": parts}, **condition)
        except BaseException:
            with contextlib.suppress(Exception):
                self._client.call("abort_multipart_upload", Key=key, UploadId=upload)
            raise

    def delete(self, name: str) -> bool:
        self.plain.drop(name)
        found = False
        for encrypted in (True, False):
            key = self._key(name, encrypted)
            if self._head(key) is not None:
                self._client.call("delete_object", Key=key)
                found = True
        return found

    # -- reading --------------------------------------------------------------------------------

    def open(self, name: str, *, sha256: str | None = None) -> BinaryIO:
        """Blob ``name``'s plaintext: fetched into a private spool file and checked (against
        ``sha256`` when given, and the digest it was stored with) before the first byte is handed
        out; BlobDamaged when it does not match, NotFoundError when there is no such blob."""
        from botocore.exceptions import ClientError

        for encrypted in (True, False):
            key = self._key(name, encrypted)
            try:
                got = self._client.call("get_object", Key=key)
            except ClientError as exc:
                if _status(exc) == 404:
                    continue
                raise _unavailable(self.url, exc) from None
            where = f"s3://{self.url.bucket}/{key}"
            fh, digest = self._spool(got["Body"])
            try:
                if encrypted:
                    return cast(BinaryIO, blobcrypt.DecryptingReader(fh, where, self._key_for, sha256, name=name))
                stored = got.get("Metadata", {}).get("sha256")
                for expected in (stored, sha256) if sha256 else (stored,):
                    if expected != digest:
                        what = "has no SHA-256 in its metadata" if expected is None else \
                            f"does not match its SHA-256 (it holds {digest}, not {expected})"
                        raise BlobDamaged(f"{where} {what}.", hint="restore the bucket's object from a backup")
                return cast(BinaryIO, _CheckedReader(fh, where, None))  # checked whole above
            except BaseException:
                fh.close()
                raise
        raise NotFoundError(f"the blob {name} is missing from the blob store {self.url}.",
                            hint="restore the bucket from a backup")

    def _spool(self, body) -> tuple[Any, str]:
        """The object's bytes in a private file (already unlinked), and their SHA-256."""
        digest = hashlib.sha256()
        fh = tempfile.TemporaryFile(dir=self.plain.spool)
        try:
            with contextlib.closing(body):
                while chunk := self._client.run(body.read(_CHUNK)):
                    digest.update(chunk)
                    fh.write(chunk)
            fh.seek(0)
        except BaseException:
            fh.close()
            raise
        return fh, digest.hexdigest()

    def export(self, name: str, destination: Path) -> Path:
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.unlink(missing_ok=True)
        with self.open(name) as reader, open(destination, "wb") as out:
            shutil.copyfileobj(reader, out, _CHUNK)
        return destination

    # -- migration and rotation -----------------------------------------------------------------

    def _objects(self) -> Iterator[dict]:
        token: dict = {}
        while True:
            page = self._client.call("list_objects_v2", Prefix=self.url.prefix, **token)
            yield from page.get("Contents", [])
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def names(self) -> Iterator[tuple[str, bool]]:
        for item in self._objects():
            leaf = item["Key"].rsplit("/", 1)[-1]
            encrypted = leaf.endswith(SUFFIX)
            yield (leaf[: -len(SUFFIX)] if encrypted else leaf), encrypted

    def usage(self) -> tuple[int, int]:
        """``(bytes, objects)`` the store holds in the bucket (``root`` is only the local scratch
        folder here: a page that sizes the store must ask this)."""
        sizes = [item["Size"] for item in self._objects()]
        return sum(sizes), len(sizes)

    def key_version(self, name: str) -> tuple[str, int] | None:
        if not self.is_encrypted(name):
            return None
        key = self._key(name, True)
        got = self._client.call("get_object", Key=key, Range=f"bytes=0-{_HEADER_MAX - 1}")
        head = self._client.run(got["Body"].read())
        _, tenant, version, _, _ = blobcrypt.read_header(io.BytesIO(head), f"s3://{self.url.bucket}/{key}")
        return tenant, version

    def rewrite(self, name: str, tenant: str, *, sha256: str | None = None) -> None:
        """Encrypt blob ``name`` under ``tenant``'s newest data key, replacing what was stored (the
        encrypted object is in place before a plaintext original is deleted)."""
        was_encrypted = self.is_encrypted(name)
        reader: Any = self.open(name, sha256=sha256)
        with reader:
            version, key = self.keyring.data_key(tenant)
            fd, tmp = tempfile.mkstemp(dir=self._tmp)
            try:
                with os.fdopen(fd, "wb") as out:
                    digest, size = blobcrypt.encrypt_stream(reader, out, tenant=tenant or "", version=version,
                                                            data_key=key, name=name)
                self._create(tmp, self._key(name, True), digest, size, replace=True)
            finally:
                os.unlink(tmp)
        if not was_encrypted:
            self._client.call("delete_object", Key=self._key(name, False))
