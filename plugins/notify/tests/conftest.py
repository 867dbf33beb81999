"""Fixtures: a real kernel with the notify plugin and loopback-friendly settings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # notify_support, importable from the tests

from notify_support import SmtpSink

import paperchain_notify


@pytest.fixture
def smtp():
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def kernel(paperchain_kernel):
    """``kernel(config) -> harness`` with the notify plugin loaded."""
    def make(config=None):
        return paperchain_kernel(paperchain_notify, config=config)

    return make
