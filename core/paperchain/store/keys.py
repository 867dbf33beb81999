"""Per-tenant keys, wrapped by one master key.

Each tenant (``""`` is the deployment's own, for documents without a tenant and for artifacts)
has an *id key*, which makes document ids content-addressed per tenant (HMAC-SHA256 of the
content's SHA-256), and numbered *data keys*, which encrypt its blobs (the newest encrypts new
blobs). All are random 32-byte keys kept in the ``blob_keys`` table, wrapped (AES-256-GCM) by the
master key: the environment variable ``PAPERCHAIN_MASTER_KEY`` (base64 of 32 bytes) or the file
``master.key`` in the data directory, created with mode 0600. Each wrapped key names the master
key that wrapped it by fingerprint, so a wrong master key is a clear error, and a rotation that
stopped half-way is finished on the next open.

The keys live in the deployment's database (SQLite or PostgreSQL), reached through the kernel's SQL
handle. ``Keyring.open`` reads them all (on the event loop, before the kernel writes anything), so
a blob or a document id costs no database round trip. A key made later (a tenant's first document
or blob) is made from the worker thread that needs it, which waits on the event loop for its
write; on the event loop itself only the async methods reach the database (blocking there would
stop the loop that runs the write).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import os
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from paperchain_sdk import InputError

from .tables import blob_keys, store_settings

ENV = "PAPERCHAIN_MASTER_KEY"
NEW_ENV = "PAPERCHAIN_NEW_MASTER_KEY"
KEY_FILE = "master.key"
_NONCE = 12
_SETTING = "encrypt_blobs"
_KEYS = sa.select(blob_keys.c.tenant, blob_keys.c.purpose, blob_keys.c.version, blob_keys.c.wrapped,
                  blob_keys.c.master)
T = TypeVar("T")


def new_key() -> bytes:
    return os.urandom(32)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode()


def decode_key(text: str, origin: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise InputError(f"{origin} is not a master key (base64 of 32 bytes).",
                         hint='make one with: python -c "import os, base64; print(base64.b64encode(os.urandom(32)).decode())"')
    return key


def fingerprint(master: bytes) -> str:
    return hmac.new(master, b"paperchain master key fingerprint", hashlib.sha256).hexdigest()[:16]


def write_key_file(path: Path, key: bytes) -> None:
    """Write a key file readable by its owner only (created 0600, never widened)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(encode_key(key) + "\n")
        out.flush()
        os.fsync(out.fileno())


def read_key_file(path: Path) -> bytes:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise InputError(f"{path} may be read by other users (mode {mode:o}).", hint=f"chmod 600 {path}")
    return decode_key(path.read_text(), str(path))


