"""Pages that plugins add to the web UI (the ``paperchain_ui`` hook).

A plugin's ``paperchain_ui(kernel)`` returns one :class:`PluginUI`:

- ``pages``: :class:`Page` (method, path under ``/p/<plugin>``, handler, minimum role). A handler
  is ``async def handler(request, ui)`` (or ``"module:function"``, imported on first use) that
  returns ``ui.render(...)`` or any aiohttp response; ``ui`` is a :class:`PageContext`.
- ``nav``: :class:`NavEntry` links in the main navigation, shown to users with the role.
- ``panels``: :class:`Panel` fragments for named slots of the core pages (see :data:`SLOTS`):
  ``async def panel(request, ui, **values)`` returns ``ui.fragment(...)`` (HTML) or None for
  nothing. ``document.side`` gets ``document`` (a dict: id, name, media_type, size, created, tags,
  metadata, sha256), already checked to be the user's tenant's; ``home.widgets`` gets nothing.
- ``templates``: a folder of Jinja templates, named ``<plugin>/<file>`` (they may extend
  ``base.html`` and use ``_()``, ``fmt``, ``static()`` like the core pages).
- ``catalogs``: a folder holding ``<language>/LC_MESSAGES/messages.po``, merged into the UI's
  translations (the core's own entries win on a clash).
- ``static``: a folder served under ``/static/p/<plugin>/`` (``static('p/<plugin>/x.js')``).

Everything is served through the core's guard: sessions, CSRF on writes, roles, tenants, rate
limits, audit of writes, the strict Content-Security-Policy (no inline script or style) and error
pages. Raise :class:`~paperchain_sdk.errors.PaperchainError` subclasses for failures
(NotFoundError: a 404 page; InputError: 400). A plugin whose ``paperchain_ui`` fails, or a panel
that raises, is logged and shown as failed; the core pages keep working.

This module does not import aiohttp or Jinja: the SDK stays light.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs

from .web import ROLE_RANKS, ROLES

SLOTS = ("document.side", "home.widgets")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_PATH = re.compile(r"^(/[A-Za-z0-9._~{}:\-]*)*$")


def _role(_instance, attribute, value):
    if value is not None and value not in ROLES:
        raise ValueError(f"{attribute.name} must be one of {ROLES}, not {value!r}")


def _path(_instance, attribute, value):
    if not isinstance(value, str) or not value.startswith("/") or ".." in value or not _PATH.match(value):
        raise ValueError(f"{attribute.name} must be a path starting with '/' (letters, digits, '-', '_', '.', "
                         f"'{{name}}' parameters), got {value!r}")


@attrs.frozen(kw_only=True)
class Page:
    """A page (or a form's target) at ``/p/<plugin><path>``; ``path="/"`` is ``/p/<plugin>``."""

    path: str = attrs.field(validator=_path)
    handler: Any  # async def handler(request, ui) or "module:function"
    method: str = attrs.field(default="GET", converter=str.upper,
                              validator=attrs.validators.in_(METHODS))
    role: str | None = attrs.field(default=None, validator=_role)  # None: viewer to read, editor to write
    audit: bool | None = None  # None: audit writes (a POST that only reads, like a lookup, may say False)


@attrs.frozen(kw_only=True)
class NavEntry:
    """A link in the main navigation: ``label`` is an English msgid, translated per request."""

    label: str = attrs.field(validator=attrs.validators.instance_of(str))
    path: str = attrs.field(default="/", validator=_path)  # under /p/<plugin>
    role: str = attrs.field(default="viewer", validator=_role)


@attrs.frozen(kw_only=True)
class Panel:
    """A fragment in a slot of a core page (:data:`SLOTS`), shown to users with the role."""

    slot: str = attrs.field(validator=attrs.validators.in_(SLOTS))
    handler: Any  # async def panel(request, ui, **values) -> HTML or None; or "module:function"
    role: str = attrs.field(default="viewer", validator=_role)


def _folder(value):
    return None if value is None else Path(value)


@attrs.frozen(kw_only=True)
class PluginUI:
    """What a plugin adds to the web UI (returned by ``paperchain_ui``)."""

    pages: tuple[Page, ...] = attrs.field(default=(), converter=tuple)
    nav: tuple[NavEntry, ...] = attrs.field(default=(), converter=tuple)
    panels: tuple[Panel, ...] = attrs.field(default=(), converter=tuple)
    templates: Path | None = attrs.field(default=None, converter=_folder)
    catalogs: Path | None = attrs.field(default=None, converter=_folder)
    static: Path | None = attrs.field(default=None, converter=_folder)


@attrs.define(kw_only=True)
class PageContext:
    """What a plugin's page or panel gets besides the request (made by the host per request).

    ``tenant`` is the user's ('' for the operator's deployment-wide users): read and write only
    that tenant's resources. ``render(template, status=200, **values)`` answers a whole page;
    ``fragment(template, **values)`` returns HTML for a panel or an htmx swap. Templates see
    ``ctx``, ``_``, ``ngettext``, ``fmt``, ``who``, ``request``, ``static`` and ``ui`` (this object).
    ``await document(id)`` is a document of the user's tenant as a dict (id, name, media_type,
    size, created, tags, metadata, sha256 of its bytes); NotFoundError (a 404 page) for another
    tenant's, a deleted one or none.
    """

    kernel: Any
    plugin: str
    user: str
    role: str
    tenant: str
    language: str
    csrf: str
    gettext: Callable[[str], str]
    ngettext: Callable[[str, str, int], str]
    fmt: Any  # dates, numbers and sizes for the language: when(), number(), seconds(), size()
    render: Callable[..., Any]
    fragment: Callable[..., str]
    document: Callable[[str], Awaitable[dict]]

    @property
    def root(self) -> str:
        """The plugin's own URL prefix, ``/p/<plugin>``."""
        return f"/p/{self.plugin}"

    def can(self, role: str) -> bool:
        """Whether the user has at least ``role`` (viewer < editor < admin)."""
        return ROLE_RANKS[self.role] >= ROLE_RANKS[role]


def resolve(handler: Any) -> Callable:
    """A handler given as a callable, or as ``"module:function"`` (imported now)."""
    if callable(handler):
        return handler
    if not isinstance(handler, str) or handler.count(":") != 1:
        raise ValueError(f"a handler is a callable or 'module:function', got {handler!r}")
    module, _, name = handler.partition(":")
    return getattr(importlib.import_module(module), name)
