"""The SDK's request-parsing helpers: a clear InputError for what a client gets wrong."""

import pytest

from paperchain_sdk import InputError
from paperchain_sdk.web import SQL_INT_MAX, check_json_values, decode_base64, parse_int


def test_parse_int_takes_ascii_digits_within_64_bits():
    assert parse_int("42", "n") == 42
    assert parse_int(str(SQL_INT_MAX), "n") == SQL_INT_MAX
    assert parse_int("-5", "n", minimum=-10) == -5
    for bad in ("\u00b2", "1e3", "", "0x10", str(SQL_INT_MAX + 1), "-1", "9" * 400):
        with pytest.raises(InputError, match="n must be a whole number from 0 to"):
            parse_int(bad, "n")


def test_decode_base64_names_the_field():
    assert decode_base64("aGk=", "data") == b"hi"
    for bad in ("\u00e9", "abc", "a b="):
        with pytest.raises(InputError, match="data must be standard base64"):
            decode_base64(bad, "data")


@pytest.mark.parametrize(("body", "where"), [
    ({"a": [1, 2**63]}, "body.a[1]"),
    ({"a": {"b": float("nan")}}, "body.a.b"),
    ({"a": "\ud800"}, "body.a"),
])
def test_check_json_values_names_the_field(body, where):
    with pytest.raises(InputError) as caught:
        check_json_values(body)
    assert caught.value.message.startswith(where + " ")


def test_check_json_values_accepts_ordinary_json():
    check_json_values({"a": [1, -(2**63), 2.5, "é", "\U0001f600", True, None]})
