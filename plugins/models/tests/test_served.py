"""An imported ONNX model serving predictions through the real API server (auth, roles, limits)."""

import paperchain_models


async def test_import_and_predict_through_the_server(paperchain_api, onnx_linear):
    api = await paperchain_api(paperchain_models, api={"max_upload": 10_000_000})
    viewer = await api.user("vic", "viewer")
    model = onnx_linear([[1, 0], [0, 2], [1, 1]], [0.5, -1])
    octet = {"Content-Type": "application/octet-stream"}
    refused = await api.request("POST", "/api/v1/models/registry/linear/versions", data=model, headers=octet,
                                token=viewer)
    assert refused.status == 403  # importing a model is an editor's change
    made = await api.request("POST", "/api/v1/models/registry/linear/versions", data=model, headers=octet)
    assert made.status == 201, made
    predicted = await api.request("POST", "/api/v1/models/registry/linear/predict", token=viewer,
                                  json={"inputs": {"x": [[1, 2, 3]]}})
    assert predicted.status == 200, predicted
    assert predicted.json["predictions"][0]["values"]["y"] == [4.5, 6.0]
    wrong = await api.request("POST", "/api/v1/models/registry/linear/predict", json={"inputs": {"x": [[1, 2]]}})
    assert wrong.status == 400 and "must have shape [N, 3]" in wrong.json["error"]["message"]
    audit = (await api.request("GET", "/api/v1/audit")).json["items"]
    assert any(e["action"].startswith("POST /api/v1/models/registry") for e in audit)
