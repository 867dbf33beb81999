"""``paperchain ledger verify``: rebuild the whole tree from the stored entries and compare.

Only reads (on PostgreSQL in one REPEATABLE READ snapshot, the bundles through a server-side cursor). Every stored tile must equal the one rebuilt from the entries, and
every signed checkpoint must carry the root of the entries before it, signed by the log's key.
A problem is reported with the first entry it concerns.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import sqlalchemy as sa

from paperchain_sdk.storage import OwnDatabase, open_own_database

from . import merkle, storage, tiles
from .log import DB_NAME, VKEY_NAME
from .note import NoteError, VerifierKey, open_checkpoint

MAX_PROBLEMS = 50


@attrs.frozen
class Problem:
    entry: int | None  # the first entry concerned (None: not tied to one entry)
    message: str
    exact: bool = False  # the entry itself differs (not a node above it)


@attrs.frozen
class Report:
    size: int
    checkpoints: int
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_entry(self) -> int | None:
        exact = [p.entry for p in self.problems if p.exact]
        indexes = exact or [p.entry for p in self.problems if p.entry is not None]
        return min(indexes) if indexes else None


def _first_difference(a: list[bytes], b: list[bytes]) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def verify_log(directory: str | Path, own: OwnDatabase | None = None) -> Report:
    """Check the log whose key files are in ``directory``: in ``own`` (the kernel's ledger database),
    or without it in the SQLite file of ``directory``."""
    directory = Path(directory)
    key = VerifierKey.parse((directory / VKEY_NAME).read_text())
    if own is not None:
        return _verify_in(own, key)
    db = directory / DB_NAME
    if not db.exists():
        raise FileNotFoundError(f"no ledger database at {db}")
    own = open_own_database(storage.SCHEMA, folder=directory, migrate=False)
    try:
        return _verify_in(own, key)
    finally:
        own.close()


def _verify_in(own: OwnDatabase, key: VerifierKey) -> Report:
    with own.connect() as conn:
        if own.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            return _verify(conn.execution_options(stream_results=True, yield_per=16), key)


_TILE = sa.select(storage.tiles.c.width, storage.tiles.c.hashes).where(storage.tiles.c.id == sa.bindparam("id"))


def _verify(conn: sa.Connection, key: VerifierKey) -> Report:
    problems: list[Problem] = []
    cp = storage.checkpoints
    checkpoints = [(row.size, bytes(row.root), row.note)
                   for row in conn.execute(sa.select(cp.c.size, cp.c.root, cp.c.note).order_by(cp.c.size))]
    size = checkpoints[-1][0] if checkpoints else 0
    for cp_size, root, note in checkpoints:
        try:
            signed = open_checkpoint(note, key)
            if signed.size != cp_size or signed.root != root:
                problems.append(Problem(None, f"checkpoint row {cp_size} differs from the note it stores"))
        except NoteError as exc:
            problems.append(Problem(None, f"checkpoint at size {cp_size}: {exc}"))
    stops = [cp for cp in checkpoints if cp[0] > 0]
    frontier: list = []
    built = 0

    def compare(touched):
        for level, k, width, blob in touched:
            rows = tiles.decode_tile(width, blob)
            stored = conn.execute(_TILE, {"id": tiles.tile_id(level, k)}).first()
            first_leaf = (k * tiles.WIDTH) << (tiles.HEIGHT * level)
            if stored is None or stored[0] < width:
                problems.append(Problem(first_leaf, f"tile ({level}, {k}) is missing or too short"))
                continue
            stored_rows = tiles.decode_tile(stored[0], bytes(stored[1]))
            if stored_rows[0][:width] != rows[0]:
                at = _first_difference(stored_rows[0], rows[0])
                entry = ((k * tiles.WIDTH + at) << (tiles.HEIGHT * level))
                what = f"entry {entry} does not match its stored leaf hash" if level == 0 else \
                    f"the stored tree node over entries from {entry} does not match the entries"
                problems.append(Problem(entry, what, exact=level == 0))
            elif any(stored_rows[r][:len(rows[r])] != rows[r] for r in range(1, tiles.HEIGHT)):
                problems.append(Problem(first_leaf, f"an inner node of tile ({level}, {k}) was altered"))

    pending: dict = {}
    roots_differ = False
    stop_at = 0
    expected = 0
    bundles = storage.bundles
    for k, blob in conn.execute(sa.select(bundles.c.idx, bundles.c.data).order_by(bundles.c.idx)):
        blob = bytes(blob)
        if len(problems) >= MAX_PROBLEMS:
            break
        if k != expected:
            problems.append(Problem(expected * tiles.WIDTH, f"entry bundle {expected} is missing"))
            break
        expected += 1
        try:
            entries = tiles.decode_bundle(blob)
        except ValueError as exc:
            problems.append(Problem(k * tiles.WIDTH, f"entries from {k * tiles.WIDTH} cannot be read: {exc}"))
            break
        leaves = merkle.leaf_hashes(entries[:max(0, size - built)])
        at = 0
        while at < len(leaves):
            limit = stops[stop_at][0] - built if stop_at < len(stops) else len(leaves) - at
            chunk = leaves[at:at + max(1, min(limit, len(leaves) - at))]
            frontier, touched = tiles.extend(frontier, built, chunk)
            for level, tk, width, blob in touched:
                pending[(level, tk)] = (width, blob)
            complete = [(lv, tk, w, b) for (lv, tk), (w, b) in pending.items() if w == tiles.WIDTH]
            compare(complete)
            for lv, tk, _, _ in complete:
                del pending[(lv, tk)]
            built += len(chunk)
            at += len(chunk)
            if stop_at < len(stops) and built == stops[stop_at][0]:
                if tiles.root_from_frontier(frontier, built) != stops[stop_at][1] and not roots_differ:
                    roots_differ = True  # later checkpoints differ for the same reason: say it once
                    problems.append(Problem(None, f"the signed checkpoint at size {built} does not match the entries (and later ones)"))
                stop_at += 1
    if built < size:
        problems.append(Problem(built, f"only {built} of {size} entries are stored"))
    compare([(lv, tk, w, b) for (lv, tk), (w, b) in pending.items()])
    problems.sort(key=lambda p: (not p.exact, p.entry is None, p.entry or 0))
    return Report(size=size, checkpoints=len(checkpoints), problems=tuple(problems))
