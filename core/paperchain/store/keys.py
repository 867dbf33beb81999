"""Per-tenant keys, wrapped by one master key.

Each tenant (``""`` is the deployment's own, for documents without a tenant and for artifacts)
has an *id key*, which makes document ids content-addressed per tenant (HMAC-SHA256 of the
content's SHA-256), and numbered *data keys*, which encrypt its blobs (the newest encrypts new
blobs). All are random 32-byte keys kept in the ``blob_keys`` table, wrapped (AES-256-GCM) by the
master key: the environment variable ``PAPERCHAIN_MASTER_KEY`` (base64 of 32 bytes) or the file
``master.key`` in the data directory, created with mode 0600. Each wrapped key names the master
key that wrapped it by fingerprint, so a wrong master key is a clear error, and a rotation that
stopped half-way is finished on the next open.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import os
import sqlite3
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from paperchain_sdk import InputError

ENV = "PAPERCHAIN_MASTER_KEY"
NEW_ENV = "PAPERCHAIN_NEW_MASTER_KEY"
KEY_FILE = "master.key"
_NONCE = 12


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
    """The master key and every tenant's keys (unwrapped in memory, loaded once per key)."""

    def __init__(self, data_dir: Path, db_path: Path):
        self.data_dir = Path(data_dir)
        self.key_file = self.data_dir / KEY_FILE
        self._db_path = db_path
        self._lock = threading.Lock()
        self._keys: dict[tuple[str, str, int], bytes] = {}
        self._current: dict[str, int] = {}  # tenant -> newest data key version
        self.masters = self._load_masters()  # fingerprint -> key; the first is the current one
        self.master = next(iter(self.masters.values()))
        self._finish_rotation()
        self._load()

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

    def _finish_rotation(self) -> None:
        pending = self.key_file.with_name(KEY_FILE + ".new")
        if not pending.exists() or os.environ.get(ENV):
            return
        with self._connect() as db:
            used = {row[0] for row in db.execute("SELECT DISTINCT master FROM blob_keys")}
        new = fingerprint(read_key_file(pending))
        if used <= {new}:  # every key is wrapped by the new master: it is the master now
            os.replace(pending, self.key_file)
            self.masters = {new: self.masters[new]}
        else:  # the rotation never reached the database: the new key was never used
            pending.unlink()
            self.masters = {fp: key for fp, key in self.masters.items() if fp != new}
        self.master = next(iter(self.masters.values()))

    # -- storage --------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._db_path, timeout=30)

    def _load(self) -> None:
        with self._connect() as db:
            rows = db.execute("SELECT tenant, purpose, version, wrapped, master FROM blob_keys").fetchall()
        for tenant, purpose, version, wrapped, master in rows:
            self._keys[(tenant, purpose, version)] = self._unwrap(tenant, purpose, version, wrapped, master)
            if purpose == "data":
                self._current[tenant] = max(version, self._current.get(tenant, 0))

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

    def _create(self, tenant: str, purpose: str, version: int) -> bytes:
        """Store a new key; if another process stored it first, use theirs."""
        key = new_key()
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO blob_keys (tenant, purpose, version, wrapped, master, created) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (tenant, purpose, version, self._wrap(self.master, tenant, purpose, version, key),
                        fingerprint(self.master), _now()))
            wrapped, master = db.execute("SELECT wrapped, master FROM blob_keys WHERE tenant = ? AND purpose = ? "
                                         "AND version = ?", (tenant, purpose, version)).fetchone()
        return self._unwrap(tenant, purpose, version, wrapped, master)

    def _key(self, tenant: str, purpose: str, version: int, *, create: bool) -> bytes:
        found = self._keys.get((tenant, purpose, version))
        if found is not None:
            return found
        with self._lock:
            if (tenant, purpose, version) not in self._keys:
                if not create:
                    self._load()  # another process may have made it since
                    if (tenant, purpose, version) not in self._keys:
                        raise InputError(f"there is no {purpose} key {version} for tenant {tenant!r}.",
                                         hint="restore the database that belongs with these blobs")
                else:
                    self._keys[(tenant, purpose, version)] = self._create(tenant, purpose, version)
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

    def tenants(self) -> list[str]:
        with self._connect() as db:
            return [row[0] for row in db.execute("SELECT DISTINCT tenant FROM blob_keys ORDER BY tenant")]

    # -- settings -------------------------------------------------------------------------------

    @property
    def encrypt_blobs(self) -> bool:
        """Whether new blobs are encrypted (on for a data directory made since keys existed)."""
        with self._connect() as db:
            row = db.execute("SELECT value FROM store_settings WHERE name = 'encrypt_blobs'").fetchone()
        return bool(row and row[0] == "1")

    def set_encrypt_blobs(self, on: bool) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO store_settings (name, value) VALUES ('encrypt_blobs', ?)",
                       ("1" if on else "0",))

    # -- rotation -------------------------------------------------------------------------------

    def rotate_data_keys(self) -> dict[str, int]:
        """Give every tenant a new data key for new blobs; return tenant -> new version."""
        made = {}
        for tenant in self.tenants():
            version = self.current_version(tenant) + 1
            self._key(tenant, "data", version, create=True)
            self._current[tenant] = version
            made[tenant] = version
        return made

    def rewrap(self, new_master: bytes) -> int:
        """Wrap every key with ``new_master`` in one transaction; return how many were rewrapped."""
        with self._connect() as db:
            rows = db.execute("SELECT tenant, purpose, version, wrapped, master FROM blob_keys").fetchall()
            for tenant, purpose, version, wrapped, master in rows:
                key = self._unwrap(tenant, purpose, version, wrapped, master)
                db.execute("UPDATE blob_keys SET wrapped = ?, master = ? WHERE tenant = ? AND purpose = ? AND version = ?",
                           (self._wrap(new_master, tenant, purpose, version, key), fingerprint(new_master),
                            tenant, purpose, version))
        self.masters = {fingerprint(new_master): new_master}
        self.master = new_master
        return len(rows)

    def rotate_master(self, new_master: bytes | None = None) -> tuple[str, int]:
        """Replace the master key. With the key file: a new random key, written beside the old one
        first, so a stop at any moment leaves a master key that unwraps every data key. With the
        environment variable: ``new_master`` (from ``PAPERCHAIN_NEW_MASTER_KEY``) is used.
        Return the new fingerprint and the number of keys rewrapped."""
        if os.environ.get(ENV):
            if new_master is None:
                raise InputError(f"the master key comes from {ENV}, so the new one must too.",
                                 hint=f"set {NEW_ENV} to a new key (base64 of 32 bytes), run again, then "
                                      f"set {ENV} to it")
            return fingerprint(new_master), self.rewrap(new_master)
        new_master = new_master or new_key()
        pending = self.key_file.with_name(KEY_FILE + ".new")
        write_key_file(pending, new_master)
        count = self.rewrap(new_master)
        os.replace(pending, self.key_file)
        return fingerprint(new_master), count


def _label(tenant: str, purpose: str, version: int) -> bytes:
    return f"paperchain blob key|{tenant}|{purpose}|{version}".encode()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
