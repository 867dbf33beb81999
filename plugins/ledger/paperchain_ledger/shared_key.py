"""The log's signing key kept in its database, sealed, for every process that appends to it.

Several API servers on one PostgreSQL database append to one log; each has its own data directory,
so a key file there would give each server a key of its own, and a checkpoint signed by one would
not verify against another's ``log.vkey``. The key is sealed (AES-256-GCM) with a secret of the
deployment (the kernel keyring's ``deployment_secret``, the same on every server of one database and
master key) and stored once in ``ledger_meta``; each server writes it to its own ``log.key``.
"""

from __future__ import annotations

import base64

from Crypto.Cipher import AES
from Crypto.Random import get_random_bytes

from paperchain_sdk import ConfigError

META_KEY = "signing_key"
PURPOSE = "ledger-signing-key"  # the deployment secret that seals it
_LABEL = b"paperchain ledger signing key"


def seal(pem: bytes, secret: bytes) -> str:
    nonce = get_random_bytes(12)
    cipher = AES.new(secret, AES.MODE_GCM, nonce=nonce)
    cipher.update(_LABEL)
    body, tag = cipher.encrypt_and_digest(pem)
    return base64.b64encode(nonce + tag + body).decode()


def unseal(sealed: str, secret: bytes) -> bytes:
    raw = base64.b64decode(sealed)
    cipher = AES.new(secret, AES.MODE_GCM, nonce=raw[:12])
    cipher.update(_LABEL)
    try:
        return cipher.decrypt_and_verify(raw[28:], raw[12:28])
    except ValueError:
        raise ConfigError("the ledger's signing key in the database cannot be opened with this deployment's "
                          "secret: this server has another master key than the one that stored it.",
                          hint="give every server of the deployment the same PAPERCHAIN_MASTER_KEY") from None
