"""What runs inside the process pool: import a component by reference and call one method.

Kept tiny and import-light: the pool preloads this module in its fork server.
"""

from __future__ import annotations

import asyncio
import inspect
import os

_instances: dict[str, object] = {}


def init_worker() -> None:
    # Libraries such as tesseract and BLAS start a thread per core; in a pool of one process per
    # core that oversubscribes the CPU (tesseract runs 5-7x slower). Parallelism comes from the pool.
    for var in ("OMP_THREAD_LIMIT", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def call(impl_ref: str, settings, method: str, args: tuple):
    component = _instances.get(impl_ref)
    if component is None:
        from paperchain_sdk.specs import resolve

        component = resolve(impl_ref)(settings)
        _instances[impl_ref] = component
    result = getattr(component, method)(*args)
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    return result


async def _await(awaitable):
    return await awaitable
