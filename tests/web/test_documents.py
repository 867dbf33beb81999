"""The documents pages over HTTP: list, thumbnails from the blob store, search snippets, editing,
bulk actions, and what a viewer may not do."""

from __future__ import annotations

import io
import re

import attrs
import pytest
import sqlalchemy as sa
from PIL import Image

from paperchain.store.tables import thumbnails


def pdf_bytes(color="white") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (200, 280), color).save(out, "PDF")
    return out.getvalue()


async def upload(site, name: str, data: bytes) -> str:
    reply = await site.request("POST", f"/api/v1/documents?name={name}", data=data,
                               headers={"Content-Type": "application/octet-stream"})
    assert reply.status == 201, reply
    return reply.json["id"]


async def set_text(site, document_id: str, text: str) -> None:
    document = await site.kernel.documents.get(document_id)
    await site.kernel.documents.update(attrs.evolve(document, text=text))  # as a step would


async def test_the_list_shows_documents_with_thumbnails_kept_in_the_blob_store(site):
    doc_id = await upload(site, "scan.pdf", pdf_bytes())
    b = await site.browser().login("vera")
    status, _, text = await b.get("/documents")
    assert status == 200 and "scan.pdf" in text and f'src="/documents/{doc_id}/thumbnail"' in text
    status, headers, _ = await b.get(f"/documents/{doc_id}/thumbnail")
    assert status == 200 and headers["Content-Type"] == "image/png"
    blob = await site.kernel.sql.scalar(sa.select(thumbnails.c.blob).where(thumbnails.c.document_id == doc_id))
    assert site.kernel.blobs.exists(blob)
    async with b.session.get(f"{site.url}/documents/{doc_id}/thumbnail") as r:
        picture = Image.open(io.BytesIO(await r.read()))
    assert picture.size[0] <= 240 and picture.size[1] <= 320
    _, _, cards = await b.get("/documents?view=cards")
    assert 'class="cards"' in cards and 'class="cards"' in (await b.get("/documents"))[2]  # remembered


async def test_search_highlights_matches_and_escapes_the_text(site):
    doc_id = await upload(site, "letter.pdf", pdf_bytes("gray"))
    await set_text(site, doc_id, "Dear <b>council</b>, the invoice for the bridge repairs is attached.")
    b = await site.browser().login("vera")
    status, _, text = await b.get("/documents?q=invoice")
    assert status == 200 and "<mark>invoice</mark>" in text and "&lt;b&gt;council&lt;/b&gt;" in text
    assert "<b>council</b>" not in text
    status, _, text = await b.get("/documents?q=%22unclosed")
    assert status == 400 and "is not valid" in text


async def test_an_editor_edits_tags_and_metadata_and_a_viewer_cannot(site):
    doc_id = await upload(site, "deed.pdf", pdf_bytes())
    viewer = await site.browser().login("vera")
    _, _, text = await viewer.get(f"/documents/{doc_id}")
    assert 'name="tags"' not in text and 'name="id"' not in (await viewer.get("/documents"))[2]
    status, _, text = await viewer.post(f"/documents/{doc_id}", {"csrf": await viewer.csrf(), "tags": "x"})
    assert status == 403 and "needs the editor role" in text
    editor = await site.browser().login("eddie")
    csrf = await editor.csrf(f"/documents/{doc_id}")
    status, _, _ = await editor.post(f"/documents/{doc_id}", {"csrf": csrf, "tags": "land, 1907 ,land",
                                                             "metadata": 'parish = Llanfair\nyear = 1907'})
    assert status == 303
    got = (await site.request("GET", f"/api/v1/documents/{doc_id}")).json
    assert got["tags"] == ["1907", "land"] and got["metadata"] == {"parish": "Llanfair", "year": 1907}
    status, _, text = await editor.post(f"/documents/{doc_id}", {"csrf": csrf, "tags": "", "metadata": "no equals"})
    assert status == 400 and "should look like key = value" in text
    _, _, text = await editor.get(f"/documents/{doc_id}")
    assert "POST /api/v1/documents/{id}" in text or "POST /documents/{id}" in text  # its history


