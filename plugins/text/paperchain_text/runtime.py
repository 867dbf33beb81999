"""Where the near-duplicate index lives for a document, and the open indexes.

A kernel's own indexes (in its database) are kept in its ``kernel.plugin_state("text")`` and
closed with it. Components are built as ``Impl(settings)`` and never see the kernel, so
``paperchain_startup`` also records each running kernel's data directory here, pointing at that
state: a document inside a kernel's data directory (its blob store) then finds that kernel's
index; several kernels in one process (tests) each keep their own. ``text.near_duplicates`` is
not ``cpu_bound``: it runs in a thread of the kernel's process, where this lookup is filled.
Indexes a step names by ``index_path`` belong to no kernel: they stay open for the process.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from paperchain_sdk import ConfigError

_lock = threading.Lock()
_kernels: dict[Path, dict] = {}  # data directory -> that kernel's plugin_state("text")
_indexes: dict[tuple, object] = {}  # (file, parameters) -> index named by a step's index_path


def register_kernel(kernel) -> None:
    state = kernel.plugin_state("text")
    state.setdefault("indexes", {})
    state["database"] = Path(kernel.db_path)
    with _lock:
        _kernels[Path(kernel.data_dir).resolve()] = state


def unregister_kernel(kernel) -> None:
    state = kernel.plugin_state("text")
    with _lock:
        if _kernels.get(Path(kernel.data_dir).resolve()) is state:
            del _kernels[Path(kernel.data_dir).resolve()]
        indexes, state["indexes"] = state.get("indexes", {}), {}
    for index in indexes.values():
        index.close()


def database_for(document_path: str) -> Path:
    """The database of the kernel whose data directory holds ``document_path``."""
    path = Path(document_path).resolve()
    with _lock:
        for data_dir, state in _kernels.items():
            if path.is_relative_to(data_dir):
                return state["database"]
    raise ConfigError(
        "text.near_duplicates has no index for this document: it is not stored by a running Paperchain "
        "kernel and the step sets no index_path.",
        hint="run it in a workflow of a kernel, or set index_path to an SQLite file (it is created if missing)",
    )


def open_index(path, **parameters):
    """A shared :class:`MinHashIndex` per file and parameters: in the state of the kernel whose
    database ``path`` is, else once per process."""
    from .lsh_index import MinHashIndex

    key = (str(path), tuple(sorted(parameters.items())))
    with _lock:
        owner = next((s["indexes"] for s in _kernels.values() if str(s["database"]) == str(path)), _indexes)
        index = owner.get(key)
        if index is None:
            try:
                index = owner[key] = MinHashIndex(path, **parameters)
            except (sqlite3.Error, OSError) as exc:
                raise ConfigError(f"the near-duplicate index {path} cannot be opened: {exc}.",
                                  hint="point index_path at a writable SQLite file (it is created if missing)") from None
        return index
