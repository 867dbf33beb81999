"""The encrypted blob format: AES-256-GCM in chunks, streamed both ways.

A file is a header, then one record per plaintext chunk of ``chunk`` bytes (the last may be
shorter), then a trailer record holding the plaintext's SHA-256 and size::

    header   b"PCBLOB1\\n" | key version (u32) | chunk (u32) | tenant length (u16) | tenant | salt (16)
    record i AES-256-GCM(file key, nonce = i (u64) | 0 (u32), aad = header) -> ciphertext | tag
    trailer  AES-256-GCM(file key, nonce = n (u64) | 2 (u32), aad = header | blob name)(sha256 | size (u64)) -> 56 bytes

(A file is written before its name is known with a trailer of kind 1 and no name, then sealed.)

The file key is HMAC-SHA256(the tenant's data key, salt), a fresh random salt per file, so no
(key, nonce) pair ever repeats. Each record's position and the trailer's "final" flag are in its
nonce: reordering, dropping or truncating records fails authentication, and the trailer is bound
to the blob's name, so a file put in another blob's place does not open. A reader checks the
trailer's SHA-256 against the digest it expects (a document's, an artifact's name) when it opens a
blob: the tags then prove every record holds exactly what was hashed.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import io
import os
import struct
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from paperchain_sdk import PaperchainError

MAGIC = b"PCBLOB1\n"
CHUNK = 1 << 20
TAG = 16
TRAILER = 40 + TAG
_FIXED = struct.Struct(">IIH")

_HASHER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="paperchain-blob-hash")


class _Buffers:
    """Spare record buffers, reused across blobs: a fresh megabyte per record costs more in page
    faults than AES-GCM costs to encrypt or decrypt it. A writer or reader takes a set of buffers
    of the sizes it needs and gives it back when done."""

    def __init__(self, keep: int = 8):
        self._free: dict[tuple[int, ...], list[tuple[bytearray, ...]]] = collections.defaultdict(list)
        self._lock = threading.Lock()
        self._keep = keep

    def take(self, *sizes: int) -> tuple[bytearray, ...]:
        with self._lock:
            if self._free[sizes]:
                return self._free[sizes].pop()
        return tuple(bytearray(size) for size in sizes)

    def give(self, buffers: tuple[bytearray, ...]) -> None:
        sizes = tuple(len(b) for b in buffers)
        with self._lock:
            if sizes[0] <= CHUNK + TAG and len(self._free[sizes]) < self._keep:
                self._free[sizes].append(buffers)


_BUFFERS = _Buffers()


class BlobDamaged(PaperchainError):
    """A stored blob that does not authenticate or does not match its digest."""


def _nonce(index: int, kind: int) -> bytes:
    """Record ``index``'s nonce; ``kind`` 0 for data, 1 for an unnamed trailer, 2 for a named one
    (sealing writes a new trailer: it must not reuse the unnamed one's nonce)."""
    return index.to_bytes(8, "big") + kind.to_bytes(4, "big")


def _trailer_kind(name: str) -> int:
    return 2 if name else 1


def _file_key(data_key: bytes, salt: bytes) -> bytes:
    return hmac.new(data_key, b"paperchain blob|" + salt, hashlib.sha256).digest()


def header(tenant: str, version: int, salt: bytes, chunk: int = CHUNK) -> bytes:
    name = tenant.encode()
    return MAGIC + _FIXED.pack(version, chunk, len(name)) + name + salt


def read_header(fh: io.BufferedIOBase, where: str) -> tuple[bytes, str, int, int, bytes]:
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


class _Hasher:
    """SHA-256 of a stream, fed chunk by chunk on a pool thread while the caller reads, encrypts
    and writes the next chunk (hashlib and OpenSSL's AES-GCM release the GIL). SHA-256 is the
    slower of the two by far, so a stream costs about one hashing pass."""

    def __init__(self):
        self.digest = hashlib.sha256()
        self._pending = None

    def feed(self, piece) -> None:
        self.wait()
        self._pending = _HASHER.submit(self.digest.update, piece)

    def wait(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None


def encrypt_stream(src: io.BufferedIOBase, out: BinaryIO, *, tenant: str, version: int, data_key: bytes, name: str = "",
                   on_chunk: Callable[[memoryview], None] | None = None) -> tuple[str, int]:
    """Encrypt ``src`` into ``out`` chunk by chunk; return the plaintext's ``(sha256, size)``.
    The trailer is sealed to the blob's ``name`` (or to none yet: see ``seal``). ``on_chunk``
    sees each plaintext chunk (e.g. to keep a copy)."""
    salt = os.urandom(16)
    head = header(tenant, version, salt)
    key = _file_key(data_key, salt)
    out.write(head)
    hasher, size, index = _Hasher(), 0, 0
    # Two plaintext buffers, so one is hashed on the pool thread while the next is read into the
    # other, and one for ciphertext (update_into wants a block to spare).
    buffers = _BUFFERS.take(CHUNK, CHUNK, CHUNK + 15)
    plain, sealed = buffers[:2], memoryview(buffers[2])
    while length := src.readinto(plain[index % 2]):
        chunk = memoryview(plain[index % 2])[:length]
        hasher.feed(chunk)
        encryptor = Cipher(algorithms.AES(key), modes.GCM(_nonce(index, 0))).encryptor()
        encryptor.authenticate_additional_data(head)
        out.write(sealed[:encryptor.update_into(chunk, sealed)])
        encryptor.finalize()
        out.write(encryptor.tag)  # a record is ciphertext | tag
        if on_chunk is not None:
            on_chunk(chunk)
        size += length
        index += 1
    hasher.wait()
    sealed.release()
    _BUFFERS.give(buffers)
    sha = hasher.digest.digest()
    out.write(_seal_trailer(key, head, index, name, sha + size.to_bytes(8, "big")))
    return sha.hex(), size


def _seal_trailer(key: bytes, head: bytes, records: int, name: str, plain: bytes) -> bytes:
    return AESGCM(key).encrypt(_nonce(records, _trailer_kind(name)), plain, head + name.encode())


def seal(path, key_for: Callable[[str, int], bytes], name: str) -> None:
    """Bind an encrypted file written without a name to ``name``: its trailer is authenticated
    with the name, so a blob moved or copied under another name no longer opens."""
    with open(path, "r+b") as fh:
        reader = DecryptingReader(fh, str(path), key_for, name="")
        fh.seek(reader._trailer_at)
        fh.write(_seal_trailer(reader._key, reader._head, reader._records, name,
                               bytes.fromhex(reader.sha256) + reader.size.to_bytes(8, "big")))


class DecryptingReader(io.RawIOBase):
    """The plaintext of an encrypted blob, read in order, authenticated record by record (a
    record's plaintext is handed out only once its tag verified). ``size`` and ``sha256`` are the
    plaintext's, from the trailer (authenticated with the blob's ``name``), checked against
    ``expected`` on opening.

    The plaintext is not hashed again: the records' tags (each bound to its position, the trailer
    to the record count) prove that it is exactly what the writer hashed into the trailer, unless
    someone holds the data key, and that someone could rewrite the trailer too."""

    def __init__(self, fh: io.BufferedIOBase, where: str, key_for: Callable[[str, int], bytes], expected: str | None = None,
                 *, name: str):
        self._fh, self._where, self._expected, self._name = fh, where, expected, name
        self._head, self.tenant, self.version, self._chunk, salt = read_header(fh, where)
        try:
            data_key = key_for(self.tenant, self.version)
        except PaperchainError as exc:  # a damaged header, or a database that is not this store's
            raise BlobDamaged(f"{where} cannot be read: {exc.message}", hint=exc.hint) from None
        self._key = _file_key(data_key, salt)
        self._aead = AESGCM(self._key)
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
        self._index = 0
        self._pieces: collections.deque[memoryview] = collections.deque()
        # One buffer each for a record's ciphertext and plaintext, taken on the first read and
        # reused: a fresh megabyte per record costs more in page faults than AES-GCM costs to
        # decrypt it.
        self._buffers: tuple[bytearray, ...] | None = None

    def _damaged(self, index: int) -> BlobDamaged:
        return BlobDamaged(f"{self._where} does not authenticate (record {index}): it was changed or damaged, "
                           "or the key is wrong.", hint="restore the data directory's blobs from a backup")

    def _trailer(self) -> tuple[str, int]:
        self._fh.seek(self._trailer_at)
        data = self._fh.read(TRAILER)
        try:
            plain = self._aead.decrypt(_nonce(self._records, _trailer_kind(self._name)), data,
                                       self._head + self._name.encode())
        except InvalidTag:
            raise self._damaged(self._records) from None
        return plain[:32].hex(), int.from_bytes(plain[32:], "big")

    def _next_record(self) -> None:
        start = len(self._head) + self._index * (self._chunk + TAG)
        length = min(self._chunk + TAG, self._trailer_at - start)
        if self._buffers is None:
            self._buffers = _BUFFERS.take(self._chunk + TAG, self._chunk + 15)  # update_into wants a block spare
        sealed_buffer, opened_buffer = self._buffers
        sealed = memoryview(sealed_buffer)[:length]
        if self._fh.readinto(sealed) != length or length < TAG:
            raise self._damaged(self._index)
        opened = memoryview(opened_buffer)
        decryptor = Cipher(algorithms.AES(self._key), modes.GCM(_nonce(self._index, 0), bytes(sealed[-TAG:]))).decryptor()
        decryptor.authenticate_additional_data(self._head)
        opened = opened[:decryptor.update_into(sealed[:-TAG], opened)]
        try:
            decryptor.finalize()  # the plaintext leaves this reader only once its tag verified
        except InvalidTag:
            raise self._damaged(self._index) from None
        self._index += 1
        self._pieces.append(opened)

    def readable(self) -> bool:
        return True

    def _take(self, size: int) -> memoryview:
        """Up to ``size`` bytes of the current record, a view of the reused plaintext buffer
        (valid until the next record is read)."""
        if not self._pieces:
            if self._index == self._records:
                return memoryview(b"")
            self._next_record()
        piece = self._pieces.popleft()
        if len(piece) > size:
            piece, rest = piece[:size], piece[size:]
            self._pieces.appendleft(rest)
        return piece

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (at most one record at a time; all with -1)."""
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(self._chunk), b""))
        return bytes(self._take(size))

    def readinto(self, buffer) -> int:
        piece = self._take(len(buffer))
        buffer[:len(piece)] = piece
        return len(piece)

    def close(self) -> None:
        self._fh.close()
        if self._buffers is not None and not self.closed:
            self._pieces.clear()  # views of the buffers: none may outlive their return
            _BUFFERS.give(self._buffers)
            self._buffers = None
        super().close()
