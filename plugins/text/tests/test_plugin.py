"""The plugin as the kernel sees it: specs, laziness, options, documents without text."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from paperchain_sdk import ConfigError, Findings, InputError
from paperchain_sdk.testing import check_component, check_spec, run_component

ANALYZERS = ["text.language", "text.keywords", "text.entities", "text.sentiment", "text.summary",
             "text.readability", "text.stats", "text.near_duplicates"]


def test_offers_every_analyzer(specs):
    assert list(specs) == ANALYZERS
    for spec in specs.values():
        assert spec.kind == "analyzer" and isinstance(spec.impl, str) and spec.summary
        check_spec(spec)


def test_light_module_imports_no_heavy_library():
    code = (
        "import json, sys, paperchain_text\n"
        "specs = paperchain_text.paperchain_analyzers()\n"
        "heavy = ['numpy', 'numba', 'langdetect', 'yake', 'phonenumbers', 'stdnum', 'vaderSentiment',\n"
        "         'sentiment_analysis_spanish', 'sklearn', 'textstat', 'aiohttp']\n"
        "print(json.dumps([len(specs), [m for m in heavy if m in sys.modules]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [8, []]


@pytest.mark.parametrize("name", ANALYZERS)
def test_document_without_text_says_to_add_a_text_step(specs, text_document, name):
    scan = text_document(None, name="scan.pdf")
    with pytest.raises(InputError) as caught:
        run_component(specs[name], document=scan)
    assert "scan.pdf" in caught.value.message and "document.text" in caught.value.hint
    assert "OCR" in caught.value.hint


@pytest.mark.parametrize("name", ANALYZERS)
@pytest.mark.parametrize("text", ["", "   \n\n ", "1234 5678 — …"])
def test_empty_or_wordless_text_gives_findings(specs, text_document, kernel_analyze, name, text):
    if name == "text.near_duplicates":  # numbers are words: its index (the kernel's) may be needed
        findings = kernel_analyze(specs[name], text)
    else:
        findings = check_component(specs[name], document=text_document(text))
    assert isinstance(findings, Findings) and findings.summary
    json.dumps(findings.data)


@pytest.mark.slow
@pytest.mark.parametrize("name", ANALYZERS)
def test_huge_text_is_handled(specs, text_document, kernel_analyze, name, english):
    huge = (english + "\n\n") * 6_000  # about 3.4 MB
    if name == "text.near_duplicates":  # its index is the kernel's
        findings = kernel_analyze(specs[name], huge)
        assert findings.data["indexed_documents"] == 1
    else:
        findings = check_component(specs[name], document=text_document(huge))
    json.dumps(findings.data)
    if name in ("text.keywords", "text.entities", "text.sentiment", "text.readability"):
        assert findings.data["truncated"] is True


@pytest.mark.parametrize(
    ("name", "options", "says"),
    [
        ("text.keywords", {"top": 0}, "between 1 and 100"),
        ("text.keywords", {"language": "English"}, "two-letter"),
        ("text.entities", {"region": "Spain"}, "two-letter"),
        ("text.sentiment", {"language": "fr"}, "'auto', 'en', 'es'"),
        ("text.summary", {"damping": 1.5}, "between 0.01 and 0.99"),
        ("text.near_duplicates", {"scheme": "md5"}, "datasketch-affine32"),
        ("text.near_duplicates", {"bands": 300}, "cannot exceed num_perm"),
        ("text.near_duplicates", {"threshold": "high"}, "expected float"),
        ("text.stats", {"colour": "red"}, "unknown key"),
    ],
)
def test_bad_options_raise_config_error(specs, text_document, name, options, says):
    with pytest.raises(ConfigError) as caught:
        run_component(specs[name], document=text_document("Some text here."), options=options)
    assert says in str(caught.value)


def test_unknown_phone_region_is_a_config_error(specs, text_document):
    with pytest.raises(ConfigError, match="phonenumbers knows"):
        run_component(specs["text.entities"], document=text_document("call 555 0100"), options={"region": "QQ"})


def test_near_duplicates_outside_a_kernel_says_it_needs_one(specs, text_document):
    with pytest.raises(ConfigError, match="runs only as a step of a running Paperchain kernel") as caught:
        run_component(specs["text.near_duplicates"], document=text_document("words to sign here"))
    assert "workflow" in caught.value.hint


def test_two_kernels_in_one_process_each_keep_their_own_index(specs, paperchain_kernel):
    """No module-level map finds "the" kernel: each kernel's own instance of the analyzer is bound
    to it, so the same text analyzed in two kernels is indexed once in each, never found across."""
    import paperchain_text
    from paperchain_sdk.testing import make_document

    spec = specs["text.near_duplicates"]
    text = " ".join(f"word{i} of the same long text signed in two kernels of one process" for i in range(20))
    found = []
    for harness in (paperchain_kernel(paperchain_text), paperchain_kernel(paperchain_text)):
        component = harness.kernel.component(spec.name)
        assert component.kernel is harness.kernel
        for name, body in (("a.txt", text), ("b.txt", text + " and one more")):  # two documents
            doc = make_document(harness.kernel.data_dir / "documents", name, body, text=body)
            found.append(harness.call(component.analyze(doc, spec.settings())).data)
    assert [f["indexed_documents"] for f in found] == [1, 2, 1, 2]
    assert [len(f["duplicates"]) for f in found] == [0, 1, 0, 1]


def test_an_index_path_is_refused_with_the_way_to_move(specs, text_document, tmp_path):
    with pytest.raises(ConfigError, match="index_path is no longer supported") as caught:
        run_component(specs["text.near_duplicates"], document=text_document("words to sign here"),
                      options={"index_path": str(tmp_path / "index.db")})
    assert "run text.near_duplicates over the documents again" in str(caught.value)
