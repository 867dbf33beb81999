"""Which kernel a document belongs to, and each kernel's open near-duplicate indexes.

A kernel's indexes (one per set of parameters, on its plugin storage handle) are kept in its
``kernel.plugin_state("text")`` and go with it. Components are built as ``Impl(settings)`` and
never see the kernel, so ``paperchain_startup`` also records each running kernel's data directory
here: a document inside a kernel's data directory (its blob store) then finds that kernel; several
kernels in one process (tests) each keep their own. ``text.near_duplicates`` is an async analyzer:
it runs on the kernel's event loop, where the kernel's storage handle lives.
"""

from __future__ import annotations

import threading
from pathlib import Path

from paperchain_sdk import ConfigError

_lock = threading.Lock()  # kernels of one process may run on loops in different threads
_kernels: dict[Path, object] = {}  # data directory -> the running kernel


def register_kernel(kernel) -> None:
    kernel.plugin_state("text").setdefault("indexes", {})
    with _lock:
        _kernels[Path(kernel.data_dir).resolve()] = kernel


def unregister_kernel(kernel) -> None:
    with _lock:
        if _kernels.get(Path(kernel.data_dir).resolve()) is kernel:
            del _kernels[Path(kernel.data_dir).resolve()]
    kernel.plugin_state("text")["indexes"] = {}


def kernel_for(document_path: str):
    """The running kernel whose data directory holds ``document_path``."""
    path = Path(document_path).resolve()
    with _lock:
        for data_dir, kernel in _kernels.items():
            if path.is_relative_to(data_dir):
                return kernel
    raise ConfigError(
        "text.near_duplicates has no index for this document: it is not stored by a running Paperchain kernel "
        "(the index lives in the kernel's database).",
        hint="run it as a step of a workflow of a kernel (paperchain run, or the API)",
    )


async def open_index(kernel, **parameters):
    """The kernel's :class:`MinHashIndex` for these parameters, opened (and checked) once."""
    from .lsh_index import MinHashIndex
    from .storage import SCHEMA

    indexes = kernel.plugin_state("text").setdefault("indexes", {})
    key = tuple(sorted(parameters.items()))
    index = indexes.get(key)
    if index is None:
        index = indexes.setdefault(key, await MinHashIndex.open(await kernel.storage(SCHEMA), **parameters))
    return index
