"""The plugin as the kernel sees it: specs, laziness, options."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from paperchain_sdk import ConfigError
from paperchain_sdk.testing import check_spec, run_component


def test_offers_the_two_actions(specs):
    assert sorted(specs) == ["ocr.preprocess", "ocr.recognize"]
    for spec in specs.values():
        assert spec.kind == "action" and spec.cpu_bound and isinstance(spec.impl, str)
        check_spec(spec)


def test_light_module_imports_no_heavy_library():
    code = (
        "import json, sys, paperchain_ocr\n"
        "specs = paperchain_ocr.paperchain_actions()\n"
        "heavy = ['numpy', 'numba', 'PIL', 'pytesseract', 'pypdfium2', 'cupy', 'skimage']\n"
        "print(json.dumps([len(specs), [m for m in heavy if m in sys.modules]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [2, []]


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"binarize": "adaptive"}, "none, otsu, sauvola"),
        ({"psm": 14}, "between 0 and 13"),
        ({"languages": "eng spa"}, "joined by '+'"),
        ({"outputs": ["pdf", "docx"]}, "'docx'"),
        ({"sauvola_window": 24}, "odd number"),
        ({"dpi": "300"}, "expected int"),
        ({"backend": "tpu"}, "auto, cpu, gpu"),
        ({"colour": 1}, "unknown key"),
    ],
)
def test_bad_options_raise_config_error(specs, paperchain_document, options, says):
    doc = paperchain_document("a.png", b"")
    with pytest.raises(ConfigError) as caught:
        run_component(specs["ocr.recognize"], document=doc, options=options)
    assert says in str(caught.value)
