"""The plugin as the kernel sees it: specs, laziness, options."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from paperchain_sdk import ConfigError
from paperchain_sdk.testing import run_component

NAMES = ["vision.colors", "vision.enhance", "vision.faces", "vision.hashes", "vision.quality"]


def test_offers_every_component(specs):
    assert sorted(specs) == NAMES
    for spec in specs.values():
        assert isinstance(spec.impl, str) and spec.summary and spec.cpu_bound


def test_light_module_imports_nothing_heavy():
    code = (
        "import json, sys, paperchain_vision as v\n"
        "n = len(v.paperchain_analyzers()) + len(v.paperchain_actions())\n"
        "heavy = ['numpy', 'numba', 'skimage', 'scipy', 'PIL', 'pypdfium2', 'aiohttp', 'cupy', 'sklearn']\n"
        "print(json.dumps([n, [m for m in heavy if m in sys.modules]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [5, []]


@pytest.mark.parametrize(("name", "options", "says"), [
    ("vision.colors", {"k": 0}, "between 1 and 64"),
    ("vision.colors", {"k": "five"}, "expected int"),
    ("vision.enhance", {"operations": ["blur"]}, "contrast, denoise, sharpen, deskew"),
    ("vision.hashes", {"dpi": 5}, "between 18 and 600"),
    ("vision.faces", {"colour": "red"}, "unknown key"),
])
def test_bad_options_raise_config_error(specs, testdata, name, options, says):
    from paperchain_sdk import Document

    with pytest.raises(ConfigError) as caught:
        run_component(specs[name], document=Document.from_path(testdata / "crom.png"), options=options)
    assert says in str(caught.value)
