"""The models plugin's pages: the registry (models, versions, metrics, a confusion matrix drawn as a
heat-coloured table), promote and roll back, training from labeled documents with live progress,
and "Recommended for you" on the home page. The same service and rules as the API routes: a
tenant reads its own models and the deployment's, changes only its own; writes need editor."""

from __future__ import annotations

from pathlib import Path

from paperchain_sdk import InputError, NotFoundError
from paperchain_sdk.ui import NavEntry, Page, Panel, PluginUI

from . import service as _service
from .registry import STAGES, scope

HERE = Path(__file__).parent
ALGORITHMS = ("logistic", "svm")
RECOMMENDED = 5
HEAT_STEPS = 10
# Figures of a version's hold-out evaluation shown in the tables, in this order.
FIGURES = ("accuracy", "f1_macro", "r2", "mae", "rmse", "silhouette")


def plugin_ui() -> PluginUI:
    return PluginUI(
        pages=[Page(path="/", handler=registry_page),
               Page(path="/train", method="POST", handler=train),
               Page(path="/m/{name}", handler=model_page),
               Page(path="/m/{name}/versions/{version}/promote", method="POST", handler=promote),
               Page(path="/m/{name}/rollback", method="POST", handler=rollback),
               Page(path="/m/{name}/versions/{version}/delete", method="POST", handler=delete_version, role="admin"),
               Page(path="/import", method="POST", handler=import_model),
               Page(path="/jobs/{job}", handler=job_page),
               Page(path="/documents/{id}/star", method="POST", handler=star, role="viewer")],
        nav=[NavEntry(label="Models", path="/")],
        panels=[Panel(slot="home.widgets", handler=recommended_panel),
                Panel(slot="document.side", handler=star_panel)],
        templates=HERE / "templates", catalogs=HERE / "catalogs", static=HERE / "static")


# -- what the pages show ---------------------------------------------------------------------------

def figures(metrics: dict) -> dict[str, float]:
    """The headline figures of a version (hold-out evaluation, else the metrics' own top level)."""
    source = metrics.get("holdout") or metrics
    return {name: source[name] for name in FIGURES if isinstance(source.get(name), (int, float))}


def heat_grid(confusion: dict) -> dict | None:
    """A confusion matrix as rows of cells, each with its count and a heat step 0..10: its share of
    its row (the true label's documents), so a good model shows a dark diagonal."""
    labels, matrix = confusion.get("labels") or [], confusion.get("matrix") or []
    if not labels or len(matrix) != len(labels):
        return None
    rows = []
    for label, counts in zip(labels, matrix):
        total = sum(counts)
        rows.append({"label": label, "total": total, "cells": [
            {"count": n, "heat": round(HEAT_STEPS * n / total) if total else 0} for n in counts]})
    return {"labels": labels, "rows": rows}


def version_view(version) -> dict:
    metrics = version.metrics or {}
    holdout = metrics.get("holdout") or {}
    return {"version": version.version, "stage": version.stage, "kind": version.kind, "task": version.task,
            "created": version.created, "created_by": version.created_by, "labels": version.labels,
            "figures": figures(metrics), "cross_validation": metrics.get("cross_validation") or {},
            "per_class": holdout.get("per_class") or {},
            "confusion": heat_grid(holdout.get("confusion_matrix") or {}),
            "examples": (version.training or {}).get("examples")}


async def _writable(svc, name: str, tenant: str) -> bool:
    """Whether a caller of ``tenant`` may change model ``name`` (a tenant may not change the
    deployment's shared model)."""
    return not tenant or await svc.registry.owner(name, tenant) == tenant


async def recommendations(kernel, svc, user: str, tenant: str, n: int = RECOMMENDED) -> list[dict]:
    """The recommender's picks for ``user`` among the documents ``tenant`` may see, with names."""
    items = await svc.recommender.recommend(user, 2**31, True, "hybrid")
    allowed = await kernel.documents.visible([i["document"] for i in items], tenant=tenant)
    picked = []
    for item in items:
        if item["document"] not in allowed:
            continue
        doc = await kernel.documents.get(item["document"], text=False)
        picked.append({"id": doc.id, "name": doc.name, "score": item["score"], "method": item["method"]})
        if len(picked) == n:
            break
    return picked


# -- pages ---------------------------------------------------------------------------------------------

async def registry_page(request, ui):
    svc = _service.service_for(ui.kernel)
    models = await svc.registry.names(ui.tenant)
    for model in models:  # how the caller names it: a tenant its own models by name, the operator tenant:name
        model["ref"] = model["name"] if ui.tenant else model["ref"]
    return ui.render("models/registry.html", models=models, algorithms=ALGORITHMS)


async def model_page(request, ui):
    svc = _service.service_for(ui.kernel)
    tenant, name = scope(request.match_info["name"], ui.tenant)
    versions = await svc.registry.versions(name, tenant=tenant)
    chosen = request.query.get("version")
    if chosen is None:
        shown = ([v for v in versions if v.stage == "production"] or versions)[-1]
    else:
        shown = next((v for v in versions if str(v.version) == chosen), None)
        if shown is None:
            raise NotFoundError(ui.gettext("This model has no version %(version)s.") % {"version": chosen[:20]})
    return ui.render("models/model.html", ref=request.match_info["name"], name=name,
                     versions=[version_view(v) for v in reversed(versions)], shown=version_view(shown),
                     stages=STAGES, algorithms=ALGORITHMS,
                     writable=ui.can("editor") and await _writable(svc, name, tenant))


async def _form(request) -> dict:
    form = await request.post()
    return {key: str(form.get(key, "")) for key in form}


