"""The quantum page in the web UI: submit a circuit or an algorithm as the API would, the tenant's jobs
and a job's counts; viewers read only, another tenant sees nothing, bad OpenQASM is shown at its field."""

from __future__ import annotations

import asyncio
import html
import json
import re

import pytest
from quantum_ui_support import BELL, quantum_plugin

from paperchain_sdk.testing.web import PASSWORD


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


@pytest.fixture
def served(paperchain_site):
    async def start():
        api = await paperchain_site(quantum_plugin())
        for name, role, tenant in (("acme-ed", "editor", "acme"), ("acme-viewer", "viewer", "acme"),
                                   ("globex-ed", "editor", "globex")):
            await api.state.accounts.create_user(name, PASSWORD, role, tenant)
        return api

    return start


async def finished(client, path: str) -> str:
    for _ in range(600):
        status, _, page = await client.get(path)
        assert status == 200, page
        if re.search(r'data-status="(succeeded|failed)"', page):
            return page
        await asyncio.sleep(0.05)
    raise TimeoutError(path)


async def test_submit_a_circuit_see_its_counts_and_tenants_stay_apart(served):
    api = await served()
    editor = await api.login("acme-ed")
    _, _, page = await editor.get("/p/quantum")
    status, headers, _ = await editor.post("/p/quantum/jobs", {"csrf": csrf(page), "algorithm": "", "circuit": BELL.replace("\n", "\r\n"),
                                                                "shots": "300"})
    assert status == 303, headers
    job_path = headers["Location"]
    job = job_path.rsplit("/", 1)[1]
    done = await finished(editor, job_path)
    assert 'data-status="succeeded"' in done
    counts = dict(re.findall(r'data-outcome="([01]+)"><td><code>[01]+</code></td><td>([\d,]+)</td>', done))
    assert set(counts) <= {"00", "11"} and sum(int(v) for v in counts.values()) == 300, counts
    # the page shows what the API answers
    token = await api.user("acme-api", "viewer", tenant="acme")
    api_counts = (await api.request("GET", f"/api/v1/quantum/jobs/{job}", token=token)).json["result"]["counts"]
    assert {k: int(v) for k, v in counts.items()} == next(iter(api_counts.values()))
    chart = json.loads(html.unescape(re.search(r"data-counts-chart='([^']+)'", done).group(1)))
    assert dict(zip(chart["outcomes"], chart["counts"], strict=True)) == next(iter(api_counts.values()))

    # an algorithm with its parameters
    status, headers, _ = await editor.post("/p/quantum/jobs", {"csrf": csrf(page), "algorithm": "shor",
                                                                "params": '{"number": 15}', "shots": "100"})
    assert status == 303
    shor = await finished(editor, headers["Location"])
    assert 'data-status="succeeded"' in shor and "factors" in shor and "[3, 5]" in shor

    # the viewer of the tenant reads the jobs and results but gets no form, and a forged POST is refused
    viewer = await api.login("acme-viewer")
    status, _, listed = await viewer.get("/p/quantum")
    assert status == 200 and job in listed and 'action="/p/quantum/jobs"' not in listed
    assert (await viewer.get(job_path))[0] == 200
    assert (await viewer.post("/p/quantum/jobs", {"csrf": csrf(listed), "circuit": BELL, "shots": "10"}))[0] == 403
    # without the CSRF token the editor's write is refused too
    assert (await editor.post("/p/quantum/jobs", {"circuit": BELL, "shots": "10"}))[0] == 403

    # another tenant: no jobs listed, and the job is a 404
    stranger = await api.login("globex-ed")
    status, _, theirs = await stranger.get("/p/quantum")
    assert status == 200 and job not in theirs and "No jobs yet." in theirs
    assert (await stranger.get(job_path))[0] == 404
    assert len((await api.request("GET", "/api/v1/quantum/jobs", token=token)).json["items"]) == 2


async def test_bad_input_is_shown_at_its_field(served):
    api = await served()
    editor = await api.login("acme-ed")
    token = await editor.csrf("/p/quantum")
    status, _, page = await editor.post("/p/quantum/jobs", {"csrf": token, "circuit": "OPENQASM 2.0;\nqreg q[2];\nfoo q[0];",
                                                             "shots": "10"})
    assert status == 400
    assert re.search(r'id="quantum-circuit"[^>]*aria-invalid="true"', page)
    error = re.search(r'<span class="field-error" id="error-circuit">([^<]+)</span>', page).group(1)
    assert "OpenQASM error" in error
    assert "foo q[0];" in page  # the text stays in the form to be fixed

    status, _, page = await editor.post("/p/quantum/jobs", {"csrf": token, "circuit": BELL, "shots": "0"})
    assert status == 400 and 'id="error-shots"' in page
    status, _, page = await editor.post("/p/quantum/jobs", {"csrf": token, "algorithm": "shor", "params": "[1]"})
    assert status == 400 and 'id="error-params"' in page
    status, _, page = await editor.post("/p/quantum/jobs", {"csrf": token, "algorithm": "shor",
                                                             "params": '{"colour": 1}'})
    assert status == 400 and re.search(r'id="error-params">params: shor takes no parameter colour', page)
    status, _, page = await editor.post("/p/quantum/jobs", {"csrf": token, "algorithm": "nope", "shots": "5"})
    assert status == 400 and 'id="error-algorithm"' in page
    token_api = await api.user("acme-api", "viewer", tenant="acme")
    assert (await api.request("GET", "/api/v1/quantum/jobs", token=token_api)).json["items"] == []


async def test_the_page_in_spanish(served):
    api = await served()
    editor = await api.login("acme-ed", "es")
    status, _, page = await editor.get("/p/quantum")
    assert status == 200
    assert "Trabajos cuánticos" in page and "Enviar un trabajo" in page and "Aún no hay trabajos." in page
    status, _, page = await editor.post("/p/quantum/jobs", {"csrf": csrf(page), "circuit": BELL, "shots": "x"})
    assert status == 400 and "Los disparos son un número entero" in page
