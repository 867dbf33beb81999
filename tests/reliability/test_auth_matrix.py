"""The auth matrix, generated from the served OpenAPI document of the full app (every installed
plugin): every protected operation refuses a caller without credentials, with a malformed token,
with an expired token, and with an unknown API key (401); every operation that needs more than
the viewer role refuses a viewer (403). The operations open to anyone, and the writes open to a
viewer, are listed here by hand, so a new one fails this test until someone decides it is meant.

The guard checks credentials and roles before a handler runs, so path parameters are
placeholders and bodies are empty: the answer must come before either matters.
"""

import re
import time

import jwt
import pytest

from paperchain.harness import ApiHarness

# Open to anyone: health checks, the document itself, logging in (with its second-factor steps),
# and signed webhooks (their handler checks the signature).
PUBLIC = {
    "GET /health", "GET /ready", "GET /api/v1/openapi.json",
    "POST /api/v1/auth/login", "POST /api/v1/auth/refresh",
    "POST /api/v1/auth/mfa", "POST /api/v1/auth/mfa/setup", "POST /api/v1/auth/mfa/confirm",
    "POST /hooks/{workflow}",
    "GET /api/v1/events",  # a WebSocket: it authenticates inside the socket (tests/api/test_events.py)
}
# Writes a viewer may make: about their own session, keys and second factor, or reads sent as POST.
VIEWER_WRITES = {
    "POST /api/v1/auth/logout", "POST /api/v1/auth/password", "DELETE /api/v1/auth/mfa",
    "POST /api/v1/auth/mfa/recovery-codes",
    "POST /api/v1/keys", "DELETE /api/v1/keys/{id}",  # their own keys only
    "POST /api/v1/workflows/validate", "POST /api/v1/ledger/verify",
    "POST /api/v1/models/interactions", "POST /api/v1/models/registry/{name}/predict",
    "POST /api/v1/notify/inbox/{id}/read",
    "POST /api/v1/ai/ask",  # a question (a read of the viewer's own tenant's documents), sent as a body
}
BAD_CREDENTIALS = {
    "none": {},
    "malformed bearer token": {"Authorization": "Bearer not-a-token"},
    "unknown API key": {"X-API-Key": "pck_0000000000000000_" + "x" * 43},
}
_WRITES = ("POST", "PUT", "PATCH", "DELETE")


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


async def _call(api, operation: str, headers: dict) -> int:
    method, path = operation.split(" ", 1)
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return (await api.request(method, _concrete(path), token=None, headers=headers, **body)).status


@pytest.mark.slow
async def test_every_operation_refuses_missing_bad_and_expired_credentials_and_viewers_on_writes(tmp_path):
    limits = {"rate": 100_000.0, "burst": 100_000, "ip_rate": 100_000.0, "ip_burst": 100_000}
    api = ApiHarness(None, data_dir=tmp_path, triggers=False, api=limits)  # None: every installed plugin
    await api.start()
    try:
        spec = (await api.request("GET", "/api/v1/openapi.json", token=None)).json
        roles = {f"{method.upper()} {path}": op.get("x-paperchain-role")
                 for path, ops in spec["paths"].items() for method, op in ops.items()}
        public = {op for op, role in roles.items() if role is None}
        assert public == PUBLIC, "public operations changed: add them to PUBLIC if they are meant to be"
        viewer_writes = {op for op, role in roles.items() if role == "viewer" and op.split()[0] in _WRITES}
        assert viewer_writes == VIEWER_WRITES, "writes open to viewers changed: list them if that is meant"
        assert len(roles) > 70  # every plugin's routes are in the document

        expired = jwt.encode({"sub": "admin", "role": "admin", "tenant": "", "typ": "access",
                              "iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600},
                             api.state.accounts.secret, algorithm="HS256")
        credentials = {**BAD_CREDENTIALS, "expired token": {"Authorization": f"Bearer {expired}"}}
        viewer = {"Authorization": f"Bearer {await api.user('vera', 'viewer')}"}
        wrong = []
        for operation, role in sorted(roles.items()):
            if role is None:
                continue
            for name, headers in credentials.items():
                if (status := await _call(api, operation, headers)) != 401:
                    wrong.append(f"{operation} with {name}: {status}, not 401")
            if role != "viewer" and (status := await _call(api, operation, viewer)) != 403:
                wrong.append(f"{operation} ({role}) as a viewer: {status}, not 403")
        assert not wrong, "\n".join(wrong)
    finally:
        await api.close()
