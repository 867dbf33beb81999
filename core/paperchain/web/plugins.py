"""Plugins' pages in the web UI: what each plugin's ``paperchain_ui`` returns, mounted behind the guard.

Pages go under ``/p/<plugin>``, static files under ``/static/p/<plugin>/``, templates are named
``<plugin>/<file>`` and catalogs are merged into the translations (see paperchain_sdk.ui). A
panel of a core page's slot is fetched by the page with htmx from ``/slots/<slot>``, after the page
itself has been served: a slow or failing plugin never holds up or breaks the core page. A plugin
whose description fails is logged and listed in ``failed`` (shown to admins on the home page).
"""

from __future__ import annotations

import logging
import mimetypes
import re

import attrs
from aiohttp import web
from markupsafe import Markup, escape

from paperchain_sdk.ui import SLOTS, NavEntry, Page, PageContext, Panel, PluginUI, resolve

from ..api.guard import STATE
from . import i18n
from .guard import PageError, page
from .render import render, render_text

log = logging.getLogger("paperchain.web")
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


@attrs.define
class PluginPages:
    """Every plugin's UI as described, and the plugins whose description failed (name: error)."""

    uis: dict[str, PluginUI] = attrs.Factory(dict)
    failed: dict[str, str] = attrs.Factory(dict)

    def nav(self) -> tuple[dict, ...]:
        return tuple({"plugin": name, "label": entry.label, "href": _href(name, entry.path), "role": entry.role}
                     for name, ui in self.uis.items() for entry in ui.nav)

    def panels(self, slot: str) -> list[tuple[str, Panel]]:
        return [(name, panel) for name, ui in self.uis.items() for panel in ui.panels if panel.slot == slot]

    def slots(self) -> frozenset[str]:
        return frozenset(panel.slot for ui in self.uis.values() for panel in ui.panels)

    def folders(self, kind: str) -> dict:
        return {name: getattr(ui, kind) for name, ui in self.uis.items() if getattr(ui, kind) is not None}


def collect(kernel) -> PluginPages:
    found = PluginPages()
    for plugin, result in kernel.call_each("paperchain_ui", kernel=kernel):
        name = plugin.lower()
        try:
            if isinstance(result, Exception):
                raise result
            if result is not None:
                found.uis[name] = _checked(name, result)
        except Exception as exc:  # noqa: BLE001 - one plugin's UI never stops the others'
            log.error("plugin %s failed in paperchain_ui: %s", plugin, exc, exc_info=exc)
            found.failed[name] = f"{type(exc).__name__}: {exc}"
    return found


def _checked(name: str, ui) -> PluginUI:
    """``ui`` if it can be mounted; otherwise an error saying what is wrong with it."""
    if not isinstance(ui, PluginUI):
        raise TypeError(f"paperchain_ui returned {type(ui).__name__}, not a paperchain_sdk.PluginUI")
    if not _NAME.match(name):
        raise ValueError(f"the plugin name {name!r} cannot be a URL path (use lower-case letters)")
    for kind in ("templates", "catalogs", "static"):
        folder = getattr(ui, kind)
        if folder is not None and not folder.is_dir():
            raise ValueError(f"its {kind} folder {folder} does not exist")
    for items, expected in ((ui.nav, NavEntry), (ui.pages, Page), (ui.panels, Panel)):
        wrong = [type(item).__name__ for item in items if not isinstance(item, expected)]
        if wrong:
            raise TypeError(f"{wrong[0]} given where a paperchain_sdk.{expected.__name__} belongs")
    routes = [(page.method, page.path) for page in ui.pages]
    if len(set(routes)) != len(routes):
        raise ValueError("two of its pages have the same method and path")
    return ui


