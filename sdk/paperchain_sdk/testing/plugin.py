"""The pytest plugin shipped with the SDK (entry point ``pytest11``): fixtures for plugin tests.

Fixtures:

``paperchain_document``
    ``paperchain_document(name, content, **fields) -> Document`` in the test's temporary folder.
``paperchain_database_url``
    Where the kernel fixtures below keep the kernel's (and plugins') tables: ``""`` by default,
    each kernel's own SQLite file in its data directory. A conftest.py that overrides it runs a
    suite on both databases, e.g. with the ``database_url`` fixture (``paperchain_databases``)::

        @pytest.fixture
        def paperchain_database_url(database_url):
            return "" if database_url.startswith("sqlite") else database_url

    On PostgreSQL each further kernel of a test (another data directory) gets a database of its own.
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
def paperchain_database_url() -> str:
    return ""


class _Databases:
    """The database each kernel of a test gets: the test's ``paperchain_database_url`` for the first
    data directory; on PostgreSQL a new database on the session's cluster for each further one."""

    def __init__(self, request, url: str):
        self._request, self._url = request, url
        self._given: dict = {}

    def __call__(self, data_dir, config: dict | None) -> str:
        if not self._url or (config or {}).get("paperchain", {}).get("database_url"):
            return ""  # the SQLite file in the data directory, or what the test's config names
        if data_dir not in self._given:
            self._given[data_dir] = (self._request.getfixturevalue("paperchain_postgres").create_database()
                                     if self._given and self._url.startswith("postgresql") else self._url)
        return self._given[data_dir]


@pytest.fixture
def paperchain_kernel(tmp_path, request, paperchain_database_url):
    harness_module = pytest.importorskip(
        "paperchain.harness", reason="the paperchain_kernel fixture needs the kernel: pip install paperchain"
    )
    KernelHarness = harness_module.KernelHarness
    database_for = _Databases(request, paperchain_database_url)

    made: list = []

    def factory(*plugins, config=None, builtins: bool = True):
        data_dir = tmp_path / f"kernel-{len(made)}"
        harness = KernelHarness(plugins, data_dir=data_dir, config=config, builtins=builtins,
                                database_url=database_for(data_dir, config))
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
    async def paperchain_api(tmp_path, request, paperchain_database_url):
        harness_module = pytest.importorskip(
            "paperchain.harness", reason="the paperchain_api fixture needs the kernel: pip install paperchain"
        )
        database_for = _Databases(request, paperchain_database_url)
        made: list = []

        async def factory(*plugins, config=None, api=None, builtins: bool = True, triggers: bool = True):
            data_dir = tmp_path / f"api-{len(made)}"
            harness = harness_module.ApiHarness(plugins, data_dir=data_dir, config=config, api=api, builtins=builtins,
                                                triggers=triggers, database_url=database_for(data_dir, config))
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
