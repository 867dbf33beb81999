"""Where the near-duplicate index lives for a document, and the open indexes of this process.

Components are built as ``Impl(settings)`` and never see the kernel, so ``paperchain_startup``
records each running kernel here (data directory -> database). A document inside a kernel's
data directory (its blob store) then finds that kernel's database; several kernels in one process
(tests) each keep their own index. ``text.near_duplicates`` is not ``cpu_bound``: it runs in a
thread of the kernel's process, where this registry is filled.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from paperchain_sdk import ConfigError

_lock = threading.Lock()
_kernels: dict[Path, Path] = {}
_indexes: dict[tuple, object] = {}


def register_kernel(data_dir, db_path) -> None:
    with _lock:
        _kernels[Path(data_dir).resolve()] = Path(db_path)


def unregister_kernel(data_dir) -> None:
    data_dir = Path(data_dir).resolve()
    with _lock:
        db = _kernels.pop(data_dir, None)
        for key in [k for k in _indexes if db is not None and k[0] == str(db)]:
            _indexes.pop(key).close()


def database_for(document_path: str) -> Path:
    """The database of the kernel whose data directory holds ``document_path``."""
    path = Path(document_path).resolve()
    with _lock:
        for data_dir, db in _kernels.items():
            if path.is_relative_to(data_dir):
                return db
    raise ConfigError(
        "text.near_duplicates has no index for this document: it is not stored by a running Paperchain "
        "kernel and the step sets no index_path.",
        hint="run it in a workflow of a kernel, or set index_path to an SQLite file (it is created if missing)",
    )


def open_index(path, **parameters):
    """A shared :class:`MinHashIndex` per file and parameters (opened once per process)."""
    from .lsh_index import MinHashIndex

    key = (str(path), tuple(sorted(parameters.items())))
    with _lock:
        index = _indexes.get(key)
        if index is None:
            try:
                index = _indexes[key] = MinHashIndex(path, **parameters)
            except (sqlite3.Error, OSError) as exc:
                raise ConfigError(f"the near-duplicate index {path} cannot be opened: {exc}.",
                                  hint="point index_path at a writable SQLite file (it is created if missing)") from None
        return index
