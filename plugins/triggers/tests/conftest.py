"""Fixtures: a real kernel with the triggers and the test steps loaded."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # triggers_support, importable from the tests

from triggers_support import steps_plugin

import paperchain_triggers


@pytest.fixture
def kernel(paperchain_kernel):
    """``kernel(config=None) -> harness`` with the triggers and the test steps loaded."""
    def make(config=None):
        return paperchain_kernel(paperchain_triggers, steps_plugin, config=config)

    return make
