"""Health, readiness, metrics, the OpenAPI document and the docs page."""

from __future__ import annotations

from pathlib import Path

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
        async with k.db.execute("SELECT 1") as cursor:
            database = (await cursor.fetchone())[0] == 1
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


def add_docs(app: web.Application) -> None:
    """/docs: Swagger UI from the openapi-ui-bundles package, served locally (works offline)."""
    from openapi_ui_bundles import swagger_ui

    app.router.add_get("/docs", docs_page)
    app.router.add_static("/docs/swagger/", swagger_ui.static_path)
    app.router.add_static("/docs/static/", _STATIC)