def mount(app: web.Application, state, found: PluginPages, guard) -> None:
    """Add every plugin's pages, its static files and the slots' route (before the core's static)."""
    for name, ui in list(found.uis.items()):
        try:
            for spec in ui.pages:
                path = _href(name, spec.path)
                app.router.add_route(spec.method, path, guard(_page_handler(name, spec), spec.method, path, state))
        except Exception as exc:  # noqa: BLE001 - e.g. a path aiohttp cannot route: its UI is off
            log.error("plugin %s's pages could not be mounted: %s", name, exc, exc_info=exc)
            found.failed[name] = f"{type(exc).__name__}: {exc}"
            del found.uis[name]
            continue
        if ui.catalogs is not None:
            i18n.add_catalogs(ui.catalogs)
    app.router.add_route("GET", "/static/p/{plugin}/{path:.+}", guard(static_file, "GET", "/static/p", state))
    app.router.add_route("GET", "/slots/{slot}", guard(slot, "GET", "/slots", state))


def _href(plugin: str, path: str) -> str:
    return f"/p/{plugin}" + ("" if path == "/" else path)


def page_context(request, ctx, plugin: str) -> PageContext:
    ui = PageContext(
        kernel=request.app[STATE].kernel, plugin=plugin, user=ctx.who.name, role=ctx.who.role,
        tenant=ctx.who.tenant, language=ctx.language, csrf=ctx.csrf, gettext=ctx.gettext, ngettext=ctx.ngettext,
        fmt=ctx.fmt,
        render=lambda template, status=200, **values: render(request, ctx, template, status, ui=ui, **values),
        fragment=lambda template, **values: Markup(render_text(request, ctx, template, ui=ui, **values)),
        document=lambda document_id: tenant_document(request, ctx, document_id))
    return ui


async def tenant_document(request, ctx, document_id: str) -> dict:
    """A document the user may see, with the SHA-256 of its bytes; NotFoundError otherwise."""
    from .routes.documents import load_document

    doc = await load_document(request, ctx, str(document_id))
    import sqlalchemy as sa

    from ..store.tables import documents

    doc["sha256"] = await request.app[STATE].kernel.sql.scalar(
        sa.select(sa.func.coalesce(documents.c.sha256, documents.c.id)).where(documents.c.id == doc["id"]))
    return doc


def _page_handler(plugin: str, spec):
    handler = None

    async def plugin_page(request, ctx):
        nonlocal handler
        if handler is None:  # "module:function" is imported on first use: start-up stays light
            handler = resolve(spec.handler)
        return await handler(request, page_context(request, ctx, plugin))

    return page(plugin_page, role=spec.role, audit=spec.audit)


@page(public=True, audit=False)
async def static_file(request, ctx):
    from .guard import WEB

    folder = request.app[WEB].plugins.folders("static").get(request.match_info["plugin"])
    path = (folder / request.match_info["path"]).resolve() if folder is not None else None
    if path is None or not path.is_relative_to(folder.resolve()) or not path.is_file():
        raise PageError(404, ctx.gettext("There is no such file."))
    media_type = "text/javascript" if path.suffix == ".js" else \
        mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    cache = "public, max-age=31536000, immutable" if "v" in request.query else "no-cache"
    return web.Response(body=path.read_bytes(), content_type=media_type, headers={"Cache-Control": cache})


@page
async def slot(request, ctx):
    """Every plugin's panel for one slot of a core page, each on its own: a failing one says so."""
    from .guard import WEB

    name = request.match_info["slot"]
    if name not in SLOTS:
        raise PageError(404, ctx.gettext("There is no such slot."))
    values = {}
    if name == "document.side":
        values["document"] = await tenant_document(request, ctx, request.query.get("document", ""))
    shown = []
    for plugin, panel in request.app[WEB].plugins.panels(name):
        if not ctx.can(panel.role):
            continue
        try:
            html = await resolve(panel.handler)(request, page_context(request, ctx, plugin), **values)
        except Exception:  # noqa: BLE001 - the core page and the other panels stand
            log.exception("plugin %s's panel for %s failed", plugin, name)
            shown.append({"plugin": plugin, "html": None, "failed": True})
            continue
        if html:
            # HTML only from a template (Markup); anything else is text and escaped
            shown.append({"plugin": plugin, "html": escape(html), "failed": False})
    return render(request, ctx, "_slot.html", panels=shown)
