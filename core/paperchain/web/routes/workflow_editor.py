"""The workflow editor: TOML in a textarea with line numbers, checked as you type by the same
validation the CLI and API use (each problem at its line and column), the installed components
and their settings beside it to insert, and saving as a new version; new workflows start from a
gallery of the example workflows."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from paperchain_sdk import ConfigError, ConflictError
from paperchain_sdk.contracts import STEP_METHOD

from ...api.guard import AUDIT_DETAILS, AUDIT_TARGET
from ...api.openapi import settings_schema
from ..guard import PageError, page
from ..render import render
from ..workflow_toml import Problem, check, dumps, name_position
from .workflow_base import find, kernel, show, tenant_of, url

EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "workflows"
BLANK = '''name = "my-workflow"
description = "What it does, in a sentence"

[on.manual]

[[steps]]
id = "text"
uses = "document.text"
with = { allow_empty = true }
'''


def components(request) -> list[dict]:
    """What may be inserted: step components and triggers, each with its settings and a snippet."""
    listed = []
    for entry in sorted(kernel(request).registry.entries(), key=lambda e: (e.kind, e.spec.name)):
        if entry.kind not in STEP_METHOD and entry.kind != "trigger":
            continue
        schema = settings_schema(_settings_class(entry.spec.settings))
        required = set(schema.get("required", []))
        settings = [{"name": name, "type": _type_of(prop), "default": show(prop["default"]) if "default" in prop else "",
                     "required": name in required} for name, prop in schema.get("properties", {}).items()]
        listed.append({"name": entry.spec.name, "kind": entry.kind, "summary": entry.spec.summary,
                       "settings": settings, "snippet": _snippet(entry, settings)})
    return listed


def _settings_class(settings):
    if isinstance(settings, str):
        from paperchain_sdk.specs import resolve

        return resolve(settings)
    return settings


def _type_of(prop: dict) -> str:
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = "/".join(str(k) for k in kind)
    return str(kind or ("object" if "$ref" in prop else "any"))


_PLACEHOLDERS = {"string": '""', "integer": "0", "number": "0.0", "boolean": "false", "array": "[]", "object": "{}"}


def _snippet(entry, settings: list[dict]) -> str:
    needed = ", ".join(f"{s['name']} = {_PLACEHOLDERS.get(s['type'], chr(34) * 2)}" for s in settings if s["required"])
    if entry.kind == "trigger":
        return f"\n[on.{entry.spec.name}]\n" + "".join(
            f"{s['name']} = {_PLACEHOLDERS.get(s['type'], chr(34) * 2)}\n" for s in settings if s["required"])
    array = "batch-steps" if getattr(entry.spec, "scope", "document") == "batch" else "steps"
    step_id = entry.spec.name.rsplit(".", 1)[-1].replace("_", "-")
    return (f'\n[[{array}]]\nid = "{step_id}"\nuses = "{entry.spec.name}"\n'
            + (f"with = {{ {needed} }}\n" if needed else ""))


def _editor_validation(request):
    """The kernel's validation (the CLI's and API's), its messages naming the editor as the source."""
    return lambda definition: kernel(request).workflows.validate(definition, origin="the editor")


def _editor(request, ctx, *, text: str, saved=None, problems=(), status: int = 200):
    return render(request, ctx, "workflow_edit.html", status=status, saved=saved, url=url(saved) if saved else "",
                  text=text, problems=list(problems), components=components(request),
                  action=(url(saved) + "/edit") if saved else "/workflows/new")


@page(role="editor")
async def edit_page(request, ctx):
    saved = await find(request, ctx)
    if saved.shared:
        raise PageError(403, ctx.gettext("This workflow is shared with your tenant to read and run, not to change."))
    return _editor(request, ctx, text=dumps(saved.definition), saved=saved)


def _templates() -> dict[str, dict]:
    """The example workflows, by file stem: their text and what the first comment says."""
    found = {}
    for path in sorted(EXAMPLES.glob("*.toml")) if EXAMPLES.is_dir() else ():
        text = path.read_text(encoding="utf-8")
        about = next((line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#")), "")
        found[path.stem] = {"name": path.stem, "about": about, "text": text}
    return found


@page(role="editor")
async def new_page(request, ctx):
    templates = _templates()
    chosen = request.query.get("template", "")
    if chosen and chosen not in templates:
        raise PageError(404, ctx.gettext("There is no example workflow %(name)s.") % {"name": chosen})
    if not chosen and "blank" not in request.query:
        return render(request, ctx, "workflow_gallery.html", templates=list(templates.values()))
    return _editor(request, ctx, text=templates[chosen]["text"] if chosen else BLANK)


async def _text(request, ctx) -> str:
    text = (await request.post()).get("toml", "")
    if not isinstance(text, str) or len(text) > 256 * 1024:
        raise PageError(400, ctx.gettext("Send the workflow as text of at most 256 KiB."))
    return text


async def _save(request, ctx, saved=None):
    """Validate and save the posted text (a new version, or a new workflow); an error re-renders
    the editor with each problem at its line."""
    text = await _text(request, ctx)
    workflows = kernel(request).workflows
    definition, _, problems = check(text, _editor_validation(request))
    if not problems:
        try:
            stored = await workflows.save(definition, origin="web", created_by=ctx.who.name,
                                          name=saved.name if saved else None, create_only=saved is None,
                                          tenant=(ctx.who.tenant or saved.tenant) if saved else tenant_of(ctx))
        except (ConfigError, ConflictError) as exc:  # a name other than the URL's, or one already taken
            line, column = name_position(text)
            problems = [Problem(message=exc.message, hint=exc.hint or "", line=line, column=column)]
        else:
            request[AUDIT_TARGET] = f"workflow:{stored.ref}"
            request[AUDIT_DETAILS] = {"hash": stored.hash}
            raise web.HTTPSeeOther(url(stored))
    return _editor(request, ctx, text=text, saved=saved, problems=problems, status=400)


@page(role="editor")
async def save(request, ctx):
    saved = await find(request, ctx)
    if saved.shared:
        raise PageError(403, ctx.gettext("This workflow is shared with your tenant to read and run, not to change."))
    return await _save(request, ctx, saved)


@page(role="editor")
async def create(request, ctx):
    return await _save(request, ctx)


@page(role="editor", audit=False)
async def validate(request, ctx):
    """The editor's check as you type: the same validation as saving, nothing saved."""
    _, workflow, problems = check(await _text(request, ctx), _editor_validation(request))
    return render(request, ctx, "workflow_problems.html", problems=problems, workflow=workflow)


PAGES = [
    ("GET", "/workflows/new", new_page),
    ("POST", "/workflows/new", create),
    ("POST", "/workflows/validate", validate),
    ("GET", "/workflows/{name}/edit", edit_page),
    ("POST", "/workflows/{name}/edit", save),
]
