"""ai.extract: the built-in invoice schema or the step's own, answers validated against it, bad
schemas refused when the workflow is validated."""

from __future__ import annotations

import json

import pytest

import paperchain_ai
from paperchain_ai.schemas import INVOICE
from paperchain_ai.testing import fenced_document, scripted_plugin
from paperchain_sdk import ConfigError

INVOICE_TEXT = ("ACME Office Supplies Ltd.\nInvoice 2026-031   Date: 2026-10-14\nTotal due £903.48\n"
                "Payment to IBAN GB33BUKB20201555555555.")
FIELDS = {"vendor": "ACME Office Supplies Ltd.", "number": "2026-031", "date": "2026-10-14", "total": 903.48,
          "currency": "GBP", "iban": "GB33BUKB20201555555555"}


def extract_workflow(**settings) -> dict:
    return {"name": "extract", "steps": [
        {"id": "text", "uses": "document.text"},
        {"id": "extract", "uses": "ai.extract", "needs": ["text"], "with": settings},
    ]}


def kernel_with(paperchain_kernel, script):
    provider = scripted_plugin(script)
    return paperchain_kernel(paperchain_ai, provider,
                             config={"components": {"ai.extract": {"provider": provider.name}}}), provider


@pytest.fixture
def invoice(tmp_path):
    path = tmp_path / "invoice.txt"
    path.write_text(INVOICE_TEXT, encoding="utf-8")
    return path


def test_invoice_fields_by_the_built_in_schema_into_metadata(paperchain_kernel, invoice):
    def script(request):
        assert request.schema == INVOICE and "- iban: the IBAN to pay to" in request.messages[0]["content"]
        assert fenced_document(request) == INVOICE_TEXT
        return json.dumps(FIELDS)

    harness, _ = kernel_with(paperchain_kernel, script)
    run = harness.run(extract_workflow(metadata="invoice"), files=[invoice]).runs[0]
    assert run.status == "succeeded", run.error
    assert run.steps["extract"].outputs == FIELDS
    assert harness.call(harness.kernel.documents.get(run.document_id)).metadata["invoice"] == FIELDS


@pytest.mark.parametrize(("wrong", "problem"), [
    ({**FIELDS, "total": "903.48"}, "at total"),
    ({**FIELDS, "currency": "pounds"}, "at currency"),
    ({**FIELDS, "iban": "GB33 BUKB"}, "at iban"),
    ({k: v for k, v in FIELDS.items() if k != "vendor"}, "'vendor' is a required property"),
    ({**FIELDS, "approved": True}, "Additional properties"),
])
def test_an_answer_outside_the_schema_is_repaired_or_fails(paperchain_kernel, invoice, wrong, problem):
    harness, provider = kernel_with(paperchain_kernel, [json.dumps(wrong), json.dumps(FIELDS)])
    run = harness.run(extract_workflow(), files=[invoice]).runs[0]
    assert run.steps["extract"].outputs == FIELDS
    assert problem in provider.requests[1].messages[-1]["content"]

    harness, _ = kernel_with(paperchain_kernel, [json.dumps(wrong)] * 2)
    run = harness.run(extract_workflow(), files=[invoice]).runs[0]
    assert run.status == "failed" and problem in run.steps["extract"].error and not run.steps["extract"].outputs


def test_a_null_iban_is_allowed_and_a_schema_of_the_steps_own(paperchain_kernel, invoice):
    schema = {"type": "object", "properties": {"parties": {"type": "array", "items": {"$ref": "#/$defs/party"}}},
              "required": ["parties"], "$defs": {"party": {"type": "string", "minLength": 1}}}
    answers = [json.dumps({**FIELDS, "iban": None}), json.dumps({"parties": ["ACME", "Northwind"]})]
    harness, _ = kernel_with(paperchain_kernel, answers)
    workflow = extract_workflow()
    workflow["steps"].append({"id": "parties", "uses": "ai.extract", "needs": ["extract"], "with": {"schema": schema}})
    run = harness.run(workflow, files=[invoice]).runs[0]
    assert run.steps["extract"].outputs["iban"] is None
    assert run.steps["parties"].outputs == {"parties": ["ACME", "Northwind"]}


@pytest.mark.parametrize(("schema", "message"), [
    ("receipt", "not a built-in schema"),
    (["a"], "JSON Schema object"),
    ({"type": "array"}, 'type = "object"'),
    ({"type": "object", "properties": {"a": {"type": "strin"}}}, "not a valid JSON Schema at properties/a/type"),
    ({"type": "object", "properties": {"a": {"$ref": "https://example.com/evil.json"}}}, "only local references"),
    ({"type": "object", "$defs": {"x": {"$ref": "file:///etc/passwd"}}}, "only local references"),
    ({"type": "object", "description": "x" * 30_000}, "at most 20,000"),
])
def test_a_bad_schema_is_refused_when_the_workflow_is_validated(paperchain_kernel, schema, message):
    harness, _ = kernel_with(paperchain_kernel, [])
    with pytest.raises(ConfigError) as caught:
        harness.kernel.load_workflow(extract_workflow(schema=schema))
    assert message in caught.value.message
