"""Checkpoints as C2SP signed notes (``tlog-checkpoint`` body, Ed25519 signatures).

A checkpoint reads::

    <origin>
    <tree size>
    <base64 root hash>

    — <key name> <base64(key id (4 bytes) || Ed25519 signature (64 bytes))>

The key id is the first 4 bytes of SHA-256(name || "\\n" || 0x01 || public key), and a verifier
key is written ``<name>+<key id hex>+<base64(0x01 || public key)>`` as the signed-note spec says.

Imports nothing of Paperchain: the stand-alone verifier uses it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

import attrs
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

ED25519 = 0x01
DASH = "\u2014"


class NoteError(ValueError):
    """A checkpoint or key could not be parsed, or its signature is not valid."""


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise NoteError(f"key name {name!r} is not valid: it needs at least one character, no spaces and no '+'")


@attrs.frozen
class VerifierKey:
    name: str
    public_key: bytes

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def __str__(self) -> str:
        return f"{self.name}+{self.id.hex()}+{base64.b64encode(bytes([ED25519]) + self.public_key).decode()}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        parts = text.strip().split("+", 2)  # base64 may hold "+"; the name may not
        if len(parts) != 3:
            raise NoteError("a verifier key reads <name>+<key id hex>+<base64 key>; this one has "
                            f"{len(parts)} part(s)")
        name, hex_id, encoded = parts
        _check_name(name)
        try:
            raw = base64.b64decode(encoded, validate=True)
            wanted = bytes.fromhex(hex_id)
        except (binascii.Error, ValueError):
            raise NoteError("the verifier key's id or key part is not valid hex/base64") from None
        if len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("the verifier key is not an Ed25519 key (0x01 followed by 32 bytes)")
        key = cls(name, raw[1:])
        if key.id != wanted:
            raise NoteError("the verifier key's id does not match its name and key")
        return key

    def verify(self, message: bytes, signature: bytes) -> bool:
        verifier = eddsa.new(eddsa.import_public_key(self.public_key), "rfc8032")
        try:
            verifier.verify(message, signature)
        except ValueError:
            return False
        return True


class Signer:
    """An Ed25519 signing key with its signed-note name."""

    def __init__(self, name: str, private_key: ECC.EccKey):
        _check_name(name)
        self.name = name
        self._key = private_key
        self._signer = eddsa.new(private_key, "rfc8032")
        self.verifier = VerifierKey(name, private_key.public_key().export_key(format="raw"))

    def sign(self, message: bytes) -> bytes:
        return self._signer.sign(message)


@attrs.frozen
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "\n".join(lines) + "\n"

    def sign(self, signer: Signer) -> str:
        body = self.body()
        sig = signer.sign(body.encode())
        return f"{body}\n{DASH} {signer.name} {base64.b64encode(signer.verifier.id + sig).decode()}\n"

    def as_dict(self) -> dict:
        return {"origin": self.origin, "tree_size": self.size, "root": base64.b64encode(self.root).decode()}


def parse_checkpoint_body(body: str) -> Checkpoint:
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("a checkpoint needs an origin line, a tree size line and a root hash line")
    origin, size_text, root_text, *extensions = lines[:-1]
    if not origin:
        raise NoteError("the checkpoint's origin line is empty")
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise NoteError(f"the checkpoint's tree size {size_text!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise NoteError("the checkpoint's root hash is not base64") from None
    if len(root) != 32:
        raise NoteError(f"the checkpoint's root hash has {len(root)} bytes, not 32")
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def open_checkpoint(note: str, key: VerifierKey) -> Checkpoint:
    """Parse a signed checkpoint and return it if ``key`` signed it; raise NoteError otherwise."""
    if not isinstance(note, str):
        raise NoteError("the checkpoint must be text")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteError("the checkpoint has no signature block (a blank line, then signature lines)")
    body, signature_block = note[:split + 1], note[split + 2:]
    checkpoint = parse_checkpoint_body(body)
    found_other = []
    for line in signature_block.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH:
            raise NoteError(f"malformed signature line {line!r}")
        _, name, encoded = parts
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise NoteError(f"the signature of {name!r} is not base64") from None
        if len(raw) < 5:
            raise NoteError(f"the signature of {name!r} is too short")
        if name == key.name and raw[:4] == key.id:
            if len(raw) != 68 or not key.verify(body.encode(), raw[4:]):
                raise NoteError(f"the signature of {name!r} on this checkpoint is not valid")
            return checkpoint
        found_other.append(name)
    others = ", ".join(found_other) or "none"
    raise NoteError(f"the checkpoint is not signed by the key {key.name!r} (signatures found: {others})")


def generate_signer(name: str) -> tuple[Signer, bytes]:
    """A new Ed25519 key; returns the signer and the private key as PKCS#8 PEM bytes."""
    key = ECC.generate(curve="ed25519")
    return Signer(name, key), key.export_key(format="PEM").encode()


def load_signer(name: str, pem: bytes) -> Signer:
    return Signer(name, ECC.import_key(pem))
