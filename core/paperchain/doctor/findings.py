"""What each check answers: a ``Finding``, and errors turned into one line without secrets."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from ..config import masked_url

OK, WARNING, PROBLEM = "ok", "warning", "problem"


@attrs.frozen
class Finding:
    part: str  # configuration, database, migrations, keys, broker, blobs, serve, workers, tools, plugins
    level: str  # OK, WARNING or PROBLEM
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return attrs.asdict(self)


def healthy(findings: Iterable[Finding]) -> bool:
    return all(finding.level != PROBLEM for finding in findings)


def one_line(exc: BaseException, *urls: str) -> str:
    """The error in one line, with any of ``urls`` (or their passwords) masked out of it."""
    from paperchain_sdk import PaperchainError

    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, PaperchainError):  # our own errors read as sentences; their fix is shown apart
        text = exc.message
    elif isinstance(exc, TimeoutError):
        text = "no answer in time (TimeoutError)"
    for url in urls:
        text = text.replace(url, masked_url(url))
        password = _password(url)
        if password:
            text = text.replace(password, "***")
    return text


def _password(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    try:
        return unquote(urlsplit(url).password or "")
    except ValueError:
        return ""
