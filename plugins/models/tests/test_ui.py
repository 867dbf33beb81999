"""The models plugin's pages: train from labeled documents (the real training job), the registry with
versions, metrics and the confusion matrix, promote and roll back, tenants and roles; the home
page's "Recommended for you" from recorded interactions."""

from __future__ import annotations

import asyncio
import random
import re

import pytest

import paperchain_models
from paperchain_sdk.testing.web import PASSWORD, WebClient

EXTRACT = {"name": "extract", "steps": [{"id": "text", "uses": "document.text"}]}


@pytest.fixture
async def site(paperchain_site, text_maker):
    """acme: 3 x 8 labeled text documents (uploaded, their text extracted by a run, tagged through the
    API); an editor and a viewer of acme, an editor of globex; ada, eddie and vera deployment-wide."""
    api = await paperchain_site(paperchain_models)
    token = await api.user("acme-api", "editor", tenant="acme")
    for name, role, tenant in (("acme-ed", "editor", "acme"), ("acme-viewer", "viewer", "acme"),
                               ("globex-ed", "editor", "globex")):
        await api.state.accounts.create_user(name, PASSWORD, role, tenant)
    assert (await api.request("POST", "/api/v1/workflows", json=EXTRACT, token=token)).status == 201
    ids = []
    rng = random.Random(0)
    labeled = [(text_maker(label, rng), label) for label in ("invoice", "contract", "recipe") for _ in range(8)]
    for n, (text, label) in enumerate(labeled):
        reply = await api.request("POST", f"/api/v1/documents?name={label}-{n}.txt", data=text.encode(),
                                  token=token, headers={"Content-Type": "application/octet-stream"})
        assert reply.status == 201, reply
        ids.append(reply.json["id"])
        tagged = await api.request("PATCH", f"/api/v1/documents/{ids[-1]}", json={"tags": [label]}, token=token)
        assert tagged.status == 200, tagged
    started = await api.request("POST", "/api/v1/runs", json={"workflow": "extract", "documents": ids}, token=token)
    for run_id in started.json["runs"]:
        assert (await api.wait_run(run_id))["status"] == "succeeded"
    api.acme_token, api.ids = token, ids

    return api


async def trained(client: WebClient, path: str) -> str:
    """Follow a training job's page until it is finished; return its final HTML."""
    for _ in range(600):
        status, _, html = await client.get(path)
        assert status == 200
        state = re.search(r'data-status="(\w+)"', html).group(1)
        if state in ("succeeded", "failed"):
            return html
        await asyncio.sleep(0.1)
    raise AssertionError(f"training never finished: {html}")


def main(html: str) -> str:
    return html.split("<main", 1)[1].split("</main>", 1)[0]


@pytest.mark.slow
async def test_train_inspect_promote_and_roll_back_within_a_tenant(site):
    editor = await site.login("acme-ed")
    token = await editor.csrf("/p/models")
    status, headers, _ = await editor.post("/p/models/train", {"csrf": token, "name": "doctype", "field": "tags",
                                                               "algorithm": "logistic"})
    assert status == 303 and headers["Location"].startswith("/p/models/jobs/")
    job_url = headers["Location"]
    done = await trained(editor, job_url)
    assert 'data-status="succeeded"' in done and "/p/models/m/doctype?version=1" in done

    status, _, page = await editor.get("/p/models/m/doctype")
    assert status == 200 and "Confusion matrix" in page
    version = await paperchain_models.service.service_for(site.kernel).registry.get("doctype", 1, tenant="acme")
    matrix = version.metrics["holdout"]["confusion_matrix"]
    table = page.split('class="confusion"', 1)[1].split("</table>", 1)[0]
    cells = [int(n) for n in re.findall(r'data-heat="\d+">(\d+)<', table)]
    assert cells == [n for row in matrix["matrix"] for n in row]  # the registry's own figures, in order
    assert all(f"<th scope=\"col\">{label}</th>" in table for label in matrix["labels"])
    assert re.search(r'class="heat-\d+ diagonal"', table) and 'style=' not in page
    assert "static/p/models/models.css" in page

    # A second version straight into production, then version 1 promoted over it and rolled back.
    token = await editor.csrf("/p/models/m/doctype")
    status, headers, _ = await editor.post("/p/models/train", {"csrf": token, "name": "doctype", "field": "tags",
                                                               "algorithm": "svm", "promote": "on"})
    assert 'data-status="succeeded"' in await trained(editor, headers["Location"])
    status, headers, _ = await editor.post("/p/models/m/doctype/versions/1/promote",
                                           {"csrf": token, "stage": "production"})
    assert status == 303
    stages = await paperchain_models.service.service_for(site.kernel).registry.versions("doctype", tenant="acme")
    assert [(v.version, v.stage) for v in stages] == [(1, "production"), (2, "archived")]
    status, headers, _ = await editor.post("/p/models/m/doctype/rollback", {"csrf": token, "stage": "production"})
    assert status == 303 and headers["Location"].endswith("?version=2")
    _, _, page = await editor.get("/p/models/m/doctype")
    row = re.search(r'<tr data-version="2".*?</tr>', page, re.DOTALL).group(0)
    assert '<span class="chip state-succeeded">production</span>' in row

    # Only an admin deletes a version (not the one in production).
    assert ">Delete<" not in page
    assert (await editor.post("/p/models/m/doctype/versions/1/delete", {"csrf": token}))[0] == 403
    await site.state.accounts.create_user("acme-admin", PASSWORD, "admin", "acme")
    admin = await site.login("acme-admin")
    _, _, page = await admin.get("/p/models/m/doctype")
    assert page.count(">Delete<") == 1  # version 1; version 2 is in production
    status, headers, _ = await admin.post("/p/models/m/doctype/versions/1/delete", {"csrf": await admin.csrf()})
    assert status == 303 and headers["Location"] == "/p/models/m/doctype"
    _, _, page = await admin.get("/p/models/m/doctype")
    assert 'data-version="1"' not in page and 'data-version="2"' in page

    # acme's viewer reads it all, with no write control; a forged POST of theirs is refused.
    viewer = await site.login("acme-viewer")
    status, _, page = await viewer.get("/p/models/m/doctype")
    assert status == 200 and "Confusion matrix" in page and "<form" not in main(page)
    _, _, listing = await viewer.get("/p/models")
    assert 'data-model="doctype"' in listing and "<form" not in main(listing)
    forged = await viewer.post("/p/models/m/doctype/rollback", {"csrf": await viewer.csrf("/p/models")})
    assert forged[0] == 403
    # Without the token, even acme's editor is refused.
    assert (await editor.post("/p/models/m/doctype/rollback", {"stage": "production"}))[0] == 403

    # The operator (no tenant) sees every tenant's models, named TENANT:NAME.
    operator = await site.login("ada")
    _, _, everything = await operator.get("/p/models")
    assert 'data-model="acme:doctype"' in everything and 'href="/p/models/m/acme%3Adoctype"' in everything
    status, _, page = await operator.get("/p/models/m/acme%3Adoctype")
    assert status == 200 and 'data-version="2"' in page

    # globex sees no such model: the page, a promotion and a job are 404s.
    other = await site.login("globex-ed")
    _, _, theirs = await other.get("/p/models")
    assert "data-model=" not in theirs
    assert (await other.get("/p/models/m/doctype"))[0] == 404
    other_token = await other.csrf("/p/models")
    assert (await other.post("/p/models/m/doctype/versions/1/promote", {"csrf": other_token}))[0] == 404
    assert (await other.get(job_url))[0] == 404
    audit = (await site.request("GET", "/api/v1/audit?actor=acme-ed")).json["items"]
    assert {"POST /p/models/train", "POST /p/models/m/{name}/versions/{version}/promote",
            "POST /p/models/m/{name}/rollback"} <= {e["action"] for e in audit}
    deleted = (await site.request("GET", "/api/v1/audit?actor=acme-admin")).json["items"]
    assert [e["outcome"] for e in deleted if e["action"] == "POST /p/models/m/{name}/versions/{version}/delete"] \
        == ["success"]


