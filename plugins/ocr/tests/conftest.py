"""Shared fixtures: the plugin's specs, the shared sample documents, helpers to run a step."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

import paperchain_ocr
from paperchain_sdk import Document
from paperchain_sdk.testing import check_plugin, run_component

# Import mode is importlib: make the helpers beside this file (ocr_reference) importable.
sys.path.insert(0, str(Path(__file__).parent))

TESTDATA = Path(os.environ.get("PAPERCHAIN_TESTDATA", Path(__file__).resolve().parents[3].parent / "shared" / "testdata")) / "documents"
REFERENCES = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def specs():
    return check_plugin(paperchain_ocr)


@pytest.fixture(autouse=True)
def artifact_folder(tmp_path, monkeypatch):
    """Searchable PDFs are written with mkstemp; keep them in this test's folder."""
    folder = tmp_path / "artifacts"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def documents():
    if not TESTDATA.is_dir():
        pytest.fail(f"{TESTDATA} is missing: the shared test documents are needed")
    return TESTDATA


@pytest.fixture
def recognize(specs):
    def run(path, **options):
        return run_component(specs["ocr.recognize"], document=Document.from_path(path), options=options)

    return run


def reference(name: str) -> str:
    return (REFERENCES / name).read_text(encoding="utf-8")
