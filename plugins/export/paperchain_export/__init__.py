"""Paperchain exporters: a document as Markdown, HTML, JSON, text, DOCX or PDF; a batch as CSV or ZIP.

This module is what the ``paperchain`` entry point loads, so it stays light: it names each
implementation by import string and imports python-docx, fpdf2 and jinja2 only when an export runs.
"""

from __future__ import annotations

from paperchain_sdk import ExporterSpec, hookimpl

from .settings import BundleSettings, CsvSettings, DocumentSettings, DocxSettings, JsonSettings, PdfSettings

__version__ = "0.1.0"

DOCX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@hookimpl
def paperchain_exporters():
    return [
        ExporterSpec(
            name="export.markdown",
            impl="paperchain_export.markdown:MarkdownExporter",
            summary="Document, metadata, text and findings as CommonMark with GFM tables",
            settings=DocumentSettings,
            format="markdown",
            media_type="text/markdown",
            extension="md",
            deterministic=True,
        ),
        ExporterSpec(
            name="export.html",
            impl="paperchain_export.html:HtmlExporter",
            summary="A standalone, escaped HTML page of the document, its text and findings",
            settings=DocumentSettings,
            format="html",
            media_type="text/html",
            extension="html",
            deterministic=True,
        ),
        ExporterSpec(
            name="export.json",
            impl="paperchain_export.json:JsonExporter",
            summary="The document's metadata, text and raw findings as versioned JSON",
            settings=JsonSettings,
            format="json",
            media_type="application/json",
            extension="json",
            deterministic=True,
        ),
        ExporterSpec(
            name="export.text",
            impl="paperchain_export.text:TextExporter",
            summary="A plain-text report of the document, its text and findings",
            settings=DocumentSettings,
            format="text",
            media_type="text/plain",
            extension="txt",
            deterministic=True,
        ),
        ExporterSpec(
            name="export.docx",
            impl="paperchain_export.docx:DocxExporter",
            summary="A Word document with metadata and findings tables, the text and image documents embedded",
            settings=DocxSettings,
            format="docx",
            media_type=DOCX_MEDIA_TYPE,
            extension="docx",
            cpu_bound=True,
            deterministic=True,
        ),
        ExporterSpec(
            name="export.pdf",
            impl="paperchain_export.pdf:PdfExporter",
            summary="A Unicode PDF report with metadata and findings tables, the text and image documents embedded",
            settings=PdfSettings,
            format="pdf",
            media_type="application/pdf",
            extension="pdf",
            cpu_bound=True,
            deterministic=True,
        ),
        ExporterSpec(
            name="export.csv",
            impl="paperchain_export.csv:CsvExporter",
            summary="One row per document of a batch, findings flattened into columns (stats.words …)",
            settings=CsvSettings,
            format="csv",
            media_type="text/csv",
            extension="csv",
            scope="batch",
        ),
        ExporterSpec(
            name="export.bundle",
            impl="paperchain_export.bundle:BundleExporter",
            summary="A ZIP of a batch's original files and artifacts with a manifest.json",
            settings=BundleSettings,
            format="zip",
            media_type="application/zip",
            extension="zip",
            scope="batch",
        ),
    ]