async def test_bad_training_requests_are_explained(site):
    editor = await site.login("acme-ed", "es")
    token = await editor.csrf("/p/models")
    status, _, page = await editor.post("/p/models/train", {"csrf": token, "name": "doctype", "algorithm": "forest"},
                                        follow=True)
    assert status == 400 and "Elija uno de los algoritmos" in page
    status, _, page = await editor.post("/p/models/train", {"csrf": token, "name": "doctype", "field": "colour"})
    assert status == 400 and "metadata.CLAVE" in page
    status, _, page = await editor.post("/p/models/train", {"csrf": token, "name": "Bad Name!"})
    assert status == 400 and "Bad Name!" in page
    assert (await editor.get("/p/models/m/nothing"))[0] == 404
    _, _, listing = await editor.get("/p/models")
    assert "Modelos" in listing and "Entrenar un modelo" in listing


async def test_starring_on_the_document_page_feeds_the_home_recommendations(site):
    viewer = await site.login("acme-viewer")
    first = site.ids[0]
    status, _, panel = await viewer.get(f"/slots/document.side?document={first}")
    assert status == 200 and "Star this document" in panel
    assert (await viewer.post(f"/p/models/documents/{first}/star", {}))[0] == 403  # no CSRF token
    token = await viewer.csrf("/")
    status, headers, _ = await viewer.post(f"/p/models/documents/{first}/star", {"csrf": token})
    assert status == 303 and headers["Location"] == f"/documents/{first}"
    assert (await viewer.post(f"/p/models/documents/{first}/star", {"csrf": token}))[0] == 303  # again: no-op
    _, _, panel = await viewer.get(f"/slots/document.side?document={first}")
    assert "You starred this document" in panel and "Star this document" not in panel
    reader_token = await site.user("acme-reader-api", "viewer", tenant="acme")
    for document in site.ids[1:3]:  # another acme user stars two more through the API
        reply = await site.request("POST", "/api/v1/models/interactions", token=reader_token,
                                   json={"document": document, "kind": "starred"})
        assert reply.status == 201, reply

    _, _, home = await viewer.get("/")
    assert "/slots/home.widgets" in home
    status, _, widget = await viewer.get("/slots/home.widgets")
    assert status == 200 and "Recommended for you" in widget
    shown = re.findall(r'href="/documents/([0-9a-f]+)"', widget)
    assert shown and set(shown) <= set(site.ids) and len(shown) <= 5
    # globex can neither star acme's document nor be recommended one.
    other = await site.login("globex-ed")
    assert (await other.post(f"/p/models/documents/{first}/star", {"csrf": await other.csrf("/")}))[0] == 404
    _, _, theirs = await other.get("/slots/home.widgets")
    assert "Recommended for you" in theirs and not re.findall(r'href="/documents/', theirs)
