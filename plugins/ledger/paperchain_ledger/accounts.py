"""Account keys: Ed25519 pairs, private keys sealed with a passphrase (scrypt + AES-GCM).

A sealed key is JSON: the scrypt parameters and salt, the GCM nonce, ciphertext and tag. The
account id is bound to the ciphertext as associated data, so a sealed key cannot be moved to
another account unnoticed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets

from Crypto.Cipher import AES
from Crypto.Protocol.KDF import scrypt
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from paperchain_sdk import InputError, PermissionDenied

RECORD_DOMAIN = b"paperchain-ledger record/1\n"
SCRYPT_N = 1 << 15


def canonical(value) -> bytes:
    """The one byte form of a JSON value that is signed and logged."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def account_id(public_key: bytes, tenant: str = "") -> str:
    """A tenant's account id is keyed by its tenant, so one key registered in two tenants makes two
    unrelated accounts (and registering a key tells nothing of another tenant's accounts)."""
    keyed = tenant.encode() + b"\n" + public_key if tenant else public_key
    return "acct_" + hashlib.sha256(keyed).hexdigest()[:32]


def new_keypair() -> tuple[bytes, bytes]:
    """(private seed, public key), 32 bytes each."""
    key = ECC.generate(curve="ed25519")
    return key.seed, key.public_key().export_key(format="raw")


def public_from_seed(seed: bytes) -> bytes:
    return eddsa.import_private_key(seed).public_key().export_key(format="raw")


def seal(seed: bytes, passphrase: str, account: str, n: int = SCRYPT_N) -> str:
    if not isinstance(passphrase, str) or len(passphrase) < 8:
        raise InputError("the passphrase must be at least 8 characters.", hint="choose a longer passphrase")
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    key = scrypt(passphrase.encode(), salt, 32, N=n, r=8, p=1)
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
    cipher.update(account.encode())
    ciphertext, tag = cipher.encrypt_and_digest(seed)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return json.dumps({"kdf": "scrypt", "n": n, "r": 8, "p": 1, "salt": b64(salt), "nonce": b64(nonce),
                       "ciphertext": b64(ciphertext), "tag": b64(tag)})


def unseal(sealed: str | None, passphrase: str, account: str) -> bytes:
    if not sealed:
        raise PermissionDenied(f"account {account} keeps its private key elsewhere; the ledger cannot sign for it.",
                               hint="sign the record yourself and submit it with its signature")
    box = json.loads(sealed)
    key = scrypt(str(passphrase).encode(), base64.b64decode(box["salt"]), 32, N=box["n"], r=box["r"], p=box["p"])
    cipher = AES.new(key, AES.MODE_GCM, nonce=base64.b64decode(box["nonce"]))
    cipher.update(account.encode())
    try:
        return cipher.decrypt_and_verify(base64.b64decode(box["ciphertext"]), base64.b64decode(box["tag"]))
    except ValueError:
        raise PermissionDenied(f"wrong passphrase for account {account}.", hint="check the passphrase") from None


def sign_record(seed: bytes, record: dict) -> bytes:
    return eddsa.new(eddsa.import_private_key(seed), "rfc8032").sign(RECORD_DOMAIN + canonical(record))


def signature_valid(public_key: bytes, record: dict, signature: bytes) -> bool:
    try:
        eddsa.new(eddsa.import_public_key(public_key), "rfc8032").verify(RECORD_DOMAIN + canonical(record), signature)
    except ValueError:
        return False
    return True
