"""Tests of paperchain-wordcount, written with the SDK's helpers (``paperchain_sdk.testing``).

- ``check_plugin`` validates the module the entry point names, as the kernel would;
- ``check_component`` runs the analyzer once and checks its result against the contract;
- ``run_component`` runs it without the checks (for testing failures);
- the ``paperchain_document`` fixture makes a Document in the test's temporary folder;
- the ``paperchain_kernel`` fixture runs real workflows (skipped without the kernel installed).
"""

from importlib.metadata import entry_points

import pytest

import paperchain_wordcount
from paperchain_sdk import ConfigError, InputError
from paperchain_sdk.testing import check_component, check_plugin, plugin_specs, run_component

COMPONENT = "wordcount.count"

LETTER = """Dear customer,
the invoice is attached. The invoice total is 12.50 EUR;
please pay the invoice within 30 days. Don't hesitate to ask.
"""


def test_plugin_is_registered():
    assert list(check_plugin(paperchain_wordcount)) == [COMPONENT]


def test_entry_point_names_this_package():
    found = [ep for ep in entry_points(group="paperchain") if ep.name == "wordcount"]
    if not found:
        pytest.skip("not installed; run `pip install -e .` to register the entry point")
    assert found[0].value == "paperchain_wordcount"


def spec():
    return plugin_specs(paperchain_wordcount)[COMPONENT]


def test_counts_words_lines_and_characters(paperchain_document):
    doc = paperchain_document("letter.txt", LETTER)
    findings = check_component(spec(), document=doc)
    assert (findings.data["words"], findings.data["lines"], findings.data["characters"]) == (23, 3, len(LETTER))
    assert findings.summary == f"23 words, 3 lines, {len(LETTER)} characters; most frequent: 'invoice'"


def test_most_frequent_words(paperchain_document):
    doc = paperchain_document("letter.txt", LETTER)
    top = check_component(spec(), document=doc).data["top_words"]
    # Case-folded ("The" and "the"), at least 3 letters ("is", "to" left out), ties alphabetical.
    assert top == [
        {"word": "invoice", "count": 3},
        {"word": "the", "count": 3},
        {"word": "ask", "count": 1},
        {"word": "attached", "count": 1},
        {"word": "customer", "count": 1},
    ]


def test_options_change_the_ranking(paperchain_document):
    doc = paperchain_document("letter.txt", LETTER)
    top = check_component(spec(), document=doc, options={"top": 2, "min_length": 5}).data["top_words"]
    assert top == [{"word": "invoice", "count": 3}, {"word": "attached", "count": 1}]
    assert check_component(spec(), document=doc, options={"top": 0}).data["top_words"] == []


def test_an_empty_document(paperchain_document):
    findings = check_component(spec(), document=paperchain_document("empty.txt", ""))
    assert findings.data == {"words": 0, "lines": 0, "characters": 0, "top_words": []}


def test_prefers_extracted_text(paperchain_document):
    # A scan has no text of its own; an OCR step before this one would have set doc.text.
    doc = paperchain_document("scan.png", b"\x89PNG\r\n\x1a\n", text="Paid in full. Paid.")
    assert check_component(spec(), document=doc).data["top_words"][0] == {"word": "paid", "count": 2}


def test_refuses_a_binary_file_without_text(paperchain_document):
    doc = paperchain_document("scan.png", b"\x89PNG\r\n\x1a\n")
    with pytest.raises(InputError, match="no extracted text") as caught:
        run_component(spec(), document=doc)
    assert "OCR" in caught.value.hint


def test_refuses_text_that_is_not_utf8(paperchain_document):
    doc = paperchain_document("latin1.txt", "café au lait".encode("latin-1"), media_type="text/plain")
    with pytest.raises(InputError, match="not UTF-8"):
        run_component(spec(), document=doc)


def test_a_wrong_option_names_the_key(paperchain_document):
    doc = paperchain_document("letter.txt", LETTER)
    with pytest.raises(ConfigError, match="top"):
        run_component(spec(), document=doc, options={"top": -1})
    with pytest.raises(ConfigError, match="min_length"):
        run_component(spec(), document=doc, options={"min_length": "3"})


def test_runs_in_a_workflow(paperchain_kernel, paperchain_document):
    kernel = paperchain_kernel(paperchain_wordcount)
    doc = paperchain_document("note.txt", "three little words")
    outcome = kernel.run({"name": "t", "steps": [{"id": "count", "uses": COMPONENT}]}, files=[doc.path])
    assert outcome.succeeded
    assert outcome.runs[0].steps["count"].outputs["words"] == 3


def test_step_options_in_a_workflow(paperchain_kernel, paperchain_document):
    kernel = paperchain_kernel(paperchain_wordcount)
    doc = paperchain_document("letter.txt", LETTER)
    step = {"id": "count", "uses": COMPONENT, "with": {"top": 1}}
    outcome = kernel.run({"name": "t", "steps": [step]}, files=[doc.path])
    assert outcome.succeeded
    assert outcome.runs[0].steps["count"].outputs["top_words"] == [{"word": "invoice", "count": 3}]
