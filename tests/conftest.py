"""Fixtures shared by the kernel tests."""

import pytest


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A clean current directory with no plugins.toml."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PAPERCHAIN_CONFIG", raising=False)
    return tmp_path
