"""Each kernel's open near-duplicate indexes, kept in its ``kernel.plugin_state("text")``.

``text.near_duplicates`` reaches its kernel as ``self.kernel`` (the SDK's ``KernelBound``: the
plugin's ``paperchain_startup`` binds the kernel's own instance of it), so several kernels in one
process (tests) each keep their own indexes, and they go with the kernel. It is an async analyzer:
it runs on the kernel's event loop, where the kernel's storage handle lives.
"""

from __future__ import annotations


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
