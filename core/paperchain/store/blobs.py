"""The blob store on local disk (the first implementation of the ``blobstore.BlobStore`` port):
bytes live at ``<root>/<aa>/<bb>/<name>``.

A blob's name is its SHA-256, or a name derived from it (a document's id, keyed per tenant). The
same content put twice under one name is stored once. With encryption on (the default for a new
data directory) a blob is kept as ``<name>.pce``, AES-256-GCM under its tenant's data key (see
``blobcrypt``); blobs written before stay readable as they are until ``paperchain keys
encrypt-existing`` encrypts them. Everything is streamed in 1 MiB chunks, so a document of any size
is never held in memory, and every read is checked against the content's SHA-256.

``path(name)`` gives a readable plaintext file (for components that need a path): the blob itself
when it is not encrypted, else a transient copy in a private folder (``plaintext.PlainCache``).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import attrs

from paperchain_sdk import NotFoundError

from . import blobcrypt
from .blobcrypt import BlobDamaged
from .plaintext import PlainCache

_CHUNK = blobcrypt.CHUNK
SUFFIX = ".pce"


@attrs.frozen
class Staged:
    tmp: str
    sha256: str
    size: int
    plain: str | None = None  # a plaintext copy the store may keep for ``path`` (a moved source)


class DiskBlobStore:
    def __init__(self, root: Path, *, keyring=None, encrypt: bool = False, plain_dir: Path | None = None,
                 plain_limit: int = 2 << 30):
        self.root = Path(root)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        self.keyring = keyring
        self.encrypt = encrypt
        if encrypt and keyring is None:
            raise ValueError("an encrypting blob store needs a keyring")
        if encrypt:
            keyring.data_key("")  # made now: artifacts are put from the event loop, where a write would stall it
        self.plain = PlainCache(plain_dir or self.root.parent / "plain", limit=plain_limit)

    @property
    def spool(self) -> Path:
        """A private (0700) folder for plaintext on its way into the store, e.g. an upload."""
        return self.plain.spool

    def close(self) -> None:
        self.plain.close()

    # -- where blobs are -------------------------------------------------------------------------

    def _location(self, name: str) -> Path:
        return self.root / name[:2] / name[2:4] / name

    def stored_path(self, name: str) -> Path | None:
        """The file holding blob ``name`` as stored (encrypted or not), or None if there is none."""
        plain = self._location(name)
        for candidate in (plain.with_name(name + SUFFIX), plain):
            if candidate.exists():
                return candidate
        return None

    def exists(self, name: str) -> bool:
        return self.stored_path(name) is not None

    def is_encrypted(self, name: str) -> bool:
        stored = self.stored_path(name)
        return stored is not None and stored.name.endswith(SUFFIX)

    def path(self, name: str) -> Path:
        """A readable plaintext file of blob ``name``; a path that does not exist if there is no
        such blob. An encrypted blob is decrypted (and checked) into the private folder first."""
        stored = self.stored_path(name)
        if stored is None or not stored.name.endswith(SUFFIX):
            return stored or self._location(name)
        cached = self.plain.get(name)
        if cached is not None:
            return cached
        fd, tmp = tempfile.mkstemp(dir=self.plain.spool, prefix="copy-")
        try:
            with os.fdopen(fd, "wb") as out, self.open(name) as reader:
                shutil.copyfileobj(reader, out, _CHUNK)
            return self.plain.add(name, tmp)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    # -- writing --------------------------------------------------------------------------------

    def put_file(self, source: str | os.PathLike, *, move: bool = False, tenant: str = "") -> tuple[str, int, Path]:
        """Store a file's content under its SHA-256; return ``(sha256, size, plaintext path)``.

        With ``move`` the source is consumed (kept as the plaintext copy when encrypting).
        """
        staged = self.stage(source, move=move, tenant=tenant)
        return staged.sha256, staged.size, self.commit(staged, staged.sha256)

    def put(self, source: BinaryIO, *, tenant: str = "") -> tuple[str, int]:
        """Stream ``source`` in under its SHA-256, kept once (an existing blob of that digest wins)."""
        staged = self._stage_stream(source, tenant)
        if self.exists(staged.sha256):
            self.discard(staged)
        else:
            self.commit(staged, staged.sha256)
        return staged.sha256, staged.size

    def put_bytes(self, data: bytes, *, tenant: str = "") -> tuple[str, int, Path]:
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            self.commit(self._stage_stream(io.BytesIO(data), tenant, keep_plain=True), digest)
        return digest, len(data), self.path(digest)

    def stage(self, source: str | os.PathLike, *, move: bool = False, tenant: str = "") -> Staged:
        """Copy a file into the store's scratch folder (encrypted under ``tenant``'s data key when
        encryption is on), hashing it on the way; ``commit`` then files it under a name chosen
        from its digest, or ``discard`` drops it. When encrypting, the plaintext is kept as the
        transient copy ``path`` gives (a moved source is renamed there; otherwise it is written
        beside the encrypted one, which costs less than decrypting it again for the first reader)."""
        source = Path(source)
        try:
            with open(source, "rb") as src:
                staged = self._stage_stream(src, tenant, keep_plain=not move)
        except BaseException:
            if move:
                source.unlink(missing_ok=True)
            raise
        if move and self.encrypt:
            keep = self.plain.spool / f"staged-{uuid.uuid4().hex}"
            try:
                os.replace(source, keep)
            except OSError:  # another filesystem: this plaintext is not worth a copy
                source.unlink(missing_ok=True)
                return staged
            return attrs.evolve(staged, plain=str(keep))
        if move:
            source.unlink(missing_ok=True)
        return staged

    def _stage_stream(self, src: BinaryIO, tenant: str, *, keep_plain: bool = False) -> Staged:
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp)
        plain = None
        try:
            with os.fdopen(fd, "wb") as out:
                if not self.encrypt:
                    digest, size = _copy_hashing(src, out)
                    return Staged(tmp_name, digest, size)
                version, key = self.keyring.data_key(tenant)
                if keep_plain:
                    plain_fd, plain = tempfile.mkstemp(dir=self.plain.spool, prefix="staged-")
                    with os.fdopen(plain_fd, "wb") as copy:
                        digest, size = blobcrypt.encrypt_stream(src, out, tenant=tenant or "", version=version,
                                                                data_key=key, on_chunk=copy.write)
                else:
                    digest, size = blobcrypt.encrypt_stream(src, out, tenant=tenant or "", version=version, data_key=key)
            return Staged(tmp_name, digest, size, plain)
        except BaseException:
            for leftover in (tmp_name, plain):
                if leftover and os.path.exists(leftover):
                    os.unlink(leftover)
            raise

    def commit(self, staged: Staged, name: str) -> Path:
        """File a staged blob as ``name`` (kept once: an existing blob of that name wins); return a
        readable plaintext path of it."""
        try:
            if not self.exists(name):
                target = self._location(name)
                if self.encrypt:
                    target = target.with_name(name + SUFFIX)
                    blobcrypt.seal(staged.tmp, self._key_for, name)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(staged.tmp, 0o444)  # content-addressed: never edited in place
                os.replace(staged.tmp, target)
            if staged.plain and self.is_encrypted(name) and self.plain.get(name) is None:
                self.plain.add(name, staged.plain)
            return self.path(name)
        finally:
            self.discard(staged)

    def delete(self, name: str) -> bool:
        """Remove blob ``name`` and its transient plaintext copy; say whether it was stored."""
        self.plain.drop(name)
        stored = self.stored_path(name)
        if stored is None:
            return False
        stored.unlink(missing_ok=True)
        return True

    def discard(self, staged: Staged) -> None:
        for leftover in (staged.tmp, staged.plain):
            if leftover and os.path.exists(leftover):
                os.unlink(leftover)

    # -- reading --------------------------------------------------------------------------------

    def open(self, name: str, *, sha256: str | None = None) -> BinaryIO:
        """Stream blob ``name``'s plaintext, checked against its SHA-256 (``sha256`` when given;
        an encrypted blob also carries its own): a mismatch raises BlobDamaged, at the latest when
        the end is read. The reader's ``size`` is the plaintext's size."""
        stored = self.stored_path(name)
        if stored is None:
            raise NotFoundError(f"the blob {name} is missing from the blob store.",
                                hint="restore the data directory from a backup")
        fh = open(stored, "rb")
        try:
            if stored.name.endswith(SUFFIX):
                return blobcrypt.DecryptingReader(fh, str(stored), self._key_for, sha256, name=name)
            return _CheckedReader(fh, str(stored), sha256)
        except BaseException:
            fh.close()
            raise

    def _key_for(self, tenant: str, version: int) -> bytes:
        return self.keyring.data_key(tenant, version)[1]

    def read_bytes(self, name: str) -> bytes:
        with self.open(name) as reader:
            return reader.read()

    def export(self, name: str, destination: Path) -> Path:
        """Place a blob's plaintext at a friendly path (a hard link to an unencrypted blob when
        possible, else a checked copy)."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        if destination.exists():
            destination.unlink()
        if not self.is_encrypted(name):
            try:
                os.link(self.path(name), destination)
                return destination
            except OSError:
                pass
        with self.open(name) as reader, open(destination, "wb") as out:
            shutil.copyfileobj(reader, out, _CHUNK)
        return destination

    # -- migration and rotation -----------------------------------------------------------------

    def usage(self) -> tuple[int, int]:
        """``(bytes, blobs)`` stored (a walk of the folder: run it in a thread)."""
        total = count = 0
        for path in self.root.glob("??/??/*"):
            try:
                total += path.stat().st_size
                count += 1
            except OSError:  # removed while we walked
                continue
        return total, count

    def names(self) -> Iterator[tuple[str, bool]]:
        """Every stored blob as ``(name, encrypted)``."""
        for path in sorted(self.root.glob("??/??/*")):
            if path.is_file():
                encrypted = path.name.endswith(SUFFIX)
                yield (path.name[: -len(SUFFIX)] if encrypted else path.name), encrypted

    def key_version(self, name: str) -> tuple[str, int] | None:
        """``(tenant, data key version)`` of an encrypted blob; None for an unencrypted one."""
        stored = self.stored_path(name)
        if stored is None or not stored.name.endswith(SUFFIX):
            return None
        with open(stored, "rb") as fh:
            _, tenant, version, _, _ = blobcrypt.read_header(fh, str(stored))
        return tenant, version

    def rewrite(self, name: str, tenant: str, *, sha256: str | None = None) -> None:
        """Encrypt blob ``name`` under ``tenant``'s newest data key (from its plaintext, checked
        against ``sha256`` when given), replacing what was stored. A stop at any moment leaves one
        readable copy."""
        stored = self.stored_path(name)
        with self.open(name, sha256=sha256) as reader:
            version, key = self.keyring.data_key(tenant)
            fd, tmp = tempfile.mkstemp(dir=self._tmp)
            try:
                with os.fdopen(fd, "wb") as out:
                    blobcrypt.encrypt_stream(reader, out, tenant=tenant or "", version=version, data_key=key,
                                             name=name)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(tmp, 0o444)
                os.replace(tmp, self._location(name).with_name(name + SUFFIX))
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        if not stored.name.endswith(SUFFIX):
            stored.unlink()  # the plaintext original, now that its encrypted copy is in place


class _CheckedReader(io.RawIOBase):
    """An unencrypted blob, hashed as it is read and checked at the end when its digest is known."""

    def __init__(self, fh: BinaryIO, where: str, expected: str | None):
        self._fh, self._where, self._expected = fh, where, expected
        self._digest = hashlib.sha256() if expected else None
        self.size = os.fstat(fh.fileno()).st_size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        if self._digest is not None:
            if data:
                self._digest.update(data)
            if (size is None or size < 0 or not data) and size != 0 and self._digest.hexdigest() != self._expected:
                raise BlobDamaged(f"{self._where} does not match its SHA-256.",
                                  hint="restore the data directory's blobs from a backup")
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fh.close()
        super().close()


def _copy_hashing(src: BinaryIO, out: BinaryIO) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := src.read(_CHUNK):
        digest.update(chunk)
        out.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size

