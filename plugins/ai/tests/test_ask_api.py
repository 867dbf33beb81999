"""``POST /api/v1/ai/ask`` and the ``ai.answer`` step through the real served API: retrieval is
the asker's tenant's only, answers cite (and quote) the evidence sentences that support them,
nothing relevant means ``found: false`` without asking the model, a model that gives no valid
answer is replaced by a quote of the evidence, and bad input is a clear 4xx."""

from __future__ import annotations

import json
import re

import pytest

import paperchain_ai
from paperchain_ai.testing import fenced_passages, request_text, scripted_plugin

OCTET = {"Content-Type": "application/octet-stream"}
EMBED = {"name": "embed", "steps": [{"id": "text", "uses": "document.text"},
                                   {"id": "embed", "uses": "ai.embed", "needs": ["text"]}]}
# The lease's two sentences: the one on the rent and the one before it (evidence is a sentence and its neighbours).
RENT = ("This lease agreement is made between the landlord and the tenant for the apartment on Elm Street. "
        "The monthly rent is due on the first day of each month and the term is twelve months.")
ANSWER = {"name": "answer", "inputs": {"question": {"type": "string"}},
          "steps": [{"id": "answer", "uses": "ai.answer", "with": {"question": "${{ inputs.question }}"}}]}


def reader(request):
    """Answers with the passage (evidence sentence) that shares the most words with the question."""
    passages = fenced_passages(request)
    question = re.search(r"^Question: (.*)$", request_text(request), re.MULTILINE).group(1)
    words = set(re.findall(r"\w{4,}", question.lower()))
    scored = sorted(passages, key=lambda n: -len(words & set(re.findall(r"\w{4,}", passages[n].lower()))))
    best = scored[0]
    assert request.schema == {"type": "object", "properties": {"answer": {"type": "string", "minLength": 1}},
                              "required": ["answer"], "additionalProperties": False}
    return json.dumps({"answer": passages[best]})


async def _served(paperchain_api, script=reader):
    provider = scripted_plugin(script)
    api = await paperchain_api(paperchain_ai, provider,
                               config={"components": {"ai.answer": {"provider": provider.name}}})
    return api, provider


async def _upload(api, name: str, text: str, token) -> str:
    reply = await api.request("POST", f"/api/v1/documents?name={name}", data=text.encode(), headers=OCTET, token=token)
    assert reply.status == 201, reply
    return reply.json["id"]


async def _run(api, workflow: str, token, **body) -> list[dict]:
    started = await api.request("POST", "/api/v1/runs", json={"workflow": workflow, **body}, token=token)
    assert started.status in (200, 201, 202), started
    return [await api.wait_run(run_id) for run_id in started.json["runs"]]


