"""Shared fixtures: a fresh log, on each database, closed afterwards."""

from __future__ import annotations

import pytest

from paperchain_ledger.book import Book
from paperchain_ledger.log import LedgerLog


@pytest.fixture
def log(tmp_path, database_url):
    """On SQLite (the log's own file in the test's folder) and on PostgreSQL (schema ``ledger``)."""
    opened = LedgerLog.open(tmp_path / "ledger", url=None if database_url.startswith("sqlite") else database_url)
    yield opened
    opened.close()


@pytest.fixture
def book(log):
    return Book(log, scrypt_n=1 << 12)  # cheap scrypt: tests make many accounts
