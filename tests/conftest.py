"""Fixtures shared by the kernel tests.

The suites named in ``BOTH_DATABASES`` run on SQLite and on PostgreSQL (issue 15): every kernel,
API server and site their tests make through the SDK's fixtures (``paperchain_kernel``,
``paperchain_api``, ``paperchain_site``) takes its database from ``paperchain_database_url``,
parametrized here. The PostgreSQL half is marked ``postgres``: ``-m postgres`` runs only it,
``-m "not postgres"`` only SQLite; without PostgreSQL installed it is skipped (failed under CI=true).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from paperchain_sdk.testing.databases import DATABASES

TESTS = Path(__file__).parent
# Folders (every test below) and file patterns of tests/ whose kernels run on both databases.
BOTH_DATABASES = ("api", "engine", "store", "test_engine*.py", "test_resume*.py", "test_kernel*.py")


def _on_both(path: Path) -> bool:
    try:
        relative = Path(path).relative_to(TESTS)
    except ValueError:
        return False
    return any(relative.parts[0] == pattern if "*" not in pattern else relative.match(pattern)
               for pattern in BOTH_DATABASES)


def pytest_generate_tests(metafunc):
    if ("paperchain_database_url" in metafunc.fixturenames and "database_url" not in metafunc.fixturenames
            and _on_both(metafunc.definition.path)):
        metafunc.parametrize("paperchain_database_url", DATABASES, indirect=True)


@pytest.fixture
def paperchain_database_url(request) -> str:
    """"" (each kernel's SQLite file in its data directory) or a fresh PostgreSQL database; a test that
    also takes ``database_url`` gets its kernels on that database."""
    if "database_url" in request.fixturenames:
        url = request.getfixturevalue("database_url")
        return "" if url.startswith("sqlite") else url
    if getattr(request, "param", "sqlite") == "sqlite":
        return ""
    return request.getfixturevalue("paperchain_postgres").create_database(
        template=request.getfixturevalue("kernel_template"))


@pytest.fixture(scope="session")
def kernel_template(paperchain_postgres) -> str:
    """The name of a PostgreSQL database holding the kernel's migrated tables, copied for each test's
    kernel (CREATE DATABASE ... TEMPLATE): a tenth of the time of migrating a new one. Each copy is
    still upgraded by the kernel at start, so a new revision only makes the first start slower."""
    from concurrent.futures import ThreadPoolExecutor

    from paperchain.store import migrations
    from paperchain.store.database import Database

    async def migrate(url: str) -> None:
        database = await Database.open(url)
        try:
            await migrations.upgrade(database)
        finally:
            await database.close()  # no connection left: a template must have none

    url = paperchain_postgres.create_database("kernel_template")
    with ThreadPoolExecutor(1) as thread:  # its own event loop, whatever runs in this one
        thread.submit(asyncio.run, migrate(url)).result()
    return url.rsplit("/", 1)[1]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A clean current directory with no plugins.toml."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PAPERCHAIN_CONFIG", raising=False)
    return tmp_path
