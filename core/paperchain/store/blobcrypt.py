"""The encrypted blob format: AES-256-GCM in chunks, streamed both ways.

A file is a header, then one record per plaintext chunk of ``chunk`` bytes (the last may be
shorter), then a trailer record holding the plaintext's SHA-256 and size::

    header   b"PCBLOB1\\n" | key version (u32) | chunk (u32) | tenant length (u16) | tenant | salt (16)
    record i AES-256-GCM(file key, nonce = i (u64) | 0 (u32), aad = header) -> ciphertext | tag
    trailer  AES-256-GCM(file key, nonce = n (u64) | 1 (u32), aad = header)(sha256 | size (u64)) -> 56 bytes

The file key is HMAC-SHA256(the tenant's data key, salt), a fresh random salt per file, so no
(key, nonce) pair ever repeats. Each record's position and the trailer's "final" flag are in its
nonce: reordering, dropping or truncating records fails authentication, and a reader hashes what
it decrypts and checks it against the trailer before it reports the end of the file.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Callable

from Crypto.Cipher import AES

from paperchain_sdk import PaperchainError

MAGIC = b"PCBLOB1\n"
CHUNK = 1 << 20
TAG = 16
TRAILER = 40 + TAG
_FIXED = struct.Struct(">IIH")

# Hashing runs beside encryption: both release the GIL, so a stream costs about the slower of the
# two rather than their sum.
_HASHER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="paperchain-blob-hash")


class BlobDamaged(PaperchainError):
    """A stored blob that does not authenticate or does not match its digest."""


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(8, "big") + (b"\0\0\0\1" if final else b"\0\0\0\0")


def _file_key(data_key: bytes, salt: bytes) -> bytes:
    return hmac.new(data_key, b"paperchain blob|" + salt, hashlib.sha256).digest()


def header(tenant: str, version: int, salt: bytes, chunk: int = CHUNK) -> bytes:
    name = tenant.encode()
    return MAGIC + _FIXED.pack(version, chunk, len(name)) + name + salt


def read_header(fh: BinaryIO, where: str) -> tuple[bytes, str, int, int, bytes]:
    """``(header bytes, tenant, key version, chunk, salt)`` of an encrypted blob open at offset 0."""
    start = fh.read(len(MAGIC) + _FIXED.size)
    if len(start) < len(MAGIC) + _FIXED.size or not start.startswith(MAGIC):
        raise BlobDamaged(f"{where} is not an encrypted blob (its header is missing).",
                          hint="restore the data directory's blobs from a backup")
    version, chunk, length = _FIXED.unpack(start[len(MAGIC):])
    rest = fh.read(length + 16)
    if len(rest) != length + 16 or not 0 < chunk <= 64 << 20:
        raise BlobDamaged(f"{where} has a damaged header.", hint="restore the data directory's blobs from a backup")
    return start + rest, rest[:length].decode("utf-8", "replace"), version, chunk, rest[length:]


def encrypt_stream(src: BinaryIO, out: BinaryIO, *, tenant: str, version: int, data_key: bytes,
                   on_chunk: Callable[[bytes], None] | None = None) -> tuple[str, int]:
    """Encrypt ``src`` into ``out`` chunk by chunk; return the plaintext's ``(sha256, size)``.
    ``on_chunk`` sees each plaintext chunk (e.g. to keep a copy)."""
    salt = os.urandom(16)
    head = header(tenant, version, salt)
    key = _file_key(data_key, salt)
    out.write(head)
    digest, size, index = hashlib.sha256(), 0, 0
    hashing = None
    while chunk := src.read(CHUNK):
        if hashing is not None:
            hashing.result()
        hashing = _HASHER.submit(digest.update, chunk)
        cipher = AES.new(key, AES.MODE_GCM, nonce=_nonce(index, False))
        cipher.update(head)
        ciphertext, tag = cipher.encrypt_and_digest(chunk)
        out.write(ciphertext)
        out.write(tag)
        if on_chunk is not None:
            on_chunk(chunk)
        size += len(chunk)
        index += 1
    if hashing is not None:
        hashing.result()
    sha = digest.digest()
    cipher = AES.new(key, AES.MODE_GCM, nonce=_nonce(index, True))
    cipher.update(head)
    ciphertext, tag = cipher.encrypt_and_digest(sha + size.to_bytes(8, "big"))
    out.write(ciphertext + tag)
    return sha.hex(), size


class DecryptingReader(io.RawIOBase):
    """The plaintext of an encrypted blob, read in order, authenticated record by record; the end
    of the file is reported only after the whole plaintext matched the trailer's SHA-256."""

    def __init__(self, fh: BinaryIO, where: str, key_for: Callable[[str, int], bytes], expected: str | None = None):
        self._fh, self._where, self._expected = fh, where, expected
        self._head, self.tenant, self.version, self._chunk, salt = read_header(fh, where)
        try:
            data_key = key_for(self.tenant, self.version)
        except PaperchainError as exc:  # a damaged header, or a database that is not this store's
            raise BlobDamaged(f"{where} cannot be read: {exc.message}", hint=exc.hint) from None
        self._key = _file_key(data_key, salt)
        body = os.fstat(fh.fileno()).st_size - len(self._head) - TRAILER
        record = self._chunk + TAG
        self._records, last = divmod(body, record)
        if body < 0 or 0 < last <= TAG:
            raise BlobDamaged(f"{where} is truncated.", hint="restore the data directory's blobs from a backup")
        self._records += bool(last)
        self._trailer_at = len(self._head) + body
        self.sha256, self.size = self._trailer()
        if expected and expected != self.sha256:
            raise BlobDamaged(f"{where} holds other content than it should (SHA-256 {self.sha256}, not {expected}).",
                              hint="restore the data directory's blobs from a backup")
        fh.seek(len(self._head))
        self._index, self._buffer, self._digest, self._done = 0, memoryview(b""), hashlib.sha256(), False
        self._hashing = None

    def _open(self, index: int, final: bool, data: bytes) -> bytes:
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=_nonce(index, final))
        cipher.update(self._head)
        try:
            return cipher.decrypt_and_verify(data[:-TAG], data[-TAG:])
        except ValueError:
            raise BlobDamaged(f"{self._where} does not authenticate (record {index}): it was changed or damaged, "
                              "or the key is wrong.", hint="restore the data directory's blobs from a backup") from None

    def _trailer(self) -> tuple[str, int]:
        self._fh.seek(self._trailer_at)
        plain = self._open(self._records, True, self._fh.read(TRAILER))
        return plain[:32].hex(), int.from_bytes(plain[32:], "big")

    def readable(self) -> bool:
        return True

    def read_chunk(self) -> bytes:
        """The next whole plaintext chunk (b"" at the verified end)."""
        if self._buffer:
            chunk, self._buffer = bytes(self._buffer), memoryview(b"")
            return chunk
        if self._hashing is not None:
            self._hashing.result()
            self._hashing = None
        if self._index == self._records:
            if not self._done:
                if self._digest.hexdigest() != self.sha256:
                    raise BlobDamaged(f"{self._where} does not match its SHA-256.",
                                      hint="restore the data directory's blobs from a backup")
                self._done = True
            return b""
        start = len(self._head) + self._index * (self._chunk + TAG)
        data = self._fh.read(min(self._chunk + TAG, self._trailer_at - start))
        chunk = self._open(self._index, False, data)
        self._index += 1
        self._hashing = _HASHER.submit(self._digest.update, chunk)  # beside the next decryption
        return chunk

    def readinto(self, buffer) -> int:
        if not self._buffer:
            self._buffer = memoryview(self.read_chunk())
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()
