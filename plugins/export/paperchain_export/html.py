"""``export.html``: a standalone page rendered by jinja2 with autoescaping on.

Nothing from the document reaches the page unescaped: names, metadata, text and findings are all
data, never markup, so a text holding ``<script>`` shows as text and runs nothing.
"""

from __future__ import annotations

import functools

import jinja2

from paperchain_sdk import Artifact, Document
from paperchain_sdk.contracts import Exporter

from .names import artifact_name
from .report import NO_FINDINGS, NO_TEXT, build_report, options_or_default
from .settings import DocumentSettings


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("paperchain_export", "templates"),
        autoescape=True,  # on for every template, whatever its file name
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("document.html.j2")


def render(doc: Document, options: DocumentSettings) -> str:
    return _template().render(report=build_report(doc, options), no_text=NO_TEXT, no_findings=NO_FINDINGS)


class HtmlExporter(Exporter):
    def export(self, doc: Document, options: DocumentSettings | None = None) -> Artifact:
        options = options_or_default(self, options, DocumentSettings)
        return Artifact(name=artifact_name(doc, "html"), media_type="text/html", data=render(doc, options).encode())
