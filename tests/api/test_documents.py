"""Documents through the API: upload (multipart and raw), download, list, search, change, delete."""

import os

import aiohttp
import attrs
import pytest
import sqlalchemy as sa
from kernel_support import SHARED_DOCUMENTS

from paperchain.store import tables


async def _upload(api, name, data, token=True):
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return await api.request("POST", "/api/v1/documents", data=form, token=token)


async def test_upload_download_and_metadata(api):
    scan = (SHARED_DOCUMENTS / "typewriter.png").read_bytes()
    reply = await _upload(api, "typewriter.png", scan)
    assert reply.status == 201, reply
    doc = reply.json
    assert doc["media_type"] == "image/png" and doc["size"] == len(scan) and doc["created_by"] == "admin"
    raw = await api.request("POST", "/api/v1/documents?name=note.txt", data=b"hello paperchain world",
                            headers={"Content-Type": "application/octet-stream"})
    assert raw.status == 201 and raw.json["name"] == "note.txt" and raw.json["media_type"] == "text/plain"
    content = await api.request("GET", f"/api/v1/documents/{doc['id']}/content")
    assert content.status == 200 and content.body == scan
    assert "attachment" in content.headers["Content-Disposition"]
    assert (await api.request("GET", f"/api/v1/documents/{doc['id']}")).json["name"] == "typewriter.png"
    assert (await api.request("GET", "/api/v1/documents/" + "0" * 64)).status == 404


async def test_bad_uploads_are_refused_and_store_nothing(api):
    too_big = await api.request("POST", "/api/v1/documents?name=big.bin", data=b"x" * 1_000_001)
    assert too_big.status == 413 and too_big.json["error"]["code"] == "payload_too_large"
    streamed = await _upload(api, "big.txt", b"y" * 1_200_000)  # no Content-Length check can catch a form part
    assert streamed.status == 413
    lying = await _upload(api, "invoice.pdf", b"this is not a pdf at all")
    assert lying.status == 400 and "named like application/pdf" in lying.json["error"]["message"]
    empty = await _upload(api, "empty.txt", b"")
    assert empty.status == 400 and "empty" in empty.json["error"]["message"]
    form = aiohttp.FormData()
    form.add_field("attachment", b"data", filename="a.txt")
    no_file = await api.request("POST", "/api/v1/documents", data=form)
    assert no_file.status == 400 and "'file'" in no_file.json["error"]["message"]
    urlencoded = await api.request("POST", "/api/v1/documents", data={"file": "x"})
    assert urlencoded.status == 415
    listed = await api.request("GET", "/api/v1/documents")
    assert listed.json["items"] == []
    tmp = list((api.kernel.data_dir / "blobs" / "tmp").iterdir()) + list(api.kernel.blobs.spool.iterdir())
    assert tmp == []  # no partial upload left behind


async def test_path_traversal_names_are_neutralised(api):
    reply = await _upload(api, "../../etc/passwd.txt", b"root:x:0:0")
    assert reply.status == 201 and reply.json["name"] == "passwd.txt"
    traversal = await api.request("GET", "/api/v1/documents/..%2F..%2Fpaperchain.db/content")
    assert traversal.status == 404
    dotted = await api.request("GET", "/api/v1/runs/x/artifacts/a/..")
    assert dotted.status in (400, 404)


