"""People, organisations and places by spaCy's English model in ``text.entities`` (the ``nlp``
extra): found in English letters, not looked for in Spanish, and a clear message without spaCy."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from paperchain_text import named_entities
from paperchain_text.named_entities import find_named_entities

needs_model = pytest.mark.skipif(importlib.util.find_spec(named_entities.MODEL) is None,
                                 reason="the nlp extra (pip install 'paperchain-text[nlp]') is not installed")

LETTER = (
    "Dear Mr. Thomas Becker,\n\nThank you for your order. Northwind Traders Ltd. of Manchester has shipped the "
    "twelve office chairs to your warehouse in Rotterdam, Netherlands. Invoice 2026-311 for EUR 4,280.00 is "
    "attached; Siemens AG in Munich will collect the old furniture next week. If you have questions, please "
    "contact our account manager, Sarah O'Connor, in our Dublin office, or Microsoft Corporation's procurement "
    "team in Seattle.\n\nKind regards,\nJames Whitfield\nHead of Sales, Northwind Traders Ltd."
)
CARTA = (
    "Estimado señor Javier Moreno: le escribimos desde Distribuciones Levante S.L., en Valencia, para "
    "confirmar que la factura 2026-088 por 3.150,00 € vence el 30 de abril de 2026. Nuestra directora, "
    "Lucía Fernández, visitará Sevilla y Bilbao la próxima semana. Atentamente, Carmen Ruiz."
)


def analyze(specs, text_document, text, **options):
    from paperchain_sdk.testing import check_component

    return check_component(specs["text.entities"], document=text_document(text), options=options or None).data


def names(data, kind):
    return {item["text"] for item in data[kind]}


@needs_model
def test_people_organisations_and_places_in_an_english_letter(specs, text_document):
    data = analyze(specs, text_document, LETTER)
    assert data["named_entities"]["status"] == "found" and data["named_entities"]["language"] == "en"
    assert {"Thomas Becker", "Sarah O'Connor", "James Whitfield"} <= names(data, "people")
    assert {"Northwind Traders Ltd.", "Siemens AG", "Microsoft Corporation"} <= names(data, "organizations")
    assert {"Rotterdam", "Netherlands", "Munich", "Dublin", "Seattle"} <= names(data, "places")
    # The money pattern owns "EUR 4,280.00": the model's reading of "EUR" as a company is dropped.
    assert "EUR" not in names(data, "organizations")
    assert [(m["currency"], m["amount"]) for m in data["money"]] == [("EUR", 4280.0)]
    assert data["counts"]["people"] == len(data["people"]) and data["counts"]["places"] >= 5
    for kind in ("people", "organizations", "places"):  # offsets point at the names in the text
        for item in data[kind]:
            assert LETTER[item["start"]:item["start"] + len(item["text"])] == item["text"]
    assert data["organizations"] == sorted(data["organizations"], key=lambda item: item["start"])


@needs_model
def test_the_limit_applies_and_counts_stay_complete(specs, text_document):
    data = analyze(specs, text_document, LETTER, limit=1)
    assert len(data["places"]) == 1 and data["counts"]["places"] >= 5
    assert data["named_entities"]["truncated"] is False


@needs_model
def test_the_model_reads_at_most_named_max_chars(specs, text_document):
    text = LETTER + " " + "The weather was mild and nothing else happened that day. " * 40 + "Greetings from Lisbon."
    data = analyze(specs, text_document, text, named_max_chars=1_000)
    assert data["named_entities"]["truncated"] is True and data["named_entities"]["examined_characters"] <= 1_000
    assert "Seattle" in names(data, "places") and "Lisbon" not in names(data, "places")
    assert "Lisbon" in names(analyze(specs, text_document, text), "places")


@needs_model
def test_spanish_text_is_not_given_to_the_english_model(specs, text_document):
    data = analyze(specs, text_document, CARTA, region="ES")
    assert data["named_entities"]["status"] == "skipped" and data["named_entities"]["language"] == "es"
    assert "ai.extract" in data["named_entities"]["message"]
    assert data["people"] == data["organizations"] == data["places"] == []
    assert [d["date"] for d in data["dates"]] == ["2026-04-30"]  # the patterns still run


@needs_model
def test_the_language_finding_decides(specs, text_document):
    doc = text_document(LETTER, findings={"text.language": {"language": "es"}})
    from paperchain_sdk.testing import check_component

    data = check_component(specs["text.entities"], document=doc).data
    assert data["named_entities"]["status"] == "skipped" and data["people"] == []


@needs_model
def test_named_entities_can_be_turned_off(specs, text_document):
    data = analyze(specs, text_document, LETTER, named=False)
    assert data["named_entities"]["status"] == "off" and data["people"] == []
    assert data["money"]


@needs_model
def test_long_text_is_read_in_blocks_with_right_offsets(monkeypatch):
    monkeypatch.setattr(named_entities, "BLOCK", 400)
    text = "\n".join([LETTER] * 3)
    found = find_named_entities(text)
    starts = [item["start"] for item in found["people"] if item["text"] == "James Whitfield"]
    assert len(starts) == 3
    for item in found["places"] + found["people"]:
        assert text[item["start"]:item["start"] + len(item["text"])] == item["text"]


def test_without_spacy_the_patterns_work_and_say_what_to_install(specs, text_document, monkeypatch):
    monkeypatch.setitem(sys.modules, "spacy", None)  # `import spacy` raises ImportError
    monkeypatch.setattr(named_entities, "_loaded", {})
    data = analyze(specs, text_document, LETTER)
    assert data["named_entities"]["status"] == "unavailable"
    assert "paperchain-text[nlp]" in data["named_entities"]["message"]
    assert data["people"] == [] and [m["amount"] for m in data["money"]] == [4280.0]
    assert find_named_entities(LETTER) is None
