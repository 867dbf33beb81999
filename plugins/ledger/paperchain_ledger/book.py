"""What goes in the log: notarizations, accounts, signed records, mints and audit batches.

Every entry is canonical JSON with a ``kind``. Rules that depend on the state (nonces, balances,
one vote per ballot) are checked inside the writer's transaction, so two racing records can never
both spend the same units; a refused record leaves the tree exactly as it was.

Tenants: every method takes the caller's ``tenant``. Writes record it as the owner of the entries
they append (``ledger_owners``, beside the tree); reads by a tenant answer about its own entries,
accounts and anchors only, and about another tenant's exactly as about one that does not exist.
``''`` is the deployment's operator: it appends to the no-tenant scope and reads everything.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import sqlalchemy as sa

from paperchain_sdk import ConflictError, InputError, NotFoundError

from . import accounts
from .accounts import canonical
from .log import LedgerLog, now
from .storage import accounts as accounts_table
from .storage import anchors, documents, owners, votes

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
RECORD_TYPES = ("document", "transfer", "certificate", "vote")
MAX_TEXT = 4096
_A = accounts_table
_ACCOUNT_COLUMNS = (_A.c.id, _A.c.name, _A.c.public_key, _A.c.balance, _A.c.nonce, _A.c.idx, _A.c.created,
                    _A.c.secret.is_not(None).label("custodial"), _A.c.tenant)
_NEW_OWNERS = sa.insert(owners)


def _owned_by(index_column, tenant: str):
    """``index_column``'s entry belongs to ``tenant`` (entries without an owner row: the no-tenant scope)."""
    owner = sa.select(owners.c.tenant).where(owners.c.idx == index_column).scalar_subquery()
    return sa.func.coalesce(owner, "") == tenant


def _visible_to(tenant: str):
    """A tenant's own accounts; the operator ('') sees every tenant's."""
    return _A.c.tenant == tenant if tenant else sa.true()


def _owned(tenant: str, count: int = 1, check=None):
    """``check``, also recording ``tenant`` as the owner of the ``count`` entries it guards."""
    if not tenant:
        return check

    def own(cur, first):
        if check is not None:
            check(cur, first)
        cur.execute(_NEW_OWNERS, [{"idx": first + i, "tenant": tenant} for i in range(count)])

    return own


def _text(body: dict, field: str, limit: int = MAX_TEXT) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InputError(f"record body field {field!r} must be a non-empty string of at most {limit} characters")
    return value


def _sha(value: Any, field: str) -> str:
    if not isinstance(value, str) or not SHA256_HEX.match(value):
        raise InputError(f"{field} must be a SHA-256 digest: 64 lower-case hex digits, got {value!r}")
    return value


