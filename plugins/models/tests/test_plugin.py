"""The plugin as the kernel sees it: specs, laziness, settings."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from paperchain_sdk import ConfigError
from paperchain_sdk.testing import check_spec, run_component


def test_offers_the_model_and_actions(specs):
    assert sorted(specs) == ["models.classify", "models.predict", "models.train"]
    assert specs["models.predict"].kind == "model"
    for spec in specs.values():
        assert isinstance(spec.impl, str) and spec.summary
        check_spec(spec)


def test_hook_module_imports_nothing_heavy():
    code = (
        "import json, sys, paperchain_models as m\n"
        "m.paperchain_models(); m.paperchain_actions(); m.paperchain_commands()\n"
        "heavy = ['numpy', 'numba', 'onnx', 'onnxruntime', 'sklearn', 'skl2onnx', 'scipy', 'aiohttp', 'cupy', 'click']\n"
        "print(json.dumps([h for h in heavy if h in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


@pytest.mark.parametrize(("name", "options", "says"), [
    ("models.classify", {"field": "title"}, "'tags' or 'metadata.<key>'"),
    ("models.classify", {"min_confidence": 2.0}, "between 0 and 1"),
    ("models.train", {"algorithm": "forest"}, "algorithm"),
    ("models.train", {"cv_folds": 1}, "cv_folds"),
])
def test_bad_settings_are_config_errors(specs, paperchain_document, name, options, says):
    doc = paperchain_document("a.txt", "hello", text="hello")
    with pytest.raises(ConfigError) as caught:
        run_component(specs[name], document=doc, options=options)
    assert says in str(caught.value)


def test_components_outside_a_kernel_say_so(specs, paperchain_document):
    doc = paperchain_document("a.txt", "hello", text="hello")
    with pytest.raises(ConfigError, match="ClassifyDocument needs a running Paperchain kernel"):
        run_component(specs["models.classify"], document=doc, options={"model": "m"})
