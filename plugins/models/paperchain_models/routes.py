"""HTTP routes under /api/v1/models/ (mounted by the kernel's authenticated server)."""

from __future__ import annotations

import asyncio

import attrs
from aiohttp import web

from paperchain_sdk import InputError, NotFoundError
from paperchain_sdk import web as pweb
from paperchain_sdk.settings import between

from . import service as _service
from .registry import scope

PREFIX = "/api/v1/models"
MAX_MODEL_BYTES = 512 * 1024 * 1024


# -- query strings (parsed by the SDK's one parser: a bad or unknown parameter is a 400 naming it) --


@attrs.define
class ImportQuery:
    labels: str = ""  # the classes' names, comma-separated
    task: str = ""


@attrs.define
class ForceQuery:
    force: bool = False  # also a version in production


@attrs.define
class RecommendQuery:
    n: int = attrs.field(default=10, validator=between(1, 500))
    exclude_seen: bool = True
    method: str = "hybrid"


@attrs.define
class SimilarQuery:
    n: int = attrs.field(default=10, validator=between(1, 500))
    method: str = "hybrid"


@attrs.define
class EvaluateQuery:
    k: int = attrs.field(default=10, validator=between(1, 100))


def _svc(request) -> _service.ModelService:
    """The models service of the kernel serving ``request`` (in its plugin_state)."""
    return _service.service_for(pweb.kernel_of(request))


def _model(request) -> tuple[str, str]:
    """(tenant, name) of the model in the path: the caller's tenant's, or for the operator
    ``tenant:name``. Another tenant's model does not exist for a tenant's caller (404)."""
    return scope(request.match_info["name"], pweb.principal(request).tenant)


def _version_number(request) -> int:
    return pweb.parse_int(request.match_info["version"], "version", minimum=1)  # 64-bit: the registry's column


@pweb.endpoint(summary="List registered models", tags=("models",))
async def list_models(request):
    return web.json_response({"models": await _svc(request).registry.names(
        pweb.principal(request).tenant)})


@pweb.endpoint(summary="A model's versions with their metadata and metrics", tags=("models",))
async def show_model(request):
    tenant, name = _model(request)
    versions = await _svc(request).registry.versions(name, tenant=tenant)
    return web.json_response({"name": request.match_info["name"], "versions": [v.to_json() for v in versions]})


@pweb.endpoint(summary="Import an ONNX file (the request body) as a new version", role="editor", status=201,
               query=ImportQuery, tags=("models",))
async def import_model(request):
    if request.content_type not in ("application/octet-stream", "application/onnx"):
        raise InputError(f"send the ONNX file as the body with Content-Type application/octet-stream, "
                         f"not {request.content_type!r}.", hint="curl --data-binary @model.onnx -H 'Content-Type: application/octet-stream'")
    data = await request.content.read(MAX_MODEL_BYTES + 1)
    if len(data) > MAX_MODEL_BYTES:
        raise InputError("the model file is larger than 512 MiB.", hint="serve larger models another way")
    asked = pweb.read_query(request, ImportQuery)
    labels = [s for s in asked.labels.split(",") if s]
    svc = _svc(request)
    tenant, name = _model(request)
    version = await svc.registry.import_onnx(name, data, created_by=pweb.principal(request).name, labels=labels,
                                               task=asked.task, tenant=tenant)
    return web.json_response(version.to_json(), status=201)


@pweb.endpoint(summary="Promote a version to staging or production", role="editor", tags=("models",))
async def promote(request):
    body = await pweb.read_json(request)
    stage = body.get("stage", "production") if isinstance(body, dict) else None
    tenant, name = _model(request)
    version = await _svc(request).registry.promote(name, _version_number(request), stage,
                                                          by=pweb.principal(request).name, tenant=tenant)
    return web.json_response(version.to_json())


@pweb.endpoint(summary="Put the previous production version back", role="editor", tags=("models",))
async def rollback(request):
    tenant, name = _model(request)
    version = await _svc(request).registry.rollback(name, by=pweb.principal(request).name, tenant=tenant)
    return web.json_response(version.to_json())


@pweb.endpoint(summary="Delete one version (force=true for a production one)", role="admin", query=ForceQuery,
               tags=("models",))
async def delete_version(request):
    tenant, name = _model(request)
    deleted = await _svc(request).registry.delete(name, _version_number(request),
                                                         force=pweb.read_query(request, ForceQuery).force, tenant=tenant)
    return web.json_response({"deleted": deleted})


@pweb.endpoint(summary="Delete a model and all its versions (force=true if one is in production)", role="admin",
               query=ForceQuery, tags=("models",))
async def delete_model(request):
    tenant, name = _model(request)
    deleted = await _svc(request).registry.delete(name, force=pweb.read_query(request, ForceQuery).force,
                                                         tenant=tenant)
    return web.json_response({"deleted": deleted})


@pweb.endpoint(summary="Predict a batch: {texts: [...]}, {records: [...]} or {inputs: {...}}; version optional",
               role="viewer", tags=("models",))
