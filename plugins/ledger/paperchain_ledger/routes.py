"""HTTP routes under ``/api/v1/ledger/`` (mounted by the API server, which adds auth and errors).

SQLite work runs in the default thread pool so the event loop never waits on an fsync.

Tenants: the tree itself (checkpoint, inclusion and consistency proofs by index) reveals only
hashes and answers every caller, as a transparency log does. What entries say (entries,
receipts, verify-by-hash, audit anchors, accounts, balances) answers a tenant's caller about its
own only; the operator (no tenant) sees all. See ``book`` for how ownership is kept.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from functools import partial
from typing import Any

import attrs
from aiohttp import web

from paperchain_sdk import InputError
from paperchain_sdk.settings import at_least
from paperchain_sdk.web import (
    decode_base64,
    endpoint,
    kernel_of,
    parse_int,
    principal,
    read_json,
    read_query,
)

from . import runtime
from .merkle import leaf_hash

PREFIX = "/api/v1/ledger"
TAGS = ("ledger",)


# -- request and response bodies (for the OpenAPI document) -----------------------------------


@attrs.define
class AppendRequest:
    text: str = ""  # the entry as UTF-8 text
    data_base64: str = ""  # or as base64 bytes


@attrs.define
class ReceiptResponse:
    format: str
    index: int
    entry: str  # base64
    inclusion_proof: list[str]
    checkpoint: str  # signed note


@attrs.define
class EntryResponse:
    index: int
    data_base64: str
    text: str | None
    leaf_hash: str


@attrs.define
class InclusionResponse:
    index: int
    tree_size: int
    leaf_hash: str
    root: str
    proof: list[str]


@attrs.define
class ConsistencyResponse:
    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str]


@attrs.define
class CheckpointResponse:
    origin: str
    tree_size: int
    root: str
    note: str
    key: str  # the verifier key: <name>+<id>+<base64 key>


@attrs.define
class AccountRequest:
    name: str
    passphrase: str | None = None  # the ledger generates and seals the key pair
    public_key: str | None = None  # or: base64 of an Ed25519 public key the owner keeps


@attrs.define
class AccountResponse:
    id: str
    name: str
    public_key: str
    balance: int
    nonce: int
    index: int
    created: str
    custodial: bool
    tenant: str = ""  # the tenant that owns it ('' for the no-tenant scope)


@attrs.define
class AccountList:
    accounts: list[AccountResponse]


@attrs.define
class BalancesResponse:
    balances: dict[str, int]


@attrs.define
class RecordRequest:
    """Either a record signed by its owner (``record`` + ``signature``), or a custodial account's
    ``account`` + ``passphrase`` + ``type`` + ``body`` for the ledger to sign with the next nonce."""

    record: dict[str, Any] | None = None
    signature: str | None = None
    account: str | None = None
    passphrase: str | None = None
    type: str | None = None
    body: dict[str, Any] | None = None


@attrs.define
class MintRequest:
    account: str
    amount: int
    memo: str = ""


@attrs.define
class VerifyRequest:
    sha256: str = ""  # the digest to look for
    data_base64: str = ""  # or the document's bytes


@attrs.define
class InclusionQuery:
    index: int = attrs.field(validator=at_least(0))
    tree_size: int | None = attrs.field(default=None, validator=attrs.validators.optional(at_least(0)))  # None: latest


@attrs.define
class ConsistencyQuery:
    first: int = attrs.field(validator=at_least(0))
    second: int | None = attrs.field(default=None, validator=attrs.validators.optional(at_least(0)))  # None: latest


@attrs.define
class VerifyResponse:
    found: bool
    sha256: str
    entries: list[int]
    receipt: ReceiptResponse | None = None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _index(request: web.Request) -> int:
    return parse_int(request.match_info["index"], "index")


async def call(request: web.Request, fn, *args, **kwargs):
    """``fn(book, ...)`` on a worker thread, with the log of the kernel serving ``request``."""
    book = runtime.book_for_kernel(kernel_of(request))
    return await asyncio.get_running_loop().run_in_executor(None, partial(fn, book, *args, **kwargs))


routes = web.RouteTableDef()


@routes.post(f"{PREFIX}/entries")
@endpoint(summary="Append an entry; answers its receipt", role="editor", request=AppendRequest,
          response=ReceiptResponse, status=201, tags=TAGS)
async def append(request):
    body = await read_json(request, AppendRequest)
    if bool(body.text) == bool(body.data_base64):
        raise InputError("give the entry as either `text` or `data_base64`")
    data = body.text.encode() if body.text else decode_base64(body.data_base64, "data_base64")
    tenant = principal(request).tenant
    return web.json_response(await call(request, lambda b: b.append(data, tenant=tenant)), status=201)


@routes.get(PREFIX + "/entries/{index}")
@endpoint(summary="One entry of the log", role="viewer", response=EntryResponse, tags=TAGS)
async def get_entry(request):
    index, tenant = _index(request), principal(request).tenant
    data = await call(request, lambda b: b.entry(index, tenant=tenant))
    try:
        text = data.decode()
    except UnicodeDecodeError:
        text = None
    return web.json_response({"index": index, "data_base64": _b64(data), "text": text,
                              "leaf_hash": _b64(leaf_hash(data))})


@routes.get(PREFIX + "/entries/{index}/receipt")
@endpoint(summary="A receipt for an entry against the latest checkpoint", role="viewer",
          response=ReceiptResponse, tags=TAGS)
async def get_receipt(request):
    index, tenant = _index(request), principal(request).tenant
    return web.json_response(await call(request, lambda b: b.receipt(index, tenant=tenant)))


@routes.get(f"{PREFIX}/proofs/inclusion")
@endpoint(summary="Inclusion proof of entry `index` in the tree of `tree_size` (default: latest)",
          role="viewer", query=InclusionQuery, response=InclusionResponse, tags=TAGS)
async def inclusion(request):
    asked = read_query(request, InclusionQuery)
    index, size = asked.index, asked.tree_size

    def prove(b):
        tree_size = b.log.size if size is None else size
        proof = b.log.inclusion_proof(index, tree_size)
        return {"index": index, "tree_size": tree_size, "leaf_hash": _b64(leaf_hash(b.log.entry(index))),
                "root": _b64(b.log.root(tree_size)), "proof": [_b64(p) for p in proof]}

    return web.json_response(await call(request, prove))


@routes.get(f"{PREFIX}/proofs/consistency")
@endpoint(summary="Consistency proof from tree size `first` to `second` (default: latest)", role="viewer",
          query=ConsistencyQuery, response=ConsistencyResponse, tags=TAGS)
async def consistency(request):
    asked = read_query(request, ConsistencyQuery)
    first, second = asked.first, asked.second

    def prove(b):
        second_size = b.log.size if second is None else second
        proof = b.log.consistency_proof(first, second_size)
        return {"first": first, "second": second_size, "first_root": _b64(b.log.root(first)),
                "second_root": _b64(b.log.root(second_size)), "proof": [_b64(p) for p in proof]}

    return web.json_response(await call(request, prove))


@routes.get(f"{PREFIX}/checkpoint")
@endpoint(summary="The latest signed checkpoint and the key that signs them", role="viewer",
          response=CheckpointResponse, tags=TAGS)
async def checkpoint(request):
    def latest(b):
        size, root, note = b.log.latest()
        return {"origin": b.log.origin, "tree_size": size, "root": _b64(root), "note": note,
                "key": str(b.log.signer.verifier)}

    return web.json_response(await call(request, latest))


@routes.get(f"{PREFIX}/accounts")
@endpoint(summary="Every account with its balance and nonce", role="viewer", response=AccountList, tags=TAGS)
async def list_accounts(request):
    tenant = principal(request).tenant
    return web.json_response({"accounts": await call(request, lambda b: b.accounts(tenant=tenant))})


@routes.post(f"{PREFIX}/accounts")
@endpoint(summary="Create an account (sealed key pair, or a public key you keep)", role="editor",
          request=AccountRequest, response=AccountResponse, status=201, tags=TAGS)
async def create_account(request):
    body = await read_json(request, AccountRequest)
    public = decode_base64(body.public_key, "public_key") if body.public_key is not None else None
    tenant = principal(request).tenant
    made = await call(request, lambda b: b.create_account(body.name, body.passphrase, public, tenant=tenant))
    made.pop("receipt", None)
    return web.json_response(made, status=201)


@routes.get(PREFIX + "/accounts/{account}")
@endpoint(summary="One account (by id or name)", role="viewer", response=AccountResponse, tags=TAGS)
async def get_account(request):
    account, tenant = request.match_info["account"], principal(request).tenant
    return web.json_response(await call(request, lambda b: b.account(account, tenant=tenant)))


@routes.get(f"{PREFIX}/balances")
@endpoint(summary="Balances of every account", role="viewer", response=BalancesResponse, tags=TAGS)
async def balances(request):
    tenant = principal(request).tenant
    return web.json_response({"balances": await call(request, lambda b: b.balances(tenant=tenant))})


@routes.post(f"{PREFIX}/records")
@endpoint(summary="Submit a signed record (document, transfer, certificate, vote)", role="editor",
          request=RecordRequest, response=ReceiptResponse, status=201, tags=TAGS)
async def submit_record(request):
    body = await read_json(request, RecordRequest)
    tenant = principal(request).tenant
    if body.record is not None:
        if not body.signature:
            raise InputError("a record needs its `signature` (base64 Ed25519 over the canonical JSON)")
        signature = decode_base64(body.signature, "signature")
        done = await call(request, lambda b: b.submit(body.record, signature, tenant=tenant))
    else:
        if not (body.account and body.passphrase and body.type and body.body is not None):
            raise InputError("give `record` and `signature`, or `account`, `passphrase`, `type` and `body`")

        def sign_and_submit(b):
            record, signature = b.sign(body.account, body.passphrase, body.type, body.body, tenant=tenant)
            return b.submit(record, signature, tenant=tenant)

        done = await call(request, sign_and_submit)
    return web.json_response(done, status=201)


@routes.post(f"{PREFIX}/mint")
@endpoint(summary="Create units in an account (admins; a tenant's in its own accounts)", role="admin",
          request=MintRequest,
          response=ReceiptResponse, status=201, tags=TAGS)
async def mint(request):
    body = await read_json(request, MintRequest)
    tenant = principal(request).tenant
    return web.json_response(await call(request, lambda b: b.mint(body.account, body.amount, body.memo, tenant=tenant)),
                             status=201)


@routes.post(f"{PREFIX}/verify")
@endpoint(summary="Is a document (its SHA-256 or its bytes) in the log? A tenant's caller: notarized by its tenant",
          role="viewer",
          request=VerifyRequest, response=VerifyResponse, tags=TAGS, audit=False)
async def verify_document(request):
    body = await read_json(request, VerifyRequest)
    if bool(body.sha256) == bool(body.data_base64):
        raise InputError("give either `sha256` or `data_base64`")
    if body.sha256:
        digest = body.sha256.lower()
    else:
        digest = hashlib.sha256(decode_base64(body.data_base64, "data_base64")).hexdigest()

    tenant = principal(request).tenant

    def look(b):
        found = b.find_document(digest, tenant=tenant)
        return {"found": bool(found), "sha256": digest, "entries": found,
                "receipt": b.log.receipt(found[0]) if found else None}

    return web.json_response(await call(request, look))


@routes.get(PREFIX + "/audit/{audit_id}")
@endpoint(summary="The receipt of the entry that anchors an audit entry", role="viewer",
          response=ReceiptResponse, tags=TAGS)
async def audit_anchor(request):
    audit_id, tenant = request.match_info["audit_id"], principal(request).tenant
    return web.json_response(await call(request, lambda b: b.audit_anchor(audit_id, tenant=tenant)))
