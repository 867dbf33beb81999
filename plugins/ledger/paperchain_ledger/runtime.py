"""The kernel's log, opened at start-up in the ledger's own database (storage.py), kept in the
kernel's ``plugin_state("ledger")``; also batches the kernel's audit events into the log.

The log's key files stay in ``<data_dir>/ledger`` (or the ``path`` setting's folder, which also
pins the log's tables to a SQLite file there, whatever ``database_url`` says). On PostgreSQL the
signing key is also kept in the database, sealed (shared_key.py): every server signs with it.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from paperchain_sdk import ConfigError
from paperchain_sdk.contracts import bind_kernel

from . import shared_key
from .book import Book
from .log import LedgerLog
from .settings import LedgerSettings
from .storage import SCHEMA

log = logging.getLogger(__name__)
COMPONENTS = ("ledger.merkle", "ledger.notarize", "ledger.verify")


class KernelLedger:
    """A kernel's log and its pending audit entries."""

    def __init__(self, book: Book, settings: LedgerSettings):
        self.settings = settings
        self.book = book
        self.audit: list[dict] = []
        self.flusher: asyncio.Task | None = None
        self._flushing: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    def add_audit(self, data: dict) -> None:
        self.audit.append(dict(data))
        if self.flusher is None or self.flusher.done():
            self.flusher = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.settings.audit_flush_seconds)
        await self.flush()

    def _flush_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._flushing is None or self._flushing[0] is not loop:
            self._flushing = (loop, asyncio.Lock())
        return self._flushing[1]

    async def flush(self) -> None:
        """Append what is pending; returns once it is anchored, including a batch that another
        flush (the timer's) had already taken when this one was called."""
        async with self._flush_lock():
            await self._flush_pending()

    async def _flush_pending(self) -> None:
        while self.audit:
            batch, self.audit = self.audit[:1000], self.audit[1000:]
            try:
                await asyncio.get_running_loop().run_in_executor(None, self.book.anchor_audit, batch)
            except Exception:  # noqa: BLE001 - keep them for the next flush
                log.exception("anchoring %d audit entries failed; they stay queued", len(batch))
                self.audit[:0] = batch
                return

    async def close(self) -> None:
        if self.flusher is not None and not self.flusher.done():
            self.flusher.cancel()
            await asyncio.gather(self.flusher, return_exceptions=True)
        await self.flush()


def settings_of(kernel) -> LedgerSettings:
    from . import LEDGER

    try:
        return kernel.component(LEDGER).settings or LedgerSettings()
    except Exception as exc:  # noqa: BLE001 - e.g. the ledger component disabled: use the defaults
        log.debug("ledger settings unavailable (%s); using defaults", exc)
        return LedgerSettings()


def _state(kernel) -> dict:
    return kernel.plugin_state("ledger")


async def attach(kernel) -> Book:
    """Open the kernel's log (creating its tables and key on first start) and hand the kernel to
    the ledger's components."""
    state = _state(kernel)
    if "kernel_ledger" in state:
        return state["kernel_ledger"].book
    settings = settings_of(kernel)
    options = {"origin": settings.origin, "max_batch": settings.max_batch, "tile_cache": settings.tile_cache,
               "max_entry_bytes": settings.max_entry_bytes}
    if settings.path:
        ledger = await asyncio.to_thread(LedgerLog.open, Path(settings.path), **options)
    else:
        store = await kernel.storage(SCHEMA)
        if kernel.database.dialect != "sqlite":  # other servers may append too: one key for all (shared_key.py)
            options["key_secret"] = await kernel.keyring.deployment_secret(shared_key.PURPOSE)
        ledger = await asyncio.to_thread(LedgerLog, store.own_database(), Path(kernel.data_dir) / "ledger", **options)
    state["kernel_ledger"] = KernelLedger(Book(ledger, scrypt_n=settings.scrypt_n), settings)
    for name in COMPONENTS:
        try:
            bind_kernel(kernel, name)
        except Exception as exc:  # noqa: BLE001 - a component left out of this deployment
            log.debug("ledger component %s not bound: %s", name, exc)
    return state["kernel_ledger"].book


def kernel_ledger(kernel) -> KernelLedger:
    found = _state(kernel).get("kernel_ledger")
    if found is None:
        raise ConfigError("the ledger has not started with this kernel.",
                          hint="enable the ledger plugin; if it is enabled, its start-up error is in the server's log")
    return found


def book_for_kernel(kernel) -> Book:
    """The kernel's log (what routes, pages, commands and the components use)."""
    return kernel_ledger(kernel).book


def record_audit(kernel, data: dict) -> None:
    state = _state(kernel).get("kernel_ledger")
    if state is not None and state.settings.audit_anchor:
        state.add_audit(data)


async def flush_audit(kernel) -> None:
    state = _state(kernel).get("kernel_ledger")
    if state is not None:
        await state.flush()


async def detach(kernel) -> None:
    """Append pending audit entries, then close the kernel's log (its database closes with the kernel)."""
    state = _state(kernel).pop("kernel_ledger", None)
    if state is None:
        return
    try:
        await state.close()
    finally:
        await asyncio.to_thread(state.book.log.close)
