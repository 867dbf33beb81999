"""Workflows: create or replace (JSON or TOML), validate without saving, list, get, delete,
enable and disable; every version is kept. Each caller works in its tenant's scope (see
``paperchain.workflows``); the deployment's admins share a workflow with tenants."""

from __future__ import annotations

import attrs
from aiohttp import web

from paperchain_sdk import InputError, PermissionDenied
from paperchain_sdk.web import endpoint

from ...workflows import SavedWorkflow, parse_definition
from ..errors import ApiError
from ..schemas import Validation, WorkflowVersion
from .common import audit_target, kernel, page, reply, who

routes = web.RouteTableDef()
_MEDIA = "application/json,application/toml"


async def _definition(request) -> dict:
    media = request.content_type
    if media not in ("application/json", "application/toml", "text/toml", "text/x-toml"):
        raise ApiError(415, "unsupported_media_type",
                       f"send the workflow as JSON (application/json) or TOML (application/toml), not {media!r}")
    return parse_definition(await request.read(), "toml" if "toml" in media else "json")


@routes.get("/api/v1/workflows")
@endpoint(summary="List saved workflows", response=SavedWorkflow, many=True, tags=("workflows",))
async def list_workflows(request):
    return page(await kernel(request).workflows.list(tenant=who(request).tenant), None)


@routes.post("/api/v1/workflows")
@endpoint(summary="Create a workflow from JSON or TOML (409 if the name exists)", role="editor", body=_MEDIA,
          response=SavedWorkflow, status=201, tags=("workflows",))
async def create_workflow(request):
    definition = await _definition(request)
    saved = await kernel(request).workflows.save(definition, origin="api", created_by=who(request).name, create_only=True,
                                                 tenant=who(request).tenant)
    audit_target(request, f"workflow:{saved.ref}", hash=saved.hash)
    return reply(saved, 201)


@routes.post("/api/v1/workflows/validate")
@endpoint(summary="Validate a workflow without saving it (the CLI's errors, as 400)", role="viewer", body=_MEDIA,
          response=Validation, tags=("workflows",), audit=False)
async def validate(request):
    workflow = kernel(request).workflows.validate(await _definition(request))
    return reply(Validation(valid=True, name=workflow.name, steps=[s.id for s in workflow.steps],
                            batch_steps=[s.id for s in workflow.batch_steps], triggers=list(workflow.on)))


@routes.get("/api/v1/workflows/{name}")
@endpoint(summary="A workflow's current version", response=SavedWorkflow, tags=("workflows",))
async def get_workflow(request):
    return reply(await kernel(request).workflows.get(request.match_info["name"], tenant=who(request).tenant))


@routes.put("/api/v1/workflows/{name}")
@endpoint(summary="Create or replace a workflow (a new version when the definition changed)", role="editor",
          body=_MEDIA, response=SavedWorkflow, tags=("workflows",))
async def replace_workflow(request):
    name = request.match_info["name"]
    definition = await _definition(request)
    if "name" not in definition:
        raise InputError("the workflow has no 'name'.", hint=f'add name = "{name}"')
    saved = await kernel(request).workflows.save(definition, origin="api", created_by=who(request).name, name=name,
                                                 tenant=who(request).tenant)
    audit_target(request, f"workflow:{saved.ref}", hash=saved.hash)
    return reply(saved)


@routes.delete("/api/v1/workflows/{name}")
@endpoint(summary="Delete a workflow (its versions stay for the runs that used them)", role="editor", status=204,
          tags=("workflows",))
async def delete_workflow(request):
    name = request.match_info["name"]
    audit_target(request, f"workflow:{name}")
    await kernel(request).workflows.delete(name, tenant=who(request).tenant)
    return web.Response(status=204)


@routes.post("/api/v1/workflows/{name}/enable")
@endpoint(summary="Enable a workflow", role="editor", response=SavedWorkflow, tags=("workflows",))
async def enable(request):
    audit_target(request, f"workflow:{request.match_info['name']}")
    return reply(await kernel(request).workflows.set_enabled(request.match_info["name"], True,
                                                             tenant=who(request).tenant))


@routes.post("/api/v1/workflows/{name}/disable")
@endpoint(summary="Disable a workflow: it keeps its versions but starts no runs", role="editor",
          response=SavedWorkflow, tags=("workflows",))
async def disable(request):
    audit_target(request, f"workflow:{request.match_info['name']}")
    return reply(await kernel(request).workflows.set_enabled(request.match_info["name"], False,
                                                             tenant=who(request).tenant))


@routes.get("/api/v1/workflows/{name}/versions")
@endpoint(summary="Every saved version of a workflow, newest first", response=WorkflowVersion, many=True,
          tags=("workflows",))
async def versions(request):
    return page(await kernel(request).workflows.versions(request.match_info["name"], tenant=who(request).tenant), None)


@attrs.frozen(kw_only=True)
class WorkflowShares:
    workflow: str  # the workflow's ref: its name, or <tenant>:<name> for a tenant's workflow
    tenants: list[str]  # who may read and run it besides its own tenant ('*': every tenant)


def _operator(request) -> None:
    """Sharing crosses tenants, so only the deployment's admins (who belong to no tenant) do it."""
    if who(request).tenant:
        raise PermissionDenied("sharing workflows between tenants is for the deployment's admins (users without a tenant).",
                               hint="ask an admin of the deployment to share it")


@routes.get("/api/v1/workflows/{name}/shares")
@endpoint(summary="The tenants a workflow is shared with (deployment admins)", role="admin", response=WorkflowShares,
          tags=("workflows",))
async def list_shares(request):
    _operator(request)
    saved = await kernel(request).workflows.get(request.match_info["name"])
    return reply(WorkflowShares(workflow=saved.ref, tenants=await kernel(request).workflows.shares(saved.ref)))


@routes.put("/api/v1/workflows/{name}/shares/{tenant}")
@endpoint(summary="Share a workflow with a tenant ('*': every tenant) to read and run, not to change "
                  "(deployment admins)", role="admin", response=WorkflowShares, tags=("workflows",))
async def share(request):
    _operator(request)
    workflows, tenant = kernel(request).workflows, request.match_info["tenant"]
    saved = await workflows.get(request.match_info["name"])
    audit_target(request, f"workflow:{saved.ref}", shared_with=tenant)
    return reply(WorkflowShares(workflow=saved.ref, tenants=await workflows.share(saved.ref, tenant, by=who(request).name)))


@routes.delete("/api/v1/workflows/{name}/shares/{tenant}")
@endpoint(summary="Stop sharing a workflow with a tenant (deployment admins)", role="admin", response=WorkflowShares,
          tags=("workflows",))
async def unshare(request):
    _operator(request)
    workflows, tenant = kernel(request).workflows, request.match_info["tenant"]
    saved = await workflows.get(request.match_info["name"])
    audit_target(request, f"workflow:{saved.ref}", unshared_with=tenant)
    return reply(WorkflowShares(workflow=saved.ref, tenants=await workflows.unshare(saved.ref, tenant)))