async def test_bulk_tag_run_and_delete(site):
    first, second = await upload(site, "a.pdf", pdf_bytes("red")), await upload(site, "b.pdf", pdf_bytes("blue"))
    await site.request("POST", "/api/v1/workflows",
                       json={"name": "quick", "steps": [{"id": "nap", "uses": "test.wait", "with": {"seconds": 0}}]})
    b = await site.browser().login("eddie")
    csrf = await b.csrf("/documents")
    data = [("csrf", csrf), ("action", "tag"), ("tag", "urgent"), ("id", first), ("id", second)]
    status, _, _ = await b.post("/documents/bulk", data)
    assert status == 303
    for doc_id in (first, second):
        assert (await site.request("GET", f"/api/v1/documents/{doc_id}")).json["tags"] == ["urgent"]
    status, headers, _ = await b.post("/documents/bulk", [("csrf", csrf), ("action", "run"), ("workflow", "quick"),
                                                          ("id", first)])
    assert status == 303 and headers["Location"].startswith("/batches/")
    _, _, text = await b.get(headers["Location"])
    assert re.search(r'<progress id="batch-progress" max="1"', text)
    status, _, _ = await b.post("/documents/bulk", [("csrf", csrf), ("action", "delete"), ("id", second)])
    assert status == 303 and (await site.request("GET", f"/api/v1/documents/{second}")).status == 404
    status, _, text = await b.post("/documents/bulk", [("csrf", csrf), ("action", "delete")])
    assert status == 400 and "Select at least one document" in text


async def test_the_list_filters_by_tag_type_and_day_and_pages_through_all(site):
    import datetime as dt

    from paperchain.web.routes import documents as page

    deed, letter = await upload(site, "deed.pdf", pdf_bytes("green")), await upload(site, "letter.txt", b"dear sir")
    await site.request("PATCH", f"/api/v1/documents/{deed}", json={"tags": ["land"]})
    b = await site.browser().login("vera")

    async def listed(query: str) -> set[str]:
        status, _, text = await b.get(f"/documents?{query}")
        assert status == 200, text
        return {i for i in (deed, letter) if f"/documents/{i}" in text}

    today = dt.datetime.now(dt.UTC).date()
    assert await listed("tag=land") == {deed} and await listed("tag=lan") == set()
    assert await listed("media_type=text%2Fplain") == {letter}
    assert await listed(f"since={today}&until={today}") == {deed, letter}  # "until" takes in its whole day
    assert await listed(f"until={today - dt.timedelta(days=1)}") == set()
    assert await listed(f"since={today + dt.timedelta(days=1)}") == set()
    status, _, text = await b.get("/documents?until=tomorrow")
    assert status == 400 and "is not a date" in text
    _, _, text = await b.get("/documents")
    assert "<option>application/pdf</option>" in text and "<option>text/plain</option>" in text  # the types offered
    extra = [await upload(site, f"n{i}.txt", f"note {i}".encode()) for i in range(page.PAGE_SIZE)]
    _, _, text = await b.get("/documents")
    cursor = re.search(r'cursor=([A-Za-z0-9_\-=%]+)', text)
    assert cursor, "a full page links to the next"
    _, _, rest = await b.get(f"/documents?cursor={cursor.group(1)}")
    shown = {i for i in (deed, letter, *extra) if f"/documents/{i}\"" in text or f"/documents/{i}\"" in rest}
    assert len(shown) == page.PAGE_SIZE + 2


