"""Each component on real and synthetic documents, and on bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from paperchain_sdk import Document, InputError
from paperchain_sdk.testing import check_component, run_component


def png_bytes(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_colors_on_a_two_color_image(specs, paperchain_document):
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[:, :20] = (200, 10, 10)
    rgb[:, 20:] = (10, 10, 220)
    doc = paperchain_document("flag.png", png_bytes(Image.fromarray(rgb)))
    findings = check_component(specs["vision.colors"], document=doc, options={"k": 2})
    colors = findings.data["pages"][0]["colors"]
    assert [c["hex"] for c in colors] == ["#0a0adc", "#c80a0a"]
    assert colors[0]["share"] == pytest.approx(2 / 3, abs=1e-3)


def test_quality_and_hashes_on_shared_documents(specs, testdata):
    for name in ["baiona.png", "typewriter.png", "skew.pdf"]:
        doc = Document.from_path(testdata / name)
        quality = check_component(specs["vision.quality"], document=doc).data["pages"][0]
        assert quality["width"] > 100 and quality["blur_laplacian_variance"] > 0
        hashes = check_component(specs["vision.hashes"], document=doc).data["pages"][0]
        assert len(hashes["phash"]) == 16
    skew = check_component(specs["vision.quality"], document=Document.from_path(testdata / "skew.pdf"))
    assert abs(skew.data["pages"][0]["skew_degrees"]) > 1  # the brochure scan is visibly skewed
    assert skew.data["pages"][0]["dpi"] == 100.0


def test_pdf_page_limit_and_dpi(specs, testdata):
    doc = Document.from_path(testdata / "multipage.pdf")
    data = run_component(specs["vision.hashes"], document=doc, options={"max_pages": 2, "dpi": 36}).data
    assert len(data["pages"]) == 2 and data["pages_total"] > 2


def test_faces_found_in_a_portrait(specs, paperchain_document):
    from skimage import data

    doc = paperchain_document("astronaut.png", png_bytes(Image.fromarray(data.astronaut())))
    findings = check_component(specs["vision.faces"], document=doc)
    assert findings.data["count"] >= 1
    face = findings.data["pages"][0]["faces"][0]
    assert 120 < face["x"] < 260 and 20 < face["y"] < 140  # the astronaut's face, in image pixels


def test_no_faces_in_a_text_scan(specs, testdata):
    assert check_component(specs["vision.faces"], document=Document.from_path(testdata / "typewriter.png")).data["count"] == 0


def test_enhance_produces_an_artifact_per_page(specs, paperchain_document, text_page):
    page = text_page(angle=4.0)
    faded = Image.fromarray((np.asarray(page) * 0.4 + 100).astype(np.uint8)).convert("RGB")
    doc = paperchain_document("faded.png", png_bytes(faded))
    result = check_component(specs["vision.enhance"], document=doc)
    (artifact,) = result.artifacts
    assert artifact.media_type == "image/png" and artifact.name == "faded-enhanced.png"
    out = np.asarray(Image.open(io.BytesIO(artifact.data)).convert("L"))
    assert out.min() < 40 and out.max() > 220  # contrast restored
    assert result.outputs["pages"][0]["skew_degrees"] == pytest.approx(4.0, abs=0.3)


def test_enhance_single_operations(specs, testdata):
    doc = Document.from_path(testdata / "crom.png")
    for op in ["contrast", "denoise", "sharpen", "deskew"]:
        result = run_component(specs["vision.enhance"], document=doc, options={"operations": [op]})
        assert Image.open(io.BytesIO(result.artifacts[0].data)).size[0] > 0


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16", "1"])
def test_unusual_modes_are_handled(specs, paperchain_document, mode):
    rng = np.random.default_rng(0)
    base = Image.fromarray((rng.random((50, 70, 3)) * 255).astype(np.uint8))
    image = Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257) if mode == "I;16" else base.convert(mode)
    doc = paperchain_document("m.png", png_bytes(image))
    for name in ["vision.colors", "vision.quality", "vision.hashes", "vision.faces"]:
        check_component(specs[name], document=doc)


def test_tiny_image(specs, paperchain_document):
    doc = paperchain_document("dot.png", png_bytes(Image.new("RGB", (1, 1), (9, 9, 9))))
    for name in ["vision.colors", "vision.quality", "vision.hashes", "vision.faces"]:
        check_component(specs[name], document=doc)
    run_component(specs["vision.enhance"], document=doc)


def bad_documents(testdata, tmp_path):
    png = png_bytes(Image.new("RGB", (200, 200), (1, 2, 3)))
    (tmp_path / "cut.png").write_bytes(png[: len(png) // 2])
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "fake.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    bomb = io.BytesIO()
    Image.new("1", (30_000, 30_000)).save(bomb, format="PNG")  # 900 MP that compress to ~100 kB
    (tmp_path / "bomb.png").write_bytes(bomb.getvalue())
    return {
        "invalid.pdf": (Document.from_path(testdata / "invalid.pdf"), "not a readable PDF"),
        "cut.png": (Document.from_path(tmp_path / "cut.png"), "truncated"),
        "notes.txt": (Document.from_path(tmp_path / "notes.txt"), "not an image or a PDF"),
        "fake.png": (Document.from_path(tmp_path / "fake.png"), "not a readable image"),
        "bomb.png": (Document.from_path(tmp_path / "bomb.png"), "refused before decoding"),
    }


def test_bad_input_fails_clearly(specs, testdata, tmp_path):
    for label, (doc, says) in bad_documents(testdata, tmp_path).items():
        for name in ["vision.colors", "vision.hashes", "vision.enhance"]:
            with pytest.raises(InputError) as caught:
                run_component(specs[name], document=doc)
            assert says in str(caught.value), (label, name, str(caught.value))
            assert caught.value.hint


def test_big_pdf_page_is_refused_at_high_dpi(specs, testdata):
    doc = Document.from_path(testdata / "graph.pdf")
    with pytest.raises(InputError, match="lower dpi"):
        run_component(specs["vision.quality"], document=doc, options={"dpi": 600, "max_pixels": 1_000_000})
