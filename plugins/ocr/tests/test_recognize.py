"""ocr.recognize on real scans: accuracy, languages, text layers, artifacts, a real workflow."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import reference

from paperchain_ocr.accuracy import word_accuracy
from paperchain_sdk import Document

pdfium = pytest.importorskip("pypdfium2")


def _pdf_text(path) -> list[str]:
    pdf = pdfium.PdfDocument(str(path))
    try:
        return [pdf[i].get_textpage().get_text_bounded() for i in range(len(pdf))]
    finally:
        pdf.close()


def test_clean_english_line_is_read_exactly(recognize, documents):
    result = recognize(documents / "crom.png")
    assert result.document.text == "Covfefe is a perfectly cromulent word."
    assert result.outputs["words"] == 6 and result.outputs["mean_confidence"] > 80
    names = {a.name: a for a in result.artifacts}
    assert set(names) == {"crom.searchable.pdf", "crom.hocr"}
    assert "Covfefe" in _pdf_text(names["crom.searchable.pdf"].path)[0]
    assert "ocrx_word" in names["crom.hocr"].data.decode()


def _render_spanish(tmp_path):
    from PIL import Image, ImageDraw, ImageFont

    text = ["El niño comió piña y jamón en la montaña.", "Mañana llegará el camión de Begoña."]
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", 42)
    image = Image.new("L", (1500, 220), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(text):
        draw.text((40, 40 + 80 * i), line, font=font, fill=0)
    path = tmp_path / "spanish.png"
    image.save(path, dpi=(300, 300))
    return path, "\n".join(text)


def test_spanish_keeps_its_accents_with_spa(recognize, tmp_path):
    path, truth = _render_spanish(tmp_path)
    result = recognize(path, languages="spa", outputs=["tsv"])
    assert word_accuracy(result.document.text, truth)["f1"] >= 0.9
    for word in ("niño", "comió", "piña", "jamón", "montaña", "llegará", "camión"):
        assert word in result.document.text
    assert result.outputs["language"] == "spa"
    tsv = result.artifacts[0].data.decode()
    assert tsv.startswith("level\tpage_num") and "\tniño" in tsv


def test_pages_with_text_are_kept_unless_forced(recognize, tmp_path, documents):
    # graph.pdf carries no text; give it some with a first OCR pass, then OCR the result again.
    first = recognize(documents / "graph.pdf", outputs=["pdf"])
    searchable = tmp_path / "graph-searchable.pdf"
    searchable.write_bytes(open(first.artifacts[0].path, "rb").read())
    again = recognize(searchable, outputs=[])
    assert again.outputs["text_layer_pages"] == [1] and again.outputs["ocr_pages"] == 0
    forced = recognize(searchable, outputs=[], force=True)
    assert forced.outputs["ocr_pages"] == 1 and forced.outputs["words"] > 20


def test_preprocessing_options_run_and_report(recognize, documents):
    result = recognize(documents / "skew.pdf", dpi=200, deskew=True, binarize="sauvola", denoise=True, outputs=[])
    stats = result.outputs["page_stats"][0]
    assert stats["backend"] == "numba" and 1.0 < stats["skew_degrees"] < 2.5
    assert stats["binarized"].startswith("sauvola") and stats["denoised"]
    assert "LinnSequencer" in result.document.text


def test_preprocess_action_writes_a_binary_image(specs, documents):
    import io

    from PIL import Image

    from paperchain_sdk.testing import run_component

    result = run_component(specs["ocr.preprocess"], document=Document.from_path(documents / "crom.png"),
                           options={"binarize": "otsu"})
    (artifact,) = result.artifacts
    pixels = np.asarray(Image.open(io.BytesIO(artifact.data)))
    assert artifact.media_type == "image/png" and set(np.unique(pixels)) <= {0, 255}


@pytest.mark.slow
def test_multipage_scans_are_read_accurately(recognize, documents):
    result = recognize(documents / "multipage.pdf", jobs=2)
    out = result.outputs
    assert out["pages"] == 6 and out["text_layer_pages"] == [4]  # the chart that already has text
    pages = result.document.text.split("\f")
    for number in (1, 5, 6):  # page 2: a thin font at 81 megapixels that tesseract misreads (9OO0Ox9000)
        score = word_accuracy(pages[number - 1], reference(f"multipage-p{number}.txt"))
        assert score["recall"] >= 0.9, (number, score)
    pdf_pages = _pdf_text(result.artifacts[0].path)
    assert len(pdf_pages) == 6 and "Woodman" in pdf_pages[5]


def test_in_a_workflow_the_text_reaches_the_document(paperchain_kernel, documents):
    import paperchain_ocr

    kernel = paperchain_kernel(paperchain_ocr)
    outcome = kernel.run({"name": "ocr", "steps": [{"id": "ocr", "uses": "ocr.recognize"}]},
                         files=[documents / "crom.png"])
    assert outcome.succeeded, outcome


def test_pdf_pages_render_smallest_first_for_parallel_workers(documents):
    from paperchain_ocr import sources

    doc = Document.from_path(documents / "multipage.pdf")
    in_order = list(sources.pdf_pages(doc, dpi=50, max_pixels=10**9, force=False))
    scheduled = list(sources.pdf_pages(doc, dpi=50, max_pixels=10**9, force=False, smallest_first=True))
    # Page 4 keeps its text layer (nothing to render); the rest come from the smallest up, so the
    # 81-megapixel page 2 renders last, while the workers are busy.
    assert [p.number for p in in_order] == [4, 1, 2, 3, 5, 6]
    assert [p.number for p in scheduled] == [4, 1, 3, 5, 6, 2]
    assert all(np.array_equal(a.image, b.image) for a in in_order for b in scheduled
               if a.number == b.number and a.image is not None)
