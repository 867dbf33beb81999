"""The API routes on the kernel's real server: authentication, tenants, background jobs, 400s naming the field."""

from __future__ import annotations

import asyncio
import json

from paperchain_quantum import hooks
from paperchain_quantum.routes import routes
from paperchain_sdk.web import endpoint_doc

GHZ = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[3];\ncreg c[3];\nh q[0];\ncx q[0],q[1];\ncx q[1],q[2];\nmeasure q[0] -> c[0];\n'


def test_every_route_is_documented_with_a_role():
    for route in routes:
        doc = endpoint_doc(route.handler)
        assert route.path.startswith("/api/v1/quantum/") and doc.summary and doc.role and not doc.public


async def wait_job(api, job, token, timeout=30.0):
    for _ in range(int(timeout / 0.05)):
        reply = await api.request("GET", f"/api/v1/quantum/jobs/{job}", token=token)
        if reply.json["status"] not in ("queued", "running"):
            return reply.json
        await asyncio.sleep(0.05)
    raise TimeoutError(job)


async def test_jobs_run_in_the_background_and_stay_in_their_tenant(paperchain_api):
    api = await paperchain_api(hooks)
    acme = await api.user("ann", "editor", tenant="acme")
    acme_viewer = await api.user("vic", "viewer", tenant="acme")
    globex = await api.user("gus", "admin", tenant="globex")

    reply = await api.request("POST", "/api/v1/quantum/jobs", json={"circuit": GHZ, "shots": 200, "seed": 3}, token=acme)
    assert reply.status == 202, reply
    job = reply.json["job"]
    done = await wait_job(api, job, acme)
    assert done["status"] == "succeeded", done
    assert sum(done["result"]["counts"]["c_0"].values()) == 200 and done["created_by"] == "ann"
    png = await api.request("GET", f"/api/v1/quantum/jobs/{job}/histogram.png", token=acme_viewer)
    assert png.status == 200 and png.body.startswith(b"\x89PNG")

    shor = await api.request("POST", "/api/v1/quantum/jobs", json={"algorithm": "shor", "params": {"number": 15}},
                             token=acme)
    assert (await wait_job(api, shor.json["job"], acme))["result"]["factors"] == [3, 5]
    listed = await api.request("GET", "/api/v1/quantum/jobs", token=acme_viewer)
    assert {j["job"] for j in listed.json["items"]} == {job, shor.json["job"]}

    # another tenant: the same 404 as for a job that does not exist, and an empty list
    for path in (f"/api/v1/quantum/jobs/{job}", f"/api/v1/quantum/jobs/{job}/histogram.png"):
        theirs = await api.request("GET", path, token=globex)
        missing = await api.request("GET", path.replace(job, "qj_0000000000000000"), token=globex)
        assert theirs.status == missing.status == 404
        assert theirs.body.replace(job.encode(), b"?") == missing.body.replace(b"qj_0000000000000000", b"?")
    assert (await api.request("GET", "/api/v1/quantum/jobs", token=globex)).json["items"] == []

    # a viewer may read but not submit
    assert (await api.request("POST", "/api/v1/quantum/jobs", json={"circuit": GHZ}, token=acme_viewer)).status == 403


async def test_bad_input_answers_400_naming_the_field(paperchain_api):
    api = await paperchain_api(hooks)
    editor = await api.user("ed", "editor", tenant="acme")
    cases = [
        ({}, "exactly one of circuit or algorithm"),
        ({"circuit": GHZ, "algorithm": "shor"}, "exactly one of circuit or algorithm"),
        ({"circuit": 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\nfoo q[0];\n'}, "line 4"),
        ({"circuit": '{"qubits": 2, "gates": [{"gate": "cx", "targets": [0, 5]}]}'}, "circuit: gates[0] (cx): targets"),
        ({"circuit": json.dumps({"qubits": 30, "gates": [{"gate": "h", "targets": [i]} for i in range(30)]})},
         "circuit has 30 qubits; at most 24 are allowed here"),
        ({"algorithm": "teleport"}, "algorithm 'teleport' is unknown"),
        ({"algorithm": "shor", "params": {"n": 15}}, "params: shor takes no parameter n"),
        ({"circuit": GHZ, "shots": 0}, "shots"),
        ({"circuit": GHZ, "backend": "qiskit"}, "backend"),
    ]
    for body, says in cases:
        reply = await api.request("POST", "/api/v1/quantum/jobs", json=body, token=editor)
        assert reply.status == 400, (body, reply)
        assert says in reply.json["error"]["message"], (body, reply.json)
    reply = await api.request("GET", "/api/v1/quantum/jobs?limit=zero", token=editor)
    assert reply.status == 400 and "limit" in reply.json["error"]["message"]


async def test_a_failing_job_records_why(paperchain_api):
    api = await paperchain_api(hooks)
    editor = await api.user("ed", "editor", tenant="acme")
    reply = await api.request("POST", "/api/v1/quantum/jobs", json={"algorithm": "shor", "params": {"number": 27}},
                              token=editor)
    done = await wait_job(api, reply.json["job"], editor)
    assert done["status"] == "failed" and "prime power" in done["error"]


async def test_job_bounds_come_from_the_deployment_settings(paperchain_api):
    config = {"components": {"quantum.run": {"job_max_qubits": 2, "job_max_shots": 50, "max_gates": 3}}}
    api = await paperchain_api(hooks, config=config)
    editor = await api.user("ed", "editor", tenant="acme")
    for body, says in [({"circuit": GHZ, "shots": 10}, "circuit has 3 qubits; at most 2"),
                       ({"circuit": GHZ, "shots": 51}, "shots is 51; jobs may take at most 50"),
                       ({"circuit": json.dumps({"qubits": 1, "gates": [{"gate": "h", "targets": [0]}] * 4}), "shots": 10},
                        "circuit has 4 operations; at most 3")]:
        reply = await api.request("POST", "/api/v1/quantum/jobs", json=body, token=editor)
        assert reply.status == 400 and says in reply.json["error"]["message"], (body, reply)
