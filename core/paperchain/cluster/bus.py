"""The servers' message bus: PostgreSQL LISTEN/NOTIFY on one dedicated asyncpg connection.

Why PostgreSQL and not Redis pub/sub: every server of a deployment already has the database (Redis
comes only with the Celery executor), so nothing more has to run or be reachable; and what is sent
here always follows a commit (an event's row, a revoked key), so a receiver that reads the database
on a message finds the change there. A NOTIFY payload must stay under 8000 bytes: ``notify``
refuses a larger one (``TooLarge``), and the sender then sends a reference to read instead.

Messages are JSON objects tagged with the sender's id (``o``); a server ignores its own. They are
fire-and-forget: a server that is disconnected misses them, so ``on_reconnect`` callbacks bring
what depends on them back in step (live subscribers are told to resume with ``since``, caches
are re-read).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

PAYLOAD_LIMIT = 7999  # PostgreSQL refuses a NOTIFY payload of 8000 bytes or more
CONNECT_TIMEOUT = 5.0  # seconds a connection attempt may take (asyncpg waits 60 on a host that does not answer)
CLOSE_TIMEOUT = 2.0  # seconds closing may wait for the database: a stop never hangs on a lost one
_SEND = "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS t(c, p)"


async def close_connection(conn) -> None:
    """Close an asyncpg connection, waiting at most CLOSE_TIMEOUT for the database's goodbye."""
    try:
        await conn.close(timeout=CLOSE_TIMEOUT)
    except Exception:  # noqa: BLE001 - a lost connection: drop it without one
        conn.terminate()


class TooLarge(ValueError):
    """A message over NOTIFY's payload limit."""


class Bus:
    def __init__(self, dsn: str, origin: str):
        self.dsn, self.origin = dsn, origin
        self.handlers: dict[str, list[Callable[[dict], None]]] = {}
        self.on_reconnect: list[Callable[[], object]] = []
        self._conn: Any = None  # asyncpg's Connection while open
        self._turn = asyncio.Lock()  # one operation at a time on the connection
        self._outbox: list[tuple[str, str]] = []
        self._wake = asyncio.Event()
        self._sender: asyncio.Task | None = None
        self._reconnecting: asyncio.Task | None = None
        self._closed = False

    async def open(self) -> Bus:
        self._conn = await self._connect()
        self._sender = asyncio.create_task(self._send_loop(), name="paperchain-bus-sender")
        return self

    async def listen(self, channel: str, handler: Callable[[dict], None]) -> None:
        """Call ``handler(message)`` for each message of another server on ``channel``."""
        first = channel not in self.handlers
        self.handlers.setdefault(channel, []).append(handler)
        if first and self._conn is not None:
            async with self._turn:
                await self._conn.add_listener(channel, self._received)

    def notify(self, channel: str, message: dict) -> None:
        """Queue ``message`` for every other server listening on ``channel`` (sent in order, in batches)."""
        payload = json.dumps({"o": self.origin, **message}, separators=(",", ":"))
        if len(payload.encode()) > PAYLOAD_LIMIT:
            raise TooLarge(f"a message of {len(payload)} characters on {channel}")
        self._outbox.append((channel, payload))
        self._wake.set()

    async def drain(self) -> None:
        """Wait until every queued message was handed to PostgreSQL."""
        while self._outbox and self._sender is not None and not self._sender.done():
            await asyncio.sleep(0.005)

    def stop_reconnecting(self) -> None:
        """Closing: no more reconnection attempts (a lost database must not hold up a stop)."""
        self._closed = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()

    async def close(self) -> None:
        connected = self._conn is not None and not self._conn.is_closed()
        self.stop_reconnecting()
        if connected:
            try:
                await asyncio.wait_for(self.drain(), CLOSE_TIMEOUT)
            except TimeoutError:
                log.warning("%d bus messages not sent: the database did not take them in time", len(self._outbox))
        for task in (self._sender, self._reconnecting):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self._sender, self._reconnecting) if t), return_exceptions=True)
        if self._conn is not None:
            await close_connection(self._conn)
            self._conn = None

    # -- internals ------------------------------------------------------------------------------

    async def _connect(self):
        import asyncpg

        conn = await asyncpg.connect(self.dsn, timeout=CONNECT_TIMEOUT)
        for channel in self.handlers:
            await conn.add_listener(channel, self._received)
        conn.add_termination_listener(self._lost)
        return conn

    async def _send_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                batch, self._outbox = self._outbox, []
                try:
                    async with self._turn:
                        await self._conn.execute(_SEND, [c for c, _ in batch], [p for _, p in batch])
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the connection is gone: _lost reconnects
                    log.warning("%d bus messages not sent: %s", len(batch), exc)
                    await asyncio.sleep(0.5)

    def _received(self, _conn, _pid, channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            log.warning("an unreadable message on %s was ignored", channel)
            return
        if message.get("o") == self.origin:
            return
        for handler in self.handlers.get(channel, ()):
            try:
                handler(message)
            except Exception:  # noqa: BLE001 - one handler's failure must not hide the message from others
                log.exception("a handler of %s failed", channel)

    def _lost(self, _conn) -> None:
        if not self._closed and (self._reconnecting is None or self._reconnecting.done()):
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = 0.2
        while not self._closed:
            try:
                conn = await self._connect()
            except Exception as exc:  # noqa: BLE001 - the database is away: try again, slower
                log.warning("the bus cannot reach PostgreSQL (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._conn = conn
            log.info("the bus is connected again")
            for callback in list(self.on_reconnect):
                try:
                    result = callback()
                    if asyncio.iscoroutine(result):
                        await result
                except Exception:  # noqa: BLE001
                    log.exception("a bus reconnect callback failed")
            return
