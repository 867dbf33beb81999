"""Outgoing HTTP that refuses private, loopback and link-local addresses unless allowed: the one
server-side-request-forgery guard of every plugin that calls a URL a user configured (webhook
notifiers, language-model providers …).

The check runs inside aiohttp's resolver, on every address the host resolves to, at connection
time: a host cannot pass the check and then resolve elsewhere (DNS rebinding). An IP written in
the URL skips the resolver, so :func:`check_url` checks those before the request.

Needs aiohttp (every plugin that sends HTTP has it); import this module only where you send.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import ThreadedResolver

from .errors import ConfigError, InputError

ALLOW_HINT = 'allow it in plugins.toml: allow_hosts = ["{host}"] under the component\'s [components."<name>"] table'


class Refused(InputError):
    """The destination is not allowed (not retried)."""


def forbidden(address: str) -> bool:
    """True for every address that is not publicly routable (private, loopback, link-local, reserved …)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def _bare(host: str) -> str:
    return host.lower().strip("[]")


def _refusal(host: str, address: str) -> Refused:
    return Refused(
        f"refused to send to {host} ({address}): private, loopback and link-local addresses are "
        "blocked to prevent server-side request forgery.",
        hint=ALLOW_HINT.format(host=host),
    )


def check_literal(host: str, allow_hosts: Iterable[str]) -> None:
    """aiohttp skips the resolver for an IP written in the URL: check such hosts here."""
    bare = _bare(host)
    try:
        ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        return  # a name: the resolver checks what it resolves to
    if bare not in {_bare(h) for h in allow_hosts} and forbidden(bare):
        raise _refusal(host, bare)


class GuardedResolver(AbstractResolver):
    """aiohttp's threaded resolver, refusing forbidden addresses of hosts not in ``allow_hosts``."""

    def __init__(self, allow_hosts: Iterable[str] = ()):
        self._inner = ThreadedResolver()
        self.allow = {_bare(h) for h in allow_hosts}

    async def resolve(self, host, port=0, family=socket.AF_INET):
        infos = await self._inner.resolve(host, port, family)
        if _bare(host) in self.allow:
            return infos
        for info in infos:
            if forbidden(info["host"]) and info["host"] not in self.allow:
                raise _refusal(host, info["host"])
        return infos

    async def close(self):
        await self._inner.close()


def check_url(url: str, allow_hosts: Iterable[str] = ()) -> str:
    """``url`` itself when it is http(s) and its host (if an IP) is allowed; ConfigError or Refused otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{url!r} is not an http(s) URL.", hint="give the full address, e.g. https://api.example.com/...")
    check_literal(parts.hostname, allow_hosts)
    return url


def guarded_session(allow_hosts: Iterable[str] = (), **session_options):
    """An aiohttp ClientSession whose every connection goes through :class:`GuardedResolver`."""
    import aiohttp

    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_hosts), limit=100)
    return aiohttp.ClientSession(connector=connector, **session_options)


def refusal_in(exc: BaseException) -> Refused | None:
    """The :class:`Refused` behind an aiohttp connection error, if the guard caused it (aiohttp wraps
    what a resolver raises in ClientConnectorError)."""
    for inner in (exc, exc.__cause__, getattr(exc, "os_error", None)):
        if isinstance(inner, Refused):
            return inner
    return None
