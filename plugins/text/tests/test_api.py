"""The near-duplicate route served by the real API (authentication, error mapping, OpenAPI)."""

from __future__ import annotations

import paperchain_text

WORKFLOW = {"name": "dedup", "steps": [
    {"id": "text", "uses": "document.text"},
    {"id": "duplicates", "uses": "text.near_duplicates", "needs": ["text"]},
]}


async def test_similar_documents_through_the_served_api(paperchain_api, english, spanish):
    api = await paperchain_api(paperchain_text)
    assert (await api.request("POST", "/api/v1/workflows", json=WORKFLOW)).status == 201
    ids = []
    for name, text in (("a.txt", english), ("b.txt", english.replace("wonderful", "great")), ("c.txt", spanish)):
        reply = await api.request("POST", f"/api/v1/documents?name={name}", data=text.encode(),
                                  headers={"Content-Type": "application/octet-stream"})
        assert reply.status == 201, reply
        ids.append(reply.json["id"])
    for doc_id in ids:  # one after another, so the later copy finds the earlier one
        started = await api.request("POST", "/api/v1/runs", json={"workflow": "dedup", "documents": [doc_id]})
        run = await api.wait_run(started.json["runs"][0])
        assert run["status"] == "succeeded", run

    a, b, c = ids
    similar = await api.request("GET", f"/api/v1/text/similar/{a}?threshold=0.6")
    assert similar.status == 200, similar
    assert similar.json["indexed"] is True
    assert [d["document_id"] for d in similar.json["similar"]] == [b] and similar.json["similar"][0]["jaccard"] > 0.8
    assert (await api.request("GET", f"/api/v1/text/similar/{c}")).json["similar"] == []

    bad = await api.request("GET", f"/api/v1/text/similar/{a}?threshold=7")
    assert bad.status == 400 and "threshold" in bad.json["error"]["message"]
    missing = await api.request("GET", "/api/v1/text/similar/" + "0" * 64)
    assert missing.status == 404
    anonymous = await api.request("GET", f"/api/v1/text/similar/{a}", token=None)
    assert anonymous.status == 401
