"""Shared fixtures: the plugin's specs, a document with everything to show, and a private temp dir."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

import paperchain_export
from paperchain_sdk.testing import check_plugin

# The shared sample documents (read only), located as the kernel's tests locate them.
TESTDATA = Path(os.environ.get("PAPERCHAIN_TESTDATA", "/work/shared/testdata")) / "documents"
UNICODE = "Señor Müller — Ελληνικά"


@pytest.fixture(scope="session")
def specs():
    return check_plugin(paperchain_export)


@pytest.fixture(autouse=True)
def outputs(tmp_path, monkeypatch):
    """Exporters write big outputs with mkstemp; keep them in this test's folder and list them."""
    folder = tmp_path / "outputs"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def rich_document(paperchain_document):
    """A text document with tags, metadata, findings and markup-looking text."""
    return paperchain_document(
        "invoice.txt",
        "Invoice 42\n",
        text=f"{UNICODE}\n<script>alert('x')</script>\n\nTotal: 12 € | ```fenced``` *not emphasis*",
        tags=("finance", "2024"),
        metadata={"source": "scanner-3", "pages": 2, "vendor": {"name": "ACME <b>Corp</b>"}},
        findings={
            "stats": {"words": 12, "lines": 3, "ratio": 0.25},
            "text.keywords": {"keywords": ["invoice", "total"], "top": [{"word": "invoice", "score": 0.9}]},
            "lang": {},
        },
    )


@pytest.fixture
def testdata():
    if not TESTDATA.is_dir():
        pytest.fail(f"{TESTDATA} is missing: the shared test documents are needed")
    return TESTDATA
