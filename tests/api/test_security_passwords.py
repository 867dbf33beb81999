"""The password policy (NIST SP 800-63B): length, breached and guessable passwords, the user name."""

import gzip
import re
from importlib import resources
from pathlib import Path

import pytest

from paperchain.api.security.passwords import common_passwords, password_problem

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("password", [
    "correct horse battery",
    "Tr0ub4dor&3 is not it",
    "é" * 6 + "ñandú-kiwi",  # characters, not bytes, are counted
    "a-long-passphrase-" * 14,  # 252 characters: long passphrases are welcome
    "no Capitals no digits needed",
])
def test_long_unusual_passwords_pass_without_composition_rules(password):
    assert password_problem(password, username="alice") is None


@pytest.mark.parametrize("password, why", [
    ("short pass", "at least 12 characters (it has 10)"),
    ("x" * 257, "at most 256"),
    ("password1234", "too common"),
    ("Password123!", "too common"),  # a listed one with digits and symbols added
    ("iloveyou2024", "too common"),
    ("qwertyuiop123", "too common"),
    ("abcabcabcabc", "repeats"),
    ("1234567890123", "repeats"),
    ("alice-the-user", None),  # the name inside a longer password is fine
    ("Alice2024!!!", "user name"),
    ("alicealicealice", "user name"),
])
def test_weak_passwords_are_refused_with_the_reason_and_a_fix(password, why):
    problem = password_problem(password, username="alice")
    if why is None:
        assert problem is None
    else:
        assert problem is not None and why in problem[0], problem
        assert problem[1]  # how to fix it


def test_the_shipped_list_is_compact_licensed_and_loaded_from_the_package():
    data = resources.files("paperchain.api.security").joinpath("data").joinpath("common-passwords.txt.gz")
    assert len(data.read_bytes()) < 200_000
    assert 10_000 <= len(common_passwords()) <= 100_000
    assert {"password", "iloveyou", "qwertyuiop", "1qaz2wsx3edc"} <= common_passwords()
    assert len(gzip.decompress(data.read_bytes()).split(b"\n")) > 10_000
    notice = resources.files("paperchain.api.security").joinpath("data").joinpath("NOTICE").read_text()
    assert "BSD" in notice and "MIT" in notice


def test_the_readme_quick_start_password_still_passes():
    examples = set(re.findall(r"PAPERCHAIN_ADMIN_PASSWORD='([^']+)'", README.read_text()))
    assert examples and all(password_problem(p, username="admin") is None for p in examples)


async def test_create_reset_and_change_all_apply_the_policy(api):
    weak = await api.request("POST", "/api/v1/users", json={"name": "ivy", "password": "password12345"})
    assert weak.status == 400 and weak.json["error"]["code"] == "invalid_input"
    assert "too common" in weak.json["error"]["message"] and weak.json["error"]["details"]["hint"]
    same = await api.request("POST", "/api/v1/users", json={"name": "ivy-long-name", "password": "ivy-long-name"})
    assert same.status == 400 and "user name" in same.json["error"]["message"]
    assert (await api.request("POST", "/api/v1/users", json={"name": "ivy", "password": "ivy's own passphrase"})).status == 201
    reset = await api.request("PATCH", "/api/v1/users/ivy", json={"password": "short one"})
    assert reset.status == 400 and "at least 12" in reset.json["error"]["message"]

    token = (await api.request("POST", "/api/v1/auth/login", token=None,
                               json={"username": "ivy", "password": "ivy's own passphrase"})).json["access_token"]
    wrong = await api.request("POST", "/api/v1/auth/password", token=token,
                              json={"current_password": "not it at all", "new_password": "a new long passphrase"})
    assert wrong.status == 403 and "current password" in wrong.json["error"]["message"]
    common = await api.request("POST", "/api/v1/auth/password", token=token,
                               json={"current_password": "ivy's own passphrase", "new_password": "qwertyuiop123"})
    assert common.status == 400 and "too common" in common.json["error"]["message"]
    changed = await api.request("POST", "/api/v1/auth/password", token=token,
                                json={"current_password": "ivy's own passphrase", "new_password": "a new long passphrase"})
    assert changed.status == 204
    again = await api.request("POST", "/api/v1/auth/login", token=None,
                              json={"username": "ivy", "password": "a new long passphrase"})
    assert again.status == 200
