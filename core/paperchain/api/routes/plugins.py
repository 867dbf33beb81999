"""What is installed: plugins with versions and status, components with their settings schema."""

from __future__ import annotations

from aiohttp import web

from paperchain_sdk import ConfigError, InputError, NotFoundError
from paperchain_sdk.specs import KINDS
from paperchain_sdk.web import endpoint

from ..openapi import settings_schema
from ..schemas import ComponentOut, ComponentQuery, PluginOut
from .common import kernel, page, query, reply

routes = web.RouteTableDef()


def _component(entry) -> ComponentOut:
    spec = entry.spec
    settings = spec.settings
    if isinstance(settings, str):
        from paperchain_sdk.specs import resolve

        settings = resolve(settings)
    return ComponentOut(name=spec.name, kind=spec.kind, plugin=entry.plugin.name,
                        distribution=entry.plugin.distribution or None, version=entry.plugin.version or None,
                        summary=spec.summary, cpu_bound=spec.cpu_bound, side_effects=spec.side_effects,
                        settings_schema=settings_schema(settings))


@routes.get("/api/v1/plugins")
@endpoint(summary="Installed plugins: version and status (active, disabled, or failed with its error and fix)",
          response=PluginOut, many=True, tags=("plugins",))
async def list_plugins(request):
    items = [PluginOut(name=p.name, distribution=p.distribution or None, version=p.version or None, status=p.status,
                       error=p.error or None, fix=p.fix or None,
                       components=sorted(n for names in p.components.values() for n in names))
             for p in kernel(request).plugins]
    return page(items, None)


@routes.get("/api/v1/components")
@endpoint(summary="Installed components with their settings' JSON Schema (of one kind with ?kind=)",
          query=ComponentQuery, response=ComponentOut, many=True, tags=("plugins",))
async def list_components(request):
    kind = query(request, ComponentQuery).kind
    if kind is not None and kind not in KINDS:
        raise InputError(f"there is no component kind {kind!r}; the kinds are {', '.join(KINDS)}.",
                         hint="pass one of them as ?kind=, or leave kind out for every component")
    entries = sorted((e for e in kernel(request).registry.entries() if kind is None or e.kind == kind),
                     key=lambda e: (e.kind, e.spec.name))
    return page([_component(e) for e in entries], None)


@routes.get("/api/v1/components/{name}")
@endpoint(summary="One component with its settings' JSON Schema", response=ComponentOut, tags=("plugins",))
async def get_component(request):
    try:
        entry = kernel(request).registry.get(request.match_info["name"])
    except ConfigError as exc:
        raise NotFoundError(exc.message, hint=exc.hint) from None
    return reply(_component(entry))
