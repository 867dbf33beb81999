"""The password policy, after NIST SP 800-63B (section 5.1.1.2).

Length is what counts: at least ``password_min_length`` characters (12 by default), up to
``password_max_length`` (256: any passphrase fits, and hashing cost stays bounded). No
composition rules (no "one digit, one capital"). A password is refused when it is a common or
breached one (``data/common-passwords.txt.gz``, origin and licences in ``data/NOTICE``), is one
with digits or symbols only added around it ("Password123!"), repeats a piece shorter than the
minimum ("abcabcabcabc"), is a run of consecutive characters ("123456789012"), or is the user's
name give or take a few characters ("Alice2024!!!").
"""

from __future__ import annotations

import functools
import gzip
import re
from importlib import resources

from paperchain_sdk import InputError

_EDGES = re.compile(r"^[\d\W_]+|[\d\W_]+$")  # digits and symbols added at either end


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common and breached passwords, lower-cased (loaded once)."""
    data = resources.files(__package__).joinpath("data").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode().split("\n")) - {""}


def password_problem(password: object, *, username: str = "", min_length: int = 12,
                     max_length: int = 256) -> tuple[str, str] | None:
    """Why ``password`` is refused and how to fix it, or None when it is acceptable."""
    if not isinstance(password, str):
        return "the password must be a string.", "send it as a JSON string"
    if len(password) < min_length:
        return (f"the password must have at least {min_length} characters (it has {len(password)}).",
                "use a longer one: a few unrelated words make a long password easy to remember")
    if len(password) > max_length:
        return f"the password must have at most {max_length} characters.", "use a shorter one"
    lowered = password.lower()
    if username and username.lower() in lowered and len(_EDGES.sub("", lowered.replace(username.lower(), ""))) < 4:
        return "the password must not be the user name (or the name with a few characters added).", \
            "choose something else"
    if _repeats(lowered, min_length):
        return ("the password repeats a short piece or is a run of consecutive characters.",
                "choose one that is not a pattern, e.g. a few unrelated words")
    known = common_passwords()
    stripped = _EDGES.sub("", lowered)
    if lowered in known or (len(stripped) >= 4 and (stripped in known or _repeats(stripped, min_length))):
        return ("the password is too common: it appears in lists of breached passwords (or is one with "
                "digits or symbols added).", "choose another one that is not a known or guessable password")
    return None


def check_password(password: object, **policy) -> None:
    """Raise InputError saying why ``password`` breaks the policy (see ``password_problem``)."""
    problem = password_problem(password, **policy)
    if problem:
        raise InputError(problem[0], hint=problem[1])


def _repeats(text: str, min_length: int) -> bool:
    """A piece too short to be a password repeated ("abab…", "aaaa…"), or a run of consecutive
    characters ("1234…", "zyx…")."""
    for size in range(1, min(len(text) // 2, min_length - 1) + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return True
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:])}
    if text.isdigit():  # "…7890123": digits run on past 9
        steps = {step % 10 for step in steps}
    return len(text) > 2 and steps in ({1}, {-1}, {9})
