"""The kernel: loads plugins, owns the store and the engine, and announces events.

Constructing a Kernel loads plugins (sync, cheap: light hook modules only); ``await open()``
opens the database and blob store and calls ``paperchain_startup``; ``await close()`` drains the
journal, stops the process pool and calls ``paperchain_shutdown``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperchain_sdk import Event

from .config import Config
from .documents import Documents
from .kernel_reads import KernelReads
from .loader import discover, import_builtins, new_plugin_manager, register_objects
from .registry import Registry
from .store.blobstore import BlobStore
from .tenancy import EventTenants

if TYPE_CHECKING:
    from .cluster import Cluster
    from .engine.runner import Engine
    from .store.database import Database
    from .store.journal import CoreJournal
    from .store.keys import Keyring
    from .store.plugin_storage import PluginStorages
    from .store.sql import SqlHandle
from .workflows import Workflows

log = logging.getLogger(__name__)


class Kernel(KernelReads):
    runs_steps_here = False  # True in `paperchain worker`: it runs the steps sent to it, sends none
    def __init__(self, config: Config, *, plugins: Iterable[Any] | None = None, builtins: bool = True):
        """Load plugins: every installed one the config selects, or exactly ``plugins`` when given."""
        self.config = config
        self.data_dir = config.data_dir
        self.pm = new_plugin_manager()
        if plugins is None:
            self.plugins = discover(self.pm, config)
        else:
            objects = ([import_builtins()] if builtins else []) + list(plugins)
            self.plugins = register_objects(self.pm, objects, strict=True)
        self.registry = Registry(config.components, config.source)
        self.registry.collect(self.pm, self.plugins)
        # Set by open() and used only while open: typed as they are then, None before and after.
        self.journal: CoreJournal = None  # type: ignore[assignment]
        self.database: Database = None  # type: ignore[assignment]  # database_url: every table, kernel's and plugins'
        self.sql: SqlHandle = None  # type: ignore[assignment]  # the kernel's own tables (store/sql.py)
        self._storages: PluginStorages | None = None
        self.blobs: BlobStore = None  # type: ignore[assignment]  # the blob store port (store/blobstore.py)
        self.keyring: Keyring = None  # type: ignore[assignment]  # per-tenant id and data keys
        self.documents = Documents(self)
        self.engine: Engine = None  # type: ignore[assignment]
        self.workflows = Workflows(self)
        self.event_tenants = EventTenants(self)
        self.listeners: list[Callable[[Event], None]] = []
        # Told of other servers' events too (cluster/events.py): the live hub, caches, the trigger host.
        self.remote_listeners: list[Callable[[Event], None]] = []
        self.cluster: Cluster | None = None  # set by open() on PostgreSQL (cluster/): other servers may share it
        self._seq = 0
        self._batches: dict[str, asyncio.Task] = {}  # batches running in the background
        self._plugin_states: dict[str, dict[str, Any]] = {}  # plugin_state(): dropped at close()

    @property
    def db_path(self) -> Path:
        """The SQLite file holding the kernel's tables (``database_url``'s); PostgreSQL has none."""
        from .store.database import check_url

        url = check_url(self.config.database_url)
        if not url.drivername.startswith("sqlite"):
            raise RuntimeError("the kernel's tables are in PostgreSQL (database_url), not in a SQLite file: "
                               "reach them through kernel.sql")
        return Path(url.database)

    def check(self) -> None:
        """Refuse to run an ambiguous or misconfigured deployment."""
        self.registry.check()
        self.registry.validate_config()

    def trigger_names(self) -> set[str]:
        return {"manual", *(e.spec.name for e in self.registry.entries("trigger"))}

    def load_workflow(self, source):
        from .engine.workflow import load_workflow

        return load_workflow(source, registry=self.registry, triggers=self.trigger_names())

    def component(self, name: str) -> Any:
        return self.registry.instance(name)

    def work_dir(self, run_id: str, step_id: str | None = None) -> Path:
        """Where a step may keep scratch files (created by ``ctx.scratch()`` on first use)."""
        path = self.data_dir / "work" / run_id
        return path / step_id if step_id else path

    # -- lifecycle ------------------------------------------------------------------------------

    async def open(self) -> Kernel:
        # Imported here so listing plugins and --help never pay for the store and the engine.
        import sqlalchemy as sa

        from .engine.runner import Engine
        from .store import tables
        from .store.blobs import DiskBlobStore
        from .store.database import Database
        from .store.journal import CoreJournal
        from .store.keys import Keyring
        from .store.plugin_storage import PluginStorages
        from .store.sql import SqlHandle

        self.check()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        blob_url = self.config.kernel.blob_url
        if blob_url:  # an object store (store/blobs_s3.py): a missing bucket or bad endpoint stops here
            from .store.blobs_s3 import check_bucket

            await asyncio.to_thread(check_bucket, blob_url)
        sync = "FULL" if self.config.kernel.durability == "power" else "NORMAL"
        self.database = await Database.open(self.config.database_url, synchronous=sync)  # a bad URL stops here
        try:
            await self._migrate()
            self.sql = SqlHandle(self.database)
            self.keyring = await Keyring.open(self.data_dir, self.sql)  # a wrong master key stops here
        except BaseException:
            await self.database.close()
            self.database = self.sql = None  # type: ignore[assignment]
            raise
        if blob_url:
            from .store.blobs_s3 import S3BlobStore

            self.blobs = S3BlobStore(blob_url, self.data_dir / "s3-scratch", keyring=self.keyring,
                                     encrypt=self.keyring.encrypt_blobs)
        else:
            self.blobs = DiskBlobStore(self.data_dir / "blobs", keyring=self.keyring, encrypt=self.keyring.encrypt_blobs)
        self.journal = CoreJournal(self.database)
        self.journal.start()
        await self.documents.open()  # the search adapter of this database (PostgreSQL: its index, when missing)
        events = tables.events
        self._seq = await self.sql.scalar(sa.select(sa.func.coalesce(sa.func.max(events.c.seq), 0)))
        if self.database.dialect != "sqlite":  # numbers, leases and the bus shared with other servers
            from .cluster import Cluster

            try:
                self.cluster = await Cluster.open(self)
            except BaseException:
                await self.journal.close()
                await self.database.close()
                self.database = self.sql = None  # type: ignore[assignment]
                raise
            self._seq = self.cluster.sequence.last
        self.engine = Engine(self, self._executor())
        if hasattr(self.engine.executor, "start"):
            await self.engine.executor.start()  # the Celery executor's wake-ups, poll and reaper
        self._storages = PluginStorages(self.database, data_dir=self.data_dir)  # own SQLite databases go here
        await self.call_lifecycle("paperchain_startup", kernel=self)
        return self

    def _executor(self):
        """Where this kernel's steps run: None (the engine's local pool) unless ``executor = "celery"``,
        then on `paperchain worker`s; a worker's own kernel runs what it is sent locally."""
        if getattr(self.config, "executor", "local") != "celery" or self.runs_steps_here:
            return None
        from .engine.celery.executor import CeleryExecutor

        return CeleryExecutor(self, self.config.broker_url)

    async def _migrate(self) -> None:
        """The kernel's tables where ``database_url`` points: a SQLite file made before Alembic is
        first brought to its last version by schema.py's history, then every database goes through
        the Alembic revisions (store/migrations: a fresh one is created there, that file stamped)."""
        from .store import migrations
        from .store.schema import migrate_existing

        if self.database.dialect == "sqlite":
            await asyncio.to_thread(migrate_existing, self.db_path)
        await migrations.upgrade(self.database)

    async def storage(self, schema):
        """A plugin's handle on its own tables (``paperchain_sdk.storage``), its migrations applied."""
        if self._storages is None:
            raise RuntimeError("plugin storage opens with the kernel: ask for it in paperchain_startup or later")
        return await self._storages.get(schema)

    def plugin_state(self, plugin: str) -> dict[str, Any]:
        """The plugin's own mutable state for this kernel (created empty on first use, dropped at close)."""
        if not isinstance(plugin, str) or not plugin:
            raise ValueError(f"plugin_state takes the plugin's name, got {plugin!r}")
        return self._plugin_states.setdefault(plugin, {})

    async def close(self) -> None:
        if self.database is None:
            return
        try:
            # Unfinished batches stay "running" in the database; the next start resumes them.
            for task in list(self._batches.values()):
                task.cancel()
            await asyncio.gather(*self._batches.values(), return_exceptions=True)
            await self.call_lifecycle("paperchain_shutdown", kernel=self)
            await self.engine.close()
            await self.journal.close()
            if self.cluster is not None:
                await self.cluster.close()  # after the journal: the last events are sent
        finally:
            self.cluster = None
            for state in self._plugin_states.values():  # after paperchain_shutdown, which may still read it
                state.clear()
            self._plugin_states.clear()
            if self._storages is not None:
                await self._storages.close()  # plugins' own databases (paperchain_sdk.storage own_database)
            await self.database.close()
            self.database = self.sql = None  # type: ignore[assignment]
            shutil.rmtree(self.data_dir / "work", ignore_errors=True)
            if self.blobs is not None:
                self.blobs.close()  # its transient plaintext copies

    async def __aenter__(self):
        return await self.open()

    async def __aexit__(self, *exc):
        await self.close()

    # -- runs -----------------------------------------------------------------------------------

    async def submit(self, workflow: str, *, documents=(), paths=(), inputs: dict | None = None,
                     idempotency_key: str = "", source: str = "", created_by: str = "",
                     tenant: str | None = None) -> str:
        """Start runs of a saved, enabled workflow in the background; return the batch id at once
        (after the batch and its runs are recorded). A repeated idempotency key starts nothing.
        ``tenant`` is the caller's (None: the operator or a trigger, naming the workflow by its ref);
        the batch records the tenant its runs belong to."""
        wf, run_tenant = await self.workflows.runnable(workflow, tenant=tenant)
        if run_tenant and documents:  # e.g. a data-change trigger of one tenant's workflow, fired by another's
            visible = await self.documents.visible(documents, tenant=run_tenant)
            for document_id in documents:
                if document_id not in visible:
                    from paperchain_sdk import NotFoundError

                    raise NotFoundError(f"there is no document {document_id}.", hint="GET /api/v1/documents lists them")
        batch_id, created = await self.engine.create_batch(
            wf, paths, inputs, documents=documents, source=source or "api",
            idempotency_key=idempotency_key, created_by=created_by, tenant=run_tenant,
        )
        if created:
            self.start_batch(batch_id)
        return batch_id

    def start_batch(self, batch_id: str, *, resume: bool = False) -> asyncio.Task:
        """Run a recorded batch in the background (once per process); ``resume`` first ingests
        whatever a stop left un-ingested."""
        task = self._batches.get(batch_id)
        if task is None:
            task = asyncio.create_task(self._run_in_background(batch_id, resume))
            self._batches[batch_id] = task
        return task

    async def _run_in_background(self, batch_id: str, resume: bool) -> None:
        owner = self.cluster.batches if self.cluster is not None else None
        finished = False
        try:
            if owner is not None and not await owner.claim(batch_id):
                log.info("batch %s is run by another server", batch_id)
                return
            await (self.engine.resume_batch(batch_id) if resume else self.engine.run_batch(batch_id))
            finished = True
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the batch's runs record their own failures
            log.exception("batch %s stopped", batch_id)
        finally:
            self._batches.pop(batch_id, None)
            if owner is not None and batch_id in owner.owned:
                await owner.release(batch_id, finished=finished)

    # -- hooks and events ---------------------------------------------------------------------------

    def call_each(self, hook_name: str, **kwargs) -> list[tuple[str, Any]]:
        """Call every implementation of a hook on its own, so one failure never hides the others.

        Returns ``(plugin name, result or exception)`` pairs. Each implementation gets only the
        arguments it asks for.
        """
        results = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                results.append((impl.plugin_name, impl.function(**{a: kwargs[a] for a in impl.argnames})))
            except Exception as exc:  # noqa: BLE001 - isolated by design
                results.append((impl.plugin_name, exc))
        return results

    async def call_lifecycle(self, hook_name: str, **kwargs) -> list[tuple[str, Any]]:
        """Call a lifecycle hook and await whatever its implementations return."""
        results = []
        for plugin, result in self.call_each(hook_name, **kwargs):
            if inspect.isawaitable(result):
                try:
                    result = await result
                except Exception as exc:  # noqa: BLE001
                    result = exc
            if isinstance(result, Exception):
                log.error("plugin %s failed in %s: %s", plugin, hook_name, result, exc_info=result)
            results.append((plugin, result))
        return results

    async def emit(self, type: str, subject: str = "", data: dict | None = None, *, durable: bool = False,
                   rows: tuple[tuple[str, dict], ...] = ()) -> Event:
        """Record an event in the durable log and tell listeners and ``paperchain_event`` plugins.
        ``rows`` (table, whole row) are committed in the event's own transaction: a process killed
        in between cannot keep the one without the other (a finished run without its event)."""
        if self.cluster is None:
            self._seq += 1
            seq = self._seq
        else:  # unique across the servers on this database
            seq = await self.cluster.sequence.next()
            self._seq = max(self._seq, seq)
        event = Event(type=type, subject=subject, data=data or {}, seq=seq)
        for table, row in rows:  # queued with the event, no await between: one flush takes them all
            self.journal.upsert(table, row)
        written = self.journal.upsert("events", {
            "seq": event.seq, "type": type, "subject": subject, "time": event.time, "data": json.dumps(event.data),
        })
        if self.cluster is not None:
            self.cluster.events.committed(event, written)  # to the other servers, once committed
        if durable:
            await written
        for listener in self.listeners:
            listener(event)
        if self.pm.hook.paperchain_event.get_hookimpls():
            await self.call_lifecycle("paperchain_event", event=event, kernel=self)
        return event

    async def event_tenant(self, event: Event) -> str | None:
        """The tenant an event belongs to ('' deployment-wide, None when it cannot be told)."""
        return await self.event_tenants.of(event)

    async def user_tenant(self, name: str) -> str | None:
        """The tenant of a user ('' the operator), None when there is no such user."""
        import sqlalchemy as sa

        from .store.tables import users

        row = await self.sql.first(sa.select(sa.func.coalesce(users.c.tenant, "").label("tenant"))
                                   .where(users.c.name == name))
        return row.tenant if row else None

    async def workflow_tenant(self, workflow: str) -> str:
        """The tenant a saved workflow (by its ref) belongs to ('' deployment-wide)."""
        return (await self.workflows.get(workflow)).tenant

    def routes(self) -> list:
        """Every plugin's HTTP routes (``paperchain_routes``), for the API server."""
        routes: list = []
        for plugin, result in self.call_each("paperchain_routes", kernel=self):
            if isinstance(result, Exception):
                log.error("plugin %s failed in paperchain_routes: %s", plugin, result)
                continue
            routes.extend(result or ())
        return routes

    def commands(self) -> list:
        """Every plugin's command specs (``paperchain_commands``)."""
        specs: list = []
        for plugin, result in self.call_each("paperchain_commands"):
            if isinstance(result, Exception):
                log.error("plugin %s failed in paperchain_commands: %s", plugin, result)
                continue
            specs.extend(result or ())
        return specs