async def test_list_filters_and_cursor_pagination(api):
    ids = []
    for i in range(5):
        reply = await api.request("POST", f"/api/v1/documents?name=doc{i}.txt", data=f"document number {i}".encode())
        ids.append(reply.json["id"])
    first = await api.request("GET", "/api/v1/documents?limit=2")
    assert len(first.json["items"]) == 2 and first.json["next"]
    seen = [d["id"] for d in first.json["items"]]
    cursor = first.json["next"]
    while cursor:
        page = await api.request("GET", f"/api/v1/documents?limit=2&cursor={cursor}")
        seen += [d["id"] for d in page.json["items"]]
        cursor = page.json["next"]
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    assert (await api.request("GET", "/api/v1/documents?limit=0")).status == 400
    assert (await api.request("GET", "/api/v1/documents?limit=abc")).status == 400
    assert (await api.request("GET", "/api/v1/documents?cursor=garbage")).status == 400
    assert (await api.request("GET", "/api/v1/documents?bogus=1")).status == 400
    named = await api.request("GET", "/api/v1/documents?name=DOC3")
    assert [d["name"] for d in named.json["items"]] == ["doc3.txt"]
    odd = (await api.request("POST", "/api/v1/documents?name=Very_Sure.txt", data=b"underscore")).json
    for part, found in (("y_s", [odd["id"]]), ("%", []), ("c_", []), ("doc%", [])):  # % and _ are literal
        listed = await api.request("GET", "/api/v1/documents", params={"name": part})
        assert [d["id"] for d in listed.json["items"]] == found, part
    created = odd["created"]
    assert [d["id"] for d in (await api.request("GET", "/api/v1/documents", params={
        "created_after": created, "media_type": "text/plain"})).json["items"]] == [odd["id"]]
    before = await api.request("GET", "/api/v1/documents", params={"created_before": created, "limit": 10})
    assert sorted(d["id"] for d in before.json["items"]) == sorted(ids)
    assert (await api.request("GET", "/api/v1/documents", params={"media_type": "image/png"})).json["items"] == []


