"""The log: an RFC 9162 tree in its own SQLite file, appended by one writer thread (group commit).

Appenders hand work to a queue and wait on a future; the writer takes everything queued and
builds it in memory (leaf and node hashes, tiles, entry bundles, one signed checkpoint for the
new tree); a committer thread writes it in one transaction (one fsync: ``synchronous=FULL``),
commits, and only then answers, with receipts. While batch i is being committed the writer
already builds batch i+1 on top of the tree batch i makes (at most one batch waits for its
commit; small batches wait for it instead, gathering more appenders). Items with state checks
(nonces, balances, idempotency keys) wait until the committer is idle, then are checked, each in
its own savepoint, and committed by the writer in the same transaction: a refused item is rolled
back and answered with its error; the others in the batch go on. WAL checkpoints run on a third
thread, so a commit waits only for its own fsync.
"""

from __future__ import annotations

import base64
import collections
import concurrent.futures
import json
import logging
import os
import queue
import secrets
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from paperchain_sdk import ConfigError, InputError, NotFoundError, TransientError

from . import merkle, tiles
from .note import Checkpoint, Signer, generate_signer, load_signer
from .verifier import RECEIPT_FORMAT

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_bundles (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_tiles (id INTEGER PRIMARY KEY, level INTEGER NOT NULL, idx INTEGER NOT NULL,
    width INTEGER NOT NULL, hashes BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_checkpoints (size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL,
    time TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_keys (key TEXT PRIMARY KEY, idx INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_documents (sha256 TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (sha256, idx))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL, public_key BLOB NOT NULL,
    secret TEXT, balance INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0), nonce INTEGER NOT NULL DEFAULT 0,
    idx INTEGER NOT NULL, created TEXT NOT NULL, tenant TEXT NOT NULL DEFAULT '', UNIQUE (tenant, name));
CREATE TABLE IF NOT EXISTS ledger_votes (ballot TEXT NOT NULL, account TEXT NOT NULL, choice TEXT NOT NULL,
    idx INTEGER NOT NULL, PRIMARY KEY (ballot, account)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_anchors (audit_id TEXT PRIMARY KEY, idx INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_owners (idx INTEGER PRIMARY KEY, tenant TEXT NOT NULL);
"""
# Who appended an entry is kept beside the tree, never in the hashed entry bytes (so entries and
# proofs made before tenants stay valid): a row per entry a tenant appended; an entry without one
# (the operator's, and every entry made before tenants) belongs to the no-tenant scope.

# Before tenants, account names were unique in the whole log; now per tenant (table rebuilt once).
_ACCOUNTS_WITH_TENANT = """
ALTER TABLE ledger_accounts RENAME TO ledger_accounts_before_tenants;
CREATE TABLE ledger_accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL, public_key BLOB NOT NULL,
    secret TEXT, balance INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0), nonce INTEGER NOT NULL DEFAULT 0,
    idx INTEGER NOT NULL, created TEXT NOT NULL, tenant TEXT NOT NULL DEFAULT '', UNIQUE (tenant, name));
INSERT INTO ledger_accounts (id, name, public_key, secret, balance, nonce, idx, created)
    SELECT id, name, public_key, secret, balance, nonce, idx, created FROM ledger_accounts_before_tenants;
DROP TABLE ledger_accounts_before_tenants;
"""

DB_NAME = "ledger.db"
KEY_NAME = "log.key"
VKEY_NAME = "log.vkey"
_STOP = object()
GATHER_BELOW = 256  # a batch smaller than this waits GATHER_SECONDS once for more appenders
GATHER_SECONDS = 0.001
TAIL_CACHE = 4096  # cached upper parts of inclusion paths (each a few hundred bytes)


# Rows given as one blob (?1) and a JSON list (?2) of [columns..., first byte (1-based), length].
_INSERT_BUNDLES = ("INSERT OR REPLACE INTO ledger_bundles (idx, data) SELECT json_extract(value, '$[0]'), "
                   "substr(?1, json_extract(value, '$[1]'), json_extract(value, '$[2]')) FROM json_each(?2)")
_INSERT_TILES = ("INSERT OR REPLACE INTO ledger_tiles (id, level, idx, width, hashes) SELECT json_extract(value, '$[0]'), "
                 "json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), "
                 "substr(?1, json_extract(value, '$[4]'), json_extract(value, '$[5]')) FROM json_each(?2)")


def _packed(rows) -> tuple[bytes, str]:
    """Rows whose last column is bytes, as (all those bytes joined, JSON list of the other columns
    with each row's first byte (1-based, as SQL's substr counts) and length)."""
    parts, spec, at = [], [], 1
    for *columns, data in rows:
        parts.append(data)
        spec.append([*columns, at, len(data)])
        at += len(data)
    return b"".join(parts), json.dumps(spec)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Pending:
    """One unit of work for the writer: entries to append, an optional idempotency key, and an
    optional ``check(cursor, first_index)`` that validates against the current state and writes
    side tables (it raises to refuse the item; its writes are rolled back then)."""

    __slots__ = ("check", "entries", "future", "key", "receipt")

    def __init__(self, entries: Sequence[bytes], key: str = "", check: Callable | None = None, *,
                 receipt: bool = False):
        self.entries = list(entries)
        self.key = key
        self.check = check
        self.receipt = receipt  # the writer also builds the receipt of the first entry
        self.future: concurrent.futures.Future = concurrent.futures.Future()


class Appended(tuple):
    """What an append answers: (first index, count, tree size, checkpoint note, existed, receipt);
    the receipt (of the first entry) only when the item asked for it."""

    first = property(lambda self: self[0])
    count = property(lambda self: self[1])
    size = property(lambda self: self[2])
    note = property(lambda self: self[3])
    existed = property(lambda self: self[4])
    receipt = property(lambda self: self[5])


def _receipt(index: int, entry: bytes, proof: list[bytes], note: str) -> dict:
    b64 = base64.b64encode
    return {
        "format": RECEIPT_FORMAT,
        "index": index,
        "entry": b64(entry).decode(),
        "inclusion_proof": [b64(p).decode() for p in proof],
        "checkpoint": note,
    }


class _Work:
    """A batch ready to commit: its answers, rows, and the tree state before (``base``) and after."""

    __slots__ = ("answers", "base", "batch", "bundle", "bundle_rows", "state", "touched")

    def __init__(self, batch: list, answers: list, base: tuple):
        self.batch, self.answers, self.base = batch, answers, base


class LedgerLog:
    """One log (a directory holding ledger.db, log.key and log.vkey). Thread-safe."""

    def __init__(self, directory: str | os.PathLike, *, origin: str = "", max_batch: int = 8192,
                 tile_cache: int = 4096, max_entry_bytes: int = 1 << 20):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.db_path = self.directory / DB_NAME
        self.max_batch = max_batch
        self.max_entry_bytes = max_entry_bytes
        self._write = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        # WAL checkpoints (copying committed pages into the database file, with its own fsync) run on
        # a thread of their own, so the writer's commits only ever wait for their own WAL fsync.
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=10000", "wal_autocheckpoint=0"):
            self._write.execute(f"PRAGMA {pragma}")
        self._write.executescript(SCHEMA)
        self._add_tenants()
        self.origin = self._origin(origin)
        self.signer = self._load_or_create_key()
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self._cache_size = tile_cache
        self._cache_lock = threading.Lock()
        self._tails: dict[tuple[int, int, int], list[bytes]] = {}
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._load_state()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._io_queue: queue.SimpleQueue = queue.SimpleQueue()
        self._io_failed = False
        self._slot = threading.Semaphore(1)  # one prepared batch in the committer at a time
        self._closed = False
        self._committer = threading.Thread(target=self._io_loop, name=f"ledger-committer:{self.directory}", daemon=True)
        self._committer.start()
        self._thread = threading.Thread(target=self._run, name=f"ledger-writer:{self.directory}", daemon=True)
        self._thread.start()
        self._committed = threading.Event()
        self._stopping = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name=f"ledger-checkpoints:{self.directory}",
                                              daemon=True)
        self._checkpointer.start()

    # -- set-up ---------------------------------------------------------------------------------

    def _origin(self, wanted: str) -> str:
        row = self._write.execute("SELECT value FROM ledger_meta WHERE key = 'origin'").fetchone()
        if row:
            if wanted and wanted != row[0]:
                raise ConfigError(f"the ledger in {self.directory} was created with origin {row[0]!r}, not {wanted!r}.",
                                  hint="a log's origin never changes: remove the origin setting or use another data directory")
            return row[0]
        origin = wanted or f"paperchain.ledger/{secrets.token_hex(6)}"
        if any(c.isspace() for c in origin) or "+" in origin:
            raise ConfigError(f"ledger origin {origin!r} may not contain spaces or '+'.", hint="use e.g. 'example.com/ledger'")
        self._write.execute("INSERT INTO ledger_meta VALUES ('origin', ?)", (origin,))
        return origin

    def _add_tenants(self) -> None:
        columns = [row[1] for row in self._write.execute("PRAGMA table_info(ledger_accounts)")]
        if "tenant" not in columns:
            self._write.executescript(f"BEGIN IMMEDIATE;{_ACCOUNTS_WITH_TENANT}COMMIT;")

    def _load_or_create_key(self) -> Signer:
        path = self.directory / KEY_NAME
        if not path.exists():
            signer, pem = generate_signer(self.origin)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
            (self.directory / VKEY_NAME).write_text(str(signer.verifier) + "\n")
            return signer
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(f"the ledger's signing key {path} can be read by other users (mode {mode:o}).",
                              hint=f"chmod 600 {path}")
        return load_signer(self.origin, path.read_bytes())

    def _load_state(self) -> None:
        row = self._write.execute("SELECT size, root, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1").fetchone()
        if row is None:
            size, root = 0, merkle.root_of_hashes([])
            note = Checkpoint(self.origin, 0, root).sign(self.signer)
            self._write.execute("INSERT INTO ledger_checkpoints VALUES (0, ?, ?, ?)", (root, note, now()))
        else:
            size, root, note = row
        def edge_tile(level: int, k: int, width: int) -> bytes:
            stored = self._write.execute("SELECT width, hashes FROM ledger_tiles WHERE id = ?",
                                         (tiles.tile_id(level, k),)).fetchone()
            if stored is None or stored[0] != width:
                raise ConfigError(f"the ledger database {self.db_path} is inconsistent: tile ({level}, {k}) is "
                                  "missing or of the wrong width.", hint="run `paperchain ledger verify`")
            return stored[1]

        try:
            frontier = tiles.frontier_from_tiles(size, edge_tile)
        except ValueError as exc:
            raise ConfigError(f"the ledger database {self.db_path} is inconsistent: {exc}",
                              hint="run `paperchain ledger verify`") from None
        bundle = b""
        if size % tiles.WIDTH:
            blob = self._write.execute("SELECT data FROM ledger_bundles WHERE idx = ?", (size >> tiles.HEIGHT,)).fetchone()
            bundle = bytes(blob[0]) if blob else b""
        if tiles.root_from_frontier(frontier, size) != root:
            raise ConfigError(f"the ledger database {self.db_path} does not match its latest checkpoint.",
                              hint="run `paperchain ledger verify` to find the damaged entry")
        self._state = (size, frontier, root, note)
        self._bundle = bundle

    # -- reads ------------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self._state[0]

    def latest(self) -> tuple[int, bytes, str]:
        size, _, root, note = self._state
        return size, root, note

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _full_tile(self, level: int, k: int) -> bytes:
        """The blob of a complete tile (cached: complete tiles never change)."""
        tid = (level << 48) | k
        blob = self._cache.get(tid)
        if blob is not None:
            return blob
        row = self._reader().execute("SELECT width, hashes FROM ledger_tiles WHERE id = ?", (tid,)).fetchone()
        if row is None or row[0] != tiles.WIDTH:
            raise NotFoundError(f"complete tile ({level}, {k}) is not in the ledger")
        self._remember(tid, row[1])
        return row[1]

    def _remember(self, tid: int, blob: bytes) -> None:
        with self._cache_lock:
            self._cache[tid] = blob
            while len(self._cache) > self._cache_size:
                del self._cache[next(iter(self._cache))]

    def _node(self, size: int, frontier: list, h: int, index: int) -> bytes:
        """Node ``index`` of height ``h`` of the tree (``size``, ``frontier`` are one state)."""
        r = h & 7
        shift = tiles.HEIGHT - r
        base = ((size >> h) >> shift) << shift
        if index >= base:
            return frontier[h][index - base]
        blob = self._full_tile(h >> 3, index >> shift)
        at = tiles.ROW_BYTES[r] + (index & tiles.ROW_MASK[r]) * tiles.HASH
        return blob[at:at + tiles.HASH]

    def _range_hash(self, size: int, frontier: list, start: int, end: int) -> bytes:
        """Hash of the leaves ``[start, end)`` from the complete subtrees covering it."""
        width = end - start
        if not width & (width - 1) and not start & (width - 1):  # one aligned subtree: one node
            h = width.bit_length() - 1
            return self._node(size, frontier, h, start >> h)
        node = self._node
        return merkle.fold([node(size, frontier, h, i) for h, i in merkle.range_nodes(start, end)])

    def _root_at(self, size: int, frontier: list, n: int) -> bytes:
        """MTH of the first ``n`` leaves: the last complete node of every height set in ``n``."""
        node, sha = self._node, merkle._sha256
        low = (n & -n).bit_length() - 1
        result = node(size, frontier, low, (n >> low) - 1)
        for h in range(low + 1, n.bit_length()):
            if n >> h & 1:
                result = sha(b"\x01" + node(size, frontier, h, (n >> h) - 1) + result).digest()
        return result

    def _inclusion(self, size: int, frontier: list, index: int, n: int) -> list[bytes]:
        """PATH(index, D[n]) (RFC 9162 2.1.3.1), deepest first: the sibling at every height, read
        directly from the tiles. Where a whole tile lies inside the tree, its 8 siblings are cut out
        of its blob at once; the partial node on the right border of tree ``n`` is folded from the
        complete subtrees it is made of. The rest of the path (above the last whole tile) depends
        only on ``n`` and the ancestor it starts from, and the nodes of tree ``n`` never change, so
        it is cached: proofs against one tree size share a handful of different tails."""
        proof: list[bytes] = []
        h, i = 0, index
        tile, siblings = self._full_tile, tiles.SIBLINGS
        while ((i >> 8) + 1) << (h + 8) <= n:
            proof.extend(siblings[i & 255](tile(h >> 3, i >> 8)))
            i >>= 8
            h += 8
        key = (n, h, i)
        tail = self._tails.get(key)
        if tail is None:
            tail = self._path_tail(size, frontier, n, h, i)
            if len(self._tails) >= TAIL_CACHE:
                self._tails.clear()
            self._tails[key] = tail
        proof += tail
        return proof

    def _path_tail(self, size: int, frontier: list, n: int, h: int, i: int) -> list[bytes]:
        """The path of tree ``n`` from node ``i`` of height ``h`` up, one height at a time."""
        proof: list[bytes] = []
        last = (n - 1) >> h
        node, sha = self._node, merkle._sha256
        while last:
            s = i ^ 1
            if s < n >> h:
                proof.append(node(size, frontier, h, s))
            elif s <= last:  # the right border: the hash of leaves [s << h, n)
                low = (n & -n).bit_length() - 1
                r = node(size, frontier, low, (n >> low) - 1)
                for b in range(low + 1, h):
                    if n >> b & 1:
                        r = sha(b"\x01" + node(size, frontier, b, (n >> b) - 1) + r).digest()
                proof.append(r)
            i >>= 1
            last >>= 1
            h += 1
        return proof

    def _check_size(self, tree_size: int | None) -> tuple[int, int, list]:
        size, frontier, _, _ = self._state
        if tree_size is None:
            return size, size, frontier
        if not isinstance(tree_size, int) or isinstance(tree_size, bool) or not 0 <= tree_size <= size:
            raise NotFoundError(f"tree size {tree_size!r} is not available: the log has {size} entries")
        return tree_size, size, frontier

    def root(self, tree_size: int | None = None) -> bytes:
        n, size, frontier = self._check_size(tree_size)
        if n == 0:
            return merkle.root_of_hashes([])
        if n == size:
            return tiles.root_from_frontier(frontier, n)
        return self._root_at(size, frontier, n)

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> list[bytes]:
        n, size, frontier = self._check_size(tree_size)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < n:
            raise NotFoundError(f"entry {index!r} is not in the tree of size {n}")
        return self._inclusion(size, frontier, index, n)

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        second, size, frontier = self._check_size(second)
        if not isinstance(first, int) or isinstance(first, bool) or not 0 < first <= second:
            raise InputError(f"no consistency proof from size {first!r} to size {second}",
                             hint="the first size must be between 1 and the second size")
        return [self._range_hash(size, frontier, a, b) for a, b in merkle.consistency_ranges(first, second)]

    def entry(self, index: int) -> bytes:
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < self.size:
            raise NotFoundError(f"entry {index!r} is not in the log (it has {self.size} entries)")
        row = self._reader().execute("SELECT data FROM ledger_bundles WHERE idx = ?", (index >> tiles.HEIGHT,)).fetchone()
        return tiles.bundle_entry(row[0], index & (tiles.WIDTH - 1))

    def checkpoint_at(self, size: int) -> str | None:
        row = self._reader().execute("SELECT note FROM ledger_checkpoints WHERE size = ?", (size,)).fetchone()
        return row[0] if row else None

    def query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        """Read the log's side tables (accounts, documents …) on this thread's read connection."""
        return self._reader().execute(sql, params).fetchall()

    def receipt(self, index: int, tree_size: int | None = None, note: str | None = None) -> dict:
        """A receipt for entry ``index`` against the checkpoint of ``tree_size`` (default: latest)."""
        if tree_size is None:
            tree_size, _, note = self.latest()
        note = note or self.checkpoint_at(tree_size)
        if note is None:
            raise NotFoundError(f"no signed checkpoint at tree size {tree_size}")
        return _receipt(index, self.entry(index), self.inclusion_proof(index, tree_size), note)

    # -- appends ----------------------------------------------------------------------------------

    def submit(self, item: Pending) -> concurrent.futures.Future:
        if self._closed:
            raise TransientError("the ledger is closed", hint="the kernel is shutting down; retry after restart")
        # Checked with C-level map() calls: a bulk load of a million entries spends no Python loop here.
        wrong = [kind for kind in set(map(type, item.entries)) if not issubclass(kind, (bytes, bytearray))]
        if wrong:
            raise InputError(f"ledger entries must be bytes, got {wrong[0].__name__}")
        longest = max(map(len, item.entries), default=0)
        if longest > self.max_entry_bytes:
            raise InputError(f"a ledger entry of {longest} bytes is over the limit of {self.max_entry_bytes}",
                             hint="append a hash of large data, not the data itself, or raise max_entry_bytes")
        self._queue.put(item)
        return item.future

    def append_many(self, entries: Sequence[bytes], *, key: str = "", check: Callable | None = None,
                    receipt: bool = False) -> Appended:
        """Append entries durably in one transaction; return once committed (with ``receipt``, the
        answer carries the receipt of the first entry, built by the writer with the commit)."""
        return self.submit(Pending(entries, key, check, receipt=receipt)).result()

    def append(self, entry: bytes, *, key: str = "", check: Callable | None = None) -> dict:
        """Append one entry durably and return its receipt."""
        done = self.append_many([entry], key=key, check=check, receipt=True)
        return done.receipt if done.receipt is not None else self.receipt(done.first, done.size, done.note)

    def _gather(self, batch: list[Pending], wait: bool = True) -> bool:
        """Add whatever is queued to ``batch``, up to ``max_batch`` entries; say whether to stop."""
        count, waited = sum(len(it.entries) for it in batch), not wait
        while count < self.max_batch:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                if waited or count >= GATHER_BELOW:
                    break
                # A small batch: appenders that were just answered are about to come back.
                # Waiting a moment for them costs less than a commit (and its fsync) of its own.
                waited = True
                try:
                    more = self._queue.get(timeout=GATHER_SECONDS)
                except queue.Empty:
                    break
            if more is _STOP:
                return True
            batch.append(more)
            count += len(more.entries)
        return False

    def _run(self) -> None:
        """The writer. A batch with no state checks is built here (hashes, tiles, bundles, signed
        checkpoint) on top of the tree the previous batch will make, and handed to the committer
        thread, which writes and commits it while this thread builds the next one: the hashing of
        batch i+1 overlaps the fsync of batch i. A batch with checks waits for the committer to
        finish, then runs its checks and commits in one transaction here."""
        base, bundle, stop = self._state, self._bundle, False
        while not stop:
            item = self._queue.get()
            if item is _STOP:
                break
            batch = [item]
            stop = self._gather(batch)
            holding = False
            if not stop and sum(len(it.entries) for it in batch) < GATHER_BELOW:
                # Small items (many appenders): wait for the commit in flight, gathering the
                # appenders that arrive meanwhile into this batch, rather than commit them alone.
                self._slot.acquire()
                holding = True
                stop = self._gather(batch, wait=False)
            if self._io_failed:  # a pipelined commit failed: restart from what is committed
                self._drain()
                self._io_failed = False
                base, bundle = self._state, self._bundle
            try:
                if any(it.key or it.check for it in batch):
                    self._drain()
                    self._commit(batch)
                    base, bundle = self._state, self._bundle
                    if holding:
                        holding = False
                        self._slot.release()
                else:
                    first, answers = base[0], []
                    entries: list[bytes] = []
                    for it in batch:
                        answers.append((it, (first + len(entries), False)))
                        entries.extend(it.entries)
                    work = self._build(batch, answers, entries, base, bundle)
                    base, bundle = work.state, work.bundle
                    if not holding:
                        self._slot.acquire()  # at most one batch waits for its commit
                    holding = False
                    self._io_queue.put(work)  # the committer releases the slot
            except BaseException as exc:  # noqa: BLE001 - every waiter must hear about it
                if holding:
                    self._slot.release()
                self._fail(batch, exc)
                self._drain()
                base, bundle = self._state, self._bundle
        self._drain()
        self._io_queue.put(_STOP)
        self._committer.join()

    def _drain(self) -> None:
        """Wait until the committer has committed (or refused) everything handed to it."""
        done = threading.Event()
        self._io_queue.put(done)
        done.wait()

    def _fail(self, batch: list[Pending], exc: BaseException) -> None:
        log.error("ledger commit failed: %s", exc, exc_info=exc)
        error = TransientError(f"the ledger could not commit: {exc}", hint="check the disk, then retry")
        for waiting in batch:
            if not waiting.future.done():
                waiting.future.set_exception(error)

    def _io_loop(self) -> None:
        """The committer: writes and commits prepared batches in order, then answers them."""
        cur = self._write
        while True:
            work = self._io_queue.get()
            if work is _STOP:
                return
            if isinstance(work, threading.Event):
                work.set()
                continue
            try:
                if work.base is not self._state:  # built on a batch that failed to commit
                    self._fail(work.batch, RuntimeError("an earlier batch it was built on did not commit"))
                    self._io_failed = True
                    continue
                try:
                    cur.execute("BEGIN IMMEDIATE")
                    self._write_rows(cur, work)
                    cur.execute("COMMIT")
                    self._committed.set()
                except BaseException as exc:  # noqa: BLE001 - every waiter must hear about it
                    if cur.in_transaction:
                        cur.execute("ROLLBACK")
                    self._fail(work.batch, exc)
                    self._io_failed = True
                    continue
                self._publish(work)
            except BaseException:  # the committer must outlive any one batch
                log.exception("ledger committer: answering a batch failed")
            finally:
                self._slot.release()

    def _build(self, batch: list[Pending], answers: list, entries: list[bytes], base: tuple, bundle: bytes) -> _Work:
        """Everything a batch writes, computed in memory on top of state ``base``."""
        work = _Work(batch, answers, base)
        work.state, work.bundle, work.bundle_rows, work.touched = base, bundle, None, []
        if entries:
            size, frontier, _, _ = base
            sha = merkle._sha256
            leaves = [sha(b"\x00" + e).digest() for e in entries]
            new_frontier, work.touched = tiles.extend(frontier, size, leaves)
            work.bundle_rows, work.bundle = self._bundle_rows(size, entries, bundle)
            size += len(entries)
            root = tiles.root_from_frontier(new_frontier, size)
            note = Checkpoint(self.origin, size, root).sign(self.signer)
            work.state = (size, new_frontier, root, note)
        return work

    @staticmethod
    def _write_rows(cur: sqlite3.Connection, work: _Work) -> None:
        """A batch's rows in three statements. Each table's rows go in as one blob and a JSON list
        of where each row's bytes lie, split by SQLite itself: one step per table instead of one
        per row, so the committer needs the GIL a handful of times per batch and runs alongside
        the writer's hashing instead of waiting for it at every row."""
        if work.state is work.base:
            return
        cur.execute(_INSERT_BUNDLES, work.bundle_rows)
        blob, spec = _packed((tiles.tile_id(lv, k), lv, k, width, data) for lv, k, width, data in work.touched)
        cur.execute(_INSERT_TILES, (blob, spec))
        size, _, root, note = work.state
        cur.execute("INSERT INTO ledger_checkpoints VALUES (?, ?, ?, ?)", (size, root, note, now()))

    def _commit(self, batch: list[Pending]) -> None:
        """A batch with state checks: each checked item in its own savepoint, then written and
        committed in the same transaction."""
        base = self._state
        cur = self._write
        cur.execute("BEGIN IMMEDIATE")
        try:
            entries: list[bytes] = []
            answers: list[tuple[Pending, Any]] = []
            for item in batch:
                first = base[0] + len(entries)
                if not (item.key or item.check):
                    answers.append((item, (first, False)))
                    entries.extend(item.entries)
                    continue
                cur.execute("SAVEPOINT item")
                try:
                    existing = None
                    if item.key:
                        row = cur.execute("SELECT idx FROM ledger_keys WHERE key = ?", (item.key,)).fetchone()
                        existing = row[0] if row else None
                    if existing is None:
                        if item.check:
                            item.check(cur, first)
                        if item.key:
                            cur.execute("INSERT INTO ledger_keys VALUES (?, ?)", (item.key, first))
                except Exception as exc:  # noqa: BLE001 - refused: this item only
                    cur.execute("ROLLBACK TO item")
                    cur.execute("RELEASE item")
                    answers.append((item, exc))
                    continue
                cur.execute("RELEASE item")
                if existing is not None:
                    answers.append((item, (existing, True)))
                else:
                    answers.append((item, (first, False)))
                    entries.extend(item.entries)
            work = self._build(batch, answers, entries, base, self._bundle)
            self._write_rows(cur, work)
            cur.execute("COMMIT")
            self._committed.set()
        except BaseException:
            if self._write.in_transaction:
                cur.execute("ROLLBACK")
            raise
        self._publish(work)

    def _publish(self, work: _Work) -> None:
        """After the commit: show readers the new tree, then answer (with receipts)."""
        for lv, k, width, blob in work.touched:
            if width == tiles.WIDTH:
                self._remember((lv << 48) | k, blob)
        self._state = work.state
        self._bundle = work.bundle
        size, frontier, _, note = work.state
        for item, answer in work.answers:
            if item.future.done():  # cancelled by its caller: nobody to answer
                continue
            if isinstance(answer, Exception):
                item.future.set_exception(answer)
                continue
            first, existed = answer
            receipt = None
            if item.receipt:
                try:
                    if existed:
                        receipt = self.receipt(first)
                    else:
                        receipt = _receipt(first, item.entries[0], self._inclusion(size, frontier, first, size), note)
                except Exception as exc:  # noqa: BLE001 - committed; the waiter builds it itself
                    log.warning("ledger receipt for entry %s: %s", first, exc)
            item.future.set_result(Appended((first, 1 if existed else len(item.entries), size, note, existed, receipt)))

    def _bundle_rows(self, size: int, entries: list[bytes], bundle: bytes) -> tuple[tuple[bytes, str], bytes]:
        """The bundle rows a batch writes (the current partial bundle ``bundle``, extended, then
        new ones) packed for ``_INSERT_BUNDLES`` in one join, and the partial bundle left at the end."""
        width = tiles.WIDTH
        k, n = size >> tiles.HEIGHT, len(entries)
        take = min(width - (size & (width - 1)), n)
        groups = [(k, (tiles.decode_bundle(bundle) if bundle else []) + entries[:take])]
        at = take
        while at < n:
            k += 1
            take = min(width, n - at)
            groups.append((k, entries[at:at + take]))
            at += take
        parts, spec, first = [], [], 1  # substr counts from 1
        for k, group in groups:
            header, length = tiles.bundle_header(group)
            parts.append(header)
            parts.extend(group)
            spec.append([k, first, length])
            first += length
        blob = b"".join(parts)
        tail = b"" if (size + n) & (width - 1) == 0 else blob[spec[-1][1] - 1:]
        return (blob, json.dumps(spec)), tail

    def _checkpoint_loop(self, pause: float = 0.05) -> None:
        conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA synchronous=FULL")
            while True:
                self._committed.wait()
                if self._stopping.is_set():
                    return
                self._committed.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # the next commit asks again
                    log.warning("ledger WAL checkpoint failed: %s", exc)
                self._stopping.wait(pause)  # let commits gather: fewer, larger checkpoints
        finally:
            conn.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        self._stopping.set()
        self._committed.set()
        self._checkpointer.join()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self._write.close()
