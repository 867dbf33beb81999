"""Live events: every kernel event, as CloudEvents 1.0 JSON, to WebSocket and SSE subscribers.

- Topics: ``runs`` (run, step and batch events), ``run:<id>``, ``workflow:<name>``, ``documents``,
  ``notifications`` (the subscriber's own), ``audit`` (admins), ``*`` (all a role may see).
- ``since``: a client that reconnects says the last ``sequence`` it saw and first receives every
  later event from the durable event log, then live ones, with no gap and no repeat.
- Backpressure: each subscriber has a bounded queue; a client that lets it fill is dropped (told
  to reconnect with ``since``) so one slow reader never stalls the server or other readers.
- Tenants: a subscriber of a tenant receives only events of that tenant (a run's is the one its
  batch recorded, a document's its own, a workflow's in the event's data); an event whose tenant
  cannot be told reaches only the operator (users without a tenant), who receives everything.
  Those events are handed to tenant subscribers in order by one task, after the tenant is looked up.

Several servers on one PostgreSQL database (``kernel.cluster``): a client connected to any of
them receives the events of all of them. Sequence numbers come from one counter in the database
(unique across servers, ``cluster/sequence.py``); another server's event arrives here over
LISTEN/NOTIFY, announced by the very commit that records its row (a trigger's ``pg_notify``,
``cluster/events.py``), so a server that dies right after a commit cannot take the announcement
with it. Numbers are allocated in one
order and committed in another, so the hub hands events on in number order (``cluster/ordering.py``):
an event waits until every lower number has arrived, or until that gap has waited ``HOLD`` (1 s).
What is guaranteed, then:

- unique ``sequence`` numbers, and each client's events in increasing order;
- ``since`` on any server: the backlog is read from the table up to the hub's horizon (numbers
  below it were all handed on, so their rows were committed before they were) and everything from
  the horizon on comes live, so a reconnect misses nothing and repeats nothing;
- the one loss: an event whose commit took longer than ``HOLD`` after a later number reached
  clients (a stalled server or database mid-commit) is given up by the hub; a client already
  past its number never receives it (it stays in the event log). A server whose bus connection
  drops tells its subscribers to reconnect with ``since`` (a ``dropped`` message), as when a
  client falls behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque

import sqlalchemy as sa

from paperchain_sdk import Event
from paperchain_sdk.web import Principal

from ..cluster.ordering import InOrder
from ..store.tables import events
from ..tenancy import UNKNOWN as _UNKNOWN

_RUN_KINDS = ("run.", "step.", "batch.")
_BACKLOG = (sa.select(events.c.seq, events.c.type, events.c.subject, events.c.time, events.c.data)
            .where(events.c.seq > sa.bindparam("since")).order_by(events.c.seq))
log = logging.getLogger(__name__)


def cloudevent(event: Event) -> str:
    return json.dumps({
        "specversion": "1.0", "id": str(event.seq), "source": "/paperchain", "type": f"io.paperchain.{event.type}",
        "subject": event.subject, "time": event.time, "datacontenttype": "application/json",
        "sequence": str(event.seq), "data": dict(event.data),
    })


def matches(topic: str, event: Event, who: Principal) -> bool:
    kind, data = event.type, event.data
    if kind.startswith("notification."):
        return topic in ("notifications", "*") and data.get("user") == who.name
    if kind.startswith("audit."):  # deployment-wide: not for a tenant's admins
        return topic in ("audit", "*") and who.allows("admin") and not who.tenant
    if topic == "*":
        return True
    if topic == "runs":
        return kind.startswith(_RUN_KINDS)
    if topic == "documents":
        return kind.startswith("document.")
    if topic.startswith("run:"):
        run_id = topic[4:]
        return (kind.startswith("run.") and event.subject == run_id) or (kind.startswith("step.") and data.get("run") == run_id)
    if topic.startswith("workflow:"):
        name = topic[9:]
        return data.get("workflow") == name or (kind.startswith("workflow.") and event.subject == name)
    return False


def check_topics(topics) -> list[str]:
    from paperchain_sdk import InputError

    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics) or not topics:
        raise InputError("topics must be a non-empty list of strings.",
                         hint="e.g. [\"runs\"], [\"run:<id>\"], [\"workflow:<name>\"], [\"documents\"], [\"notifications\"]")
    for topic in topics:
        if topic not in ("runs", "documents", "notifications", "audit", "*") and not topic.startswith(("run:", "workflow:")):
            raise InputError(f"unknown topic {topic!r}.",
                             hint="topics: runs, run:<id>, workflow:<name>, documents, notifications, audit, *")
    return topics


def _per_user(event: Event) -> bool:
    """Events addressed by user or role, which ``matches`` filters without a tenant."""
    return event.type.startswith(("notification.", "audit."))


def visible(who: Principal, tenant) -> bool:
    """Whether a subscriber may receive an event of ``tenant`` (None: unknown)."""
    return not who.tenant or (tenant is not None and tenant is not _UNKNOWN and tenant == who.tenant)


class Subscriber:
    def __init__(self, who: Principal, topics: list[str], size: int):
        self.who = who
        self.topics = topics
        self.queue: asyncio.Queue = asyncio.Queue(size)
        self.dropped = False
        self.last_seq = 0  # the highest sequence handed to this client

    def wants(self, event: Event) -> bool:
        return any(matches(t, event, self.who) for t in self.topics)


class Hub:
    def __init__(self, kernel, *, queue_size: int, metrics=None):
        self.k = kernel
        self.queue_size = queue_size
        self.metrics = metrics
        self.subscribers: set[Subscriber] = set()
        self.tenants = kernel.event_tenants
        self._waiting: deque = deque()  # (event, tenant subscribers), in order, for _hand_out
        self._handing_out: asyncio.Task | None = None
        # Many servers: events of all of them, handed on in number order (see the module's notes).
        self.order = InOrder(self._publish, kernel._seq + 1) if kernel.cluster is not None else None
        self.publish = self.order.add if self.order is not None else self._publish
        kernel.listeners.append(self.publish)
        kernel.remote_listeners.append(self.publish)

    def _publish(self, event: Event) -> None:
        if not self.subscribers:
            return
        encoded = None
        scoped = not _per_user(event)
        waiting = []
        for sub in list(self.subscribers):
            if sub.dropped or not sub.wants(event):
                continue
            if scoped and sub.who.tenant:
                waiting.append(sub)
                continue
            if encoded is None:
                encoded = cloudevent(event)  # once per event, however many subscribers
            self._put(sub, event.seq, encoded)
        if not waiting:
            return
        tenant = self.tenants.cached(event)
        if tenant is not _UNKNOWN and not self._waiting:  # nothing ahead of it: no need to wait
            self._deliver(event, waiting, tenant, encoded)
            return
        self._waiting.append((event, waiting))
        if self._handing_out is None or self._handing_out.done():
            self._handing_out = asyncio.ensure_future(self._hand_out())

    async def _hand_out(self) -> None:
        """Give waiting events to their tenant's subscribers, in order, once each tenant is known."""
        while self._waiting:
            event, subs = self._waiting[0]
            try:
                tenant = await self.tenants.of(event)
            except Exception:  # noqa: BLE001 - e.g. the database closing at shutdown: nobody gets it
                log.exception("the tenant of event %s could not be looked up", event.seq)
                tenant = None
            self._waiting.popleft()
            self._deliver(event, subs, tenant, None)

    def _deliver(self, event: Event, subs: list, tenant, encoded: str | None) -> None:
        for sub in subs:
            if sub.dropped or sub not in self.subscribers or not visible(sub.who, tenant):
                continue
            if encoded is None:
                encoded = cloudevent(event)
            self._put(sub, event.seq, encoded)

    def _put(self, sub: Subscriber, seq: int, encoded: str) -> None:
        try:
            sub.queue.put_nowait((seq, encoded))
        except asyncio.QueueFull:
            self.drop(sub)

    async def allowed(self, sub: Subscriber, event: Event) -> bool:
        """Whether ``sub`` may receive ``event`` (its topics, and its tenant's)."""
        if not sub.wants(event):
            return False
        if _per_user(event) or not sub.who.tenant:
            return True
        return visible(sub.who, await self.tenants.of(event))

    def drop(self, sub: Subscriber) -> None:
        sub.dropped = True
        self.subscribers.discard(sub)
        if self.metrics:
            self.metrics.dropped.inc()
        try:
            sub.queue.put_nowait(None)
        except asyncio.QueueFull:
            sub.queue.get_nowait()
            sub.queue.put_nowait(None)

    async def subscribe(self, who: Principal, topics: list[str], since: int | None) -> tuple[Subscriber, list]:
        """Register a subscriber; return it and the backlog (events after ``since``) to send first."""
        sub = Subscriber(who, check_topics(topics), self.queue_size)
        self.subscribers.add(sub)  # live events queue up while the backlog is read
        horizon = self.order.next if self.order is not None else None  # from here on: live (module notes)
        backlog = []
        if since is not None:
            await self.k.journal.flush()
            query = _BACKLOG if horizon is None else _BACKLOG.where(events.c.seq < horizon)
            for row in await self.k.sql.read(query, {"since": since}):
                event = Event(type=row.type, subject=row.subject or "", data=json.loads(row.data or "{}"),
                              time=row.time, seq=row.seq)
                if await self.allowed(sub, event):
                    backlog.append((row.seq, cloudevent(event)))
        sub.last_seq = backlog[-1][0] if backlog else (since or 0)
        return sub, backlog

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    @property
    def seq(self) -> int:
        """The latest sequence number handed on."""
        return self.order.next - 1 if self.order is not None else self.k._seq
