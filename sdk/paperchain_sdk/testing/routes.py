"""A plugin's route table on a bare aiohttp app, for unit tests of its handlers.

``routes_app(kernel, routes)`` does the little the API server does around a plugin's handlers:
it holds the kernel for ``kernel_of(request)``, sets the caller (``X-Test-User`` and
``X-Test-Role`` headers, default an admin of no tenant) and answers a PaperchainError with the
server's status and JSON body. Authentication, roles, limits and audit are the real server's:
test those through the ``paperchain_api`` fixture.
"""

from __future__ import annotations

from typing import Any


def routes_app(kernel: Any, routes, *, user: str = "tester", role: str = "admin", tenant: str = ""):
    import importlib

    from aiohttp import web

    from paperchain_sdk import PaperchainError
    from paperchain_sdk.web import KERNEL_KEY, PRINCIPAL_KEY, Principal

    from_paperchain = importlib.import_module("paperchain.api.errors").from_paperchain  # the server's answers

    @web.middleware
    async def as_caller(request, handler):
        request[PRINCIPAL_KEY] = Principal(name=request.headers.get("X-Test-User", user),
                                           role=request.headers.get("X-Test-Role", role), tenant=tenant)
        try:
            return await handler(request)
        except PaperchainError as exc:
            return from_paperchain(exc).response()

    app = web.Application(middlewares=[as_caller])
    app[KERNEL_KEY] = kernel
    app.add_routes(routes)
    return app
