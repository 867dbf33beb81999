"""One writing process per data directory.

The engine, the ledger's Merkle log and the notify outbox keep state in memory beside the
database (the next event number, the tree's size, what is in flight), so two processes writing one
data directory would run the same unfinished batches twice and append to the log on top of each
other. ``paperchain serve``, ``run``, ``resume`` and every command that changes something take an
exclusive lock on ``<data_dir>/paperchain.lock`` first; a second one is refused with the first's
pid and command. Commands that only read (``runs list``, ``documents search`` …) take no lock.

The lock is ``flock``: the kernel drops it when the process ends, however it ends (``kill -9``
included), so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

from paperchain_sdk import ConfigError

LOCK_FILE = "paperchain.lock"


class DataDirOwner:
    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> DataDirOwner:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise ConfigError(
                f"the data directory {self.path.parent} is in use by {holder}; only one Paperchain process may "
                "change it at a time.",
                hint="while `paperchain serve` runs, make changes through its API (docs/api.md) or stop it first; "
                     "or give this command another data directory (PAPERCHAIN_DATA_DIR)",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({' '.join(['paperchain', *sys.argv[1:3]])})\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> DataDirOwner:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
