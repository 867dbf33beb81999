"""``export.pdf``: a Unicode PDF report drawn with fpdf2 and an embedded TrueType font.

Layout: title, document table, metadata table, the picture (image documents), the text, one
findings table per analyzer, and a page number in the footer. Characters the font cannot draw
are listed at the end and in the artifact's metadata, never dropped without a word.
"""

from __future__ import annotations

import logging
import unicodedata

from fpdf import FPDF

from paperchain_sdk import Artifact, Document
from paperchain_sdk.contracts import Exporter

from .fonts import find_font
from .images import Picture, fit, is_image, load_picture
from .names import artifact_name
from .report import NO_FINDINGS, NO_TEXT, Table, build_report, options_or_default, temporary_output
from .settings import PdfSettings

log = logging.getLogger(__name__)

MM_PER_INCH = 25.4
MM_PER_PT = MM_PER_INCH / 72
MARGIN = 18  # mm
GREY = 110


class _Pdf(FPDF):
    def footer(self):
        self.set_y(-12)
        self.set_font("body", "", 8)
        self.set_text_color(GREY)
        self.cell(0, 5, f"{self.page_no()} / {{nb}}", align="C")
        self.set_text_color(0)


class _Writer:
    """Draws one report; keeps the font size and line height in one place."""

    def __init__(self, options: PdfSettings):
        self.size = options.font_size
        self.line = self.size * MM_PER_PT * 1.4
        fonts = find_font(options.font_path)
        self.pdf = _Pdf(unit="mm", format=options.page_size.lower())
        self.pdf.set_margins(MARGIN, MARGIN, MARGIN)
        self.pdf.set_auto_page_break(True, margin=MARGIN)
        self.pdf.add_font("body", "", fonts.regular)
        self.pdf.add_font("body", "B", fonts.bold)
        self.pdf.set_creator("paperchain-export")
        self.pdf.add_page()

    def heading(self, text: str, scale: float) -> None:
        pdf = self.pdf
        if pdf.will_page_break(self.line * 4):  # never leave a heading alone at the foot of a page
            pdf.add_page()
        pdf.set_font("body", "B", self.size * scale)
        pdf.multi_cell(0, self.size * scale * MM_PER_PT * 1.3, _nfc(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(self.line * 0.4)
        pdf.set_font("body", "", self.size)

    def paragraph(self, text: str, grey: bool = False) -> None:
        self.pdf.set_font("body", "", self.size)
        self.pdf.set_text_color(GREY if grey else 0)
        self.pdf.multi_cell(0, self.line, _nfc(text), new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_text_color(0)
        self.pdf.ln(self.line * 0.6)

    def table(self, t: Table, scale: float = 1.3, header: tuple[str, str] = ("Field", "Value")) -> None:
        self.heading(t.title, scale)
        pdf = self.pdf
        cap = self._cell_capacity()
        with pdf.table(col_widths=(1, 2), text_align="LEFT", line_height=self.line, padding=1) as table:
            table.row(header)
            for label, value in t.rows:
                table.row((_nfc(_cap(label, cap)), _nfc(_cap(value, cap))))
        pdf.ln(self.line * 0.6)

    def picture(self, picture: Picture) -> None:
        self.heading("Image", 1.3)
        pdf = self.pdf
        width, height = fit(picture, pdf.epw, pdf.eph, MM_PER_INCH)
        # x only: fpdf2 then breaks the page first when the picture does not fit below.
        pdf.image(picture.source, x=pdf.l_margin + (pdf.epw - width) / 2, w=width, h=height)
        pdf.ln(self.line)

    def missing_glyphs(self) -> list[str]:
        missing = set()
        for font in self.pdf.fonts.values():
            missing.update(getattr(font, "missing_glyphs", ()))
        return [f"U+{code:04X}" for code in sorted(missing)]

    def _cell_capacity(self) -> int:
        # fpdf2 cannot split a table row across pages: cap a cell at half a page of text.
        chars_per_line = self.pdf.epw * 2 / 3 / (self.size * MM_PER_PT * 0.6)
        lines_per_page = self.pdf.eph / self.line
        return max(200, int(chars_per_line * lines_per_page / 2))


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]} … (cut: {len(text):,} characters in all; the JSON export has them all)"


def _nfc(text: str) -> str:
    # Without text shaping fpdf2 draws a base letter and a combining accent apart; compose them.
    return unicodedata.normalize("NFC", text.replace("\t", "    "))


def render(doc: Document, options: PdfSettings, path: str) -> list[str]:
    """Write the PDF for ``doc`` to ``path``; return the characters the font could not draw."""
    report = build_report(doc, options)
    # Decode the picture first: a broken image fails the export before any drawing.
    picture = load_picture(doc) if options.include_image and is_image(doc) else None
    writer = _Writer(options)
    pdf = writer.pdf
    pdf.set_title(report.title)
    pdf.set_subject(doc.name)
    pdf.set_keywords(", ".join(doc.tags))

    writer.heading(report.title, 1.8)
    writer.table(report.properties)
    if report.metadata:
        writer.table(report.metadata)
    if picture is not None:
        writer.picture(picture)
    if report.include_text:
        writer.heading("Text", 1.3)
        if report.text:
            writer.paragraph(report.text)
        else:
            writer.paragraph(NO_TEXT, grey=True)
    if report.findings is not None:
        writer.heading("Findings", 1.3)
        for t in report.findings:
            writer.table(t, scale=1.1)
        if not report.findings:
            writer.paragraph(NO_FINDINGS, grey=True)

    missing = writer.missing_glyphs()
    if missing:
        log.warning(
            "export.pdf: the font cannot draw %d character(s) of %r: %s", len(missing), doc.name, " ".join(missing[:20])
        )
        writer.heading("Characters not drawn", 1.1)
        writer.paragraph(
            "The font has no glyph for these characters, shown as empty boxes above: " + " ".join(missing[:200])
            + ". Set the font_path option to a font that covers them.",
            grey=True,
        )
    pdf.output(path)
    return missing


def render_tables(title: str, paragraphs: list[str], tables: list[Table], path: str,
                  options: PdfSettings | None = None, header: tuple[str, str] = ("Field", "Value")) -> list[str]:
    """Write a PDF of ``title``, ``paragraphs`` and two-column ``tables`` (a report that is not one
    document's, e.g. the web UI's compliance report) to ``path``, in the same layout and font as the
    document reports; ``header`` names the columns (in the reader's language). Returns the
    characters the font could not draw."""
    writer = _Writer(options or PdfSettings())
    writer.pdf.set_title(title)
    writer.heading(title, 1.8)
    for text in paragraphs:
        writer.paragraph(text)
    for t in tables:
        writer.table(t, scale=1.1, header=header)
    writer.pdf.output(path)
    return writer.missing_glyphs()


class PdfExporter(Exporter):
    def export(self, doc: Document, options: PdfSettings | None = None) -> Artifact:
        options = options_or_default(self, options, PdfSettings)
        with temporary_output(".pdf") as path:
            missing = render(doc, options, path)
        metadata = {"missing_glyphs": missing} if missing else {}
        return Artifact(name=artifact_name(doc, "pdf"), media_type="application/pdf", path=path, metadata=metadata)
