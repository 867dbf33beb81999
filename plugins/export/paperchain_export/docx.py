"""``export.docx``: a Word document written with python-docx.

(``import docx`` below is python-docx itself: imports are absolute, this module is
``paperchain_export.docx``.)
"""

from __future__ import annotations

import re

import docx
from docx.shared import Emu

from paperchain_sdk import Artifact, Document
from paperchain_sdk.contracts import Exporter

from .images import fit, is_image, load_picture
from .names import artifact_name
from .report import NO_FINDINGS, NO_TEXT, Table, build_report, options_or_default, temporary_output
from .settings import DocxSettings

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
EMU_PER_INCH = 914400


def _table(document, t: Table, level: int) -> None:
    document.add_heading(t.title, level=level)
    table = document.add_table(rows=1, cols=2)
    table.style = "Table Grid"
    for cell, label in zip(table.rows[0].cells, ("Field", "Value"), strict=True):
        cell.paragraphs[0].add_run(label).bold = True
    for label, value in t.rows:
        cells = table.add_row().cells
        cells[0].text = label
        cells[1].text = value
    document.add_paragraph()


def _note(document, text: str) -> None:
    document.add_paragraph().add_run(text).italic = True


def render(doc: Document, options: DocxSettings, path: str) -> None:
    """Write the Word document for ``doc`` to ``path``."""
    report = build_report(doc, options)
    picture = load_picture(doc) if options.include_image and is_image(doc) else None
    document = docx.Document()
    props = document.core_properties
    props.title, props.subject, props.keywords = report.title, doc.name, ", ".join(doc.tags)
    props.author = "paperchain-export"

    document.add_heading(report.title, level=0)
    _table(document, report.properties, 1)
    if report.metadata:
        _table(document, report.metadata, 1)
    if picture is not None:
        document.add_heading("Image", level=1)
        section = document.sections[0]
        max_width = section.page_width - section.left_margin - section.right_margin
        max_height = section.page_height - section.top_margin - section.bottom_margin
        width, height = fit(picture, max_width, max_height * 0.9, EMU_PER_INCH)
        document.add_picture(picture.source, width=Emu(int(width)), height=Emu(int(height)))
    if report.include_text:
        document.add_heading("Text", level=1)
        if report.text:
            # Blank lines separate paragraphs; single line breaks stay breaks inside one.
            for paragraph in re.split(r"\n\s*\n", report.text.strip("\n")):
                document.add_paragraph(paragraph)
        else:
            _note(document, NO_TEXT)
    if report.findings is not None:
        document.add_heading("Findings", level=1)
        for t in report.findings:
            _table(document, t, 2)
        if not report.findings:
            _note(document, NO_FINDINGS)
    document.save(path)


class DocxExporter(Exporter):
    def export(self, doc: Document, options: DocxSettings | None = None) -> Artifact:
        options = options_or_default(self, options, DocxSettings)
        with temporary_output(".docx") as path:
            render(doc, options, path)
        return Artifact(name=artifact_name(doc, "docx"), media_type=MEDIA_TYPE, path=path)
