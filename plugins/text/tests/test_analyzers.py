"""Each analyzer on real-looking English and Spanish text, and on inputs it must reject."""

from __future__ import annotations

from paperchain_sdk.testing import check_component
from paperchain_text.entities import find_entities


def analyze(specs, name, document, **options):
    return check_component(specs[name], document=document, options=options or None).data


def test_language(specs, text_document, english, spanish):
    assert analyze(specs, "text.language", text_document(english))["language"] == "en"
    data = analyze(specs, "text.language", text_document(spanish), candidates=2)
    assert data["language"] == "es" and data["probability"] > 0.9 and len(data["candidates"]) <= 2
    assert analyze(specs, "text.language", text_document("12345 67 !!"))["language"] is None


def test_keywords_in_both_languages(specs, text_document, english, spanish):
    english = analyze(specs, "text.keywords", text_document(english), top=5)
    assert english["language"] == "en" and len(english["keywords"]) == 5
    spanish = analyze(specs, "text.keywords", text_document(spanish))
    assert spanish["language"] == "es"
    assert not {"el", "la", "de"} & {k["keyword"].lower() for k in spanish["keywords"]}  # stop words


def test_keywords_use_the_language_finding(specs, text_document, english):
    doc = text_document(english, findings={"text.language": {"language": "es"}})
    assert analyze(specs, "text.keywords", doc)["language"] == "es"


def test_entities_english(specs, text_document, english):
    data = analyze(specs, "text.entities", text_document(english))
    assert [e["text"] for e in data["emails"]] == ["billing@example.com"]
    assert [u["host"] for u in data["urls"]] == ["example.com"]
    assert [p["e164"] for p in data["phone_numbers"]] == ["+16502530000"]
    assert [d["date"] for d in data["dates"]] == ["2024-03-15"]
    assert [(m["currency"], m["amount"]) for m in data["money"]] == [("$", 1250.0)]
    assert [i["iban"] for i in data["ibans"]] == ["GB82WEST12345698765432"]
    assert [v["vat"] for v in data["vat_numbers"]] == ["DE136695976"]
    assert data["counts"]["emails"] == 1


def test_entities_spanish(specs, text_document, spanish):
    data = analyze(specs, "text.entities", text_document(spanish), region="ES")
    assert [d["date"] for d in data["dates"]] == ["2024-04-03"]
    assert [(m["currency"], m["amount"]) for m in data["money"]] == [("€", 1234.56)]
    assert [i["iban"] for i in data["ibans"]] == ["ES9121000418450200051332"]
    assert [v["vat"] for v in data["vat_numbers"]] == ["ESB58378431"]
    assert [p["region"] for p in data["phone_numbers"]] == ["ES"]


def test_vat_numbers_of_several_countries():
    found = find_entities("VAT: GB 980 7806 84, FR40303265045, NL004495445B01, IT00743110157; bad GB980780685")
    assert [(v["country"], v["vat"]) for v in found["vat_numbers"]] == [
        ("GB", "GB980780684"), ("FR", "FR40303265045"), ("NL", "NL004495445B01"), ("IT", "IT00743110157")]


def test_invalid_candidates_are_rejected():
    text = ("IBAN GB82 WEST 1234 5698 7654 33, VAT DE136695977, date 31/02/2024 and 2024-13-01, "
            "phone +1 555 000 0000, mail a@b, url http://localhost/x")
    found = find_entities(text)
    assert found["ibans"] == [] and found["vat_numbers"] == [] and found["dates"] == []
    assert found["phone_numbers"] == [] and found["emails"] == [] and found["urls"] == []


def test_ambiguous_numeric_dates_are_flagged():
    dates = find_entities("on 03/04/2024 and 25/12/2024 and 12/25/2024")["dates"]
    assert [(d["date"], d.get("ambiguous")) for d in dates] == [
        ("2024-04-03", True), ("2024-12-25", False), ("2024-12-25", False)]


def test_entity_limit_keeps_counts(specs, text_document):
    text = " ".join(f"user{i}@example.org" for i in range(30))
    data = analyze(specs, "text.entities", text_document(text), limit=5)
    assert len(data["emails"]) == 5 and data["counts"]["emails"] == 30


def test_english_sentiment(specs, text_document):
    good = analyze(specs, "text.sentiment", text_document("I love this. The service was excellent and friendly!"))
    bad = analyze(specs, "text.sentiment", text_document("This is terrible. I hate the awful, broken product."))
    assert good["label"] == "positive" and good["score"] > 0.5 and good["model"] == "vader"
    assert bad["label"] == "negative" and bad["score"] < -0.5


def test_spanish_sentiment(specs, text_document):
    good = analyze(specs, "text.sentiment", text_document("Me encanta este producto, es excelente. Muy buen servicio."))
    bad = analyze(specs, "text.sentiment", text_document("Es horrible, lo odio. Pésimo servicio, muy malo."))
    assert good["language"] == bad["language"] == "es" and good["model"] == "lexicon-es (VADER rules)"
    assert good["label"] == "positive" and bad["label"] == "negative"


def test_sentiment_in_an_unsupported_language_says_so(specs, text_document):
    data = analyze(specs, "text.sentiment", text_document("Der Hund schläft im Garten und die Katze spielt."))
    assert data["language"] == "de" and data["score"] is None and data["supported"] == ["en", "es"]


def test_summary(specs, text_document, english):
    data = analyze(specs, "text.summary", text_document(english), sentences=2)
    assert len(data["sentences"]) == 2 and data["summary"] == " ".join(data["sentences"])
    assert all(s in english for s in data["sentences"])


def test_readability_by_language(specs, text_document, english, spanish):
    english = analyze(specs, "text.readability", text_document(english))
    spanish = analyze(specs, "text.readability", text_document(spanish))
    assert english["language"] == "en" and "flesch_kincaid_grade" in english
    assert spanish["language"] == "es" and "fernandez_huerta" in spanish and "szigriszt_pazos" in spanish
    assert english["words"] > 50


def test_stats(specs, text_document):
    data = analyze(specs, "text.stats", text_document("One two two. Three!\n\nFour five six."), most_common=1)
    assert data["words"] == 7 and data["unique_words"] == 6 and data["sentences"] == 3
    assert data["paragraphs"] == 2 and data["lines"] == 3
    assert data["most_common"] == [{"word": "two", "count": 2}]


def test_near_duplicates_analyzer_indexes_and_finds(specs, kernel_analyze, english, spanish):
    spec = specs["text.near_duplicates"]
    first = kernel_analyze(spec, english, name="a.txt", threshold=0.4).data
    assert first["duplicates"] == [] and first["indexed"] and first["indexed_documents"] == 1
    edited = english.replace("wonderful", "great")
    second = kernel_analyze(spec, edited, name="b.txt", threshold=0.4).data
    assert len(second["duplicates"]) == 1 and second["duplicates"][0]["jaccard"] > 0.8
    # Running it again does not match the document with itself.
    again = kernel_analyze(spec, edited, name="b.txt", threshold=0.4).data
    assert again["indexed_documents"] == 2 and len(again["duplicates"]) == 1
    query_only = kernel_analyze(spec, spanish, name="c.txt", add=False, threshold=0.4).data
    assert query_only["indexed"] is False and query_only["indexed_documents"] == 2
