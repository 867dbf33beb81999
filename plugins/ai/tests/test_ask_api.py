"""``POST /api/v1/ai/ask`` and the ``ai.answer`` step through the real served API: retrieval is
the asker's tenant's only, answers cite the passages they used, nothing relevant means
``found: false`` without asking the model, and bad input is a clear 4xx."""

from __future__ import annotations

import json
import re

import pytest

import paperchain_ai
from paperchain_ai.testing import fenced_passages, request_text, scripted_plugin

OCTET = {"Content-Type": "application/octet-stream"}
EMBED = {"name": "embed", "steps": [{"id": "text", "uses": "document.text"},
                                   {"id": "embed", "uses": "ai.embed", "needs": ["text"]}]}
ANSWER = {"name": "answer", "inputs": {"question": {"type": "string"}},
          "steps": [{"id": "answer", "uses": "ai.answer", "with": {"question": "${{ inputs.question }}"}}]}


def reader(request):
    """Answers from the passage that shares the most words with the question; cites it."""
    passages = fenced_passages(request)
    question = re.search(r"<(question-[0-9a-f]{16})>\n(.*?)\n</\1>", request_text(request), re.DOTALL).group(2)
    words = set(re.findall(r"\w{4,}", question.lower()))
    scored = sorted(passages, key=lambda n: -len(words & set(re.findall(r"\w{4,}", passages[n].lower()))))
    best = scored[0]
    if not words & set(re.findall(r"\w{4,}", passages[best].lower())):
        return json.dumps({"found": False, "answer": "The documents do not say.", "sources": []})
    return json.dumps({"found": True, "answer": passages[best][:60], "sources": [best]})


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

    # A viewer may ask; the answer cites the passage it used, by document id, page and name.
    reply = await api.request("POST", "/api/v1/ai/ask", json={"question": "What is the monthly rent for the apartment on Elm Street?"},
                              token=acme_viewer)
    assert reply.status == 200, reply
    assert reply.json["found"] is True
    assert reply.json["citations"] == [{"document": lease, "page": None, "name": "lease.txt"}]
    # Globex's invoice, which shares the most words with this question, is never put before the model.
    reply = await api.request("POST", "/api/v1/ai/ask", json={"question": "Invoice 2026-114 total amount due secret code"},
                              token=acme)
    assert reply.status == 200, reply
    asked = request_text(provider.requests[-1])
    assert "GLOBEX-7" not in asked and "Northwind" not in asked and "Suministros del Norte" in asked
    assert {c["document"] for c in reply.json["citations"]} <= {invoice_es, lease}
    theirs = await api.request("POST", "/api/v1/ai/ask", json={"question": "secret code of the invoice"}, token=globex)
    assert [c["document"] for c in theirs.json["citations"]] == [secret]
    assert "Suministros" not in request_text(provider.requests[-1])

    # The ai.answer step answers for the run's tenant the same way.
    assert (await api.request("POST", "/api/v1/workflows", json=ANSWER, token=acme)).status == 201
    [run] = await _run(api, "answer", acme, inputs={"question": "monthly rent of the Elm Street apartment"})
    assert run["status"] == "succeeded", run
    outputs = next(s for s in run["steps"] if s["id"] == "answer")["outputs"]
    assert outputs["found"] is True and [c["document"] for c in outputs["citations"]] == [lease]


async def test_nothing_relevant_says_so_without_asking_the_model(paperchain_api):
    api, provider = await _served(paperchain_api)
    empty = await api.user("erin", "viewer", tenant="empty")
    reply = await api.request("POST", "/api/v1/ai/ask", json={"question": "What is the capital of France?"}, token=empty)
    assert reply.status == 200, reply
    assert reply.json == {"question": "What is the capital of France?", "answer": "The documents do not say.",
                          "found": False, "citations": [], "model": ""}
    assert provider.requests == []


async def test_a_model_that_answers_found_without_sources_is_refused(paperchain_api, texts):
    api, _ = await _served(paperchain_api, script=[json.dumps({"found": True, "answer": "yes", "sources": []})] * 2)
    assert (await api.request("POST", "/api/v1/workflows", json=EMBED)).status == 201
    lease = await _upload(api, "lease.txt", texts["lease_en"], True)
    await _run(api, "embed", True, documents=[lease])
    reply = await api.request("POST", "/api/v1/ai/ask", json={"question": "monthly rent lease"})
    assert reply.status == 503 and "sources names no passage" in reply.json["error"]["message"]
    assert reply.headers["Retry-After"] == "5"


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
