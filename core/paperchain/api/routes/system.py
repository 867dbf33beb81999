"""Health, readiness, metrics, the OpenAPI document and the docs page."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from aiohttp import web

from paperchain_sdk.web import endpoint

from ... import __version__
from .. import openapi
from ..schemas import Health, Ready
from .common import reply, state

routes = web.RouteTableDef()
_STATIC = Path(__file__).resolve().parent.parent / "static"


@routes.get("/health")
@endpoint(summary="Liveness: the process answers", public=True, response=Health, tags=("system",))
async def health(request):
    return reply(Health(status="ok"))


@routes.get("/ready")
@endpoint(summary="Readiness: the database answers and plugins are loaded", public=True, response=Ready, tags=("system",))
async def ready(request):
    k = state(request).kernel
    try:
        database = await k.sql.scalar(sa.select(sa.literal(1))) == 1
    except Exception:  # noqa: BLE001 - any failure means not ready
        database = False
    failed = sum(1 for p in k.plugins if p.status == "failed")
    loaded = sum(1 for p in k.plugins if p.status == "active")
    body = Ready(status="ready" if database else "not ready", database=database, plugins_loaded=loaded, plugins_failed=failed)
    return reply(body, status=200 if database else 503)


@routes.get("/metrics")
@endpoint(summary="Prometheus metrics (text format)", role="viewer", produces="text/plain", tags=("system",))
async def metrics(request):
    body, content_type = state(request).metrics.render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


@routes.get("/api/v1/openapi.json")
@endpoint(summary="This API's OpenAPI 3.1 document", public=True, tags=("system",))
async def openapi_document(request):
    s = state(request)
    if s.openapi is None:
        s.openapi = openapi.build(request.app, title="Paperchain API", version=__version__)
    return web.json_response(s.openapi)


async def docs_page(request):
    return web.FileResponse(_STATIC / "docs.html")


def static_files(root: Path):
    """A handler serving the files under ``root`` (and nothing outside it) by their relative path."""
    root = root.resolve()

    async def serve(request):
        target = (root / request.match_info["path"]).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(target)

    return serve


def docs_routes() -> list[web.RouteDef]:
    """/docs: Swagger UI from the openapi-ui-bundles package, served locally (works offline)."""
    from openapi_ui_bundles import swagger_ui

    return [web.get("/docs", docs_page), web.get("/docs/swagger/{path:.+}", static_files(Path(swagger_ui.static_path))),
            web.get("/docs/static/{path:.+}", static_files(_STATIC))]


async def no_route(request):
    """The catch-all route: 405 with Allow when another method has this path, else 404."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is not request.match_info.route.resource:
            allowed |= (await resource.resolve(request))[1]
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()
