"""Importing an ONNX model from the models pages: the form's multipart upload with the session's CSRF
token in the header (what import.js sends), the same checks as the API's import, tenants and roles."""

from __future__ import annotations

import re

import aiohttp

import paperchain_models
from paperchain_sdk.testing.web import PASSWORD


def upload(data: bytes, **fields) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("file", data, filename="model.onnx", content_type="application/octet-stream")
    return form


async def test_import_an_onnx_model_from_the_registry_page(paperchain_site, onnx_linear):
    api = await paperchain_site(paperchain_models)
    for name, role, tenant in (("acme-ed", "editor", "acme"), ("acme-viewer", "viewer", "acme"),
                               ("globex-ed", "editor", "globex")):
        await api.state.accounts.create_user(name, PASSWORD, role, tenant)
    model = onnx_linear([[1, 0], [0, 2], [1, 1]], [0.5, -1])
    editor = await api.login("acme-ed")
    status, _, page = await editor.get("/p/models")
    assert status == 200 and 'data-import-onnx' in page and "p/models/import.js" in page
    token = re.search(r'"X-CSRF-Token": "([^"]+)"', page).group(1)

    status, headers, _ = await editor.post("/p/models/import", upload(model, name="scorer", labels="a, b"),
                                           headers={"X-CSRF-Token": token})
    assert status == 303 and headers["Location"] == "/p/models/m/scorer?version=1", headers
    status, _, shown = await editor.get(headers["Location"])
    assert status == 200 and "scorer" in shown and "onnx" in shown.lower()
    versions = await api.request("GET", "/api/v1/models/registry/scorer",
                                 token=await api.user("acme-api", "viewer", tenant="acme"))
    assert versions.status == 200 and versions.json["versions"][-1]["created_by"] == "acme-ed", versions.json
    # the model's page offers a new version's import
    assert 'data-import-onnx' in shown

    # not an ONNX file: the API's error, no version
    status, _, refused = await editor.post("/p/models/import", upload(b"not onnx at all", name="scorer"),
                                           headers={"X-CSRF-Token": token})
    assert status == 400 and 'id="error-message"' in refused
    # no file, or a bad name
    status, _, refused = await editor.post("/p/models/import", {"name": "scorer"}, headers={"X-CSRF-Token": token})
    assert status == 400 and "Choose an ONNX file" in refused
    status, _, refused = await editor.post("/p/models/import", upload(model, name="Bad Name!"),
                                           headers={"X-CSRF-Token": token})
    assert status == 400

    # the token only as a form field of the multipart body, or none: refused before the body is read
    assert (await editor.post("/p/models/import", upload(model, csrf=token, name="other")))[0] == 403
    assert (await editor.post("/p/models/import", upload(model, name="other"), origin=None,
                              headers={"X-CSRF-Token": token}))[0] == 403
    # a viewer cannot import, and sees no form
    viewer = await api.login("acme-viewer")
    status, _, page = await viewer.get("/p/models")
    assert status == 200 and "data-import-onnx" not in page
    viewer_token = re.search(r'"X-CSRF-Token": "([^"]+)"', page).group(1)
    assert (await viewer.post("/p/models/import", upload(model, name="other"),
                              headers={"X-CSRF-Token": viewer_token}))[0] == 403
    # another tenant neither sees it nor can add to it: its import makes its own model
    stranger = await api.login("globex-ed")
    _, _, page = await stranger.get("/p/models")
    assert 'data-model="scorer"' not in page
    assert (await stranger.get("/p/models/m/scorer"))[0] == 404
    versions = await api.request("GET", "/api/v1/models/registry/scorer",
                                 token=await api.user("acme-api2", "viewer", tenant="acme"))
    assert len(versions.json["versions"]) == 1


async def test_the_import_form_in_spanish(paperchain_site):
    api = await paperchain_site(paperchain_models)
    editor = await api.login("eddie", "es")
    status, _, page = await editor.get("/p/models")
    assert status == 200 and "Importar un modelo ONNX" in page and "Archivo ONNX" in page
