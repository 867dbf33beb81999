"""The log: an RFC 9162 tree in the ledger's own database, appended by one writer thread (group commit).

Appenders hand work to a queue and wait on a future; the writer takes everything queued and
builds it in memory (leaf and node hashes, tiles, entry bundles, one signed checkpoint for the
new tree); a committer thread writes it in one transaction (one fsync: SQLite ``synchronous=FULL``,
PostgreSQL's durable commit), commits, and only then answers, with receipts. The database is the
ledger's own (storage.py: on SQLite its own file, on PostgreSQL its own schema and pools), reached
through synchronous connections the host hands over, so the threads never wait for an event loop
or for the kernel's writers. While batch i is being committed the writer already builds batch
i+1 on top of the tree batch i makes (at most one batch waits for its commit; small batches wait
for it instead, gathering more appenders). Items with state checks
(nonces, balances, idempotency keys) wait until the committer is idle, then are checked, each in
its own savepoint, and committed by the writer in the same transaction: a refused item is rolled
back and answered with its error; the others in the batch go on. Several processes may append to
one log (API servers on one PostgreSQL database): each commit first takes the log's turn (a row
lock; SQLite's write lock) and reads the stored tree's size; when another writer has appended,
the stored tree is loaded in that transaction and the batch is built again on top of it. On SQLite WAL checkpoints run on a
third thread, so a commit waits only for its own fsync.
"""

from __future__ import annotations

import base64
import collections
import concurrent.futures
import logging
import os
import queue
import secrets
import stat
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from paperchain_sdk import ConfigError, InputError, NotFoundError, TransientError
from paperchain_sdk.storage import OwnDatabase, open_own_database

from . import merkle, shared_key, storage, tiles
from .note import Checkpoint, Signer, generate_signer, load_signer
from .verifier import RECEIPT_FORMAT

log = logging.getLogger(__name__)

DB_NAME = "ledger.db"
KEY_NAME = "log.key"
VKEY_NAME = "log.vkey"
_STOP = object()
GATHER_BELOW = 256  # a batch smaller than this waits GATHER_SECONDS once for more appenders
GATHER_SECONDS = 0.001
TAIL_CACHE = 4096  # cached upper parts of inclusion paths (each a few hundred bytes)


_LATEST = sa.select(storage.checkpoints.c.size, storage.checkpoints.c.root, storage.checkpoints.c.note) \
    .order_by(storage.checkpoints.c.size.desc()).limit(1)
_TILE = sa.select(storage.tiles.c.width, storage.tiles.c.hashes).where(storage.tiles.c.id == sa.bindparam("id"))
_BUNDLE = sa.select(storage.bundles.c.data).where(storage.bundles.c.idx == sa.bindparam("idx"))
_CHECKPOINT = sa.insert(storage.checkpoints)
_KEY = sa.select(storage.keys.c.idx).where(storage.keys.c.key == sa.bindparam("key"))
_NEW_KEY = sa.insert(storage.keys)
_LAST_SIZE = sa.select(sa.func.max(storage.checkpoints.c.size))
# PostgreSQL: the origin row, locked until the commit, makes writers of one log take turns (SQLite's
# BEGIN IMMEDIATE does that already), so the size read after it is the latest.
_TAKE_TURN = sa.select(storage.meta.c.value).where(storage.meta.c.key == "origin").with_for_update()


