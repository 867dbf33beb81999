"""``render_tables``: a PDF report that is not one document's (the web UI's compliance report)."""

from __future__ import annotations

import pypdfium2 as pdfium

from paperchain_export.pdf import render_tables
from paperchain_export.report import Table


def test_render_tables_draws_the_title_paragraphs_and_tables_with_the_given_header(tmp_path):
    path = tmp_path / "report.pdf"
    tables = [Table(f"Entrada {i}", (("Quién", f"usuario-{i}"), ("Qué", "POST /admin/users — ✓"))) for i in range(40)]
    missing = render_tables("Informe de cumplimiento", ["Periodo: del 2026-12-01 al 2026-12-07."], tables, str(path),
                            header=("Campo", "Valor"))
    pdf = pdfium.PdfDocument(str(path))
    try:
        assert len(pdf) > 1  # forty tables flow over pages
        text = " ".join(" ".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf))).split())
    finally:
        pdf.close()
    assert text.startswith("Informe de cumplimiento Periodo: del 2026-12-01 al 2026-12-07.")
    assert "Campo Valor" in text and "Field" not in text
    assert "Entrada 0 Campo Valor Quién usuario-0 Qué POST /admin/users — ✓" in text and "usuario-39" in text
    assert missing == []
