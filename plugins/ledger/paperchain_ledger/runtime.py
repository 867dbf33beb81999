"""Which log a component uses: the kernel's (``<data_dir>/ledger``), opened at start-up, or the
one its ``path`` setting names. Also batches the kernel's audit events into the log."""

from __future__ import annotations

import asyncio
import atexit
import collections
import logging
import threading
from pathlib import Path

from paperchain_sdk import ConfigError

from .book import Book
from .log import LedgerLog
from .settings import LedgerSettings

log = logging.getLogger(__name__)
_lock = threading.Lock()
_books: dict[Path, Book] = {}  # per process, not per kernel: one writer thread per log directory
_users: collections.Counter[Book] = collections.Counter()  # how many open kernels use each book
_active: Book | None = None  # the last started kernel's log, for components run without a kernel


def open_book(directory: str | Path, settings: LedgerSettings | None = None) -> Book:
    """The log in ``directory``, opened once per process (the writer thread must be the only one)."""
    settings = settings or LedgerSettings()
    directory = Path(directory).resolve()
    with _lock:
        book = _books.get(directory)
        if book is None:
            ledger = LedgerLog(directory, origin=settings.origin, max_batch=settings.max_batch,
                               tile_cache=settings.tile_cache, max_entry_bytes=settings.max_entry_bytes)
            book = _books[directory] = Book(ledger, scrypt_n=settings.scrypt_n)
        return book


def close_book(book: Book) -> None:
    with _lock:
        for directory, open_one in list(_books.items()):
            if open_one is book:
                del _books[directory]
    book.log.close()


def close_all() -> None:
    for book in list(_books.values()):
        close_book(book)


atexit.register(close_all)


def book_for(settings: LedgerSettings | None) -> Book:
    """What a component uses: its ``path`` if set, else the running kernel's log."""
    path = getattr(settings, "path", "")
    if path:
        return open_book(path, settings)
    if _active is None:
        raise ConfigError("the ledger is not open: no Paperchain kernel has started in this process.",
                          hint="run the component inside `paperchain`, or set its `path` setting to a ledger directory")
    return _active


class KernelLedger:
    """A kernel's log and its pending audit entries."""

    def __init__(self, kernel, settings: LedgerSettings):
        self.settings = settings
        self.book = open_book(settings.path or Path(kernel.data_dir) / "ledger", settings)
        with _lock:
            _users[self.book] += 1
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


def kernel_ledger(kernel) -> KernelLedger:
    """The kernel's log and pending audit entries, opened on first use (kept in its plugin_state)."""
    state = _state(kernel)
    if "kernel_ledger" not in state:
        state["kernel_ledger"] = KernelLedger(kernel, settings_of(kernel))
    return state["kernel_ledger"]


def attach(kernel) -> Book:
    """Open the kernel's log (creating it and its key on first start)."""
    global _active
    _active = kernel_ledger(kernel).book
    return _active


def book_for_kernel(kernel) -> Book:
    return attach(kernel)


def record_audit(kernel, data: dict) -> None:
    state = kernel_ledger(kernel)
    if state.settings.audit_anchor:
        state.add_audit(data)


async def flush_audit(kernel) -> None:
    state = _state(kernel).get("kernel_ledger")
    if state is not None:
        await state.flush()


async def detach(kernel) -> None:
    """Append pending audit entries, then close the kernel's log (unless another kernel's uses it)."""
    global _active
    state = _state(kernel).pop("kernel_ledger", None)
    if state is None:
        return
    try:
        await state.close()
    finally:
        if _active is state.book:
            _active = None
        with _lock:
            _users[state.book] -= 1
            last = _users[state.book] <= 0
            if last:
                del _users[state.book]
        if last:
            close_book(state.book)
