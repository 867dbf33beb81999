"""The plugin as the kernel sees it: specs, laziness, options."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from paperchain_sdk import ConfigError
from paperchain_sdk.testing import check_spec, run_component

DOCUMENT_EXPORTERS = ["export.markdown", "export.html", "export.json", "export.text", "export.docx", "export.pdf"]
BATCH_EXPORTERS = ["export.csv", "export.bundle"]


def test_offers_every_exporter_with_its_format(specs):
    assert sorted(specs) == sorted(DOCUMENT_EXPORTERS + BATCH_EXPORTERS)
    for name, spec in specs.items():
        assert spec.kind == "exporter"
        assert spec.scope == ("batch" if name in BATCH_EXPORTERS else "document")
        assert isinstance(spec.impl, str), "impl must stay a lazy import reference"
        assert spec.summary and spec.format and spec.extension and spec.media_type != "application/octet-stream"
        check_spec(spec)


def test_light_module_imports_no_heavy_library():
    code = (
        "import json, sys, paperchain_export\n"
        "specs = paperchain_export.paperchain_exporters()\n"
        "heavy = ['docx', 'fpdf', 'jinja2', 'markdown_it', 'PIL']\n"
        "print(json.dumps([len(specs), [m for m in heavy if m in sys.modules]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    count, loaded = json.loads(out)
    assert count == 8
    assert loaded == []


def test_implementation_modules_use_the_real_libraries():
    # Our modules are named docx, html, json and csv; absolute imports must still reach the real ones.
    import csv as std_csv
    import json as std_json

    import docx as python_docx

    from paperchain_export import csv, docx
    from paperchain_export import json as json_export

    assert docx.docx is python_docx and hasattr(python_docx, "Document")
    assert csv.csv is std_csv and json_export.json is std_json


@pytest.mark.parametrize(
    ("name", "options", "says"),
    [
        ("export.pdf", {"page_size": "A5"}, "A4, Letter, Legal"),
        ("export.pdf", {"font_size": 2}, "between 6 and 32"),
        ("export.pdf", {"font_size": "big"}, "expected float"),
        ("export.json", {"indent": 20}, "between 0 and 8"),
        ("export.markdown", {"include_text": "yes"}, "expected bool"),
        ("export.html", {"colour": "red"}, "unknown key"),
    ],
)
def test_bad_options_raise_config_error(specs, rich_document, name, options, says):
    with pytest.raises(ConfigError) as caught:
        run_component(specs[name], document=rich_document, options=options)
    assert says in str(caught.value)


@pytest.mark.parametrize("delimiter", ["", ";;", '"', "\n"])
def test_csv_delimiter_must_be_one_safe_character(specs, delimiter):
    from paperchain_sdk import Batch

    with pytest.raises(ConfigError, match="delimiter must be one character"):
        run_component(specs["export.csv"], batch=Batch(id="b", workflow="w"), options={"delimiter": delimiter})


def test_page_size_is_case_insensitive():
    from paperchain_export.settings import PdfSettings

    assert PdfSettings(page_size="letter").page_size == "Letter"


def test_exporters_work_without_options_when_called_directly(specs, rich_document):
    # Scripts may call an exporter as Impl(None).export(doc, None): the defaults apply.
    for name in DOCUMENT_EXPORTERS:
        artifact = specs[name].load()(None).export(rich_document, None)
        assert artifact.read_bytes(), name