async def test_upload_stores_the_file_starts_the_workflow_and_explains_failures(site):
    await site.request("POST", "/api/v1/workflows",
                       json={"name": "quick", "steps": [{"id": "nap", "uses": "test.wait", "with": {"seconds": 0}}]})
    import aiohttp

    editor = await site.browser().login("eddie")
    _, _, page = await editor.get("/upload")
    assert '<option selected>' not in page and "<option>quick</option>" in page
    csrf = await editor.csrf("/upload")

    def form(name: str, data: bytes):
        body = aiohttp.FormData()
        body.add_field("file", data, filename=name, content_type="application/pdf")
        return body

    async with editor.session.post(f"{site.url}/upload?workflow=quick", data=form("../../etc/scan.pdf", pdf_bytes()),
                                   headers={"X-CSRF-Token": csrf, "Origin": site.url}) as r:
        answer = await r.json()
    assert r.status == 201 and answer["name"] == "scan.pdf" and answer["run"]
    assert (await site.wait_run(answer["run"]))["status"] == "succeeded"
    async with editor.session.post(f"{site.url}/upload", data=form("empty.pdf", b""),
                                   headers={"X-CSRF-Token": csrf, "Origin": site.url}) as r:
        assert r.status == 400 and (await r.json())["error"] == "empty.pdf is empty."
    async with editor.session.post(f"{site.url}/upload", data=form("a.pdf", pdf_bytes()),
                                   headers={"Origin": site.url}) as r:
        assert r.status == 403  # no CSRF token
    with_field = form("a.pdf", pdf_bytes())
    with_field.add_field("csrf", csrf)
    async with editor.session.post(f"{site.url}/upload", data=with_field, headers={"Origin": site.url}) as r:
        assert r.status == 403  # an upload's body is not read before its token is checked: the header it is
    viewer = await site.browser().login("vera")
    status, _, text = await viewer.get("/upload")
    assert status == 403 and "needs the editor role" in text
    assert 'href="/upload"' not in (await viewer.get("/runs"))[2]


async def test_a_tenant_sees_none_of_another_tenants_runs_or_documents(site, tmp_path):
    await site.state.accounts.create_user("tina", "correct horse battery staple 42", "editor", tenant="acme")
    await site.request("POST", "/api/v1/workflows", json={"name": "fragile", "steps": [
        {"id": "fragile", "uses": "test.fail_until_fixed", "with": {"marker": str(tmp_path / "fixed")}}]})
    run_id = (await site.request("POST", "/api/v1/runs", json={"workflow": "fragile"})).json["runs"][0]
    await site.wait_run(run_id)
    doc_id = await upload(site, "private.pdf", pdf_bytes())
    tina = await site.browser().login("tina")
    _, _, runs = await tina.get("/runs")
    assert run_id[:12] not in runs and "No runs match" in runs
    assert (await tina.get(f"/runs/{run_id}"))[0] == 404
    _, _, documents = await tina.get("/documents")
    assert "private.pdf" not in documents
    for path in (f"/documents/{doc_id}", f"/documents/{doc_id}/thumbnail", f"/documents/{doc_id}/content"):
        assert (await tina.get(path))[0] == 404, path
    _, _, home = await tina.get("/")
    assert "the marker" not in home and 'id="queue-depth">0<' in home
    status, _, _ = await tina.post("/documents/bulk", [("csrf", await tina.csrf()), ("action", "delete"), ("id", doc_id)])
    assert status == 404 and (await site.request("GET", f"/api/v1/documents/{doc_id}")).status == 200
    assert "<option>fragile</option>" not in (await tina.get("/upload"))[2]
    await site.kernel.workflows.share("fragile", "acme", by="ada")  # shared workflows are offered too
    assert "<option>fragile</option>" in (await tina.get("/upload"))[2]
    operator = await site.browser().login("vera")
    assert run_id[:12] in (await operator.get("/runs"))[2]


async def test_thumbnails_of_identical_pictures_at_once_and_of_a_damaged_pdf(site):
    import asyncio

    same = [await upload(site, f"copy-{i}.pdf", pdf_bytes("white") + b"\n%" + str(i).encode()) for i in range(4)]
    broken = await upload(site, "broken.pdf", b"%PDF-1.4\n this is not really a PDF")
    b = await site.browser().login("vera")
    answers = await asyncio.gather(*(b.get(f"/documents/{d}/thumbnail") for d in same))
    assert [status for status, _, _ in answers] == [200] * 4
    status, _, text = await b.get(f"/documents/{broken}/thumbnail")
    assert status == 404 and "has no picture" in text
    status, _, text = await b.get(f"/documents/{broken}")
    assert status == 200 and "broken.pdf" in text


@pytest.fixture
def paperchain_database_url(database_url):
    """These pages on both databases: the SQLite file of each kernel, or a fresh PostgreSQL database."""
    return "" if database_url.startswith("sqlite") else database_url
