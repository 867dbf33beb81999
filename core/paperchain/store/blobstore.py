"""The blob store port: what the kernel and components may do with content-addressed bytes.

A blob is named by its SHA-256 (or a name derived from it, such as a document's id keyed per
tenant). Writing is put-if-absent: the same content put twice is stored once. Everything is
streamed, so a blob of any size is never held in memory, and every read is checked against the
content's SHA-256. ``store.blobs.DiskBlobStore`` (a folder on local disk, encrypted per tenant)
is the first implementation; an object store (S3) can be another behind the same port.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable


@runtime_checkable
class BlobStore(Protocol):
    def put(self, source: BinaryIO, *, tenant: str = "") -> tuple[str, int]:
        """Stream ``source`` into the store under its SHA-256 unless that blob is there already;
        return ``(sha256, size)``. ``tenant`` chooses whose key encrypts it, where blobs are encrypted."""

    def put_bytes(self, data: bytes, *, tenant: str = "") -> tuple[str, int, Path]:
        """``put`` for bytes in memory; return ``(sha256, size, path)`` with ``path`` as ``path`` gives."""

    def put_file(self, source: str | Path, *, move: bool = False, tenant: str = "") -> tuple[str, int, Path]:
        """``put`` for a file (``move``: the store takes the file over); return ``(sha256, size, path)``."""

    def stage(self, source: str | Path, *, move: bool = False, tenant: str = "") -> Any:
        """The first half of a put whose name is chosen from the digest (a document's id is keyed
        per tenant): take the file in, hashing it; the result has ``sha256`` and ``size``."""

    def commit(self, staged: Any, name: str) -> Path:
        """File a staged blob as ``name`` (put-if-absent: an existing blob of that name wins);
        return a readable plaintext path of it, as ``path`` gives."""

    def discard(self, staged: Any) -> None:
        """Drop a staged blob that is not wanted after all."""

    def open(self, name: str, *, sha256: str | None = None) -> BinaryIO:
        """The blob's plaintext as a stream, checked against ``sha256`` (when given) as it is read;
        NotFoundError when there is no such blob."""

    def exists(self, name: str) -> bool:
        """Whether the store holds the blob."""

    def delete(self, name: str) -> bool:
        """Remove the blob (and any plaintext copy of it); say whether there was one. Callers
        delete only blobs nothing refers to any more: content addressing shares them."""

    def path(self, name: str) -> Path:
        """A readable plaintext file of the blob (a transient private copy where blobs are encrypted
        or remote: read it soon), for components that need a path; one that does not exist if there
        is no such blob."""

    def read_bytes(self, name: str) -> bytes:
        """All the blob's bytes at once; prefer ``open`` for large blobs."""

    def usage(self) -> tuple[int, int]:
        """``(bytes, blobs)`` the store holds (blocking: run it in a thread)."""

    def close(self) -> None:
        """Drop transient plaintext copies; the store is not used after."""