def _upserts(dialect: str) -> tuple:
    """The bundle and tile upserts (a partial bundle or tile is written again as it fills up):
    executemany of one Core statement, which both drivers send as a batch."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
    bundle = insert(storage.bundles)
    bundle = bundle.on_conflict_do_update(index_elements=[storage.bundles.c.idx], set_={"data": bundle.excluded.data})
    tile = insert(storage.tiles)
    tile = tile.on_conflict_do_update(index_elements=[storage.tiles.c.id],
                                      set_={"width": tile.excluded.width, "hashes": tile.excluded.hashes})
    return bundle, tile


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
    """One log: its tables in the ledger's own database (``own``), its key files (log.key,
    log.vkey) in ``directory``. Thread-safe. ``LedgerLog.open(directory)`` opens one without a
    kernel (a SQLite file in ``directory``, or ``url``'s PostgreSQL)."""

    def __init__(self, own: OwnDatabase, directory: str | os.PathLike, *, origin: str = "", max_batch: int = 8192,
                 tile_cache: int = 4096, max_entry_bytes: int = 1 << 20, key_secret: bytes | None = None):
        """``key_secret``: the signing key is kept in the database, sealed with it (shared_key.py), for
        every process appending to this log (servers sharing a PostgreSQL database); None: log.key only."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._own = own
        self._owns_database = False  # set by open(): then close() closes the database too
        self.dialect = own.dialect
        self.where = str(self.directory / DB_NAME) if own.dialect == "sqlite" else "PostgreSQL schema ledger"
        self.max_batch = max_batch
        self.max_entry_bytes = max_entry_bytes
        self._put_bundles, self._put_tiles = _upserts(own.dialect)
        self._write = own.connect(write=True)  # the writer's and committer's connection (never at once)
        try:
            with self._write.begin():
                if own.dialect == "sqlite":
                    # WAL checkpoints (copying committed pages into the database file, with its own fsync)
                    # run on a thread of their own, so the writer's commits only wait for their own fsync.
                    self._write.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
                self.origin = self._origin(origin)
            self.signer = self._load_or_create_key() if key_secret is None else self._shared_key(key_secret)
            with self._write.begin():
                self._load_state()
        except BaseException:
            self._write.close()
            raise
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self._cache_size = tile_cache
        self._cache_lock = threading.Lock()
        self._tails: dict[tuple[int, int, int], list[bytes]] = {}
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._io_queue: queue.SimpleQueue = queue.SimpleQueue()
        self._rebase = False  # the committer did not commit the tree the writer builds on
        self._slot = threading.Semaphore(1)  # one prepared batch in the committer at a time
        self._closed = False
        self._committed = threading.Event()
        self._stopping = threading.Event()
        self._committer = threading.Thread(target=self._io_loop, name=f"ledger-committer:{self.directory}", daemon=True)
        self._committer.start()
        self._thread = threading.Thread(target=self._run, name=f"ledger-writer:{self.directory}", daemon=True)
        self._thread.start()
        self._checkpointer = None
        if own.dialect == "sqlite":
            self._checkpointer = threading.Thread(target=self._checkpoint_loop,
                                                  name=f"ledger-checkpoints:{self.directory}", daemon=True)
            self._checkpointer.start()

    @property
    def database(self) -> OwnDatabase:
        """The ledger's own database this log is in."""
        return self._own

    @classmethod
    def open(cls, directory: str | os.PathLike, *, url: str | None = None, **options: Any) -> LedgerLog:
        """A log without a kernel: its database opened (and migrated) here, closed with the log."""
        own = open_own_database(storage.SCHEMA, folder=directory, url=url)
        try:
            opened = cls(own, directory, **options)
        except BaseException:
            own.close()
            raise
        opened._owns_database = True
        return opened

    # -- set-up ---------------------------------------------------------------------------------

    def _origin(self, wanted: str) -> str:
        meta = storage.meta
        stored = self._write.execute(sa.select(meta.c.value).where(meta.c.key == "origin")).scalar()
        if stored is not None:
            if wanted and wanted != stored:
                raise ConfigError(f"the ledger in {self.directory} was created with origin {stored!r}, not {wanted!r}.",
                                  hint="a log's origin never changes: remove the origin setting or use another data directory")
            return stored
        origin = wanted or f"paperchain.ledger/{secrets.token_hex(6)}"
        if any(c.isspace() for c in origin) or "+" in origin:
            raise ConfigError(f"ledger origin {origin!r} may not contain spaces or '+'.", hint="use e.g. 'example.com/ledger'")
        self._write.execute(sa.insert(meta).values(key="origin", value=origin))
        return origin

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

    def _shared_key(self, secret: bytes) -> Signer:
        """The key stored (sealed) in the database; the first process stores its own (log.key, or a
        new one). It replaces a different log.key here, which is kept aside as log.key.replaced."""
        meta = storage.meta
        with self._write.begin():
            if self.dialect == "postgresql":
                self._write.execute(_TAKE_TURN)  # one process at a time stores the first key
            sealed = self._write.execute(sa.select(meta.c.value).where(meta.c.key == shared_key.META_KEY)).scalar()
            if sealed is None:
                if (self.directory / KEY_NAME).exists():
                    self._load_or_create_key()  # this server's own key, checked (private, readable)
                    pem = (self.directory / KEY_NAME).read_bytes()
                else:
                    pem = generate_signer(self.origin)[1]
                self._write.execute(sa.insert(meta).values(key=shared_key.META_KEY, value=shared_key.seal(pem, secret)))
            else:
                pem = shared_key.unseal(sealed, secret)
        path = self.directory / KEY_NAME
        if not path.exists() or path.read_bytes() != pem:
            if path.exists():
                log.warning("ledger: %s differs from the log's key in the database; kept as %s.replaced", path, path)
                path.replace(path.with_name(KEY_NAME + ".replaced"))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
        signer = load_signer(self.origin, pem)
        (self.directory / VKEY_NAME).write_text(str(signer.verifier) + "\n")
        return signer

    def _load_state(self) -> None:
        conn = self._write
        row = conn.execute(_LATEST).first()
        if row is None:
            size, root = 0, merkle.root_of_hashes([])
            note = Checkpoint(self.origin, 0, root).sign(self.signer)
            conn.execute(_CHECKPOINT.values(size=0, root=root, note=note, time=now()))
        else:
            size, root, note = row.size, bytes(row.root), row.note

        def edge_tile(level: int, k: int, width: int) -> bytes:
            stored = conn.execute(_TILE, {"id": tiles.tile_id(level, k)}).first()
            if stored is None or stored.width != width:
                raise ConfigError(f"the ledger database {self.where} is inconsistent: tile ({level}, {k}) is "
                                  "missing or of the wrong width.", hint="run `paperchain ledger verify`")
            return bytes(stored.hashes)

        try:
            frontier = tiles.frontier_from_tiles(size, edge_tile)
        except ValueError as exc:
            raise ConfigError(f"the ledger database {self.where} is inconsistent: {exc}",
                              hint="run `paperchain ledger verify`") from None
        bundle = b""
        if size % tiles.WIDTH:
            blob = conn.execute(_BUNDLE, {"idx": size >> tiles.HEIGHT}).scalar()
            bundle = bytes(blob) if blob is not None else b""
        if tiles.root_from_frontier(frontier, size) != root:
            raise ConfigError(f"the ledger database {self.where} does not match its latest checkpoint.",
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

    def read(self, statement: Any, parameters: Any = None) -> list[sa.Row]:
        """Every row of a SELECT on the log's tables (a pooled connection; the statement is atomic)."""
        with self._own.connect() as conn:
            return list(conn.execute(statement, parameters).all())

    def insert(self, table: sa.Table) -> Any:
        """The database's own INSERT (``on_conflict_do_nothing`` / ``on_conflict_do_update`` on both)."""
        from sqlalchemy.dialects import postgresql, sqlite

        return (sqlite.insert if self.dialect == "sqlite" else postgresql.insert)(table)

    def _first(self, statement: Any, parameters: Any = None) -> sa.Row | None:
        with self._own.connect() as conn:
            return conn.execute(statement, parameters).first()

    def _full_tile(self, level: int, k: int) -> bytes:
        """The blob of a complete tile (cached: complete tiles never change)."""
        tid = (level << 48) | k
        blob = self._cache.get(tid)
        if blob is not None:
            return blob
        row = self._first(_TILE, {"id": tid})
        if row is None or row.width != tiles.WIDTH:
            raise NotFoundError(f"complete tile ({level}, {k}) is not in the ledger")
        blob = bytes(row.hashes)
        self._remember(tid, blob)
        return blob

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
        row = self._first(_BUNDLE, {"idx": index >> tiles.HEIGHT})
        return tiles.bundle_entry(bytes(row.data), index & (tiles.WIDTH - 1))

    def checkpoint_at(self, size: int) -> str | None:
        checkpoints = storage.checkpoints
        row = self._first(sa.select(checkpoints.c.note).where(checkpoints.c.size == size))
        return row.note if row else None

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
            if self._rebase:  # a pipelined batch failed or was rebuilt: go on from what is committed
                self._drain()
                self._rebase = False
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
                    work = self._build_plain(batch, base, bundle)
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
                try:
                    cur.begin()  # SQLite: BEGIN IMMEDIATE
                    head = self._take_turn(cur)
                    if work.base is not head:  # another writer appended, or the batch below failed
                        work = self._build_plain(work.batch, head, self._bundle)
                        self._rebase = True
                    self._write_rows(cur, work)
                    cur.commit()  # one fsync (SQLite synchronous=FULL; PostgreSQL's durable commit)
                    self._committed.set()
                except BaseException as exc:  # noqa: BLE001 - every waiter must hear about it
                    _roll_back(cur)
                    self._fail(work.batch, exc)
                    self._rebase = True
                    continue
                self._publish(work)
            except BaseException:  # the committer must outlive any one batch
                log.exception("ledger committer: answering a batch failed")
            finally:
                self._slot.release()

    def _build_plain(self, batch: list[Pending], base: tuple, bundle: bytes) -> _Work:
        """A batch without state checks, built on state ``base``: every item's entries, in order."""
        first, answers = base[0], []
        entries: list[bytes] = []
        for it in batch:
            answers.append((it, (first + len(entries), False)))
            entries.extend(it.entries)
        return self._build(batch, answers, entries, base, bundle)

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

    def _write_rows(self, cur: sa.Connection, work: _Work) -> None:
        """A batch's rows in three statements: the bundles and the tiles each one executemany of a
        Core upsert (both drivers batch it), then the new checkpoint."""
        if work.state is work.base:
            return
        cur.execute(self._put_bundles, work.bundle_rows)
        cur.execute(self._put_tiles, [{"id": tiles.tile_id(lv, k), "level": lv, "idx": k, "width": width, "hashes": data}
                                      for lv, k, width, data in work.touched])
        size, _, root, note = work.state
        cur.execute(_CHECKPOINT, {"size": size, "root": root, "note": note, "time": now()})

    def _commit(self, batch: list[Pending]) -> None:
        """A batch with state checks: each checked item in its own savepoint, then written and
        committed in the same transaction."""
        cur = self._write
        cur.begin()
        try:
            base = self._take_turn(cur)
            entries: list[bytes] = []
            answers: list[tuple[Pending, Any]] = []
            for item in batch:
                first = base[0] + len(entries)
                if not (item.key or item.check):
                    answers.append((item, (first, False)))
                    entries.extend(item.entries)
                    continue
                savepoint = cur.begin_nested()
                try:
                    existing = None
                    if item.key:
                        existing = cur.execute(_KEY, {"key": item.key}).scalar()
                    if existing is None:
                        if item.check:
                            item.check(cur, first)
                        if item.key:
                            cur.execute(_NEW_KEY, {"key": item.key, "idx": first})
                except Exception as exc:  # noqa: BLE001 - refused: this item only
                    savepoint.rollback()
                    answers.append((item, exc))
                    continue
                savepoint.commit()
                if existing is not None:
                    answers.append((item, (existing, True)))
                else:
                    answers.append((item, (first, False)))
                    entries.extend(item.entries)
            work = self._build(batch, answers, entries, base, self._bundle)
            self._write_rows(cur, work)
            cur.commit()
            self._committed.set()
        except BaseException:
            _roll_back(cur)
            raise
        self._publish(work)

    def _take_turn(self, cur: sa.Connection) -> tuple:
        """In the batch's transaction, before its rows: this log's turn (PostgreSQL: its origin row
        locked until the commit; SQLite: BEGIN IMMEDIATE took the file's) and the tree to build on.
        That is this process's, unless another process appended since (one indexed read says so):
        then the stored tree is loaded, under the turn, so nothing can move it before the commit
        (complete tiles never change: the caches stay)."""
        if self.dialect == "postgresql":
            cur.execute(_TAKE_TURN)
        if cur.execute(_LAST_SIZE).scalar() != self._state[0]:
            self._load_state()
        return self._state

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

    def _bundle_rows(self, size: int, entries: list[bytes], bundle: bytes) -> tuple[list[dict], bytes]:
        """The bundle rows a batch writes (the current partial bundle ``bundle``, extended, then
        new ones), and the partial bundle left at the end."""
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
        rows = []
        for k, group in groups:
            header, _length = tiles.bundle_header(group)
            rows.append({"idx": k, "data": header + b"".join(group)})
        tail = b"" if (size + n) & (width - 1) == 0 else rows[-1]["data"]
        return rows, tail

    def _checkpoint_loop(self, pause: float = 0.05) -> None:
        """SQLite: copy committed WAL pages into the database file after commits, off the commit path."""
        with self._own.connect() as conn:
            while True:
                self._committed.wait()
                if self._stopping.is_set():
                    return
                self._committed.clear()
                try:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                    conn.rollback()  # ends SQLAlchemy's transaction marker (nothing was begun in SQLite)
                except sa.exc.DBAPIError as exc:  # the next commit asks again
                    log.warning("ledger WAL checkpoint failed: %s", exc)
                self._stopping.wait(pause)  # let commits gather: fewer, larger checkpoints

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        self._stopping.set()
        self._committed.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
        self._write.close()
        if self._owns_database:
            self._own.close()


def _roll_back(conn: sa.Connection) -> None:
    if conn.in_transaction():
        try:
            conn.rollback()
        except Exception as exc:  # noqa: BLE001 - the connection is reset on its next use
            log.warning("ledger rollback failed: %s", exc)
