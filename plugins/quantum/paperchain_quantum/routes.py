"""HTTP routes under /api/v1/quantum/ (mounted by the kernel's authenticated server).

Jobs belong to the caller's tenant: another tenant's job answers 404, as an absent one does.
"""

from __future__ import annotations

import attrs
from aiohttp import web

from paperchain_sdk import web as pweb
from paperchain_sdk.settings import between

from . import jobs

PREFIX = "/api/v1/quantum"


@pweb.endpoint(summary="Submit a circuit (OpenQASM 2.0, Cirq JSON or a JSON gate list) or an algorithm; "
                       "it runs in the background and the answer is the job's id", role="editor", status=202,
               request=jobs.JobRequest, tags=("quantum",))
async def submit(request):
    body = await pweb.read_json(request, jobs.JobRequest)
    caller = pweb.principal(request)
    answer = await jobs.current(pweb.kernel_of(request)).submit(body, tenant=caller.tenant, by=caller.name)
    return web.json_response(answer, status=202)


@attrs.define
class JobsQuery:
    limit: int = attrs.field(default=50, validator=between(1, 500))


@pweb.endpoint(summary="The caller's tenant's quantum jobs, newest first (status, no results)", role="viewer",
               query=JobsQuery, tags=("quantum",))
async def list_jobs(request):
    limit = pweb.read_query(request, JobsQuery).limit
    items = await jobs.current(pweb.kernel_of(request)).list(pweb.principal(request).tenant, limit)
    return web.json_response({"items": items})


@pweb.endpoint(summary="A quantum job's status and, once it succeeded, its result", role="viewer", tags=("quantum",))
async def job(request):
    answer = await jobs.current(pweb.kernel_of(request)).get(request.match_info["job"], pweb.principal(request).tenant)
    return web.json_response(answer)


@pweb.endpoint(summary="A finished quantum job's counts histogram (PNG)", role="viewer", produces="image/png",
               tags=("quantum",))
async def histogram(request):
    data = await jobs.current(pweb.kernel_of(request)).histogram(request.match_info["job"], pweb.principal(request).tenant)
    return web.Response(body=data, content_type="image/png")


@pweb.endpoint(summary="The algorithms a job may name, with their parameters", role="viewer", tags=("quantum",))
async def algorithms(request):
    import inspect

    from .algorithms import ALGORITHMS

    return web.json_response({"items": [
        {"name": name, "summary": summary, "params": list(inspect.signature(function).parameters)}
        for name, (function, summary) in ALGORITHMS.items()]})


routes = [  # the route table
    web.post(f"{PREFIX}/jobs", submit),
    web.get(f"{PREFIX}/jobs", list_jobs),
    web.get(f"{PREFIX}/jobs/{{job}}", job),
    web.get(f"{PREFIX}/jobs/{{job}}/histogram.png", histogram),
    web.get(f"{PREFIX}/algorithms", algorithms),
]