class Keyring:
    """The master key and every tenant's keys (unwrapped in memory, loaded once per key).

    Made by ``await Keyring.open(data_dir, sql)``, ``sql`` the kernel's handle (store/sql.py)."""

    def __init__(self, data_dir: Path, sql, loop: asyncio.AbstractEventLoop):
        self.data_dir = Path(data_dir)
        self.key_file = self.data_dir / KEY_FILE
        self._sql = sql
        self._loop = loop  # where statements run; worker threads wait on it (``_blocking``)
        self._lock = threading.Lock()
        self._keys: dict[tuple[str, str, int], bytes] = {}
        self._current: dict[str, int] = {}  # tenant -> newest data key version
        self.masters: dict[str, bytes] = {}  # fingerprint -> key; the first is the current one
        self.master = b""
        self.encrypt_blobs = False  # whether new blobs are encrypted (see ``set_encrypt_blobs``)

    @classmethod
    async def open(cls, data_dir: Path, sql) -> Keyring:
        """Every key, unwrapped: a wrong master key stops here (InputError), before anything is written."""
        ring = cls(data_dir, sql, asyncio.get_running_loop())
        ring.masters = ring._load_masters()
        ring.master = next(iter(ring.masters.values()))
        await ring._finish_rotation()
        await ring._load()
        setting = await sql.scalar(sa.select(store_settings.c.value).where(store_settings.c.name == _SETTING))
        ring.encrypt_blobs = setting == "1"
        if ring.encrypt_blobs:  # made now: artifacts are put from the event loop, which may not wait on a write
            await ring._ensure("", "data", ring.current_version(""))
        return ring

    # -- the master key -------------------------------------------------------------------------

    def _load_masters(self) -> dict[str, bytes]:
        candidates = []
        if os.environ.get(ENV):
            candidates.append(decode_key(os.environ[ENV], f"the environment variable {ENV}"))
        else:
            pending = self.key_file.with_name(KEY_FILE + ".new")
            if pending.exists():  # a rotation that stopped before renaming its new key into place
                candidates.append(read_key_file(pending))
            if not self.key_file.exists() and not pending.exists():
                write_key_file(self.key_file, new_key())
            if self.key_file.exists():
                candidates.append(read_key_file(self.key_file))
        return {fingerprint(key): key for key in candidates}

    async def _finish_rotation(self) -> None:
        pending = self.key_file.with_name(KEY_FILE + ".new")
        if not pending.exists() or os.environ.get(ENV):
            return
        used = {row.master for row in await self._sql.read(sa.select(blob_keys.c.master).distinct())}
        new = fingerprint(read_key_file(pending))
        if used <= {new}:  # every key is wrapped by the new master: it is the master now
            os.replace(pending, self.key_file)
            self.masters = {new: self.masters[new]}
        else:  # the rotation never reached the database: the new key was never used
            pending.unlink()
            self.masters = {fp: key for fp, key in self.masters.items() if fp != new}
        self.master = next(iter(self.masters.values()))

    # -- storage --------------------------------------------------------------------------------

    def _blocking(self, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``work`` on the kernel's event loop from a worker thread, and wait for it."""
        self._refuse_on_loop()
        return asyncio.run_coroutine_threadsafe(work(), self._loop).result()

    def _refuse_on_loop(self) -> None:
        # Checked before taking the lock too: a worker holding it waits on this loop.
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return
        if running is self._loop:
            raise RuntimeError("the keyring reaches the database from the event loop only through its async "
                               "methods; call this from a worker thread (asyncio.to_thread)")

    async def _load(self) -> None:
        for row in await self._sql.read(_KEYS):
            self._keys[(row.tenant, row.purpose, row.version)] = self._unwrap(
                row.tenant, row.purpose, row.version, row.wrapped, row.master)
            if row.purpose == "data":
                self._current[row.tenant] = max(row.version, self._current.get(row.tenant, 0))

    def _unwrap(self, tenant: str, purpose: str, version: int, wrapped: bytes, master: str) -> bytes:
        key = self.masters.get(master)
        if key is None:
            raise InputError(
                f"the blob store's keys were wrapped by master key {master}, but the master key given is "
                f"{fingerprint(self.master)}.",
                hint=f"set {ENV} to the master key this data directory was made with, or restore its {KEY_FILE}")
        try:
            return AESGCM(key).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], _label(tenant, purpose, version))
        except InvalidTag:
            raise InputError(f"the {purpose} key {version} of tenant {tenant!r} is damaged (it does not verify).",
                             hint="restore the database from a backup") from None

    def _wrap(self, master: bytes, tenant: str, purpose: str, version: int, key: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + AESGCM(master).encrypt(nonce, key, _label(tenant, purpose, version))

    async def _create(self, tenant: str, purpose: str, version: int) -> bytes:
        """Store a new key; if another process stored it first, use theirs."""
        key = new_key()
        await self._sql.write(self._sql.insert(blob_keys).values(
            tenant=tenant, purpose=purpose, version=version, wrapped=self._wrap(self.master, tenant, purpose, version, key),
            master=fingerprint(self.master), created=_now()).on_conflict_do_nothing(
            index_elements=[blob_keys.c.tenant, blob_keys.c.purpose, blob_keys.c.version]))
        row = await self._sql.first(_KEYS.where(blob_keys.c.tenant == tenant, blob_keys.c.purpose == purpose,
                                                blob_keys.c.version == version))
        return self._unwrap(tenant, purpose, version, row.wrapped, row.master)

    async def _ensure(self, tenant: str, purpose: str, version: int) -> bytes:
        """A key from the event loop: the one in memory, or made now."""
        found = self._keys.get((tenant, purpose, version))
        if found is None:
            found = self._keys[(tenant, purpose, version)] = await self._create(tenant, purpose, version)
        return found

    def _key(self, tenant: str, purpose: str, version: int, *, create: bool) -> bytes:
        found = self._keys.get((tenant, purpose, version))
        if found is not None:
            return found
        self._refuse_on_loop()
        with self._lock:
            if (tenant, purpose, version) not in self._keys:
                if not create:
                    self._blocking(self._load)  # another process may have made it since
                    if (tenant, purpose, version) not in self._keys:
                        raise InputError(f"there is no {purpose} key {version} for tenant {tenant!r}.",
                                         hint="restore the database that belongs with these blobs")
                else:
                    self._keys[(tenant, purpose, version)] = self._blocking(
                        lambda: self._create(tenant, purpose, version))
            return self._keys[(tenant, purpose, version)]

    # -- what the blob store and documents use --------------------------------------------------

    def document_id(self, tenant: str, sha256: str) -> str:
        """The id of a document with this content in this tenant: equal bytes in two tenants get
        unrelated ids, and an id says nothing of the content to whoever lacks the tenant's key."""
        key = self._key(tenant or "", "id", 1, create=True)
        return hmac.new(key, bytes.fromhex(sha256), hashlib.sha256).hexdigest()

    def data_key(self, tenant: str, version: int | None = None) -> tuple[int, bytes]:
        """A tenant's data key: ``version``, or the newest (made on first use)."""
        tenant = tenant or ""
        if version is None:
            version = self._current.get(tenant, 1)
            key = self._key(tenant, "data", version, create=True)
            self._current.setdefault(tenant, version)
            return version, key
        return version, self._key(tenant, "data", version, create=False)

    def current_version(self, tenant: str) -> int:
        return self._current.get(tenant or "", 1)

    async def deployment_secret(self, purpose: str) -> bytes:
        """A random 32-byte secret of the deployment's own (tenant ''), made once and the same for
        every process on this database and master key: e.g. the API's token signing key, so that a
        token one server gave is good on the others."""
        return await self._ensure("", purpose, 1)

    async def tenants(self) -> list[str]:
        rows = await self._sql.read(sa.select(blob_keys.c.tenant).distinct().order_by(blob_keys.c.tenant))
        return [row.tenant for row in rows]

    # -- settings -------------------------------------------------------------------------------

    async def set_encrypt_blobs(self, on: bool) -> None:
        """Encrypt new blobs from now on, or not (on for a data directory made since keys existed)."""
        value = "1" if on else "0"
        await self._sql.write(self._sql.insert(store_settings).values(name=_SETTING, value=value).on_conflict_do_update(
            index_elements=[store_settings.c.name], set_={"value": value}))
        self.encrypt_blobs = on
        if on:
            await self._ensure("", "data", self.current_version(""))

    # -- rotation -------------------------------------------------------------------------------

    async def rotate_data_keys(self) -> dict[str, int]:
        """Give every tenant a new data key for new blobs; return tenant -> new version."""
        made = {}
        for tenant in await self.tenants():
            version = self.current_version(tenant) + 1
            await self._ensure(tenant, "data", version)
            self._current[tenant] = version
            made[tenant] = version
        return made

    async def rewrap(self, new_master: bytes) -> int:
        """Wrap every key with ``new_master`` in one transaction; return how many were rewrapped."""
        t = blob_keys
        async with self._sql.transaction() as tx:
            rows = (await tx.execute(_KEYS)).all()
            for row in rows:
                key = self._unwrap(row.tenant, row.purpose, row.version, row.wrapped, row.master)
                await tx.execute(sa.update(t).where(t.c.tenant == row.tenant, t.c.purpose == row.purpose,
                                                    t.c.version == row.version).values(
                    wrapped=self._wrap(new_master, row.tenant, row.purpose, row.version, key),
                    master=fingerprint(new_master)))
        self.masters = {fingerprint(new_master): new_master}
        self.master = new_master
        return len(rows)

    async def rotate_master(self, new_master: bytes | None = None) -> tuple[str, int]:
        """Replace the master key. With the key file: a new random key, written beside the old one
        first, so a stop at any moment leaves a master key that unwraps every data key. With the
        environment variable: ``new_master`` (from ``PAPERCHAIN_NEW_MASTER_KEY``) is used.
        Return the new fingerprint and the number of keys rewrapped."""
        if os.environ.get(ENV):
            if new_master is None:
                raise InputError(f"the master key comes from {ENV}, so the new one must too.",
                                 hint=f"set {NEW_ENV} to a new key (base64 of 32 bytes), run again, then "
                                      f"set {ENV} to it")
            return fingerprint(new_master), await self.rewrap(new_master)
        new_master = new_master or new_key()
        pending = self.key_file.with_name(KEY_FILE + ".new")
        write_key_file(pending, new_master)
        count = await self.rewrap(new_master)
        os.replace(pending, self.key_file)
        return fingerprint(new_master), count


def _label(tenant: str, purpose: str, version: int) -> bytes:
    return f"paperchain blob key|{tenant}|{purpose}|{version}".encode()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class KeyringThread:
    """A keyring for a program without a kernel (a tool, a test): its database opened and migrated as
    the kernel's is, on an event loop in a thread of its own, which the program's own thread then
    waits on as the kernel's worker threads wait on the kernel's loop. ``open()`` a keyring for
    ``data_dir`` on ``url`` (default: the data directory's SQLite file), ``run(coroutine)`` one of
    its async methods, ``close()`` at the end."""

    def __init__(self, data_dir: Path, url: str | None = None):
        from .database import default_url

        self.data_dir = Path(data_dir)
        self.url = url or default_url(self.data_dir)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="paperchain-keyring", daemon=True)
        self._thread.start()
        self._database: Any = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def open(self) -> Keyring:
        from . import migrations
        from .database import Database
        from .sql import SqlHandle

        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._database is None:
            self._database = self.run(Database.open(self.url))
            self.run(migrations.upgrade(self._database))
        return self.run(Keyring.open(self.data_dir, SqlHandle(self._database)))

    def close(self) -> None:
        if self._database is not None:
            self.run(self._database.close())
            self._database = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()