async def predict(request):
    body = await pweb.read_json(request)
    if not isinstance(body, dict):
        raise InputError("the body must be an object.", hint='send {"texts": ["..."]}')
    given = [k for k in ("texts", "records", "inputs") if k in body]
    if len(given) != 1:
        raise InputError(f"give exactly one of texts, records or inputs; got {sorted(body)}.",
                         hint='send {"texts": ["..."]}')
    svc = _svc(request)
    tenant, name = _model(request)
    version = await svc.registry.resolve(name, str(body.get("version", "") or ""), tenant=tenant)
    predictions = await asyncio.to_thread(svc.predictor.predict_batch, version, **{given[0]: body[given[0]]})
    return web.json_response({"model": version.name, "version": version.version,
                              "predictions": [pweb.to_json(p) for p in predictions]})


@pweb.endpoint(summary="Train a new version in the background; answers the job id at once", role="editor",
               status=202, tags=("models",))
async def train(request):
    body = await pweb.read_json(request)
    if not isinstance(body, dict):
        raise InputError("the body must be an object.", hint='send {"task": "text", "field": "tags"}')
    tenant, name = _model(request)
    job = await _svc(request).start_training(name, body, by=pweb.principal(request).name, tenant=tenant)
    return web.json_response({"job": job, "status": "queued"}, status=202)


@pweb.endpoint(summary="A training job's status, progress and result", tags=("models",))
async def job(request):
    return web.json_response(await _svc(request).job(request.match_info["job"],
                                                          tenant=pweb.principal(request).tenant))


async def _visible(request, ids) -> set[str]:
    """The documents among ``ids`` the caller's tenant may see: recommendations span every
    tenant's interactions, so what they answer is filtered per caller."""
    return await _svc(request).kernel.documents.visible(ids, tenant=pweb.principal(request).tenant)


async def _require_visible(request, document) -> None:
    if isinstance(document, str) and not await _visible(request, [document]):
        raise NotFoundError(f"There is no document {document}.", hint="give a stored document's id")


@pweb.endpoint(summary="Record an interaction of the caller with a document (viewed, downloaded, starred)",
               role="viewer", status=201, audit=False, tags=("recommendations",))
async def interact(request):
    body = await pweb.read_json(request)
    if not isinstance(body, dict):
        raise InputError("the body must be an object.", hint='send {"document": "ID", "kind": "viewed"}')
    await _require_visible(request, body.get("document"))
    row = await _svc(request).recommender.record(pweb.principal(request).name, body.get("document"),
                                                           body.get("kind", "viewed"), body.get("weight"))
    return web.json_response(row, status=201)


@pweb.endpoint(summary="Documents recommended to the caller", query=RecommendQuery, tags=("recommendations",))
async def recommend(request):
    svc = _svc(request)
    asked = pweb.read_query(request, RecommendQuery)
    n, exclude_seen, method = asked.n, asked.exclude_seen, asked.method
    user = pweb.principal(request).name
    items = await svc.recommender.recommend(user, 2**31, exclude_seen, method)
    allowed = await _visible(request, [i["document"] for i in items])
    items = [i for i in items if i["document"] in allowed][:n]
    return web.json_response({"user": user, "method": method, "items": items})


@pweb.endpoint(summary="Documents similar to a document (by interactions and text)", query=SimilarQuery,
               tags=("recommendations",))
async def similar(request):
    svc = _svc(request)
    asked = pweb.read_query(request, SimilarQuery)
    n = asked.n
    await _require_visible(request, request.match_info["document"])
    items = await svc.recommender.similar(request.match_info["document"], 2**31, asked.method)
    allowed = await _visible(request, [i["document"] for i in items])
    items = [i for i in items if i["document"] in allowed][:n]
    return web.json_response({"document": request.match_info["document"], "items": items})


@pweb.endpoint(summary="Precision@k of each recommender on a held-out split of the interactions",
               query=EvaluateQuery, tags=("recommendations",))
async def evaluate(request):
    svc = _svc(request)
    k = pweb.read_query(request, EvaluateQuery).k
    report = await svc.recommender.evaluate(k, tenant=pweb.principal(request).tenant)
    return web.json_response(report)


def routes() -> list:
    return [
        web.get(f"{PREFIX}/registry", list_models),
        web.get(f"{PREFIX}/registry/{{name}}", show_model),
        web.post(f"{PREFIX}/registry/{{name}}/versions", import_model),
        web.post(f"{PREFIX}/registry/{{name}}/versions/{{version}}/promote", promote),
        web.post(f"{PREFIX}/registry/{{name}}/rollback", rollback),
        web.delete(f"{PREFIX}/registry/{{name}}/versions/{{version}}", delete_version),
        web.delete(f"{PREFIX}/registry/{{name}}", delete_model),
        web.post(f"{PREFIX}/registry/{{name}}/predict", predict),
        web.post(f"{PREFIX}/registry/{{name}}/train", train),
        web.get(f"{PREFIX}/jobs/{{job}}", job),
        web.post(f"{PREFIX}/interactions", interact),
        web.get(f"{PREFIX}/recommendations", recommend),
        web.get(f"{PREFIX}/recommendations/evaluation", evaluate),
        web.get(f"{PREFIX}/similar/{{document}}", similar),
    ]
