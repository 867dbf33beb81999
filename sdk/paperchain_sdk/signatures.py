"""Signed webhooks, one scheme for every plugin that sends or receives them.

A request carries ``X-Paperchain-Timestamp`` (Unix seconds) and ``X-Paperchain-Signature:
sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>." + body`` under a shared secret. Putting the
timestamp inside the signed bytes lets a receiver refuse old requests without trusting a header.

>>> sign("s3cret", 1700000000, b"{}")[:7]
'sha256='
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Paperchain-Signature"
TIMESTAMP_HEADER = "X-Paperchain-Timestamp"


def sign(secret: str | bytes, timestamp: str | int, body: bytes) -> str:
    """The signature header value a sender puts on a request."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def check_signature(secret: str | bytes, timestamp: str | None, signature: str | None, body: bytes, *,
                    now: float, max_age: float) -> str | None:
    """None if a request is authentic and within ``max_age`` seconds of ``now``, else why not."""
    try:
        sent = float(timestamp)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"missing or malformed {TIMESTAMP_HEADER} header (Unix seconds expected)"
    if abs(now - sent) > max_age:
        return f"the request timestamp is outside the {int(max_age)}s window (old or clock skew)"
    if not signature or not hmac.compare_digest(sign(secret, timestamp, body), signature):  # type: ignore[arg-type]
        return f"the {SIGNATURE_HEADER} header does not match the body (HMAC-SHA256 of '<timestamp>.<body>')"
    return None
