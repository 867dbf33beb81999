"""Stand-alone verification of receipts and checkpoints: no database, no server, no kernel.

Everything here needs only the receipt (or checkpoints and a proof) and the log's verifier key
(``<name>+<id>+<key>``, printed by ``paperchain ledger key``)::

    from paperchain_ledger.verifier import verify_receipt
    verify_receipt(json.load(open("receipt.json")), open("log.vkey").read())

Imports nothing of Paperchain (only this plugin's hashing and note modules).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from .merkle import ProofError, leaf_hash, verify_consistency, verify_inclusion
from .note import Checkpoint, NoteError, VerifierKey, open_checkpoint

RECEIPT_FORMAT = "paperchain-ledger-receipt/1"


class VerificationError(ValueError):
    """The receipt, checkpoint or proof is not valid; the message says which part and why."""


def _key(key: str | VerifierKey) -> VerifierKey:
    if isinstance(key, VerifierKey):
        return key
    try:
        return VerifierKey.parse(key)
    except NoteError as exc:
        raise VerificationError(f"the public key is not usable: {exc}") from None


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise VerificationError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise VerificationError(f"{what} is not valid base64") from None


def _proof(values: Any, what: str) -> list[bytes]:
    if values is None:
        return []
    if not isinstance(values, Sequence) or isinstance(values, (str, bytes)):
        raise VerificationError(f"{what} must be a list of base64 hashes")
    return [_b64(v, f"{what}[{i}]") for i, v in enumerate(values)]


def open_signed_checkpoint(note: str, key: str | VerifierKey) -> Checkpoint:
    """The checkpoint if ``key`` signed it; VerificationError otherwise (another key, bad note)."""
    try:
        return open_checkpoint(note, _key(key))
    except NoteError as exc:
        raise VerificationError(f"checkpoint refused: {exc}") from None


def verify_extension(earlier: str, later: str, proof: Any, key: str | VerifierKey) -> tuple[Checkpoint, Checkpoint]:
    """Check that the tree of checkpoint ``later`` extends the one of ``earlier`` (both signed by
    ``key``) with a consistency proof (base64 hashes). Returns both checkpoints."""
    key = _key(key)
    old, new = open_signed_checkpoint(earlier, key), open_signed_checkpoint(later, key)
    if old.origin != new.origin:
        raise VerificationError(f"the checkpoints are of different logs ({old.origin!r} and {new.origin!r})")
    if new.size < old.size:
        raise VerificationError(f"checkpoint refused: its tree ({new.size}) is smaller than the earlier one ({old.size})")
    if old.size == 0:
        return old, new  # every tree extends the empty one
    try:
        verify_consistency(old.size, new.size, old.root, new.root, _proof(proof, "the consistency proof"))
    except ProofError as exc:
        raise VerificationError(f"checkpoint refused: the tree of size {new.size} is not an extension of the "
                                f"earlier tree of size {old.size}: {exc}") from None
    return old, new


def load_receipt(receipt: Mapping | str | bytes) -> dict:
    if isinstance(receipt, (str, bytes)):
        try:
            receipt = json.loads(receipt)
        except ValueError as exc:
            raise VerificationError(f"the receipt is not JSON: {exc}") from None
    if not isinstance(receipt, Mapping):
        raise VerificationError("the receipt must be a JSON object")
    if receipt.get("format") != RECEIPT_FORMAT:
        raise VerificationError(f"the receipt's format is {receipt.get('format')!r}, expected {RECEIPT_FORMAT!r}")
    return dict(receipt)


def verify_receipt(receipt: Mapping | str | bytes, key: str | VerifierKey, *, earlier_checkpoint: str | None = None,
                   consistency_proof: Any = None) -> dict:
    """Verify a receipt offline: the checkpoint is signed by ``key`` and the entry is in its tree.

    With ``earlier_checkpoint`` (one you trusted before) and a ``consistency_proof`` from it to
    the receipt's checkpoint, also check that the log only grew in between.
    Returns a summary: index, tree size, root, origin and the entry's SHA-256.
    """
    data = load_receipt(receipt)
    key = _key(key)
    checkpoint = open_signed_checkpoint(data.get("checkpoint"), key)
    index = data.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise VerificationError("the receipt's index must be a whole number >= 0")
    entry = _b64(data.get("entry"), "the receipt's entry")
    proof = _proof(data.get("inclusion_proof"), "the inclusion proof")
    try:
        verify_inclusion(index, checkpoint.size, leaf_hash(entry), proof, checkpoint.root)
    except ProofError as exc:
        raise VerificationError(f"the entry is not proven to be in the log: {exc}") from None
    if earlier_checkpoint is not None:
        verify_extension(earlier_checkpoint, data["checkpoint"], consistency_proof, key)
    return {
        "index": index,
        "tree_size": checkpoint.size,
        "root": base64.b64encode(checkpoint.root).decode(),
        "origin": checkpoint.origin,
        "entry_sha256": hashlib.sha256(entry).hexdigest(),
    }