def _amount(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InputError(f"amount must be a whole number of units above 0, got {value!r}")
    return value


def _body(kind: str, body: Any) -> dict:
    """Check a record body's shape (no state needed); unknown fields are refused."""
    if not isinstance(body, dict):
        raise InputError("the record's body must be an object")
    allowed = {"document": {"sha256", "metadata"}, "transfer": {"to", "amount", "memo"},
               "certificate": {"document", "statement"}, "vote": {"ballot", "choice"}}[kind]
    extra = set(body) - allowed
    if extra:
        raise InputError(f"unknown field(s) {sorted(extra)} in a {kind} record", hint=f"allowed: {sorted(allowed)}")
    if kind == "document":
        _sha(body.get("sha256"), "body.sha256")
        if not isinstance(body.get("metadata", {}), dict):
            raise InputError("body.metadata must be an object")
    elif kind == "transfer":
        if not isinstance(body.get("to"), str):
            raise InputError("body.to must be the receiving account's id")
        _amount(body.get("amount"))
        if "memo" in body:
            _text(body, "memo", 500)
    elif kind == "certificate":
        _sha(body.get("document"), "body.document")
        _text(body, "statement")
    else:
        _text(body, "ballot", 200)
        _text(body, "choice", 200)
    return body


def check_record(record: Any) -> dict:
    if not isinstance(record, dict):
        raise InputError("a record must be an object with type, account, nonce and body")
    if set(record) != {"type", "account", "nonce", "body"}:
        raise InputError(f"a record has exactly the fields type, account, nonce and body; got {sorted(record)}")
    if record["type"] not in RECORD_TYPES:
        raise InputError(f"record type {record['type']!r} is unknown", hint=f"use one of {', '.join(RECORD_TYPES)}")
    nonce = record["nonce"]
    if not isinstance(nonce, int) or isinstance(nonce, bool) or nonce < 1:
        raise InputError(f"nonce must be a whole number from 1, got {nonce!r}")
    _body(record["type"], record["body"])
    return record


class Book:
    """The ledger's services over one LedgerLog."""

    def __init__(self, log: LedgerLog, *, scrypt_n: int = accounts.SCRYPT_N):
        self.log = log
        self.scrypt_n = scrypt_n

    # -- notarization -------------------------------------------------------------------------------

    # -- entries ---------------------------------------------------------------------------------

    def append(self, data: bytes, *, tenant: str = "") -> dict:
        """Append one entry owned by ``tenant``; return its receipt."""
        return self.log.append(data, check=_owned(tenant))

    def owner(self, index: int) -> str:
        rows = self.log.read(sa.select(owners.c.tenant).where(owners.c.idx == index))
        return rows[0].tenant if rows else ""

    def _readable(self, index: int, tenant: str) -> None:
        """To a tenant, another tenant's entry is as absent as one past the end of the log."""
        if tenant and not (isinstance(index, int) and 0 <= index < self.log.size and self.owner(index) == tenant):
            raise NotFoundError(f"there is no entry {index} of yours in the log",
                                hint="a tenant reads the entries it appended; the checkpoint and proofs are public")

    def entry(self, index: int, *, tenant: str = "") -> bytes:
        self._readable(index, tenant)
        return self.log.entry(index)

    def receipt(self, index: int, *, tenant: str = "") -> dict:
        self._readable(index, tenant)
        return self.log.receipt(index)

    def _receipt(self, done) -> dict:
        """The receipt the writer built with the commit (or, if it could not, one built here)."""
        return done.receipt if done.receipt is not None else self.log.receipt(done.first, done.size, done.note)

    def notarize(self, sha256: str, metadata: dict | None = None, *, key: str = "", tenant: str = "") -> dict:
        """Record a document's digest (and metadata); return its receipt. The same ``key`` twice
        returns the first receipt instead of appending again."""
        _sha(sha256, "the document's sha256")
        entry = canonical({"kind": "notarization", "sha256": sha256, "metadata": metadata or {}, "time": now()})

        def index_document(cur, first):
            cur.execute(sa.insert(documents).values(sha256=sha256, idx=first))

        if key and tenant:  # keys are per tenant: another tenant's key never answers with this receipt
            key = f"{tenant}\n{key}"
        done = self.log.append_many([entry], key=key, check=_owned(tenant, 1, index_document), receipt=True)
        if done.receipt is not None:
            return done.receipt
        if done.existed:
            return self.log.receipt(done.first)
        return self.log.receipt(done.first, done.size, done.note)

    def find_document(self, sha256: str, *, tenant: str = "") -> list[int]:
        """The entries that notarize ``sha256`` (a tenant's own only)."""
        _sha(sha256, "sha256")
        found = sa.select(documents.c.idx).where(documents.c.sha256 == sha256).order_by(documents.c.idx)
        if tenant:
            found = found.where(_owned_by(documents.c.idx, tenant))
        return [row.idx for row in self.log.read(found)]

    # -- accounts ----------------------------------------------------------------------------------

    def create_account(self, name: str, passphrase: str | None = None, public_key: bytes | None = None, *,
                       tenant: str = "") -> dict:
        """A new account of ``tenant``: a key pair sealed with ``passphrase`` (custodial), or only the
        ``public_key`` of a pair the owner keeps. Names are unique within a tenant."""
        if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$", name):
            raise InputError(f"account name {name!r} is not valid",
                             hint="use 1-64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit")
        if (passphrase is None) == (public_key is None):
            raise InputError("give either a passphrase (the ledger keeps the sealed key) or a public key, not both")
        sealed = None
        if public_key is None:
            seed, public_key = accounts.new_keypair()
            sealed = accounts.seal(seed, passphrase, accounts.account_id(public_key, tenant), self.scrypt_n)
        elif len(public_key) != 32:
            raise InputError("an Ed25519 public key is 32 bytes")
        ident = accounts.account_id(public_key, tenant)
        entry = canonical({"kind": "account", "id": ident, "name": name,
                           "public_key": base64.b64encode(public_key).decode(), "time": now()})

        def insert(cur, first):
            # the id is keyed by the tenant: a clash is this tenant's own key registered twice
            clash = sa.select(_A.c.id).where(sa.or_(sa.and_(_A.c.tenant == tenant, _A.c.name == name), _A.c.id == ident))
            if cur.execute(clash).first():
                raise ConflictError(f"an account named {name!r} (or with this key) exists already")
            cur.execute(sa.insert(_A).values(id=ident, name=name, public_key=public_key, secret=sealed, balance=0,
                                             nonce=0, idx=first, created=now(), tenant=tenant))

        done = self.log.append_many([entry], check=_owned(tenant, 1, insert), receipt=True)
        return {**self.account(ident, tenant=tenant), "receipt": self._receipt(done)}

    def account(self, ident: str, *, tenant: str = "") -> dict:
        """An account by id or name: a tenant's own; the operator's by id, by name in the no-tenant
        scope, or by ``<tenant>:<name>`` (names hold no ':')."""
        if tenant:
            where = sa.and_(_A.c.tenant == tenant, sa.or_(_A.c.id == ident, _A.c.name == ident))
        else:
            where = sa.or_(_A.c.id == ident, sa.and_(_A.c.tenant == "", _A.c.name == ident),
                           _A.c.tenant + ":" + _A.c.name == ident)
        rows = self.log.read(sa.select(*_ACCOUNT_COLUMNS).where(where))
        if not rows:
            raise NotFoundError(f"no account {ident!r}", hint="list accounts with GET /api/v1/ledger/accounts")
        return self._account_dict(rows[0])

    def accounts(self, *, tenant: str = "") -> list[dict]:
        rows = self.log.read(sa.select(*_ACCOUNT_COLUMNS).where(_visible_to(tenant)).order_by(_A.c.idx))
        return [self._account_dict(r) for r in rows]

    @staticmethod
    def _account_dict(row) -> dict:
        return {"id": row.id, "name": row.name, "public_key": base64.b64encode(row.public_key).decode(),
                "balance": row.balance, "nonce": row.nonce, "index": row.idx, "created": row.created,
                "custodial": bool(row.custodial), "tenant": row.tenant}

    def balances(self, *, tenant: str = "") -> dict[str, int]:
        rows = self.log.read(sa.select(_A.c.id, _A.c.balance).where(_visible_to(tenant)).order_by(_A.c.idx))
        return {row.id: row.balance for row in rows}

    # -- signed records ----------------------------------------------------------------------------

    def sign(self, account: str, passphrase: str, type: str, body: dict, *, tenant: str = "") -> tuple[dict, bytes]:
        """Sign a record with a custodial account's sealed key, using its next nonce."""
        info = self.account(account, tenant=tenant)
        secret = self.log.read(sa.select(_A.c.secret).where(_A.c.id == info["id"]))[0].secret
        seed = accounts.unseal(secret, passphrase, info["id"])
        record = check_record({"type": type, "account": info["id"], "nonce": info["nonce"] + 1, "body": body})
        return record, accounts.sign_record(seed, record)

    def submit(self, record: Any, signature: bytes | str, *, tenant: str = "") -> dict:
        """Append a signed record if its signature, nonce and the state allow it; return its receipt.
        The record's entry belongs to its account's tenant; a tenant submits for its own accounts.

        Refusals (bad signature, reused nonce, overdraft, second vote …) raise with nothing appended.
        """
        record = check_record(record)
        if isinstance(signature, str):
            try:
                signature = base64.b64decode(signature, validate=True)
            except binascii.Error:
                raise InputError("the signature is not base64") from None
        rows = self.log.read(sa.select(_A.c.public_key, _A.c.tenant)
                             .where(_A.c.id == record["account"], _visible_to(tenant)))
        if not rows:
            raise NotFoundError(f"no account {record['account']!r}", hint="list accounts with GET /api/v1/ledger/accounts")
        owner = rows[0].tenant
        if not accounts.signature_valid(bytes(rows[0].public_key), record, signature):
            raise InputError(f"the signature does not match the record and account {record['account']}.",
                             hint="sign the canonical JSON of the record (sorted keys, no spaces) with the account's key")
        entry = canonical({"kind": "record", "record": record, "signature": base64.b64encode(signature).decode()})
        apply = _owned(owner, 1, lambda cur, first: self._apply(cur, first, record, owner))
        done = self.log.append_many([entry], check=apply, receipt=True)
        return self._receipt(done)

    @staticmethod
    def _apply(cur, first: int, record: dict, tenant: str) -> None:
        account, nonce, body = record["account"], record["nonce"], record["body"]
        current = cur.execute(sa.select(_A.c.nonce, _A.c.balance).where(_A.c.id == account)).first()
        if nonce <= current.nonce:
            raise ConflictError(f"nonce {nonce} of account {account} was used already (last used: {current.nonce}); "
                                "the record is a replay.", hint=f"sign the record again with nonce {current.nonce + 1}")
        if nonce != current.nonce + 1:
            raise ConflictError(f"nonce {nonce} skips ahead: account {account} expects nonce {current.nonce + 1}.",
                                hint="records of an account are applied in nonce order")
        kind = record["type"]
        if kind == "transfer":
            amount, to = body["amount"], body["to"]
            if to == account:
                raise InputError("a transfer needs two different accounts")
            # units stay within a tenant: another tenant's account is as absent as a made-up one
            if not cur.execute(sa.select(_A.c.id).where(_A.c.id == to, _A.c.tenant == tenant)).first():
                raise NotFoundError(f"the receiving account {to!r} does not exist")
            if current.balance < amount:
                raise ConflictError(f"overdraft: account {account} holds {current.balance} units and cannot send {amount}.",
                                    hint="balances never go negative")
            cur.execute(sa.update(_A).where(_A.c.id == account).values(balance=_A.c.balance - amount))
            cur.execute(sa.update(_A).where(_A.c.id == to).values(balance=_A.c.balance + amount))
        elif kind == "vote":
            taken = cur.execute(sa.select(votes.c.idx).where(votes.c.ballot == body["ballot"],
                                                            votes.c.account == account)).scalar()
            if taken is not None:
                raise ConflictError(f"account {account} already voted on ballot {body['ballot']!r} (entry {taken}).")
            cur.execute(sa.insert(votes).values(ballot=body["ballot"], account=account, choice=body["choice"], idx=first))
        elif kind == "document":
            cur.execute(sa.insert(documents).values(sha256=body["sha256"], idx=first))
        cur.execute(sa.update(_A).where(_A.c.id == account).values(nonce=nonce))

    def mint(self, account: str, amount: int, memo: str = "", *, tenant: str = "") -> dict:
        """Create units in an account (a tenant's admin: in its own), recorded in the log like any
        other act; the entry belongs to the account's tenant."""
        _amount(amount)
        info = self.account(account, tenant=tenant)
        ident = info["id"]
        entry = canonical({"kind": "mint", "account": ident, "amount": amount, "memo": memo, "time": now()})

        def credit(cur, first):
            cur.execute(sa.update(_A).where(_A.c.id == ident).values(balance=_A.c.balance + amount))

        done = self.log.append_many([entry], check=_owned(info["tenant"], 1, credit), receipt=True)
        return self._receipt(done)

    def votes(self, ballot: str, *, tenant: str = "") -> dict[str, int]:
        counted = (sa.select(votes.c.choice, sa.func.count().label("votes"))
                   .select_from(votes.join(_A, _A.c.id == votes.c.account))
                   .where(votes.c.ballot == ballot, _visible_to(tenant)).group_by(votes.c.choice))
        return {row.choice: row.votes for row in self.log.read(counted)}

    # -- audit anchoring ---------------------------------------------------------------------------

    def anchor_audit(self, items: list[dict]) -> int:
        """Append a batch of audit entries, one log entry per tenant (each audit entry's ``tenant``;
        refusal counts and the operator's are ''), so a tenant's receipt holds only its own entries.
        Returns the index of the first."""
        groups: dict[str, list[dict]] = {}
        for item in items:
            groups.setdefault(str(item.get("tenant") or ""), []).append(item)
        tenants = list(groups)
        entries = [canonical({"kind": "audit", "entries": groups[t]}) for t in tenants]

        anchor = self.log.insert(anchors).on_conflict_do_nothing(index_elements=[anchors.c.audit_id])

        def remember(cur, first):
            for at, tenant in enumerate(tenants):
                ids = dict.fromkeys(str(i["id"]) for i in groups[tenant] if i.get("id") not in (None, ""))
                if ids:  # the first anchor of an audit id stays (a repeated one is not re-pointed)
                    cur.execute(anchor, [{"audit_id": i, "idx": first + at} for i in ids])
                if tenant:
                    cur.execute(_NEW_OWNERS, {"idx": first + at, "tenant": tenant})

        return self.log.append_many(entries, check=remember).first

    def audit_anchor(self, audit_id: str, *, tenant: str = "") -> dict:
        """The receipt of the entry that anchors audit entry ``audit_id`` (a tenant's own only)."""
        found = sa.select(anchors.c.idx).where(anchors.c.audit_id == str(audit_id))
        if tenant:
            found = found.where(_owned_by(anchors.c.idx, tenant))
        rows = self.log.read(found)
        if not rows:
            raise NotFoundError(f"audit entry {audit_id!r} is not anchored (yet)")
        return self.log.receipt(rows[0].idx)
