"""paperchain_ai.grounding: which extracted values the text supports, field kind by field kind."""

from __future__ import annotations

import datetime as dt

import pytest

from paperchain_ai.grounding import (
    Text,
    currencies,
    dates,
    ground,
    ibans,
    kind,
    pattern_fills,
    totals,
    valid_iban,
)
from paperchain_ai.schemas import INVOICE

SPANISH = ("Suministros del Norte S.L. — Factura F-2026/88, 14 de octubre de 2026. Total: 1.250,00 € "
           "IBAN ES91 2100 0418 4502 0005 1332")
OCTOBER_14 = dt.date(2026, 10, 14)


@pytest.mark.parametrize("text", [
    "Date: 2026-10-14", "Fecha: 14/10/2026", "on 14.10.2026", "14/10/26", "10/14/2026 (US)",
    "14 de octubre de 2026", "14 octubre 2026", "October 14, 2026", "Oct. 14th, 2026", "14 Oct 2026",
    "the 14th of October 2026", "14 de OCTUBRE, 2026",
])
def test_a_day_written_in_any_of_the_usual_ways_is_found(text):
    assert OCTOBER_14 in dates(text)


def test_a_numeric_date_that_reads_both_ways_gives_both_and_impossible_dates_none():
    assert dates("03/04/2026") == {dt.date(2026, 4, 3), dt.date(2026, 3, 4)}
    assert dates("31/02/2026 and 2026-13-01") == set()
    assert dates("invoice 2026-031, phone 0117 496 0123") == set()


@pytest.mark.parametrize(("text", "total", "supported"), [
    ("Total 1.250,00 €", 1250, True), ("Total 1,250.00 EUR", 1250.0, True), ("Total 1250", 1250, True),
    ("Total due £903.48", 903.48, True), ("Importe: 903,48", 903.48, True), ("Total 1,250.50", 1250.5, True),
    ("Total due £903.48", 903.0, False), ("Total 1.250,00 €", 1.25, False),
    ("Invoice 2026-031 total 903.48", 1000000000000000, False),
])
def test_a_number_is_supported_when_the_text_states_it_in_any_format(text, total, supported):
    assert Text(text).supports("number", total) is supported


def test_iban_checksum_and_presence():
    assert valid_iban("GB33BUKB20201555555555") and valid_iban("ES91 2100 0418 4502 0005 1332")
    assert not valid_iban("GB34BUKB20201555555555") and not valid_iban("GB33BUKB20201555555555555555555555")
    text = Text("Pay to IBAN ES91 2100 0418 4502 0005 1332.")
    assert text.supports("iban", "ES9121000418450200051332")
    assert not text.supports("iban", "GB33BUKB20201555555555")  # valid, but not this document's
    assert ibans("ES91 2100 0418 4502 0005 1332 and GB34BUKB20201555555555 (a typo)") == ["ES9121000418450200051332"]
    assert ibans("IBAN ES91 2100 0418 4502 0005 1332 BIC CAIXESBB") == ["ES9121000418450200051332"]


@pytest.mark.parametrize(("text", "code", "supported"), [
    ("Total 1.250,00 €", "EUR", True), ("Total due £903.48", "GBP", True), ("paid 40 dollars", "USD", True),
    ("importe en euros", "EUR", True), ("Total EUR 12", "EUR", True), ("Total due £903.48", "USD", False),
    ("Total due £903.48", "EUR", False), ("neurosurgery", "EUR", False),
])
def test_a_currency_is_supported_by_its_code_sign_or_name(text, code, supported):
    assert Text(text).supports("currency", code) is supported


def test_strings_match_without_case_accents_or_punctuation_and_ocr_noise_in_letters_only():
    text = Text("ACME Office Supplies Ltd.\nInvoice  2026-031, Zaragoza (España)")
    assert text.supports("string", "acme office supplies ltd")
    assert text.supports("string", "INVOICE 2026 031") and text.supports("string", "Espana")
    assert text.supports("string", "ACME Offlce Suppiies Ltd")  # OCR-like noise in the letters
    assert not text.supports("string", "2026-037")  # a code with another digit is another code
    assert not text.supports("string", "the invoice number") and not text.supports("string", "Acne")
    assert not text.supports("string", "...") and text.supports("string", "")


def test_field_kinds_come_from_the_schema_and_the_name():
    assert kind("total", {"type": "number"}, 12.5) == "number"
    assert kind("paid", {"type": "boolean"}, True) == "keep"
    assert kind("status", {"enum": ["paid", "due"]}, "paid") == "keep"
    assert kind("payee_iban", {"type": "string"}, "x") == "iban"
    assert kind("moneda", {"type": "string", "pattern": "^[A-Z]{3}$"}, "EUR") == "currency"
    assert kind("due_date", {"type": "string"}, "x") == kind("d", {"format": "date"}, "x") == "date"
    assert kind("vendor", {"type": "string"}, "x") == "string"


def test_nested_objects_and_arrays_report_paths_and_drop_unsupported_items():
    schema = {"type": "object", "$defs": {"party": {"type": "object", "properties": {
        "name": {"type": "string"}, "city": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}},
        "properties": {"parties": {"type": "array", "items": {"$ref": "#/$defs/party"}},
                       "tags": {"type": "array", "items": {"type": "string"}}}}
    fields = {"parties": [{"name": "Suministros del Norte", "city": "Madrid"}], "tags": ["factura", "urgente"]}
    checked = ground(fields, schema, SPANISH)
    assert checked.fields == {"parties": [{"name": "Suministros del Norte", "city": None}], "tags": ["factura"]}
    assert checked.unsupported == ("parties[0].city", "tags[1]")


def test_the_invoice_schema_grounds_spanish_formats():
    fields = {"vendor": "Suministros del Norte S.L.", "number": "F-2026/88", "date": "2026-10-14", "total": 1250,
              "currency": "EUR", "iban": "ES9121000418450200051332"}
    assert ground(fields, INVOICE, SPANISH).unsupported == ()
    assert currencies(SPANISH) == {"EUR"}


@pytest.mark.parametrize(("text", "found"), [
    ("Subtotal £752.90   VAT 20% £150.58   Total due £903.48", [903.48]),
    ("Total a pagar: 1.250,00 €\nImporte total: 1.250,00 EUR", [1250.0]), ("TOTAL EUR 1,250.50.", [1250.5]),
    ("Total due: 100 € and Total: 120 €", [100.0, 120.0]),
    ("Qty Item Unit Total\n20 A4 paper £21.40 £428.00", []), ("Total 12 items, 300 €", []), ("Total 903.48", []),
])
def test_totals_are_currency_amounts_right_after_the_word_total(text, found):
    assert totals(text) == found


def test_pattern_fills_only_what_is_unambiguous():
    assert pattern_fills(INVOICE, SPANISH) == {"iban": "ES9121000418450200051332", "currency": "EUR", "total": 1250.0}
    two = SPANISH + " o GB33BUKB20201555555555, 20 £. Total pagado: 1.000,00 €"
    assert pattern_fills(INVOICE, two) == {}  # two of each: either could be the one
    both = {"type": "object", "properties": {"payer_iban": {"type": "string"}, "payee_iban": {"type": "string"}}}
    assert pattern_fills(both, SPANISH) == {}  # two IBAN fields: which one is the text's?
