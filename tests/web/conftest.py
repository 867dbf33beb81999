"""Fixtures for the web UI: a served app with users of each role, and browser-like clients."""

from __future__ import annotations

import re

import aiohttp
import pytest

from api_support import TestPlugin

PASSWORD = "correct horse battery staple 42"


class Browser:
    """An aiohttp client that keeps cookies and sends the Origin a page of the site would."""

    def __init__(self, url: str, language: str = "en"):
        self.url = url
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                             headers={"Accept-Language": language,
                                                      "Accept": "text/html,*/*;q=0.8"})

    async def get(self, path: str, **kwargs):
        async with self.session.get(self.url + path, allow_redirects=kwargs.pop("follow", True), **kwargs) as r:
            body = await r.read()
            return r.status, r.headers, body.decode() if r.content_type.startswith("text/") else body

    async def post(self, path: str, data: dict, *, origin: str | None = "same", follow: bool = False, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if origin:
            headers["Origin"] = self.url if origin == "same" else origin
        async with self.session.post(self.url + path, data=data, headers=headers, allow_redirects=follow,
                                     **kwargs) as r:
            return r.status, r.headers, await r.text()

    async def login(self, name: str, password: str = PASSWORD):
        status, headers, text = await self.post("/login", {"username": name, "password": password, "next": "/runs"})
        assert status == 303, text
        return self

    async def csrf(self, path: str = "/runs") -> str:
        _, _, text = await self.get(path)
        return re.search(r'name="csrf" value="([^"]+)"', text).group(1)

    async def close(self):
        await self.session.close()


@pytest.fixture
async def site(paperchain_api):
    api = await paperchain_api(TestPlugin())
    for name, role in (("ada", "admin"), ("eddie", "editor"), ("vera", "viewer")):
        await api.state.accounts.create_user(name, PASSWORD, role)
    browsers = []

    def browser(language: str = "en") -> Browser:
        made = Browser(api.url, language)
        browsers.append(made)
        return made

    api.browser = browser
    yield api
    for made in browsers:
        await made.close()
