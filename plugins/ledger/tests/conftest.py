"""Shared fixtures: a fresh log in the test's folder, closed afterwards."""

from __future__ import annotations

import pytest

from paperchain_ledger import runtime
from paperchain_ledger.book import Book
from paperchain_ledger.log import LedgerLog


@pytest.fixture
def log(tmp_path):
    opened = LedgerLog(tmp_path / "ledger")
    yield opened
    opened.close()


@pytest.fixture
def book(log):
    return Book(log, scrypt_n=1 << 12)  # cheap scrypt: tests make many accounts


@pytest.fixture(autouse=True)
def _close_runtime_logs():
    yield
    runtime.close_all()
