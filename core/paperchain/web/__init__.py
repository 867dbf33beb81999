"""The web UI: server-rendered pages (Jinja2 + htmx) served by the API's aiohttp app.

``add_web(app, state)`` mounts it; every page goes through ``guard`` (sessions, CSRF, roles, rate
limits, audit, security headers, error pages) and uses the kernel the API uses, never HTTP calls
to itself. Live updates come from the API's event WebSocket, which accepts the session cookie.
"""

from __future__ import annotations

import attrs
from aiohttp import web

from ..api.guard import UNMATCHED, guard_routes
from ..api.routes.system import no_route
from .cache import EventCache
from .guard import WEB, guard
from .plugins import PluginPages, collect, mount
from .render import environment
from .sessions import Sessions


@attrs.define
class WebState:
    sessions: Sessions
    env: object
    runs: EventCache  # whole-table figures of runs and steps: the runs list's state chips, home's widgets
    documents: EventCache  # of documents: the list's media types, home's count and storage
    plugins: PluginPages = attrs.Factory(PluginPages)  # what plugins add (paperchain_ui)


def add_web(app: web.Application, state) -> None:
    """Mount the pages and static files on ``app`` (before the API's catch-all route)."""
    from .routes import (
        account,
        account_security,
        admin,
        admin_audit,
        admin_security,
        admin_system,
        analytics,
        auth,
        documents,
        home,
        notifications,
        runs,
        static,
        upload,
        workflows,
    )

    plugins = collect(state.kernel)
    mount(app, state, plugins, guard)  # before the core's /static/ route, which would take /static/p/
    env = environment(plugins.folders("templates"), plugins.folders("static"))
    env.globals.update(plugin_nav=plugins.nav(), plugin_slots=plugins.slots(), plugin_failures=plugins.failed)
    app[WEB] = WebState(sessions=Sessions(state.kernel, state.accounts), env=env,
                        runs=EventCache(state.kernel, ("run.", "batch.", "step.")),
                        documents=EventCache(state.kernel, ("document.",)), plugins=plugins)
    for module in (static, auth, home, runs, documents, upload, notifications, account, account_security, admin,
                   admin_audit, admin_security, analytics, admin_system, workflows):
        for method, path, handler in module.PAGES:
            app.router.add_route(method, path, guard(handler, method, path, state))
    # A path nobody serves: a browser (asking for HTML) gets a 404 page; any other client, and
    # every path under /api/, the API's JSON answer from its own guarded catch-all.
    html_missing = guard(auth.not_found, "GET", "missing", state)
    api_missing = guard_routes([web.route("*", UNMATCHED, no_route)], state)[0].handler

    async def missing(request):
        wants_page = "text/html" in request.headers.get("Accept", "") and not request.path.startswith("/api/")
        return await (html_missing if wants_page else api_missing)(request)

    app.router.add_route("GET", UNMATCHED, missing)