async def test_ask_answers_from_the_tenants_own_documents_only(paperchain_api, texts):
    api, provider = await _served(paperchain_api)
    acme = await api.user("alice", "editor", tenant="acme")
    acme_viewer = await api.user("vic", "viewer", tenant="acme")
    globex = await api.user("bob", "editor", tenant="globex")
    for token in (acme, globex):
        assert (await api.request("POST", "/api/v1/workflows", json=EMBED, token=token)).status == 201
    invoice_es = await _upload(api, "factura.txt", texts["invoice_es"], acme)
    lease = await _upload(api, "lease.txt", texts["lease_en"], acme)
    secret = await _upload(api, "invoice.txt", texts["invoice_en"] + " Secret code: GLOBEX-7.", globex)
    for runs in (await _run(api, "embed", acme, documents=[invoice_es, lease]),
                 await _run(api, "embed", globex, documents=[secret])):
        assert all(run["status"] == "succeeded" for run in runs), runs

    # A viewer may ask; the answer cites the sentence it rests on, by document id, page and name, quoted.
    reply = await api.request("POST", "/api/v1/ai/ask", json={"question": "When is the monthly rent due?"},
                              token=acme_viewer)
    assert reply.status == 200, reply
    assert reply.json["found"] is True and reply.json["mode"] == "generated"
    assert reply.json["answer"] == RENT
    assert reply.json["citations"] == [{"document": lease, "page": None, "name": "lease.txt", "quote": RENT}]
    # Globex's invoice, which shares the most words with this question, is never put before the model.
    reply = await api.request("POST", "/api/v1/ai/ask", json={"question": "Invoice 2026-114 total amount due secret code"},
                              token=acme)
    assert reply.status == 200, reply
    asked = request_text(provider.requests[-1])
    assert "GLOBEX-7" not in asked and "Northwind" not in asked and "2026-114" in asked
    assert reply.json["citations"] and {c["document"] for c in reply.json["citations"]} <= {invoice_es, lease}
    theirs = await api.request("POST", "/api/v1/ai/ask", json={"question": "What is the secret code?"}, token=globex)
    assert theirs.json["answer"] == "Please pay by bank transfer within thirty days. Secret code: GLOBEX-7."
    assert [c["document"] for c in theirs.json["citations"]] == [secret]
    assert "Suministros" not in request_text(provider.requests[-1])

    # The ai.answer step answers for the run's tenant the same way.
    assert (await api.request("POST", "/api/v1/workflows", json=ANSWER, token=acme)).status == 201
    [run] = await _run(api, "answer", acme, inputs={"question": "When is the monthly rent due?"})
    assert run["status"] == "succeeded", run
    outputs = next(s for s in run["steps"] if s["id"] == "answer")["outputs"]
    assert outputs == {"answer": RENT, "found": True, "mode": "generated", "model": "test.scripted",
                       "citations": [{"document": lease, "page": None, "name": "lease.txt", "quote": RENT}]}


async def test_nothing_relevant_says_so_without_asking_the_model(paperchain_api):
    api, provider = await _served(paperchain_api)
    empty = await api.user("erin", "viewer", tenant="empty")
    reply = await api.request("POST", "/api/v1/ai/ask", json={"question": "What is the capital of France?"}, token=empty)
    assert reply.status == 200, reply
    assert reply.json == {"question": "What is the capital of France?", "answer": "The documents do not say.",
                          "found": False, "mode": "none", "citations": [], "model": ""}
    assert provider.requests == []


async def test_a_model_that_gives_no_valid_answer_is_replaced_by_a_quote(paperchain_api, texts):
    answers = [json.dumps({"found": True, "answer": "yes", "sources": []}), "The rent is due on the first day."]
    api, provider = await _served(paperchain_api, script=answers)
    assert (await api.request("POST", "/api/v1/workflows", json=EMBED)).status == 201
    lease = await _upload(api, "lease.txt", texts["lease_en"], True)
    await _run(api, "embed", True, documents=[lease])
    for _ in answers:  # JSON of another shape, then no JSON at all
        reply = await api.request("POST", "/api/v1/ai/ask", json={"question": "When is the monthly rent due?"})
        assert reply.status == 200, reply
        assert reply.json["mode"] == "quoted" and reply.json["found"] is True and reply.json["model"] == ""
        assert reply.json["answer"] == RENT
        assert reply.json["citations"] == [{"document": lease, "page": None, "name": "lease.txt", "quote": RENT}]
    assert len(provider.requests) == 2  # repairs = 0 by default: the quote is the repair


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"question": ""}, 400, "empty"),
    ({"question": "   "}, 400, "empty"),
    ({"question": "x" * 1001}, 400, "question"),
    ({}, 400, "question"),
    ({"question": 42}, 400, "question"),
    ({"question": "rent", "documents": 0}, 400, "documents"),
    ({"question": "rent", "extra": 1}, 400, "extra"),
])
async def test_bad_questions_are_clear_4xx(paperchain_api, body, status, words):
    api, provider = await _served(paperchain_api)
    reply = await api.request("POST", "/api/v1/ai/ask", json=body)
    assert reply.status == status, reply
    assert words in json.dumps(reply.json["error"]).lower()
    assert provider.requests == []


async def test_ask_needs_a_login_and_json(paperchain_api):
    api, _ = await _served(paperchain_api)
    assert (await api.request("POST", "/api/v1/ai/ask", json={"question": "rent"}, token=None)).status == 401
    reply = await api.request("POST", "/api/v1/ai/ask", data=b"question=rent",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status in (400, 415), reply
