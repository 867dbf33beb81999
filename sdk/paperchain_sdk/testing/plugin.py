"""The pytest plugin shipped with the SDK (entry point ``pytest11``): fixtures for plugin tests.

Fixtures:

``paperchain_document``
    ``paperchain_document(name, content, **fields) -> Document`` in the test's temporary folder.
``paperchain_kernel``
    ``paperchain_kernel(*plugins, config=None, builtins=True) -> harness``: a real kernel (its
    engine, store and registry in the test's temporary folder) that loads only the plugins given
    (modules or objects with hook implementations; no entry-point discovery). The harness runs
    workflows synchronously: ``harness.run(workflow, files=[...], inputs={...})``. Needs the
    ``paperchain`` distribution installed; the test is skipped with that advice otherwise.
``paperchain_api``
    ``await paperchain_api(*plugins, config=None, api=None) -> harness``: the real API server
    (``paperchain serve``'s application, with authentication, roles and every plugin's routes) on a
    free loopback port. ``await harness.request("GET", "/api/v1/...", json=..., token=...)``
    calls it as an admin unless another ``token`` is given; ``await harness.user(name, role)``
    returns a token for a new user. Needs pytest-asyncio (async tests).
``paperchain_site``
    ``await paperchain_site(*plugins, ...) -> harness``: ``paperchain_api`` with the users ada
    (admin), eddie (editor) and vera (viewer) (password ``paperchain_sdk.testing.web.PASSWORD``);
    ``harness.client(language="en")`` is a browser-like :class:`~paperchain_sdk.testing.web.WebClient`
    (``await client.login("vera")``, ``get``, ``post``, ``csrf``) for the web UI and plugins' pages;
    ``await harness.login(name, language="en")`` is such a client, logged in (any user with that password).
``paperchain_live_server``, ``paperchain_watched``, ``paperchain_chromium``
    Real-browser tests (sync tests, Playwright driving Debian's chromium):
    ``server = paperchain_live_server(my_plugin)`` serves the app from a thread with the same
    users; ``w = paperchain_watched(server, locale=...)`` opens a browser context whose CSP
    violations and console errors fail the test; ``w.login("vera", then="/p/...")``,
    ``w.check_accessibility()`` (axe). Skipped, with the advice, without Playwright or chromium.
"""

from __future__ import annotations

import pytest

from .components import make_document


@pytest.fixture
def paperchain_document(tmp_path):
    def factory(name: str, content: bytes | str, **fields):
        return make_document(tmp_path / "documents", name, content, **fields)

    return factory


@pytest.fixture
def paperchain_kernel(tmp_path):
    harness_module = pytest.importorskip(
        "paperchain.harness", reason="the paperchain_kernel fixture needs the kernel: pip install paperchain"
    )
    KernelHarness = harness_module.KernelHarness

    made: list = []

    def factory(*plugins, config=None, builtins: bool = True):
        harness = KernelHarness(
            plugins, data_dir=tmp_path / f"kernel-{len(made)}", config=config, builtins=builtins
        )
        made.append(harness)
        return harness

    yield factory
    for harness in made:
        harness.close()


try:
    import pytest_asyncio
except ImportError:  # async fixtures need pytest-asyncio; the sync fixtures above work without it
    pytest_asyncio = None

if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def paperchain_api(tmp_path):
        harness_module = pytest.importorskip(
            "paperchain.harness", reason="the paperchain_api fixture needs the kernel: pip install paperchain"
        )
        made: list = []

        async def factory(*plugins, config=None, api=None, builtins: bool = True, triggers: bool = True):
            harness = harness_module.ApiHarness(plugins, data_dir=tmp_path / f"api-{len(made)}", config=config,
                                                api=api, builtins=builtins, triggers=triggers)
            made.append(harness)
            return await harness.start()

        yield factory
        for harness in made:
            await harness.close()

    @pytest_asyncio.fixture
    async def paperchain_site(paperchain_api):
        from .web import WebClient, add_users

        clients: list = []

        async def factory(*plugins, **options):
            harness = await paperchain_api(*plugins, **options)
            await add_users(harness)

            def client(language: str = "en") -> WebClient:
                made = WebClient(harness.url, language)
                clients.append(made)
                return made

            async def login(name: str, language: str = "en") -> WebClient:
                return await client(language).login(name)

            harness.client, harness.login = client, login
            return harness

        yield factory
        for made in clients:
            await made.close()



@pytest.fixture(scope="module")
def paperchain_chromium():
    # Module-scoped: Playwright's sync API keeps an event loop running while it is open, which a
    # later test's asyncio.run() (the paperchain_kernel harness) would trip on.
    from .browser import CHROMIUM_ARGS, chromium_path

    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright: pip install playwright "
                                   "axe-playwright-python (never `playwright install`: Debian's chromium is used)")
    if chromium_path() is None:
        pytest.skip("browser tests need Debian's chromium: apt-get install chromium")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def paperchain_live_server(tmp_path):
    from .browser import LiveServer

    pytest.importorskip("paperchain.harness", reason="a live server needs the kernel: pip install paperchain")
    made: list = []

    def factory(*plugins, **options):
        made.append(LiveServer(plugins, tmp_path / f"live-{len(made)}", **options))
        return made[-1]

    yield factory
    for server in made:
        server.close()


@pytest.fixture
def paperchain_watched(paperchain_chromium):
    from .browser import Watched

    made: list = []

    def factory(server, **options):
        made.append(Watched(paperchain_chromium, server, **options))
        return made[-1]

    yield factory
    for watched in made:
        watched.close()
    for watched in made:
        assert watched.problems == [], watched.problems


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a test that takes seconds; CI runs it, `-m 'not slow'` skips it")
