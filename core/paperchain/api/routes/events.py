"""Live events over a WebSocket (``/api/v1/events``) and Server-Sent Events (``/api/v1/events/stream``).

WebSocket protocol (JSON text frames):
  client: {"type": "auth", "token": "<JWT or API key>"}     (unless an Authorization header or, from a
          page of the web UI on this origin, its session cookie was sent)
  client: {"type": "subscribe", "topics": ["runs", "run:<id>"], "since": 41}
  server: {"type": "subscribed", "topics": [...], "seq": <latest sequence>}
  server: CloudEvents 1.0 JSON, one per frame, in sequence order ("sequence" is the cursor)
  server: {"type": "heartbeat", "seq": <latest>} every few seconds
  server: {"type": "error", "message": ...}; a client that falls behind is closed (code 4008) and
          should reconnect with "since" = the last sequence it received.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import WSMsgType, web

from paperchain_sdk import InputError, PaperchainError
from paperchain_sdk.web import PRINCIPAL_KEY, endpoint, parse_int

from ...web.sessions import COOKIE as SESSION_COOKIE
from ...web.sessions import session_principal
from ..accounts import AuthError
from ..errors import ApiError
from ..guard import API_HEADERS
from ..schemas import EventsQuery
from .common import query, state

routes = web.RouteTableDef()
SLOW_CLIENT = 4008
_AUTH_SECONDS = 10


@routes.get("/api/v1/events")
@endpoint(summary="WebSocket of live events (CloudEvents JSON); authenticate, subscribe to topics, resume with 'since'",
          public=True, tags=("events",))
async def websocket(request):
    s = state(request)
    ws = web.WebSocketResponse(heartbeat=s.settings.heartbeat, max_msg_size=64 * 1024)
    await ws.prepare(request)
    who = None
    if request.headers.get("Authorization") or request.headers.get("X-API-Key"):
        try:
            who = s.accounts.authenticate(request.headers.get("Authorization"), request.headers.get("X-API-Key"))
        except AuthError as exc:
            await _refuse(ws, str(exc))
            return ws
    elif request.cookies.get(SESSION_COOKIE):  # a page of the web UI: its session, from our own origin only
        try:
            who = await session_principal(request)
        except AuthError as exc:
            await _refuse(ws, str(exc))
            return ws
    sub = sender = None
    try:
        while True:
            try:
                msg = await ws.receive(timeout=_AUTH_SECONDS if who is None else None)
            except TimeoutError:
                await _refuse(ws, "authenticate within 10 seconds: send {\"type\": \"auth\", \"token\": ...}")
                break
            if msg.type != WSMsgType.TEXT:
                break
            try:
                message = json.loads(msg.data)
                if not isinstance(message, dict):
                    raise ValueError
            except ValueError:
                await ws.send_json({"type": "error", "message": "send JSON objects, e.g. {\"type\": \"subscribe\", ...}"})
                continue
            kind = message.get("type")
            if kind == "auth":
                try:
                    who = s.accounts.authenticate(None, str(message.get("token", "")))
                except AuthError as exc:
                    await _refuse(ws, str(exc))
                    break
                await ws.send_json({"type": "authenticated", "name": who.name, "role": who.role})
            elif who is None:
                await _refuse(ws, "authenticate first: {\"type\": \"auth\", \"token\": ...}")
                break
            elif kind == "subscribe":
                if sub is not None:
                    s.hub.unsubscribe(sub)
                    sender.cancel()
                since = message.get("since")
                try:
                    if since is not None and (not isinstance(since, int) or since < 0):
                        raise InputError("since must be a sequence number (an integer >= 0).")
                    sub, backlog = await s.hub.subscribe(who, message.get("topics"), since)
                except PaperchainError as exc:
                    await ws.send_json({"type": "error", "message": str(exc)})
                    continue
                await ws.send_json({"type": "subscribed", "topics": sub.topics, "seq": s.hub.seq})
                sender = asyncio.create_task(_pump(ws, sub, backlog, s))
            elif kind == "unsubscribe" and sub is not None:
                s.hub.unsubscribe(sub)
                sender.cancel()
                sub = sender = None
                await ws.send_json({"type": "unsubscribed"})
            else:
                await ws.send_json({"type": "error", "message": f"unknown message type {kind!r}",
                                    "hint": "types: auth, subscribe, unsubscribe"})
    finally:
        if sub is not None:
            s.hub.unsubscribe(sub)
        if sender is not None:
            sender.cancel()
    return ws


async def _refuse(ws, message: str) -> None:
    await ws.send_json({"type": "error", "message": message})
    await ws.close(code=4001, message=b"unauthorized")


async def _pump(ws, sub, backlog, s) -> None:
    """Send the backlog, then live events (skipping any the backlog already held), then heartbeats.

    Whatever has queued up is sent in one go, so a burst of events costs one wake-up, not one each.
    """
    for _, encoded in backlog:
        await ws.send_str(encoded)
    queue = sub.queue
    while not ws.closed:
        try:
            items = [await asyncio.wait_for(queue.get(), s.settings.heartbeat)]
        except TimeoutError:
            await ws.send_json({"type": "heartbeat", "seq": s.hub.seq})
            continue
        while not queue.empty():
            items.append(queue.get_nowait())
        for item in items:
            if item is None:  # dropped for falling behind
                await ws.send_json({"type": "error", "message": "too slow: events were dropped; reconnect with since",
                                    "since": sub.last_seq})
                await ws.close(code=SLOW_CLIENT, message=b"too slow")
                return
            seq, encoded = item
            if seq <= sub.last_seq:
                continue
            sub.last_seq = seq
            await ws.send_str(encoded)


@routes.get("/api/v1/events/stream")
@endpoint(summary="Server-Sent Events fallback: ?topics=runs,run:<id>&since=N (or the Last-Event-ID header)",
          query=EventsQuery, produces="text/event-stream", tags=("events",))
async def sse(request):
    s = state(request)
    q = query(request, EventsQuery)
    since = q.since
    if since is None and request.headers.get("Last-Event-ID"):  # ASCII digits within 64 bits, else 400
        since = parse_int(request.headers["Last-Event-ID"], "the Last-Event-ID header")
    try:
        sub, backlog = await s.hub.subscribe(request[PRINCIPAL_KEY], [t for t in q.topics.split(",") if t], since)
    except PaperchainError as exc:
        raise ApiError(400, "invalid_input", str(exc)) from None
    # prepared here, before the guard sees it: the security headers go on now
    response = web.StreamResponse(headers={**API_HEADERS, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    try:
        for seq, encoded in backlog:
            await response.write(f"id: {seq}\nevent: cloudevent\ndata: {encoded}\n\n".encode())
        while True:
            try:
                item = await asyncio.wait_for(sub.queue.get(), s.settings.heartbeat)
            except TimeoutError:
                await response.write(b": heartbeat\n\n")
                continue
            if item is None:
                await response.write(f"event: dropped\ndata: {json.dumps({'since': sub.last_seq})}\n\n".encode())
                break
            seq, encoded = item
            if seq <= sub.last_seq:
                continue
            sub.last_seq = seq
            await response.write(f"id: {seq}\nevent: cloudevent\ndata: {encoded}\n\n".encode())
    except ConnectionResetError:
        pass  # the client went away
    finally:
        s.hub.unsubscribe(sub)
    return response
