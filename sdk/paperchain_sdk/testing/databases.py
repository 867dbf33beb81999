"""The SDK's pytest plugin for databases (entry point ``pytest11``): one suite, SQLite and PostgreSQL.

Fixtures:

``database_url``
    A fresh, empty database for the test, once on SQLite (a file in the test's folder) and once
    on PostgreSQL (a new database on the session's throwaway cluster, marked ``postgres``): one
    suite runs on both. Pass it to a kernel as ``config={"paperchain": {"database_url": database_url}}``.
    Without PostgreSQL installed the PostgreSQL half is skipped, naming the package to install
    (under ``CI=true`` it fails instead); ``pytest -m "not postgres"`` runs only the SQLite half.
``paperchain_postgres``
    The session's cluster (:class:`~paperchain_sdk.testing.postgres.PostgresCluster`), started on
    first use on a free loopback port in a temporary folder and stopped at the end.
``paperchain_storage``
    ``await paperchain_storage(SCHEMA) -> StorageAPI``: a plugin's storage handle on
    ``database_url``, its migrations applied, as the kernel hands it over (no kernel needed).
"""

from __future__ import annotations

import os

import pytest

from .postgres import INSTALL_HINT, PostgresCluster, find_bin_dir


@pytest.fixture(scope="session")
def paperchain_postgres():
    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = f"PostgreSQL is not installed (no initdb found): {INSTALL_HINT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    cluster = PostgresCluster(bin_dir).start()
    yield cluster
    cluster.stop()


# The two halves of a test on both databases (also for a conftest's own parametrization).
DATABASES = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgres))


@pytest.fixture(params=DATABASES)
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'paperchain.db'}"
    return request.getfixturevalue("paperchain_postgres").create_database()


try:
    import pytest_asyncio
except ImportError:  # the async fixture needs pytest-asyncio; the ones above work without it
    pytest_asyncio = None  # type: ignore[assignment]

if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def paperchain_storage(database_url):
        plugin_storage = pytest.importorskip(
            "paperchain.store.plugin_storage", reason="the paperchain_storage fixture needs the kernel: pip install paperchain"
        )
        from paperchain.store.database import Database

        database = await Database.open(database_url)
        yield plugin_storage.PluginStorages(database).get
        await database.close()


def pytest_configure(config):
    config.addinivalue_line("markers", "postgres: the PostgreSQL half of a test run on both databases; "
                                       "`-m 'not postgres'` runs only the SQLite half")
