"""The UI's own CSS, JavaScript and vendored files. URLs carry a content hash (``?v=``), so the
browser may keep them for a year; only files under ``static/`` are served."""

from __future__ import annotations

import mimetypes

from aiohttp import web

from ..guard import PageError, page
from ..render import STATIC

_ROOT = STATIC.resolve()


@page(public=True, audit=False)
async def static_file(request, ctx):
    path = (_ROOT / request.match_info["path"]).resolve()
    if not path.is_relative_to(_ROOT) or not path.is_file():
        raise PageError(404, ctx.gettext("There is no such file."))
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".js":
        media_type = "text/javascript"
    cache = "public, max-age=31536000, immutable" if "v" in request.query else "no-cache"
    return web.Response(body=path.read_bytes(), content_type=media_type,
                        headers={"Cache-Control": cache})


PAGES = [("GET", "/static/{path:.+}", static_file)]
