"""The application factory: ``create_app(kernel)`` builds the aiohttp app serving the API.

There is no module-level app. The kernel is opened by the caller (``paperchain serve`` or a
test); the app's start-up loads accounts, resumes unfinished batches and starts triggers, and its
clean-up stops them.
"""

from __future__ import annotations

import logging

import attrs
from aiohttp import web

from paperchain_sdk.web import KERNEL_KEY

from .. import __version__
from ..config import ApiSettings
from .accounts import Accounts
from .audit import Audit
from .guard import STATE, UNMATCHED, guard_routes
from .live import Hub
from .metrics import Metrics
from .ratelimit import TokenBuckets

log = logging.getLogger("paperchain.api")


@attrs.define
class State:
    kernel: object
    settings: ApiSettings
    accounts: Accounts
    audit: Audit
    metrics: Metrics
    hub: Hub
    ip_buckets: TokenBuckets
    key_buckets: TokenBuckets
    openapi: dict | None = None
    triggers: object = None
    serving: object = None  # cluster/serving.py, with other servers on the database (PostgreSQL)

    def cors_headers(self, request) -> dict:
        origin = request.headers.get("Origin")
        if not origin or origin not in self.settings.cors_origins and "*" not in self.settings.cors_origins:
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
                "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
                "Access-Control-Allow-Headers": "Authorization, Content-Type, X-API-Key, Last-Event-ID",
                "Access-Control-Max-Age": "600"}


def create_app(kernel, settings: ApiSettings | None = None, *, triggers: bool = True,
               load_workflows: bool = True) -> web.Application:
    """The API application for an opened kernel."""
    from .routes import accounts, analytics, documents, events, plugins, runs, system, workflows

    settings = settings or kernel.config.api
    metrics = Metrics(kernel)
    state = State(
        kernel=kernel, settings=settings,
        accounts=Accounts(kernel, token_minutes=settings.token_minutes, refresh_days=settings.refresh_days),
        audit=Audit(kernel, refused_interval=settings.refused_interval), metrics=metrics,
        hub=Hub(kernel, queue_size=settings.subscriber_queue, metrics=metrics),
        ip_buckets=TokenBuckets(settings.ip_rate, settings.ip_burst),
        key_buckets=TokenBuckets(settings.rate, settings.burst),
    )
    metrics.subscribers.set_function(lambda: len(state.hub.subscribers))
    app = web.Application(client_max_size=settings.max_body)
    app[STATE] = state
    app[KERNEL_KEY] = kernel  # plugins' handlers find it with paperchain_sdk.web.kernel_of(request)
    for module in (system, accounts, documents, workflows, runs, plugins, events, analytics):
        app.router.add_routes(guard_routes(module.routes, state))
    for route in kernel.routes():  # plugins' own routes, behind the same guard
        try:
            app.router.add_routes(guard_routes([route], state))
        except Exception as exc:  # noqa: BLE001 - one bad plugin route must not stop the server
            log.error("a plugin route was not added: %s", exc)
    app.router.add_routes(guard_routes(system.docs_routes(), state))
    from ..web import add_web

    add_web(app, state)  # the web UI's pages, before the catch-all
    app.router.add_routes(guard_routes([web.route("*", UNMATCHED, system.no_route)], state))  # last: 404 and 405

    async def start(app):
        await state.accounts.load()
        await state.audit.load()
        state.audit.start()
        created = await state.accounts.ensure_admin_from_env()
        if created:
            log.warning("created the admin user %r from PAPERCHAIN_ADMIN_PASSWORD", created)
        if load_workflows and kernel.config.workflows_dir and kernel.config.workflows_dir.is_dir():
            await kernel.workflows.load_dir(kernel.config.workflows_dir)
        if kernel.cluster is not None:  # share limits, caches and events; a member, maybe the leader
            from ..cluster.serving import Serving
            from ..web.guard import WEB

            state.serving = Serving(state, app.get(WEB))
            await state.serving.join(f"{settings.host}:{settings.port}")
        for batch_id in await _unfinished(kernel):  # each claimed first on PostgreSQL: another server's stay
            kernel.start_batch(batch_id, resume=True)
        if triggers:
            state.triggers = await _start_triggers(kernel)

    async def stop(app):
        if state.triggers is not None:
            await state.triggers.stop()
        if state.serving is not None:
            await state.serving.leave()
        for sub in list(state.hub.subscribers):
            state.hub.drop(sub)
        await state.audit.stop()  # the refusal counts of the interval still open

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return app


async def _unfinished(kernel) -> list[str]:
    import sqlalchemy as sa

    from ..store.tables import batches

    rows = await kernel.sql.read(sa.select(batches.c.id).where(batches.c.status.in_(("ingesting", "running")))
                                 .order_by(batches.c.created, batches.c.id))
    return [row.id for row in rows]


async def _start_triggers(kernel):
    try:
        from ..trigger_host import TriggerHost
    except ImportError:  # the trigger host arrives with the triggers plugin's work
        return None
    host = TriggerHost(kernel)
    await host.start()
    return host


def version() -> str:
    return __version__
