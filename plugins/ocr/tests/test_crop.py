"""Cropping pages to their ink: where the crop falls, and results moved back onto the whole page."""

from __future__ import annotations

import re

import numpy as np
import pytest

from paperchain_ocr import crop

pdfium = pytest.importorskip("pypdfium2")


def test_crop_is_the_ink_with_a_margin():
    page = np.full((3000, 2400), 255, np.uint8)
    page[1000:1040, 700:1500] = 30
    region = crop.find(page, dpi=300)
    assert (region.left, region.top, region.width, region.height) == (650, 950, 900, 140)
    assert (region.page_width, region.page_height) == (2400, 3000) and not region.whole
    assert region.of(page).shape == (140, 900)


def test_crop_margin_stops_at_the_page_edges_and_small_savings_keep_the_whole_page():
    page = np.full((1000, 800), 255, np.uint8)
    page[10:990, 5:795] = 0  # ink to the edges: nothing to save
    assert crop.find(page, dpi=300).whole
    page = np.full((1000, 800), 255, np.uint8)
    page[0:20, 0:30] = 0
    region = crop.find(page, dpi=300)
    assert (region.left, region.top, region.width, region.height) == (0, 0, 80, 70)


def test_blank_and_pale_pages_give_a_small_corner():
    for level in (255, 240):  # white, and one light tone (a blank page scanned a little grey)
        region = crop.find(np.full((3000, 2400), level, np.uint8), dpi=300)
        assert (region.left, region.top, region.width, region.height) == (0, 0, 100, 100)


def test_rgb_pages_are_cropped_on_their_luma():
    page = np.full((600, 900, 3), 255, np.uint8)
    page[300:320, 400:500] = (200, 0, 0)  # dark red ink
    region = crop.find(page, dpi=60)
    assert (region.left, region.top, region.width, region.height) == (390, 290, 120, 40)


def test_tsv_and_hocr_move_to_page_coordinates():
    region = crop.Crop(100, 50, 300, 200, 1000, 800)
    tsv = ("level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
           "1\t1\t0\t0\t0\t0\t0\t0\t300\t200\t-1\t\n"
           "5\t1\t1\t1\t1\t1\t10\t20\t30\t40\t96.5\tword\n")
    rows = [row.split("\t") for row in region.tsv(tsv).splitlines()]
    assert rows[1][6:10] == ["0", "0", "1000", "800"]
    assert rows[2][6:10] == ["110", "70", "30", "40"] and rows[2][11] == "word"
    hocr = (b"<body><div class='ocr_page' id='page_1' title='image \"/tmp/x.pgm\"; bbox 0 0 300 200; ppageno 0'>"
            b"<span class='ocrx_word' title='bbox 10 20 40 60; x_wconf 96'>word</span></div></body>")
    moved = region.hocr(hocr)
    assert b"bbox 0 0 1000 800; ppageno 0" in moved and b"bbox 110 70 140 110; x_wconf 96" in moved
    assert crop.whole_page(np.zeros((800, 1000))).tsv(tsv) == tsv


def test_text_layer_lands_where_the_crop_lies():
    # A 1000 x 800 px page shown as 240 x 192 pt; the crop (100, 50, 300 x 200 px) is a 72 x 48 pt
    # text layer at 300 dpi: it must scale 1:1 and sit 24 pt from the left, 132 pt from the bottom.
    region = crop.Crop(100, 50, 300, 200, 1000, 800)
    assert region.layer_matrix((72.0, 48.0), (0.0, 0.0, 240.0, 192.0)) == pytest.approx((1, 1, 24, 132))
    whole = crop.Crop(0, 0, 1000, 800, 1000, 800)
    assert whole.layer_matrix((240.0, 192.0), (10.0, 20.0, 240.5, 192.5)) == pytest.approx(
        (240.5 / 240, 192.5 / 192, 10, 20))


@pytest.fixture
def line_on_a_big_page(documents, tmp_path):
    """The shared clean line (crom.png) pasted in the lower middle of a white A4 page at 300 dpi."""
    from PIL import Image

    line = Image.open(documents / "crom.png").convert("L")
    page = Image.new("L", (2480, 3508), 255)
    page.paste(line, (900, 2100))
    path = tmp_path / "big-page.png"
    page.save(path, dpi=(300, 300))
    return path


def _words(result) -> dict[str, tuple[int, int]]:
    tsv = next(a for a in result.artifacts if a.name.endswith(".tsv")).data.decode()
    return {cells[11]: (int(cells[6]), int(cells[7])) for cells in (row.split("\t") for row in tsv.splitlines()[1:])
            if cells[0] == "5" and cells[11].strip()}


def test_cropped_ocr_reads_and_places_words_as_the_whole_page_does(recognize, line_on_a_big_page):
    outputs = ["pdf", "hocr", "tsv"]
    cropped = recognize(line_on_a_big_page, outputs=outputs)
    whole = recognize(line_on_a_big_page, outputs=outputs, crop=False)
    assert cropped.document.text == whole.document.text == "Covfefe is a perfectly cromulent word."
    x, y, width, height = cropped.outputs["page_stats"][0]["cropped_to"]
    assert x >= 850 and y >= 2050 and width * height < 0.1 * 2480 * 3508  # the line's ink and margin
    assert "cropped_to" not in whole.outputs["page_stats"][0]
    ours, theirs = _words(cropped), _words(whole)
    assert all(x <= left < x + width and y <= top < y + height for left, top in ours.values())
    assert ours.keys() == theirs.keys()
    assert all(abs(ours[w][0] - theirs[w][0]) <= 2 and abs(ours[w][1] - theirs[w][1]) <= 2 for w in ours)
    hocr = next(a for a in cropped.artifacts if a.name.endswith(".hocr")).data.decode()
    assert re.search(r"class='ocr_page'[^>]*bbox 0 0 2480 3508;", hocr)
    left, top = ours["cromulent"]
    assert re.search(rf"title='bbox {left} {top} \d+ \d+; x_wconf \d+'>cromulent<", hocr)
    # In the searchable PDF, the word's first letter sits where its pixels are (300 dpi: 0.24 pt a px).
    pdf = pdfium.PdfDocument(next(a for a in cropped.artifacts if a.name.endswith(".pdf")).path)
    try:
        textpage = pdf[0].get_textpage()
        at = textpage.get_text_bounded().index("cromulent")
        x0, _, _, y1 = textpage.get_charbox(at)
        height_pt = pdf[0].get_size()[1]
    finally:
        pdf.close()
    assert abs(x0 - left * 0.24) < 3 and abs((height_pt - y1) - top * 0.24) < 6
