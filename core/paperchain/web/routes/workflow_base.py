"""What the workflow pages share: finding a workflow as the caller's tenant sees it (the API's
rules: a tenant's own, or one shared with it to read and run), its page's URL, and whether the
caller may change it."""

from __future__ import annotations

from urllib.parse import quote

from paperchain_sdk import NotFoundError

from ...api.guard import STATE
from ...engine.workflow import build_workflow


def kernel(request):
    return request.app[STATE].kernel


def tenant_of(ctx) -> str | None:
    return ctx.who.tenant or None


def url(saved) -> str:
    """A workflow's page: its name, or the operator's ``tenant:name`` ref."""
    return "/workflows/" + quote(saved.ref if not saved.shared else saved.name, safe=":")


async def find(request, ctx):
    """The workflow named in the URL, as the caller's tenant sees it (404 otherwise)."""
    try:
        return await kernel(request).workflows.get(request.match_info["name"], tenant=tenant_of(ctx))
    except NotFoundError:
        raise NotFoundError(ctx.gettext("There is no workflow %(name)s (or it is not yours to see).")
                            % {"name": request.match_info["name"]}) from None


def writable(ctx, saved) -> bool:
    return ctx.can("editor") and not saved.shared


def parsed(saved):
    """The saved definition as an engine Workflow (read for display: no registry, nothing refused
    because a plugin has gone since it was saved)."""
    return build_workflow(saved.definition, origin=f"workflow {saved.ref!r}")


def show(value) -> str:
    """A setting's value as text: strings as they are, anything else as JSON."""
    import json

    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
