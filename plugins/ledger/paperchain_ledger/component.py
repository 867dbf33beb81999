"""The ledger component and the notarize / verify steps."""

from __future__ import annotations

import json

from paperchain_sdk import Artifact, InputError, Receipt, Result, sha256_file
from paperchain_sdk.contracts import Action, KernelBound, Ledger

from . import runtime
from .merkle import leaf_hash
from .verifier import verify_receipt

NAME = "ledger.merkle"


class MerkleLedger(KernelBound, Ledger):
    """An RFC 9162 log. ``append`` returns a Receipt whose ``data`` is the stand-alone receipt
    (entry, index, inclusion proof, signed checkpoint) and ``entry_hash`` the RFC leaf hash."""

    @property
    def book(self):
        return runtime.book_for_kernel(self.kernel)

    def append(self, entry: bytes) -> Receipt:
        if isinstance(entry, str):
            entry = entry.encode()
        receipt = self.book.log.append(bytes(entry))
        return Receipt(ledger=NAME, index=receipt["index"], entry_hash=leaf_hash(bytes(entry)).hex(), data=receipt)

    def prove(self, index: int, tree_size: int | None = None) -> dict:
        import base64

        log = self.book.log
        size = log.size if tree_size is None else tree_size
        proof = log.inclusion_proof(index, size)
        return {"index": index, "tree_size": size, "root": base64.b64encode(log.root(size)).decode(),
                "leaf_hash": base64.b64encode(leaf_hash(log.entry(index))).decode(),
                "inclusion_proof": [base64.b64encode(p).decode() for p in proof],
                "checkpoint": log.checkpoint_at(size)}

    def checkpoint(self) -> dict:
        import base64

        log = self.book.log
        size, root, note = log.latest()
        return {"origin": log.origin, "tree_size": size, "root": base64.b64encode(root).decode(), "note": note,
                "key": str(log.signer.verifier)}


class Notarize(KernelBound, Action):
    """Record the run's document: its SHA-256 (of the bytes), name, type, size and the run."""

    def run(self, ctx, inputs):
        doc = ctx.document
        if doc is None:
            raise InputError("ledger.notarize needs a document: run the workflow on a file.",
                             hint="e.g. `paperchain run workflow.toml invoice.pdf`")
        digest, size = sha256_file(doc.path)
        metadata = {"name": doc.name, "media_type": doc.media_type, "size": size, "workflow": ctx.workflow,
                    "run": ctx.run_id, "step": ctx.step_id, **(inputs.metadata if inputs else {})}
        book = runtime.book_for_kernel(self.kernel)
        receipt = book.notarize(digest, metadata, key=ctx.idempotency_key, tenant=ctx.tenant)
        summary = verify_receipt(receipt, str(book.log.signer.verifier))
        data = json.dumps(receipt, indent=2).encode()
        return Result(
            outputs={"sha256": digest, "index": receipt["index"], "tree_size": summary["tree_size"],
                     "root": summary["root"], "origin": summary["origin"]},
            artifacts=(Artifact(name=f"{doc.stem}.receipt.json", media_type="application/json", data=data,
                                metadata={"ledger": NAME, "index": receipt["index"], "sha256": digest}),),
        )


class Verify(KernelBound, Action):
    """Is this document (or digest) in the log? Answers with the entries and a checked receipt."""

    def run(self, ctx, inputs):
        digest = (inputs.sha256 if inputs else "").strip().lower()
        if not digest:
            if ctx.document is None:
                raise InputError("ledger.verify needs a document or a `sha256` to look for.",
                                 hint="set `with.sha256`, or run the workflow on a file")
            digest, _ = sha256_file(ctx.document.path)
        book = runtime.book_for_kernel(self.kernel)
        indexes = book.find_document(digest, tenant=ctx.tenant)  # the run's tenant: its own notarizations
        if not indexes:
            if inputs and inputs.fail_if_missing:
                raise InputError(f"document {digest} is not in the ledger.", hint="notarize it first with ledger.notarize")
            return {"found": False, "sha256": digest, "entries": []}
        receipt = book.log.receipt(indexes[0])
        summary = verify_receipt(receipt, str(book.log.signer.verifier))
        return {"found": True, "sha256": digest, "entries": indexes, "tree_size": summary["tree_size"],
                "root": summary["root"], "receipt": receipt}
