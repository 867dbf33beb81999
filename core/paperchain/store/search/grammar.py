"""The one search grammar users write, parsed once and translated by each backend's adapter.

    invoice total          both words (AND is implied; the word AND is allowed too)
    "net 30 days"          the words next to each other, in this order (a phrase)
    invoice OR receipt     either (OR binds tighter than AND: ``a b OR c`` is a AND (b OR c))
    -draft   NOT draft     leave out documents with the word or "phrase" (-"phrase" too)
    inv*   "net thir"*     words that start so (the last word of a phrase, for a phrase)

Words are compared folded: lower case, accents removed (café = cafe = CAFÉ), split on anything that
is not a letter or a digit (``e-mail`` is the phrase "e mail"). The adapters receive only folded
words made of letters and digits, so nothing a user types can become SQL or backend syntax; the
query itself still reaches the database only as a bound parameter.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from paperchain_sdk import InputError

MAX_LENGTH = 1000  # characters of a query
MAX_TERMS = 64
HINT = 'use words, "quoted phrases", OR between alternatives, -word to leave out, and prefix* (e.g. invoice -draft "net 30" pay*)'

_TOKEN = re.compile(r'\s*(?:(?P<neg>-?)"(?P<phrase>[^"]*)"(?P<pstar>\*?)|(?P<word>[^\s"]+)|(?P<quote>"))')
_WORD = re.compile(r"[^\W_]+")


class SearchSyntaxError(InputError):
    """A query the grammar cannot read (a 400 in the API, a message on the page)."""


@dataclass(frozen=True)
class Term:
    """One word, or several in a row (a phrase); ``prefix``: the last word is a prefix."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True)
class Query:
    """Every group must match (a group matches when one of its terms does); no excluded term may."""

    groups: tuple[tuple[Term, ...], ...]
    excluded: tuple[Term, ...]


def render(query: Query, term, *, and_: str, or_: str, and_not: str) -> str:
    """A query in a backend's syntax: its groups joined by ``and_`` (each group's terms by ``or_``),
    then ``and_not`` the excluded terms; ``term`` writes one term."""
    groups = and_.join("(" + or_.join(term(t) for t in group) + ")" for group in query.groups)
    if query.excluded:
        return f"({groups}){and_not}(" + or_.join(term(t) for t in query.excluded) + ")"
    return groups


def fold(text: str) -> str:
    """Lower case without accents, as both backends index words."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def words(text: str) -> list[str]:
    """The folded words of ``text``: runs of letters and digits."""
    return _WORD.findall(fold(text))


def parse(text: str) -> Query:
    """The query in ``text``, or a SearchSyntaxError saying what is wrong and how to write it."""
    if len(text) > MAX_LENGTH:
        raise _invalid(text, f"it is {len(text)} characters long; at most {MAX_LENGTH} are allowed",
                                hint="search for a few distinctive words instead of pasting a passage")
    items: list[tuple[Term | None, bool]] = []  # (a term, negated), or (None, False) for OR
    not_next = False
    for match in _TOKEN.finditer(text):
        if match.group("quote"):
            raise _invalid(text, "it has a quote (\") that is never closed",
                                    hint='close the phrase with a second quote, e.g. "net 30 days"')
        if match.group("word") is not None:
            raw = match.group("word")
            if raw == "OR":
                items.append((None, False))
                continue
            if raw == "AND":
                continue
            if raw == "NOT":
                not_next = True
                continue
            negated = raw.startswith("-") and len(raw) > 1
            body = raw[1:] if negated else raw
            prefix = body.endswith("*")
            found = words(body)
            if not found:
                continue  # punctuation on its own ("--", "*", ";") looks for nothing
        else:
            negated, prefix = bool(match.group("neg")), bool(match.group("pstar"))
            found = words(match.group("phrase"))
            if not found:
                raise _invalid(text, f"the phrase {match.group(0).strip()!r} has no words in it",
                                        hint='put words between the quotes, e.g. "net 30 days"')
        items.append((Term(tuple(found), prefix), negated or not_next))
        not_next = False
    if not_next:
        raise _invalid(text, "NOT at its end leaves nothing out",
                                hint="write the word to leave out after it, e.g. invoice NOT draft")
    return _combine(text, items)


def _combine(text: str, items: list[tuple[Term | None, bool]]) -> Query:
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    pending_or = False
    previous_negated = False
    for at, (term, negated) in enumerate(items):
        if term is None:
            if at == 0 or at == len(items) - 1 or items[at + 1][0] is None or not groups or previous_negated:
                raise _invalid(text, "OR needs a word on each side",
                                        hint="write alternatives as invoice OR receipt; -word cannot be one of them")
            pending_or = True
            continue
        if negated:
            if pending_or:
                raise _invalid(text, "OR needs a word on each side",
                                        hint="write alternatives as invoice OR receipt; -word cannot be one of them")
            excluded.append(term)
        elif pending_or:
            groups[-1].append(term)
        else:
            groups.append([term])
        pending_or, previous_negated = False, negated
    if not groups:
        raise _invalid(text, "it has no words to look for",
                                hint="add at least one word that must be there; -word only leaves documents out")
    if sum(len(g) for g in groups) + len(excluded) > MAX_TERMS:
        raise _invalid(text, f"it has more than {MAX_TERMS} words and phrases", hint="search for fewer words")
    return Query(tuple(tuple(g) for g in groups), tuple(excluded))


def _invalid(text: str, reason: str, hint: str) -> SearchSyntaxError:
    shown = text if len(text) <= 80 else text[:77] + "..."
    return SearchSyntaxError(f"the search {shown!r} is not valid: {reason}.", hint=hint)
