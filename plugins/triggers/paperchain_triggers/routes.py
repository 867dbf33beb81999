"""The webhook route, mounted by the API server (imports aiohttp: loaded only when routes are asked for)."""

from __future__ import annotations

import json
import time

from aiohttp import web

from paperchain_sdk import RunRequest
from paperchain_sdk.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER
from paperchain_sdk.web import endpoint, kernel_of

from .webhook import active_webhook


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "details": {}}}, status=status)


routes = web.RouteTableDef()


@routes.post("/hooks/{workflow}")
@endpoint(public=True, summary="Start a run of a workflow from a signed webhook (HMAC-SHA256)",
          status=202, tags=("triggers",), audit=False)
async def hook(request: web.Request) -> web.Response:
    workflow = request.match_info["workflow"]
    trigger = active_webhook(kernel_of(request), workflow)
    if trigger is None:
        return _error(404, "not_found", f"no webhook trigger is active for workflow {workflow!r}")
    if request.content_length is not None and request.content_length > trigger.settings.max_body:
        return _error(413, "too_large", f"the body exceeds {trigger.settings.max_body} bytes")
    body = await request.read()
    if len(body) > trigger.settings.max_body:
        return _error(413, "too_large", f"the body exceeds {trigger.settings.max_body} bytes")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    problem = trigger.verify(request.headers.get(TIMESTAMP_HEADER, ""), signature, body, time.time())
    if problem:
        return _error(401, "unauthenticated", problem)
    try:
        inputs = json.loads(body) if body.strip() else {}
    except ValueError as exc:
        return _error(400, "invalid_input", f"the body is not valid JSON: {exc}")
    if not isinstance(inputs, dict):
        return _error(400, "invalid_input", "the JSON body must be an object: its keys become the run's inputs")
    if not await trigger.store.claim_signature(signature, workflow, trigger.max_age * 2):
        return _error(409, "replay", "this signed request was already received (replay refused)")
    batch = await trigger.fire(RunRequest(workflow=workflow, inputs=inputs, source="trigger:webhook",
                                          idempotency_key=f"webhook:{workflow}:{signature}"))
    if batch is None:
        return _error(503, "unavailable", f"the run of {workflow!r} could not be started; see the server log")
    return web.json_response({"batch": batch, "status": "accepted"}, status=202)
