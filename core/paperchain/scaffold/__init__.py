"""Generating a new plugin package: ``create_plugin("wordcount", "analyzer", Path("."))``.

The templates under ``templates/`` are plain files with ``{{placeholder}}`` markers, so they read
like the code they become and need no template engine. ``templates/common`` holds what every
plugin gets (pyproject.toml, README, conftest); ``templates/<kind>`` the hook module, settings,
a small working component and tests that pass as generated; ``templates/page`` a page in the web
UI (``paperchain_ui``: a handler, its Jinja template and Spanish catalog) with its HTTP and
browser tests. (Jinja templates use only dotted names, ``{{ info.x }}``, which the scaffold's
placeholders never match.) A ``__package__`` folder becomes the
import package, and a trailing ``.tmpl`` (which keeps tools from treating templates as real
Python) is dropped.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from paperchain_sdk import KINDS, ConfigError

__all__ = ["NAME_RE", "create_plugin"]

NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
# ``${{ … }}`` is a workflow expression, written as is into generated READMEs and tests.
_PLACEHOLDER = re.compile(r"(?<!\$)\{\{\s*([a-z_]+)\s*\}\}")
_USAGE = "usage.md"  # a fragment of the README, not copied as a file

# kind: (component name suffix, one-line summary of what the generated component does)
_KIND_INFO = {
    "trigger": ("interval", "Starts a workflow every few seconds."),
    "action": ("tag", "Tags the run's document and reports what it did."),
    "exporter": ("report", "Exports a short plain-text report of a document."),
    "analyzer": ("count", "Counts the words, lines and characters of a document."),
    "model": ("classify", "Labels a text urgent or routine by the keywords it contains."),
    "ledger": ("chain", "A hash-chained, append-only JSON-lines log."),
    "notifier": ("file", "Delivers messages as JSON lines appended to a file."),
}


def create_plugin(name: str, kind: str, dest: Path, *, author: str = "") -> Path:
    """Create the plugin package ``dest / f"paperchain-{name}"`` and return its path.

    Parameters
    ----------
    name : str
        Lower-case words joined by dashes (``wordcount``, ``invoice-tools``). The distribution is
        ``paperchain-<name>``, the import package ``paperchain_<name with _>``, the component
        ``<name>.<suffix>`` (``wordcount.count`` for an analyzer).
    kind : str
        One of ``paperchain_sdk.KINDS``.
    dest : Path
        The folder to create the package in (created if missing).
    author : str
        Written to pyproject.toml when given.

    Raises
    ------
    ConfigError
        For a bad name, an unknown kind, or a target folder that exists and is not empty. Nothing
        is written then.

    Examples
    --------
    >>> create_plugin("wordcount", "analyzer", tmp_path)  # doctest: +SKIP
    PosixPath('.../paperchain-wordcount')
    """
    _check(name, kind)
    target = Path(dest) / f"paperchain-{name}"
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(
            f"Cannot create plugin {name!r}: {target} already exists and is not empty.",
            hint="choose another destination folder, or remove that one first",
        )
    context = _context(name, kind, author)
    # Render everything before writing anything, so a template error leaves no half-made package.
    kind_dir = _templates() / kind
    context["usage"] = _render((kind_dir / _USAGE).read_text(encoding="utf-8"), context, _USAGE).strip()
    files = dict(_render_tree(_templates() / "common", context))
    files.update(_render_tree(kind_dir, context, skip={_USAGE}))
    files.update(_render_tree(_templates() / "page", context))  # its page in the web UI (paperchain_ui)
    for relative, text in sorted(files.items()):
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


def _check(name: str, kind: str) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ConfigError(
            f"Plugin name {name!r} is not valid: use lower-case letters and digits, words joined by "
            "single dashes, starting with a letter.",
            hint="for example 'wordcount' or 'invoice-tools'",
        )
    if kind not in KINDS:
        raise ConfigError(f"Unknown component kind {kind!r}.", hint="choose one of: " + ", ".join(KINDS))


def _context(name: str, kind: str, author: str) -> dict[str, str]:
    suffix, summary = _KIND_INFO[kind]
    package = "paperchain_" + name.replace("-", "_")
    # json.dumps writes a valid TOML basic string for any author name (quotes, backslashes, accents).
    authors = f"authors = [{{ name = {json.dumps(author, ensure_ascii=False)} }}]\n" if author else ""
    return {
        "name": name,
        "dist": f"paperchain-{name}",
        "package": package,
        "component": f"{name}.{suffix}",
        "cls": "".join(part.capitalize() for part in name.split("-")),
        "kind": kind,
        "kinds": f"{kind}s",
        "kind_class": kind.capitalize(),
        "summary": summary,
        "authors": authors,
    }


def _templates() -> Traversable:
    return resources.files(__name__) / "templates"


def _render_tree(root: Traversable, context: dict[str, str], skip=(), prefix: str = ""):
    """Yield ``(relative output path, rendered text)`` for every file under ``root``."""
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name in skip or entry.name == "__pycache__":
            continue
        out_name = context["package"] if entry.name == "__package__" else entry.name.removesuffix(".tmpl")
        relative = f"{prefix}{out_name}"
        if entry.is_dir():
            yield from _render_tree(entry, context, prefix=f"{relative}/")
        else:
            yield relative, _render(entry.read_text(encoding="utf-8"), context, relative)


def _render(text: str, context: dict[str, str], where: str) -> str:
    def substitute(match: re.Match) -> str:
        key = match.group(1)
        if key not in context:
            # A typo in a template must fail loudly, not leave "{{nmae}}" in someone's plugin.
            raise KeyError(f"template {where} uses unknown placeholder {{{{{key}}}}}")
        return context[key]

    return _PLACEHOLDER.sub(substitute, text)
