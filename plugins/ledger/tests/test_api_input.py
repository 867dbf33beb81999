"""Bad input to the ledger's routes, through the real API server: a 400 that names the field and
what it expects, never a 500."""

import pytest

import paperchain_ledger

BIG = "99999999999999999999"  # past SQLite's 64-bit integers


@pytest.fixture
async def api(paperchain_api):
    return await paperchain_api(paperchain_ledger)


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/ledger/entries", {"data_base64": "é"}, "data_base64"),
    ("/api/v1/ledger/verify", {"data_base64": "é"}, "data_base64"),
    ("/api/v1/ledger/accounts", {"name": "ann", "public_key": "é"}, "public_key"),
    ("/api/v1/ledger/entries", {"data_base64": "abc"}, "data_base64"),  # ASCII, bad padding
    ("/api/v1/ledger/records", {"record": {"type": "document", "account": "a", "nonce": 1,
                                           "body": {"sha256": "0" * 64}}, "signature": "é"}, "signature"),
    ("/api/v1/ledger/verify", {"sha256": "é"}, "sha256"),
])
async def test_bad_encoded_fields_answer_400_naming_the_field(api, path, body, field):
    reply = await api.request("POST", path, json=body)
    assert reply.status == 400, reply
    assert field in reply.json["error"]["message"]


async def test_an_amount_past_64_bits_answers_400(api):
    made = await api.request("POST", "/api/v1/ledger/accounts", json={"name": "ann", "public_key": "A" * 43 + "="})
    assert made.status == 201, made
    reply = await api.request("POST", "/api/v1/ledger/mint", json={"account": "ann", "amount": int(BIG)})
    assert reply.status == 400, reply
    assert "amount" in reply.json["error"]["message"]


@pytest.mark.parametrize("path", [
    "/api/v1/ledger/entries/%C2%B2", "/api/v1/ledger/entries/%C2%B2/receipt",  # '²': a digit to str.isdigit()
    "/api/v1/ledger/proofs/inclusion?index=%C2%B2", "/api/v1/ledger/proofs/consistency?first=1&second=%C2%B3",
])
async def test_numbers_that_only_look_like_digits_answer_400(api, path):
    reply = await api.request("GET", path)
    assert reply.status == 400, reply
    assert "whole number" in reply.json["error"]["message"]


async def test_a_lone_surrogate_in_text_answers_400(api):
    # "\ud8ac" alone is valid JSON but not Unicode: it cannot become UTF-8 for scrypt or SQLite.
    body = '{"name": "ann", "passphrase": "\\u00d2\\ud8ac\\u007f"}'
    reply = await api.request("POST", "/api/v1/ledger/accounts", data=body, headers={"Content-Type": "application/json"})
    assert reply.status == 400, reply
    assert "body.passphrase" in reply.json["error"]["message"]
