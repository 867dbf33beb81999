"""Jinja2 templates, rendered with the request's language, formatter and who is looking."""

from __future__ import annotations

import hashlib
from pathlib import Path

import jinja2
from aiohttp import web

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def environment() -> jinja2.Environment:
    # Templates ship with the package: compiled once, never checked for changes on disk per request.
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined, enable_async=False,
                             auto_reload=False)
    versions = static_versions()
    # A file's URL carries a hash of its content, so browsers may keep it for a year.
    env.globals["static"] = lambda name: f"/static/{name}?v={versions[name]}"
    return env


def static_versions() -> dict[str, str]:
    return {str(path.relative_to(STATIC)): hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            for path in STATIC.rglob("*") if path.is_file()}


def render(request, ctx, template: str, status: int = 200, **values) -> web.Response:
    from .guard import WEB

    env = request.app[WEB].env
    text = env.get_template(template).render(ctx=ctx, _=ctx.gettext, ngettext=ctx.ngettext, fmt=ctx.fmt,
                                             who=ctx.who, request=request, live_since=ctx.live_since, **values)
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
