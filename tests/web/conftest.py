"""Fixtures for the web UI: a served app with users of each role, and browser-like clients."""

from __future__ import annotations

import pytest
from api_support import TestPlugin

from paperchain_sdk.testing.web import PASSWORD, WebClient


class Browser(WebClient):
    """The SDK's browser-like client (paperchain_sdk.testing.web), under the name these tests use."""


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
