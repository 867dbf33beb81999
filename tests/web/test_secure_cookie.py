"""The session cookie is Secure over TLS: served over TLS, or behind a TLS-terminating reverse proxy
the deployment trusts ([api] trusted_proxies), whose forwarded protocol is believed from it alone."""

from __future__ import annotations

import datetime
import ssl
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from api_support import TestPlugin

from paperchain.config import load_config
from paperchain.web.sessions import COOKIE, networks, over_tls
from paperchain_sdk import ConfigError

from .conftest import PASSWORD


def _request(remote: str, headers: dict, *, secure: bool = False):
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: {"peername": (remote, 40000)}.get(name, default)
    return make_mocked_request("GET", "/", headers=headers, transport=transport,
                               sslcontext=ssl.create_default_context() if secure else None)


PROXY = networks(["10.0.0.0/8", "2001:db8::/32"])


@pytest.mark.parametrize(("remote", "headers", "expected"), [
    ("10.1.2.3", {"X-Forwarded-Proto": "https"}, True),
    ("10.1.2.3", {"X-Forwarded-Proto": "http"}, False),
    ("10.1.2.3", {}, False),
    ("::ffff:10.1.2.3", {"X-Forwarded-Proto": "https"}, True),  # IPv4 proxy seen on a dual-stack socket
    ("2001:db8::7", {"Forwarded": "for=192.0.2.60;proto=https;by=203.0.113.43"}, True),
    ("10.1.2.3", {"Forwarded": 'for="[2001:db8:cafe::17]:4711";proto=https'}, True),
    # Our proxy appends its element last: an earlier "https" a client wrote in does not count.
    ("10.1.2.3", {"Forwarded": "proto=https, for=192.0.2.60;proto=http"}, False),
    ("10.1.2.3", {"X-Forwarded-Proto": "https, http"}, False),
    ("10.1.2.3", {"Forwarded": "for=192.0.2.60;proto=http", "X-Forwarded-Proto": "https"}, False),
    # From an address that is not a trusted proxy, the headers are the client's own claim.
    ("192.0.2.60", {"X-Forwarded-Proto": "https"}, False),
    ("192.0.2.60", {"Forwarded": "proto=https"}, False),
    ("11.0.0.1", {"X-Forwarded-Proto": "https"}, False),
])
def test_the_forwarded_protocol_is_believed_only_from_a_trusted_proxy(remote, headers, expected):
    assert over_tls(_request(remote, headers), PROXY) is expected
    assert over_tls(_request(remote, headers), ()) is False  # no proxy trusted: never
    assert over_tls(_request(remote, {}, secure=True), ()) is True  # TLS to us: always


@pytest.mark.parametrize("entry", ["proxy.example", "10.0.0.0/33", "", "300.1.2.3"])
def test_a_trusted_proxy_that_is_not_an_address_is_refused_at_start(tmp_path, entry):
    config = tmp_path / "plugins.toml"
    config.write_text(f'[api]\ntrusted_proxies = ["127.0.0.1", "{entry}"]\n')
    with pytest.raises(ConfigError) as error:
        load_config(config, env={})
    assert "trusted_proxies" in str(error.value) and repr(entry) in str(error.value)
    config.write_text('[api]\ntrusted_proxies = ["127.0.0.1", "10.0.0.0/8", "2001:db8::/32"]\n')
    assert load_config(config, env={}).api.trusted_proxies == ["127.0.0.1", "10.0.0.0/8", "2001:db8::/32"]


async def _login_cookie(url: str, headers: dict | None = None, *, ssl_context=None) -> str:
    """The Set-Cookie header the login answers with."""
    async with aiohttp.ClientSession() as client:
        async with client.post(url + "/login", data={"username": "ada", "password": PASSWORD},
                               headers={"Origin": url, **(headers or {})}, allow_redirects=False,
                               ssl=ssl_context) as reply:
            assert reply.status == 303, await reply.text()
            cookies = [c for c in reply.headers.getall("Set-Cookie") if c.startswith(COOKIE + "=")]
    assert len(cookies) == 1
    return cookies[0]


def _secure(cookie: str) -> bool:
    return "secure" in [part.strip().lower() for part in cookie.split(";")]


async def test_the_session_cookie_is_secure_behind_a_trusted_proxy_only(paperchain_api):
    behind = await paperchain_api(TestPlugin(), api={"trusted_proxies": ["127.0.0.1/32"]})
    untrusting = await paperchain_api(TestPlugin())
    for api in (behind, untrusting):
        await api.state.accounts.create_user("ada", PASSWORD, "admin")
    assert _secure(await _login_cookie(behind.url, {"X-Forwarded-Proto": "https"}))
    assert _secure(await _login_cookie(behind.url, {"Forwarded": "for=192.0.2.60;proto=https"}))
    assert not _secure(await _login_cookie(behind.url))  # plain HTTP through the proxy
    assert not _secure(await _login_cookie(untrusting.url, {"X-Forwarded-Proto": "https"}))
    for cookie in (await _login_cookie(behind.url, {"X-Forwarded-Proto": "https"}),):
        parts = [part.strip().lower() for part in cookie.split(";")]
        assert "httponly" in parts and "samesite=strict" in parts


def _self_signed(tmp_path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1)).sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


async def test_the_session_cookie_is_secure_when_served_over_tls(paperchain_api, tmp_path):
    api = await paperchain_api(TestPlugin())
    await api.state.accounts.create_user("ada", PASSWORD, "admin")
    site = web.TCPSite(api._runner, "127.0.0.1", 0, ssl_context=_self_signed(tmp_path))
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    client = ssl.create_default_context()
    client.load_verify_locations(tmp_path / "cert.pem")
    client.check_hostname = False
    assert _secure(await _login_cookie(f"https://127.0.0.1:{port}", ssl_context=client))
    assert not _secure(await _login_cookie(api.url))
    await site.stop()
