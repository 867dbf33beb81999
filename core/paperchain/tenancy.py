"""Which tenant an event belongs to, for live subscribers and for triggers of a tenant's workflow.

A run's, step's or batch's tenant is the one its batch recorded; a document's is its own; a
workflow event names its tenant in its data, as may a plugin's event. Anything else cannot be
told (None), and only the deployment's operator, or a deployment-wide workflow, may hear of it.
"""

from __future__ import annotations

import sqlalchemy as sa

from paperchain_sdk import Event

from .store.tables import batches, documents, runs

UNKNOWN = object()  # an event whose tenant is not cached yet
_CACHE_LIMIT = 50_000
_RUN_KINDS = ("run.", "step.", "batch.")
_KEY: sa.BindParameter[str] = sa.bindparam("key", type_=sa.Text())
_BATCH_TENANT = sa.select(sa.func.coalesce(batches.c.tenant, "")).where(batches.c.id == _KEY)
_RUN_TENANT = (sa.select(sa.func.coalesce(batches.c.tenant, "")).select_from(runs)
               .join(batches, batches.c.id == runs.c.batch_id).where(runs.c.id == _KEY))
_DOCUMENT_TENANT = sa.select(documents.c.tenant).where(documents.c.id == _KEY)


class EventTenants:
    """The tenant an event belongs to ('' for the deployment-wide scope, None when it cannot be
    told), looked up in the database once per run, batch and document and then cached."""

    def __init__(self, kernel):
        self.k = kernel
        self._batches: dict[str, str] = {}
        self._runs: dict[str, str] = {}
        self._documents: dict[str, str] = {}

    def cached(self, event: Event):
        """The tenant if it is known without a query, else ``UNKNOWN``."""
        kind, data = event.type, event.data
        if "tenant" in data and not kind.startswith(_RUN_KINDS + ("document.",)):
            return data["tenant"] if isinstance(data["tenant"], str) else None
        if kind.startswith("batch."):
            return self._batches.get(event.subject, UNKNOWN)
        if kind.startswith("run."):
            return self._runs.get(event.subject, UNKNOWN)
        if kind.startswith("step.") or "run" in data:
            return self._runs.get(str(data.get("run")), UNKNOWN)
        if kind.startswith("document.") or "document" in data:
            return self._documents.get(event.subject if kind.startswith("document.") else str(data["document"]), UNKNOWN)
        return None

    async def of(self, event: Event) -> str | None:
        tenant = self.cached(event)
        if tenant is not UNKNOWN:
            return tenant
        kind, data = event.type, event.data
        if kind.startswith("batch."):
            return await self._lookup(self._batches, event.subject, _BATCH_TENANT)
        if kind.startswith(("run.", "step.")) or "run" in data:
            run_id = event.subject if kind.startswith("run.") else str(data.get("run"))
            return await self._lookup(self._runs, run_id, _RUN_TENANT)
        document_id = event.subject if kind.startswith("document.") else str(data["document"])
        # A document's row may not carry its tenant yet: only a known tenant is cached.
        return await self._lookup(self._documents, document_id, _DOCUMENT_TENANT)

    async def _lookup(self, cache: dict, key: str, statement) -> str | None:
        tenant = await self.k.sql.scalar(statement, {"key": key})
        if tenant is None:
            # The event may have been told before the journal committed its row (a document's
            # insert is queued, then its event emitted): once what was queued is committed, look again.
            await self.k.journal.flush()
            tenant = await self.k.sql.scalar(statement, {"key": key})
        if tenant is None:  # no such row, or (a document's) no tenant yet
            return None
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[key] = tenant
        return tenant
