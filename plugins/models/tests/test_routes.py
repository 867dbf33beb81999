"""The API routes on a bare aiohttp app on loopback (the real server adds authentication and audit)."""

from __future__ import annotations

import asyncio

import paperchain_models
from paperchain_sdk.web import endpoint_doc


def test_every_route_is_documented(paperchain_kernel):
    harness = paperchain_kernel(paperchain_models)
    for route in paperchain_models.paperchain_routes(harness.kernel):
        assert route.path.startswith("/api/v1/models/")
        assert endpoint_doc(route.handler).summary


def test_imported_onnx_model_serves_predictions(paperchain_kernel, onnx_linear, serve_routes):
    harness = paperchain_kernel(paperchain_models)
    model = onnx_linear([[1, 0], [0, 2], [1, 1]], [0.5, -1])
    octet = {"Content-Type": "application/octet-stream"}

    async def scenario(client):
        r = await client.post("/api/v1/models/registry/linear/versions", data=model, headers=octet)
        assert r.status == 201, await r.text()
        v1 = await r.json()
        assert v1["version"] == 1 and v1["created_by"] == "u"
        assert v1["inputs"] == [{"name": "x", "type": "tensor(float)", "shape": [None, 3]}]
        assert v1["outputs"] == [{"name": "y", "type": "tensor(float)", "shape": [None, 2]}]
        r = await client.post("/api/v1/models/registry/linear/predict", json={"inputs": {"x": [[1, 2, 3], [0, 0, 0]]}})
        body = await r.json()
        assert r.status == 200, body
        assert [p["values"]["y"] for p in body["predictions"]] == [[4.5, 6.0], [0.5, -1.0]]
        # one example without the batch axis
        r = await client.post("/api/v1/models/registry/linear/predict", json={"inputs": {"x": [1, 1, 1]}})
        assert (await r.json())["predictions"][0]["values"]["y"] == [2.5, 2.0]

        # wrong shapes and types: clear 400s, never a crash inside onnxruntime
        for inputs, says in [({"x": [[1, 2]]}, "must have shape [N, 3]"),
                             ({"x": [[[1, 2, 3]]]}, "must have 2 dimensions"),
                             ({"x": [["a", "b", "c"]]}, "takes numbers"),
                             ({"x": [[1, 2, 3], [1]]}, "not a rectangular array"),
                             ({"z": [[1, 2, 3]]}, "missing ['x'], unknown ['z']"),
                             ([1, 2, 3], "must be an object")]:
            r = await client.post("/api/v1/models/registry/linear/predict", json={"inputs": inputs})
            assert r.status == 400, inputs
            assert says in (await r.json())["error"]["message"]
        r = await client.post("/api/v1/models/registry/linear/predict", json={"texts": ["hello"]})
        assert r.status == 400 and "not a text model" in (await r.json())["error"]["message"]

        # versions, promotion, rollback, deletion
        r = await client.post("/api/v1/models/registry/linear/versions",
                              data=onnx_linear([[2, 0], [0, 2], [0, 0]], [0, 0]), headers=octet)
        assert (await r.json())["version"] == 2
        for version in (1, 2):
            r = await client.post(f"/api/v1/models/registry/linear/versions/{version}/promote", json={"stage": "production"})
            assert (await r.json())["stage"] == "production"
        r = await client.post("/api/v1/models/registry/linear/predict", json={"inputs": {"x": [1, 1, 1]}})
        assert (await r.json())["version"] == 2
        r = await client.post("/api/v1/models/registry/linear/rollback")
        assert (await r.json())["version"] == 1
        r = await client.post("/api/v1/models/registry/linear/predict", json={"inputs": {"x": [1, 1, 1]}})
        assert (await r.json())["version"] == 1
        r = await client.post("/api/v1/models/registry/linear/rollback")
        assert r.status == 409
        r = await client.delete("/api/v1/models/registry/linear/versions/1")
        assert r.status == 409 and "in production" in (await r.json())["error"]["message"]
        r = await client.delete("/api/v1/models/registry/linear/versions/2")
        assert (await r.json()) == {"deleted": [2]}
        r = await client.get("/api/v1/models/registry")
        assert (await r.json())["models"] == [{"name": "linear", "tenant": "", "ref": "linear", "versions": 1,
                                               "latest": 1, "production": 1, "staging": None}]
        r = await client.get("/api/v1/models/registry/nothing")
        assert r.status == 404

        # not an ONNX file
        r = await client.post("/api/v1/models/registry/bad/versions", data=b"not onnx at all", headers=octet)
        assert r.status == 400 and "not a valid ONNX model" in (await r.json())["error"]["message"]
        r = await client.post("/api/v1/models/registry/Bad Name!/versions", data=model, headers=octet)
        assert r.status == 400

    serve_routes(harness, scenario)


def test_training_runs_in_the_background_with_progress(labeled_kernel, serve_routes):
    events = []
    labeled_kernel.kernel.listeners.append(events.append)

    async def scenario(client):
        r = await client.post("/api/v1/models/registry/doctype/train", json={"task": "text", "field": "tags"})
        assert r.status == 202
        job_id = (await r.json())["job"]
        for _ in range(600):
            job = await (await client.get(f"/api/v1/models/jobs/{job_id}")).json()
            if job["status"] in ("succeeded", "failed"):
                break
            await asyncio.sleep(0.05)
        assert job["status"] == "succeeded", job
        assert job["version"] == 1 and job["progress"] == 1.0
        r = await client.post("/api/v1/models/registry/doctype/predict",
                              json={"texts": ["Bake the flour and sugar in the oven", "Invoice total amount due"]})
        predictions = (await r.json())["predictions"]
        assert [p["label"] for p in predictions] == ["recipe", "invoice"]
        assert set(predictions[0]["probabilities"]) == {"contract", "invoice", "recipe"}
        r = await client.post("/api/v1/models/registry/doctype/train", json={"task": "text", "field": "metadata.kind"})
        job_id = (await r.json())["job"]
        for _ in range(200):
            job = await (await client.get(f"/api/v1/models/jobs/{job_id}")).json()
            if job["status"] in ("succeeded", "failed"):
                break
            await asyncio.sleep(0.05)
        assert job["status"] == "failed" and "only 0 documents are labeled" in job["error"]

    serve_routes(labeled_kernel, scenario)
    progress = [e for e in events if e.type == "models.training.progress"]
    assert progress and all(0 <= e.data["progress"] <= 1 for e in progress)
    assert any(e.type == "models.training.succeeded" for e in events)


def test_training_without_scikit_learn_names_the_extra(paperchain_kernel, monkeypatch, serve_routes):
    import importlib.util

    harness = paperchain_kernel(paperchain_models)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else real(name, *a))

    async def scenario(client):
        r = await client.post("/api/v1/models/registry/m/train", json={"task": "text", "texts": [], "labels": []})
        assert r.status == 503
        return await r.json()

    body = serve_routes(harness, scenario)
    assert "sklearn" in body["error"]["message"]
    assert body["error"]["hint"] == "pip install 'paperchain-models[train]'"
