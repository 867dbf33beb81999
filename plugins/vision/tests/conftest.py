"""Shared fixtures: the plugin's specs, the shared sample documents, synthetic images."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

import paperchain_vision
from paperchain_sdk.testing import check_plugin

sys.path.insert(0, str(Path(__file__).parent))  # faces_benchmark, importable from the tests
TESTDATA = Path(os.environ.get("PAPERCHAIN_TESTDATA", "/work/shared/testdata")) / "documents"


@pytest.fixture(scope="session")
def specs():
    return check_plugin(paperchain_vision)


@pytest.fixture
def testdata():
    if not TESTDATA.is_dir():
        pytest.fail(f"{TESTDATA} is missing: the shared test documents are needed")
    return TESTDATA


@pytest.fixture
def text_page():
    return _text_page


def _text_page(width=600, height=400, angle=0.0, seed=0):
    """A white page with dark horizontal 'text lines', rotated ``angle`` degrees counter-clockwise."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    for y in range(40, height - 40, 24):
        x = 40
        while x < width - 80:
            word = int(rng.integers(15, 60))
            draw.rectangle([x, y, min(x + word, width - 40), y + 9], fill=20)
            x += word + 12
    return image.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255) if angle else image
