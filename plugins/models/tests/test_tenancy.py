"""Models are tenant-scoped: a tenant's caller sees, changes and trains on its own only.

Through the kernel's real server (authentication, tenants): two tenants each have a model named
``invoices``; one's model, versions and training jobs answer another the same 404 as a name that
exists nowhere; training reads only the tenant's own labeled documents; a model the operator
registers with no tenant is shared read-only.
"""

from __future__ import annotations

import asyncio
import secrets

import attrs
import pytest

import paperchain_models

pytestmark = pytest.mark.slow

OCTET = {"Content-Type": "application/octet-stream"}


def _texts(word: str) -> dict:
    """Inline training data whose vocabulary holds ``word``."""
    texts = [f"{word} invoice total amount due {i}" for i in range(4)] + [f"{word} recipe flour oven {i}" for i in range(4)]
    return {"task": "text", "texts": texts, "labels": ["invoice"] * 4 + ["recipe"] * 4, "cv_folds": 2}


async def _job(api, job_id: str, token: str) -> dict:
    for _ in range(300):
        job = (await api.request("GET", f"/api/v1/models/jobs/{job_id}", token=token)).json
        if job["status"] not in ("queued", "running"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(job)


async def _train(api, name: str, body: dict, token) -> dict:
    started = await api.request("POST", f"/api/v1/models/registry/{name}/train", json=body, token=token)
    assert started.status == 202, started
    job = await _job(api, started.json["job"], token)
    assert job["status"] == "succeeded", job
    return job


def _same(real, real_id: str, fake, fake_id: str) -> bool:
    hidden = real.body.replace(real_id.encode(), b"?")
    return real.status == fake.status and hidden == fake.body.replace(fake_id.encode(), b"?")


async def test_each_tenant_has_its_own_models_and_jobs(paperchain_api, onnx_linear):
    api = await paperchain_api(paperchain_models)
    acme = await api.user("alice", "admin", tenant="acme")
    globex = await api.user("bob", "admin", tenant="globex")
    acme_job = await _train(api, "invoices", _texts("zebra7731"), acme)
    globex_job = await _train(api, "invoices", _texts("okapi42"), globex)  # the same name, its own model
    for token, _job in ((acme, acme_job), (globex, globex_job)):
        listed = (await api.request("GET", "/api/v1/models/registry", token=token)).json["models"]
        assert [(m["name"], m["versions"]) for m in listed] == [("invoices", 1)], listed
        shown = (await api.request("GET", "/api/v1/models/registry/invoices", token=token)).json["versions"]
        assert [v["version"] for v in shown] == [1]
    # the operator sees both, and names a tenant's model as tenant:name
    everything = (await api.request("GET", "/api/v1/models/registry")).json["models"]
    assert sorted((m["tenant"], m["name"]) for m in everything) == [("acme", "invoices"), ("globex", "invoices")]
    theirs = await api.request("GET", "/api/v1/models/registry/acme:invoices")
    assert theirs.status == 200 and theirs.json["versions"][0]["tenant"] == "acme"

    await api.request("POST", "/api/v1/models/registry/invoices/versions/1/promote", json={"stage": "production"},
                      token=acme)
    nowhere = "m" + secrets.token_hex(4)
    for method, path, body in (("GET", "/api/v1/models/registry/{}", None),
                               ("POST", "/api/v1/models/registry/{}/predict", {"texts": ["zebra7731 total"]}),
                               ("POST", "/api/v1/models/registry/{}/rollback", None),
                               ("POST", "/api/v1/models/registry/{}/versions/1/promote", {"stage": "staging"}),
                               ("DELETE", "/api/v1/models/registry/{}/versions/1?force=true", None),
                               ("DELETE", "/api/v1/models/registry/{}?force=true", None)):
        # a third tenant: acme's and globex's `invoices` do not exist for it
        real = await api.request(method, path.format("invoices"), json=body, token=await _initech(api))
        fake = await api.request(method, path.format(nowhere), json=body, token=await _initech(api))
        assert real.status == 404 and _same(real, "invoices", fake, nowhere), (path, real, fake)
    # a job of another tenant answers like a job that never was
    real = await api.request("GET", f"/api/v1/models/jobs/{acme_job['id']}", token=globex)
    fake_id = secrets.token_hex(16)
    fake = await api.request("GET", f"/api/v1/models/jobs/{fake_id}", token=globex)
    assert real.status == 404 and _same(real, acme_job["id"], fake, fake_id), real
    # globex's deletes its own `invoices`; acme's stays in production
    assert (await api.request("DELETE", "/api/v1/models/registry/invoices?force=true", token=globex)).status == 200
    kept = (await api.request("GET", "/api/v1/models/registry/invoices", token=acme)).json["versions"]
    assert [(v["version"], v["stage"]) for v in kept] == [(1, "production")]
    predicted = await api.request("POST", "/api/v1/models/registry/invoices/predict", json={"texts": ["total due"]},
                                  token=acme)
    assert predicted.status == 200 and predicted.json["predictions"][0]["label"] == "invoice"


_INITECH: dict = {}


async def _initech(api) -> str:
    if api not in _INITECH:
        _INITECH.clear()
        _INITECH[api] = await api.user("carol", "admin", tenant="initech")
    return _INITECH[api]


async def test_an_operators_model_is_shared_read_only(paperchain_api, onnx_linear):
    api = await paperchain_api(paperchain_models)
    model = onnx_linear([[1, 0], [0, 1]], [0, 0])
    assert (await api.request("POST", "/api/v1/models/registry/shared/versions", data=model, headers=OCTET)).status == 201
    tenant = await api.user("dave", "admin", tenant="acme")
    listed = (await api.request("GET", "/api/v1/models/registry", token=tenant)).json["models"]
    assert [(m["name"], m["tenant"]) for m in listed] == [("shared", "")]
    used = await api.request("POST", "/api/v1/models/registry/shared/predict", json={"inputs": {"x": [1, 2]}}, token=tenant)
    assert used.status == 200 and used.json["predictions"][0]["values"]["y"] == [1.0, 2.0]
    for method, path in (("DELETE", "/api/v1/models/registry/shared?force=true"),
                         ("POST", "/api/v1/models/registry/shared/versions/1/promote")):
        refused = await api.request(method, path, json={"stage": "production"}, token=tenant)
        assert refused.status == 403 and "shared" in refused.json["error"]["message"], refused
    # a tenant's own version of the name shadows the shared one for it, never for others
    mine = onnx_linear([[2, 0], [0, 2]], [0, 0])
    assert (await api.request("POST", "/api/v1/models/registry/shared/versions", data=mine, headers=OCTET,
                              token=tenant)).status == 201
    used = await api.request("POST", "/api/v1/models/registry/shared/predict", json={"inputs": {"x": [1, 2]}}, token=tenant)
    assert used.json["predictions"][0]["values"]["y"] == [2.0, 4.0]
    other = await api.user("erin", "viewer", tenant="globex")
    used = await api.request("POST", "/api/v1/models/registry/shared/predict", json={"inputs": {"x": [1, 2]}}, token=other)
    assert used.json["predictions"][0]["values"]["y"] == [1.0, 2.0]


async def test_training_from_documents_reads_only_the_tenants_own(paperchain_api, text_maker):
    import random

    api = await paperchain_api(paperchain_models)
    acme = await api.user("alice", "editor", tenant="acme")
    globex = await api.user("bob", "editor", tenant="globex")
    rng = random.Random(0)
    for tenant, token, labels in (("acme", acme, ("invoice", "recipe")), ("globex", globex, ("contract", "recipe"))):
        for label in labels:
            for i in range(4):
                text = text_maker(label, rng) + f" {tenant}word"
                doc = await api.request("POST", f"/api/v1/documents?name={label}{i}.txt", data=text.encode(), token=token)
                assert doc.status == 201, doc
                stored = await api.kernel.documents.get(doc.json["id"])  # what a labeling step does: text and a tag
                await api.kernel.documents.update(attrs.evolve(stored, text=text, tags=(label,)))
    job = await _train(api, "doctype", {"task": "text", "field": "tags", "min_documents": 6, "cv_folds": 2}, globex)
    version = (await api.request("GET", "/api/v1/models/registry/doctype", token=globex)).json["versions"][0]
    assert version["labels"] == ["contract", "recipe"], version["labels"]  # none of acme's invoices
    assert version["training"]["examples"] == 8 and job["tenant"] == "globex"


async def test_steps_use_the_runs_tenants_models(paperchain_api):
    api = await paperchain_api(paperchain_models)
    acme = await api.user("alice", "editor", tenant="acme")
    globex = await api.user("bob", "editor", tenant="globex")
    await _train(api, "doctype", _texts("zebra7731"), acme)
    flow = {"name": "classify", "steps": [{"id": "text", "uses": "document.text"},
                                          {"id": "classify", "uses": "models.classify", "needs": ["text"],
                                           "with": {"model": "doctype"}}]}
    outcomes = {}
    for tenant, token in (("acme", acme), ("globex", globex)):
        assert (await api.request("POST", "/api/v1/workflows", json=flow, token=token)).status == 201
        doc = await api.request("POST", f"/api/v1/documents?name={tenant}.txt", data=b"invoice total amount due",
                                token=token)
        started = await api.request("POST", "/api/v1/runs", json={"workflow": "classify", "documents": [doc.json["id"]]},
                                    token=token)
        outcomes[tenant] = await api.wait_run(started.json["runs"][0])
    step = outcomes["acme"]["steps"][1]
    assert outcomes["acme"]["status"] == "succeeded" and step["outputs"]["label"] == "invoice", outcomes["acme"]
    assert outcomes["globex"]["status"] == "failed"  # acme's model does not exist for globex's run
    assert "no model 'doctype'" in str(outcomes["globex"]["steps"][1]), outcomes["globex"]["steps"][1]


async def test_recommender_evaluation_uses_only_the_callers_tenants_interactions(paperchain_api):
    """The evaluation reported figures (held-out interactions, users) of every tenant's users."""
    api = await paperchain_api(paperchain_models)
    acme = [await api.user(f"acme-{i}", "editor", tenant="acme") for i in range(3)]
    globex = await api.user("bob", "viewer", tenant="globex")
    docs = [(await api.request("POST", f"/api/v1/documents?name=a{i}.txt", data=f"acme paper {i}".encode(),
                               token=acme[0])).json["id"] for i in range(8)]
    for token in acme:
        for doc in docs[:6]:
            await api.request("POST", "/api/v1/models/interactions", json={"document": doc, "kind": "viewed"}, token=token)
    operator = await api.request("GET", "/api/v1/models/recommendations/evaluation?k=3")
    own = await api.request("GET", "/api/v1/models/recommendations/evaluation?k=3", token=acme[1])
    assert operator.status == own.status == 200 and own.json == operator.json  # acme's are all there are
    theirs = await api.request("GET", "/api/v1/models/recommendations/evaluation?k=3", token=globex)
    assert theirs.status == 400 and "too few interactions" in theirs.json["error"]["message"], theirs


def test_the_shell_is_the_operator_and_names_a_tenants_model_tenant_colon_name(tmp_path, onnx_linear):
    import json
    import os
    import subprocess
    import sys

    def cli(*args):
        env = {k: v for k, v in os.environ.items() if k != "PAPERCHAIN_CONFIG"}
        return subprocess.run([sys.executable, "-m", "paperchain", "models", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    (tmp_path / "m.onnx").write_bytes(onnx_linear([[1, 0], [0, 1]], [0, 0]))
    assert cli("import", "acme:mine", "m.onnx").returncode == 0
    assert cli("import", "shared", "m.onnx").returncode == 0
    listed = json.loads(cli("list").stdout)
    assert sorted((m["tenant"], m["name"], m["ref"]) for m in listed) == [("", "shared", "shared"),
                                                                         ("acme", "mine", "acme:mine")]
    shown = cli("show", "acme:mine")
    assert shown.returncode == 0 and json.loads(shown.stdout)[0]["tenant"] == "acme"
    missing = cli("show", "mine")  # the deployment has no model of its own by that name
    assert missing.returncode != 0 and "There is no model 'mine'" in missing.stdout + missing.stderr
