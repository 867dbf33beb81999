"""Search through the API: tenant-scoped hits, cursor pages, clear 400s for bad queries, and the
kernel's index following document writes (text set, renamed, deleted)."""

from __future__ import annotations

import attrs
import pytest
from api_support import TestPlugin


@pytest.fixture
async def api(paperchain_api):
    return await paperchain_api(TestPlugin())


async def _set_text(kernel, document_id: str, text: str) -> None:
    """The document's text, written as a step's update is (the search index follows)."""
    document = await kernel.documents.get(document_id)
    await kernel.documents.update(attrs.evolve(document, text=text))


async def _upload(api, token, name, text):
    doc = (await api.request("POST", f"/api/v1/documents?name={name}", token=token, data=text.encode())).json
    await _set_text(api.kernel, doc["id"], text)
    return doc["id"]


async def _hits(api, query, token=True, **params):
    from urllib.parse import urlencode

    answer = await api.request("GET", "/api/v1/documents/search?" + urlencode({"q": query, **params}), token=token)
    assert answer.status == 200, answer.json
    return answer.json


async def test_each_tenant_finds_only_its_own_and_the_operator_finds_all(api):
    alice = await api.user("alice", "viewer", tenant="acme")
    bob = await api.user("bob", "editor", tenant="globex")
    carol = await api.user("carol", "editor", tenant="acme")
    mine = await _upload(api, carol, "factura.txt", "Factura del café: treinta días netos.")
    theirs = await _upload(api, bob, "invoice.txt", "Globex café invoice, net 30 days.")
    assert [h["id"] for h in (await _hits(api, "cafe", alice))["items"]] == [mine]
    assert [h["id"] for h in (await _hits(api, "CAFÉ", bob))["items"]] == [theirs]
    assert (await _hits(api, "globex", alice))["items"] == []
    assert {h["id"] for h in (await _hits(api, "cafe"))["items"]} == {mine, theirs}  # the operator
    hit = (await _hits(api, "treinta", alice))["items"][0]
    assert hit["name"] == "factura.txt" and "[treinta]" in hit["snippet"] and hit["media_type"]


async def test_pages_follow_the_cursor_and_deleted_or_renamed_documents_follow_the_index(api):
    texts = {}
    for n in range(5):
        texts[await _upload(api, True, f"memo-{n}.txt", f"memo number {n} about the harbour")] = f"memo number {n} about the harbour"
    ids = set(texts)
    seen, params = [], {"limit": 2}
    while True:
        page = await _hits(api, "harbour", **params)
        seen.extend(h["id"] for h in page["items"])
        if not page["next"]:
            break
        params = {"limit": 2, "cursor": page["next"]}
    assert sorted(seen) == sorted(ids)
    gone = seen[0]
    assert (await api.request("DELETE", f"/api/v1/documents/{gone}")).status == 204
    assert gone not in {h["id"] for h in (await _hits(api, "harbour", limit=10))["items"]}
    kept = seen[1]
    assert (await api.request("PATCH", f"/api/v1/documents/{kept}", json={"name": "lighthouse.txt"})).status == 200
    assert [h["id"] for h in (await _hits(api, "lighthouse"))["items"]] == [kept]
    restored = await api.request("POST", "/api/v1/documents?name=again.txt", data=texts[gone].encode())
    assert restored.status == 201 and restored.json["id"] == gone  # the same bytes bring the deleted one back
    assert gone in {h["id"] for h in (await _hits(api, "harbour", limit=10))["items"]}


@pytest.mark.parametrize("query, says", [
    ('"unclosed', "never closed"), ("-draft", "no words to look for"), ("a OR", "OR needs a word"),
    ("x" * 1001, "at most 1000"),
])
async def test_bad_queries_are_400s_saying_what_to_fix(api, query, says):
    answer = await api.request("GET", "/api/v1/documents/search", params={"q": query})
    assert answer.status == 400 and says in answer.json["error"]["message"] and answer.json["error"]["details"]["hint"]


@pytest.mark.parametrize("query", ["'; DROP TABLE documents; --", "name:secret", "NEAR(a b)", "a) OR (1=1", "\x00"])
async def test_hostile_queries_are_words_or_400s_never_500s(api, query):
    await _upload(api, True, "t.txt", "a table of documents")
    answer = await api.request("GET", "/api/v1/documents/search", params={"q": query})
    assert answer.status in (200, 400), answer.json
    assert (await _hits(api, "documents"))["items"]  # the index is intact


async def test_a_cursor_we_did_not_make_is_a_400(api):
    answer = await api.request("GET", "/api/v1/documents/search", params={"q": "x", "cursor": "forged"})
    assert answer.status == 400 and "cursor" in answer.json["error"]["message"]