async def test_change_tags_search_and_soft_delete(api):
    doc = (await api.request("POST", "/api/v1/documents?name=inv.txt", data=b"invoice from acme")).json
    events = []
    api.kernel.listeners.append(events.append)
    patched = await api.request("PATCH", f"/api/v1/documents/{doc['id']}",
                                json={"tags": ["invoice", "acme"], "metadata": {"supplier": "ACME"}})
    assert patched.status == 200 and patched.json["tags"] == ["acme", "invoice"]
    assert any(e.type == "document.updated" and e.data["fields"] == ["metadata.supplier", "tags"] for e in events)
    tagged = await api.request("GET", "/api/v1/documents?tag=invoice")
    assert [d["id"] for d in tagged.json["items"]] == [doc["id"]]
    document = await api.kernel.documents.get(doc["id"])
    await api.kernel.documents.update(attrs.evolve(document, text="invoice from acme corp"))  # as a step would
    hits = await api.request("GET", "/api/v1/documents/search?q=acme")
    assert [h["id"] for h in hits.json["items"]] == [doc["id"]]
    bad = await api.request("GET", '/api/v1/documents/search?q="unbalanced')
    assert bad.status == 400 and "not valid" in bad.json["error"]["message"]
    malformed = await api.request("PATCH", f"/api/v1/documents/{doc['id']}", data=b"{not json",
                                  headers={"Content-Type": "application/json"})
    assert malformed.status == 400 and "JSON" in malformed.json["error"]["message"]
    wrong_type = await api.request("PATCH", f"/api/v1/documents/{doc['id']}", data=b"tags=x",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert wrong_type.status == 415
    wrong_field = await api.request("PATCH", f"/api/v1/documents/{doc['id']}", json={"tags": "not-a-list"})
    assert wrong_field.status == 400
    assert (await api.request("DELETE", f"/api/v1/documents/{doc['id']}")).status == 204
    assert (await api.request("GET", f"/api/v1/documents/{doc['id']}")).status == 404
    documents = tables.documents
    row = await api.kernel.sql.first(sa.select(documents.c.deleted, documents.c.deleted_by)
                                     .where(documents.c.id == doc["id"]))
    assert row.deleted and row.deleted_by == "admin"  # soft: the row is kept
    audit = (await api.request("GET", "/api/v1/audit?action=DELETE")).json["items"]
    assert audit[-1]["target"] == f"document:{doc['id']}"


async def test_equal_bytes_in_two_tenants_are_two_unrelated_documents(api):
    a = await api.user("alice", "editor", tenant="acme")
    b = await api.user("bob", "editor", tenant="globex")
    secret = b"acme's quarterly figures, word for word"
    mine = await api.request("POST", "/api/v1/documents?name=figures.txt", token=a, data=secret)
    assert mine.status == 201
    assert (await api.request("DELETE", f"/api/v1/documents/{mine.json['id']}", token=a)).status == 204

    theirs = await api.request("POST", "/api/v1/documents?name=copy.txt", token=b, data=secret)
    assert theirs.status == 201, theirs  # not a 404 naming acme's document
    assert theirs.json["id"] != mine.json["id"] and theirs.json["name"] == "copy.txt"
    assert theirs.json["created_by"] == "bob"
    assert mine.json["id"] not in theirs.body.decode()  # nothing in the answer points at acme's copy
    content = await api.request("GET", f"/api/v1/documents/{theirs.json['id']}/content", token=b)
    assert content.status == 200 and content.body == secret
    # acme's copy stays deleted and out of reach of globex
    assert (await api.request("GET", f"/api/v1/documents/{mine.json['id']}", token=a)).status == 404
    assert (await api.request("GET", f"/api/v1/documents/{mine.json['id']}", token=b)).status == 404
    documents = tables.documents
    rows = await api.kernel.sql.read(sa.select(documents.c.tenant, documents.c.deleted, documents.c.sha256)
                                     .order_by(documents.c.tenant))
    assert [(r.tenant, r.deleted is not None) for r in rows] == [("acme", True), ("globex", False)]
    assert rows[0].sha256 == rows[1].sha256  # the same content's SHA-256, kept for the ledger and exports
    # the two copies are filed under different names in the blob store
    assert api.kernel.blobs.path(mine.json["id"]) != api.kernel.blobs.path(theirs.json["id"])


async def test_a_tenant_uploading_the_same_bytes_twice_keeps_one_document(api):
    a = await api.user("alice", "editor", tenant="acme")
    first = await api.request("POST", "/api/v1/documents?name=one.txt", token=a, data=b"same bytes")
    again = await api.request("POST", "/api/v1/documents?name=two.txt", token=a, data=b"same bytes")
    assert first.status == again.status == 201 and first.json["id"] == again.json["id"]
    assert [d["id"] for d in (await api.request("GET", "/api/v1/documents", token=a)).json["items"]] == [first.json["id"]]
    # deleting it and uploading it again brings this tenant's own document back
    assert (await api.request("DELETE", f"/api/v1/documents/{first.json['id']}", token=a)).status == 204
    back = await api.request("POST", "/api/v1/documents?name=three.txt", token=a, data=b"same bytes")
    assert back.status == 201 and back.json["id"] == first.json["id"]


async def test_uploads_are_encrypted_at_rest_and_a_damaged_blob_is_refused(api):
    secret = b"salary review, strictly confidential " * 1000
    doc = (await api.request("POST", "/api/v1/documents?name=salaries.txt", data=secret)).json
    stored = api.kernel.blobs.stored_path(doc["id"])
    assert secret[:40] not in stored.read_bytes()
    assert not any(api.kernel.blobs.spool.iterdir())  # the spooled upload became the private copy or went
    assert (await api.request("GET", f"/api/v1/documents/{doc['id']}/content")).body == secret
    stored.chmod(0o644)
    raw = bytearray(stored.read_bytes())
    raw[-1] ^= 1  # the trailer
    stored.write_bytes(bytes(raw))
    damaged = await api.request("GET", f"/api/v1/documents/{doc['id']}/content")
    assert damaged.status == 500 and "does not authenticate" in damaged.json["error"]["message"]
    assert "restore" in damaged.json["error"]["details"]["hint"]


async def test_a_blob_damaged_past_its_start_cuts_the_download_short(api, tmp_path):
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(3 << 20))
    doc = await api.kernel.documents.ingest(source)
    await api.kernel.journal.flush()
    stored = api.kernel.blobs.stored_path(doc.id)
    stored.chmod(0o644)
    raw = bytearray(stored.read_bytes())
    raw[len(raw) // 2] ^= 1  # inside the second record: the first has gone out before it is read
    stored.write_bytes(bytes(raw))
    with pytest.raises(aiohttp.ClientPayloadError):
        await api.request("GET", f"/api/v1/documents/{doc.id}/content")
    assert (await api.request("GET", "/api/v1/documents")).status == 200  # the server goes on
