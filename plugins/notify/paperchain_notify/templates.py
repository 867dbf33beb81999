"""Message templates: Jinja2's sandboxed environment, so a template cannot reach Python internals."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from paperchain_sdk import InputError


@lru_cache(maxsize=2)
def _environment(html: bool):
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # Immutable: a template cannot change the values it is given (no list.append from a template).
    return ImmutableSandboxedEnvironment(autoescape=html, keep_trailing_newline=True)


@lru_cache(maxsize=512)
def _compile(text: str, html: bool):
    from jinja2 import TemplateSyntaxError

    try:
        return _environment(html).from_string(text)
    except TemplateSyntaxError as exc:
        raise InputError(f"the template {text[:60]!r} is not valid Jinja2: {exc.message} (line {exc.lineno}).",
                         hint="check the {{ }} and {% %} pairs") from None


def render(text: str, context: dict[str, Any], *, html: bool = False, where: str = "template") -> str:
    """Render ``text`` with ``context``; plain text needs no template syntax at all."""
    if "{" not in text:
        return text
    from jinja2 import TemplateError
    from jinja2.exceptions import SecurityError

    template = _compile(text, html)
    try:
        return template.render(context)
    except SecurityError as exc:
        raise InputError(f"{where} tried to reach something templates may not use: {str(exc).rstrip('.')}.",
                         hint="templates may read the run, document, inputs and data values only") from None
    except TemplateError as exc:
        raise InputError(f"{where} failed: {exc}.", hint="check the names it uses: run, document, inputs, data") from None
