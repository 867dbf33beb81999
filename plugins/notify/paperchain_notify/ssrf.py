"""Outgoing HTTP that refuses private, loopback and link-local addresses unless allowed.

The check runs inside aiohttp's resolver, on every address the host resolves to, at connection
time: a host cannot pass the check and then resolve elsewhere (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import ThreadedResolver

from paperchain_sdk import ConfigError, InputError


class Refused(InputError):
    """The destination is not allowed (not retried)."""


def forbidden(address: str) -> bool:
    """True for every address that is not publicly routable (private, loopback, link-local, reserved …)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def _refusal(host: str, address: str) -> Refused:
    return Refused(
        f"refused to send to {host} ({address}): private, loopback and link-local addresses are "
        "blocked to prevent server-side request forgery.",
        hint=f'allow it in plugins.toml: allow_hosts = ["{host}"] under the notifier\'s [components."notify.<channel>"]',
    )


def check_literal(host: str, allow_hosts) -> None:
    """aiohttp skips the resolver for an IP written in the URL: check such hosts here."""
    bare = host.lower().strip("[]")
    try:
        ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        return  # a name: the resolver checks what it resolves to
    if bare not in {h.lower().strip("[]") for h in allow_hosts} and forbidden(bare):
        raise _refusal(host, bare)


class GuardedResolver(AbstractResolver):
    def __init__(self, allow_hosts=()):
        self._inner = ThreadedResolver()
        self.allow = {h.lower().strip("[]") for h in allow_hosts}

    async def resolve(self, host, port=0, family=socket.AF_INET):
        infos = await self._inner.resolve(host, port, family)
        if host.lower().strip("[]") in self.allow:
            return infos
        for info in infos:
            if forbidden(info["host"]) and info["host"] not in self.allow:
                raise _refusal(host, info["host"])
        return infos

    async def close(self):
        await self._inner.close()


def check_url(url: str, allow_hosts=()) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{url!r} is not an http(s) URL.", hint="give the full address, e.g. https://hooks.example.com/...")
    check_literal(parts.hostname, allow_hosts)
    return url