async def promote(request, ui):
    from aiohttp import web

    svc = _service.service_for(ui.kernel)
    ref = request.match_info["name"]
    tenant, name = scope(ref, ui.tenant)
    stage = (await _form(request)).get("stage", "production")
    try:
        number = int(request.match_info["version"])
    except ValueError:
        raise InputError(ui.gettext("A version is a whole number.")) from None
    await svc.registry.promote(name, number, stage, by=ui.user, tenant=tenant)
    raise web.HTTPSeeOther(f"{ui.root}/m/{ref}?version={number}")


async def delete_version(request, ui):
    """Delete a version that is not in production (admins, as the API; a production version is
    replaced or rolled back first)."""
    from aiohttp import web

    svc = _service.service_for(ui.kernel)
    ref = request.match_info["name"]
    tenant, name = scope(ref, ui.tenant)
    try:
        number = int(request.match_info["version"])
    except ValueError:
        raise InputError(ui.gettext("A version is a whole number.")) from None
    await svc.registry.delete(name, number, tenant=tenant)
    left = await svc.registry.names(ui.tenant)
    still = any(m["name"] == name and m["tenant"] == tenant for m in left)
    raise web.HTTPSeeOther(f"{ui.root}/m/{ref}" if still else ui.root)


async def rollback(request, ui):
    from aiohttp import web

    svc = _service.service_for(ui.kernel)
    ref = request.match_info["name"]
    tenant, name = scope(ref, ui.tenant)
    stage = (await _form(request)).get("stage", "production")
    if stage not in STAGES:
        raise InputError(ui.gettext("Choose staging or production to roll back."))
    version = await svc.registry.rollback(name, stage, by=ui.user, tenant=tenant)
    raise web.HTTPSeeOther(f"{ui.root}/m/{ref}?version={version.version}")


async def train(request, ui):
    """Start training a text classifier from the tenant's labeled documents; off to its job page."""
    from aiohttp import web

    form = await _form(request)
    algorithm = form.get("algorithm", "logistic")
    if algorithm not in ALGORITHMS:
        raise InputError(ui.gettext("Choose one of the algorithms offered."))
    field = form.get("field", "tags").strip() or "tags"
    if field != "tags" and not (field.startswith("metadata.") and len(field) > 9):
        raise InputError(ui.gettext("Labels come from the tags, or from a metadata key written metadata.KEY."))
    tenant, name = scope(form.get("name", "").strip(), ui.tenant)
    job = await _service.service_for(ui.kernel).start_training(
        name, {"task": "text", "field": field, "algorithm": algorithm, "promote": form.get("promote") == "on"},
        by=ui.user, tenant=tenant)
    raise web.HTTPSeeOther(f"{ui.root}/jobs/{job}")


async def _import_form(request, ui) -> tuple[dict, bytes]:
    """The import form's fields and its ONNX file, read as a stream up to the API's size limit."""
    from .routes import MAX_MODEL_BYTES

    if not request.content_type.startswith("multipart/"):
        raise InputError(ui.gettext("Choose an ONNX file to import."))
    fields, data = {}, b""
    reader = await request.multipart()
    async for part in reader:
        if part.name == "file":
            chunks, size = [], 0
            while chunk := await part.read_chunk():
                size += len(chunk)
                if size > MAX_MODEL_BYTES:  # stop reading at once: never hold more than the limit
                    raise InputError(ui.gettext("The model file is larger than 512 MiB."))
                chunks.append(chunk)
            data = b"".join(chunks)
        elif part.name in ("name", "labels", "task"):
            fields[part.name] = (await part.text())[:2000]
    if not data:
        raise InputError(ui.gettext("Choose an ONNX file to import."))
    return fields, data


async def import_model(request, ui):
    """Import an ONNX file as a new version of a model of the caller's tenant (as the API's import)."""
    from urllib.parse import quote

    from aiohttp import web

    fields, data = await _import_form(request, ui)
    ref = fields.get("name", "").strip()
    tenant, name = scope(ref, ui.tenant)
    labels = [label.strip() for label in fields.get("labels", "").split(",") if label.strip()]
    registry = _service.service_for(ui.kernel).registry
    version = await registry.import_onnx(name, data, created_by=ui.user, labels=labels,
                                         task=fields.get("task", "").strip(), tenant=tenant)
    raise web.HTTPSeeOther(f"{ui.root}/m/{quote(ref, safe=':')}?version={version.version}")


async def job_page(request, ui):
    svc = _service.service_for(ui.kernel)
    job = await svc.job(request.match_info["job"], tenant=ui.tenant)
    job["ref"] = f"{job['tenant']}:{job['model']}" if job["tenant"] and not ui.tenant else job["model"]
    template = "models/_job.html" if request.headers.get("HX-Request") else "models/job.html"
    return ui.render(template, job=job)


async def recommended_panel(request, ui):
    svc = _service.service_for(ui.kernel)
    return ui.fragment("models/recommended.html",
                       items=await recommendations(ui.kernel, svc, ui.user, ui.tenant))


async def star_panel(request, ui, document):
    """Star the document (as the API's interactions): starred documents shape the recommendations."""
    svc = _service.service_for(ui.kernel)
    starred = await svc.recommender.interacted(ui.user, document["id"], "starred")
    return ui.fragment("models/star.html", document=document, starred=starred)


async def star(request, ui):
    from aiohttp import web

    svc = _service.service_for(ui.kernel)
    document_id = request.match_info["id"]
    if not await ui.kernel.documents.visible([document_id], tenant=ui.tenant):
        raise NotFoundError(ui.gettext("There is no such document."))
    if not await svc.recommender.interacted(ui.user, document_id, "starred"):
        await svc.recommender.record(ui.user, document_id, "starred")
    raise web.HTTPSeeOther(f"/documents/{document_id}")
