"""Helpers to test web pages (a plugin's ``paperchain_ui`` or the core's) over HTTP.

``WebClient`` is a browser-like aiohttp client: it keeps cookies, asks for HTML, sends the
``Origin`` a page of the site would (``origin=None`` or another site's to test CSRF refusals) and
finds the session's CSRF token in a page. The ``paperchain_site`` fixture (see
:mod:`paperchain_sdk.testing.plugin`) serves the real app with users of each role.
"""

from __future__ import annotations

import re

PASSWORD = "correct horse battery staple 42"
USERS = (("ada", "admin"), ("eddie", "editor"), ("vera", "viewer"))


class WebClient:
    """An aiohttp client that keeps cookies and sends the Origin a page of the site would."""

    def __init__(self, url: str, language: str = "en"):
        import aiohttp

        self.url = url
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                             headers={"Accept-Language": language,
                                                      "Accept": "text/html,*/*;q=0.8"})

    async def get(self, path: str, **kwargs):
        """``(status, headers, text or bytes)``; redirects followed unless ``follow=False``."""
        async with self.session.get(self.url + path, allow_redirects=kwargs.pop("follow", True), **kwargs) as r:
            body = await r.read()
            return r.status, r.headers, body.decode() if r.content_type.startswith("text/") else body

    async def post(self, path: str, data=None, *, origin: str | None = "same", follow: bool = False, **kwargs):
        """``(status, headers, text)``; ``origin``: "same" (this site), None (none sent) or another."""
        headers = dict(kwargs.pop("headers", {}))
        if origin:
            headers["Origin"] = self.url if origin == "same" else origin
        async with self.session.post(self.url + path, data=data, headers=headers, allow_redirects=follow,
                                     **kwargs) as r:
            return r.status, r.headers, await r.text()

    async def login(self, name: str, password: str = PASSWORD) -> WebClient:
        status, _, text = await self.post("/login", {"username": name, "password": password, "next": "/"})
        assert status == 303, text
        return self

    async def csrf(self, path: str = "/") -> str:
        """The session's CSRF token, read from a page's forms."""
        _, _, text = await self.get(path)
        return re.search(r'name="csrf" value="([^"]+)"', text).group(1)

    async def close(self) -> None:
        await self.session.close()


async def add_users(harness) -> None:
    """The users ada (admin), eddie (editor) and vera (viewer), all with :data:`PASSWORD`."""
    for name, role in USERS:
        await harness.state.accounts.create_user(name, PASSWORD, role)
