"""Metrics, the OpenAPI document (with plugin routes) and its schemathesis check."""

import pytest


async def test_metrics_in_prometheus_format(api):
    await api.request("GET", "/api/v1/documents")
    reply = await api.request("GET", "/metrics")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/plain")
    text = reply.body.decode()
    assert 'paperchain_http_requests_total{method="GET",route="/api/v1/documents",status="200"}' in text
    for name in ("paperchain_http_request_seconds_bucket", "paperchain_runs_queued", "paperchain_plugin_load_failures"):
        assert name in text


async def test_openapi_is_generated_from_routes_and_classes(api):
    spec = (await api.request("GET", "/api/v1/openapi.json", token=None)).json
    assert spec["openapi"] == "3.1.0"
    assert "/api/v1/test/whoami" in spec["paths"]  # a plugin's route
    upload = spec["paths"]["/api/v1/documents"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    run_start = spec["components"]["schemas"]["RunStart"]
    assert run_start["required"] == ["workflow"] and run_start["properties"]["documents"]["type"] == "array"
    assert spec["paths"]["/health"]["get"].get("security") is None
    assert spec["paths"]["/api/v1/runs"]["get"]["security"]


@pytest.mark.slow
def test_schemathesis_finds_no_server_errors_or_schema_violations(tmp_path):
    """Run schemathesis against a real server: no 5xx and answers that match the document."""
    import subprocess
    import sys

    from kernel_support import REPO

    result = subprocess.run([sys.executable, str(REPO / "tests" / "api" / "schemathesis_run.py"), str(tmp_path)],
                            capture_output=True, text=True, timeout=540)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


async def test_components_filter_by_kind(api):
    every = (await api.request("GET", "/api/v1/components")).json["items"]
    actions = (await api.request("GET", "/api/v1/components?kind=action")).json["items"]
    assert actions and {c["kind"] for c in actions} == {"action"}
    assert len(actions) < len(every)
    assert [c["name"] for c in actions] == [c["name"] for c in every if c["kind"] == "action"]


@pytest.mark.parametrize("kind", ["actions", ""])
async def test_an_unknown_component_kind_answers_400_listing_the_kinds(api, kind):
    reply = await api.request("GET", f"/api/v1/components?kind={kind}")
    assert reply.status == 400, reply
    message = reply.json["error"]["message"]
    assert all(k in message for k in ("trigger", "action", "exporter", "analyzer", "model", "ledger", "notifier"))
