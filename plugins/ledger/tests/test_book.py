"""Accounts and signed records: refused records leave the tree unchanged."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from paperchain_ledger import accounts
from paperchain_ledger.storage import accounts as accounts_table
from paperchain_ledger.verifier import verify_receipt
from paperchain_sdk import ConflictError, InputError, NotFoundError, PermissionDenied

DOC = "ab" * 32


def unchanged(book):
    return book.log.size, book.log.root()


@pytest.fixture
def alice_bob(book):
    alice = book.create_account("alice", "alice passphrase")
    bob = book.create_account("bob", "bob passphrase")
    book.mint("alice", 100)
    return alice, bob


def test_sealed_keys_need_the_passphrase(book):
    alice = book.create_account("alice", "correct horse")
    secret = book.log.read(sa.select(accounts_table.c.secret).where(accounts_table.c.id == alice["id"]))[0].secret
    box = json.loads(secret)
    assert box["kdf"] == "scrypt" and "ciphertext" in box and "correct horse" not in secret
    with pytest.raises(PermissionDenied, match="wrong passphrase"):
        book.sign("alice", "wrong horse!", "vote", {"ballot": "b", "choice": "yes"})
    with pytest.raises(PermissionDenied):  # the sealed key is bound to its account
        accounts.unseal(secret, "correct horse", "acct_other")
    with pytest.raises(InputError, match="at least 8"):
        book.create_account("carol", "short")
    with pytest.raises(ConflictError):
        book.create_account("alice", "another passphrase")


def test_a_transfer_moves_units_and_verifies(book, alice_bob):
    alice, bob = alice_bob
    record, signature = book.sign("alice", "alice passphrase", "transfer", {"to": bob["id"], "amount": 30})
    receipt = book.submit(record, signature)
    assert verify_receipt(receipt, str(book.log.signer.verifier))["index"] == receipt["index"]
    assert book.balances() == {alice["id"]: 70, bob["id"]: 30}
    assert book.account("alice")["nonce"] == 1


def test_refused_records_append_nothing(book, alice_bob):
    alice, bob = alice_bob
    record, signature = book.sign("alice", "alice passphrase", "transfer", {"to": bob["id"], "amount": 30})
    book.submit(record, signature)
    before = unchanged(book)

    with pytest.raises(ConflictError, match="used already"):  # the same signed record again: a replay
        book.submit(record, signature)
    assert unchanged(book) == before

    record2, signature2 = book.sign("alice", "alice passphrase", "transfer", {"to": bob["id"], "amount": 71})
    with pytest.raises(ConflictError, match="overdraft"):
        book.submit(record2, signature2)
    assert unchanged(book) == before

    tampered = dict(record2, body={"to": bob["id"], "amount": 1})
    with pytest.raises(InputError, match="signature does not match"):
        book.submit(tampered, signature2)
    assert unchanged(book) == before

    _, bob_signature = book.sign("bob", "bob passphrase", "transfer", {"to": alice["id"], "amount": 1})
    with pytest.raises(InputError, match="signature"):  # signed by another account's key
        book.submit(dict(record2, body={"to": bob["id"], "amount": 1}), bob_signature)
    assert unchanged(book) == before
    assert book.balances() == {alice["id"]: 70, bob["id"]: 30}


def test_double_spend_race_lets_one_through(book, alice_bob):
    import threading

    alice, bob = alice_bob
    carol = book.create_account("carol", "carol passphrase")
    first = book.sign("alice", "alice passphrase", "transfer", {"to": bob["id"], "amount": 100})
    second = book.sign("alice", "alice passphrase", "transfer", {"to": carol["id"], "amount": 100})
    results = []

    def go(pair):
        try:
            results.append(book.submit(*pair))
        except ConflictError as exc:
            results.append(exc)

    threads = [threading.Thread(target=go, args=(p,)) for p in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(r, dict) for r in results) == 1
    assert sum(book.balances().values()) == 100 and book.account("alice")["balance"] == 0


def test_certificates_votes_and_document_records(book, alice_bob):
    receipt = book.submit(*book.sign("alice", "alice passphrase", "certificate",
                                     {"document": DOC, "statement": "I reviewed this contract."}))
    assert json.loads(book.log.entry(receipt["index"]))["record"]["type"] == "certificate"
    book.submit(*book.sign("alice", "alice passphrase", "vote", {"ballot": "budget-2025", "choice": "yes"}))
    book.submit(*book.sign("bob", "bob passphrase", "vote", {"ballot": "budget-2025", "choice": "no"}))
    before = unchanged(book)
    with pytest.raises(ConflictError, match="already voted"):
        book.submit(*book.sign("bob", "bob passphrase", "vote", {"ballot": "budget-2025", "choice": "yes"}))
    assert unchanged(book) == before
    assert book.votes("budget-2025") == {"yes": 1, "no": 1}
    doc = book.submit(*book.sign("bob", "bob passphrase", "document", {"sha256": DOC, "metadata": {"n": 1}}))
    assert book.find_document(DOC) == [doc["index"]]


def test_owner_held_keys_and_bad_records(book):
    seed, public = accounts.new_keypair()
    owner = book.create_account("dana", public_key=public)
    record = {"type": "vote", "account": owner["id"], "nonce": 1, "body": {"ballot": "b", "choice": "c"}}
    book.submit(record, accounts.sign_record(seed, record))
    with pytest.raises(PermissionDenied, match="elsewhere"):
        book.sign("dana", "whatever passphrase", "vote", {"ballot": "x", "choice": "y"})
    before = unchanged(book)
    skipped = dict(record, nonce=3, body={"ballot": "c", "choice": "c"})
    with pytest.raises(ConflictError, match="skips ahead"):
        book.submit(skipped, accounts.sign_record(seed, skipped))
    for bad, message in [({"type": "mint", "account": owner["id"], "nonce": 2, "body": {}}, "unknown"),
                         (dict(record, nonce=0), "nonce"),
                         (dict(record, body={"ballot": "b"}), "choice"),
                         (dict(record, extra=1), "exactly the fields"),
                         ({"type": "certificate", "account": owner["id"], "nonce": 2,
                           "body": {"document": "xyz", "statement": "s"}}, "SHA-256")]:
        with pytest.raises(InputError, match=message):
            book.submit(bad, accounts.sign_record(seed, bad))
    with pytest.raises(NotFoundError):
        book.submit(dict(record, account="acct_nobody"), accounts.sign_record(seed, record))
    assert unchanged(book) == before


def test_notarize_is_idempotent_and_findable(book):
    first = book.notarize(DOC, {"name": "a.pdf"}, key="run:step")
    again = book.notarize(DOC, {"name": "a.pdf"}, key="run:step")
    assert first["index"] == again["index"] and book.log.size == 1
    assert book.find_document(DOC) == [0]
    with pytest.raises(InputError):
        book.notarize("not a digest")
