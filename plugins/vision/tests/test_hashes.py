"""Our perceptual hashes are imagehash's, bit for bit, and our resampling is Pillow's."""

from __future__ import annotations

import imagehash
import numpy as np
import pytest
from PIL import Image

from paperchain_vision.hashes import hamming, perceptual_hashes
from paperchain_vision.images import load_pages
from paperchain_vision.resample import coefficients, horizontal, resize_many, vertical
from paperchain_vision.settings import HashesSettings


def reference(image, hash_size=8):
    return {"ahash": str(imagehash.average_hash(image, hash_size)), "dhash": str(imagehash.dhash(image, hash_size)),
            "phash": str(imagehash.phash(image, hash_size))}


def synthetic_images():
    rng = np.random.default_rng(7)
    noise = (rng.random((240, 320, 3)) * 255).astype(np.uint8)
    yy, xx = np.mgrid[0:300, 0:200]
    gradient = ((xx + yy) % 256).astype(np.uint8)
    yield "rgb-noise", Image.fromarray(noise)
    yield "gray-gradient", Image.fromarray(gradient)
    yield "rgba", Image.fromarray(np.dstack([noise, noise[:, :, 0]]))
    yield "palette", Image.fromarray(noise).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    yield "16-bit", Image.fromarray(gradient.astype(np.uint16) * 257)
    yield "bilevel", Image.fromarray(gradient > 128)
    yield "tall", Image.fromarray((rng.random((2000, 60)) * 255).astype(np.uint8))
    yield "wide", Image.fromarray((rng.random((50, 1500, 3)) * 255).astype(np.uint8))
    yield "tiny", Image.fromarray((rng.random((3, 5, 3)) * 255).astype(np.uint8))
    yield "exactly-8x8", Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8))


@pytest.mark.parametrize(("label", "image"), list(synthetic_images()), ids=lambda v: v if isinstance(v, str) else "")
def test_synthetic_images_hash_like_imagehash(label, image):
    assert perceptual_hashes(image) == reference(image)


def test_shared_documents_hash_like_imagehash(testdata):
    from paperchain_sdk import Document

    checked = 0
    for name in ["baiona.png", "crom.png", "typewriter.png", "graph.pdf", "skew.pdf", "multipage.pdf"]:
        for page in load_pages(Document.from_path(testdata / name), HashesSettings(max_pages=3)).pages:
            assert perceptual_hashes(page.image) == reference(page.image), (name, page.index)
            checked += 1
    assert checked >= 8


@pytest.mark.parametrize("hash_size", [4, 16])
def test_other_hash_sizes(testdata, hash_size):
    image = Image.open(testdata / "baiona.png")
    assert perceptual_hashes(image, hash_size) == reference(image, hash_size)


def test_resampling_matches_pillow_across_sizes_and_pass_orders():
    rng = np.random.default_rng(3)
    for h in (2, 9, 20, 31, 40, 65, 130):
        for w in (2, 9, 20, 31, 40, 65, 130):
            gray = (rng.random((h, w)) * 255).astype(np.uint8)
            sizes = [(8, 8), (9, 8), (32, 32)]
            for size, mine in zip(sizes, resize_many(gray, sizes)):
                pillow = np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.LANCZOS))
                assert np.array_equal(mine, pillow), (h, w, size)


def test_fast_passes_equal_the_loop_kernels():
    rng = np.random.default_rng(4)
    gray = (rng.random((90, 70)) * 255).astype(np.uint8)
    bh, kh = coefficients(70, 9)
    bv, kv = coefficients(90, 8)
    looped = vertical(horizontal(gray, bh, kh), bv, kv)
    assert np.array_equal(resize_many(gray, [(9, 8)])[0], looped)


def test_hamming():
    assert hamming("ff00", "0f01") == 5
    assert hamming("abc", "abc") == 0


def test_grey_view_reads_pillow_pixels_in_place_or_falls_back():
    from paperchain_vision.arrowview import grey_view

    rng = np.random.default_rng(8)
    small = Image.fromarray((rng.random((37, 53)) * 255).astype(np.uint8))
    view = grey_view(small)
    assert np.array_equal(view, np.asarray(small)) and not view.flags.writeable
    del small  # the view keeps Pillow's memory alive
    assert view.shape == (37, 53) and int(view.sum()) > 0
    large = Image.new("L", (8000, 8000), 7)  # Pillow stores it in several blocks: copied instead
    assert grey_view(large).shape == (8000, 8000) and grey_view(large)[-1, -1] == 7
    with pytest.raises(ValueError, match="'L' image"):
        grey_view(Image.new("RGB", (4, 4)))
