"""Jinja2 templates, rendered with the request's language, formatter and who is looking."""

from __future__ import annotations

import hashlib
from pathlib import Path

import jinja2
from aiohttp import web

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def environment(plugin_templates: dict[str, Path] | None = None,
                plugin_static: dict[str, Path] | None = None) -> jinja2.Environment:
    """The pages' templates, plus each plugin's as ``<plugin>/<file>`` (``paperchain_ui``)."""
    loader = jinja2.FileSystemLoader(TEMPLATES)
    if plugin_templates:
        loader = jinja2.ChoiceLoader([loader, jinja2.PrefixLoader(
            {name: jinja2.FileSystemLoader(folder) for name, folder in plugin_templates.items()})])
    # Templates ship with the package: compiled once, never checked for changes on disk per request.
    env = jinja2.Environment(loader=loader, autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined, enable_async=False,
                             auto_reload=False)
    versions = static_versions()
    for name, folder in (plugin_static or {}).items():
        versions.update({f"p/{name}/{file}": version for file, version in static_versions(folder).items()})
    # A file's URL carries a hash of its content, so browsers may keep it for a year.
    env.globals["static"] = lambda name: f"/static/{name}?v={versions[name]}"
    env.globals.update(plugin_nav=(), plugin_slots=frozenset(), plugin_failures={})  # set by add_web
    return env


def static_versions(folder: Path = STATIC) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            for path in folder.rglob("*") if path.is_file()}


def render(request, ctx, template: str, status: int = 200, **values) -> web.Response:
    return web.Response(text=render_text(request, ctx, template, **values), status=status,
                        content_type="text/html", charset="utf-8")


def render_text(request, ctx, template: str, **values) -> str:
    from .guard import WEB

    env = request.app[WEB].env
    return env.get_template(template).render(ctx=ctx, _=ctx.gettext, ngettext=ctx.ngettext, fmt=ctx.fmt,
                                             who=ctx.who, request=request, live_since=ctx.live_since, **values)
