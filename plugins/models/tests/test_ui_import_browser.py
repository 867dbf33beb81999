"""The ONNX import form in a real browser: import.js sends the file with the session's CSRF token;
a bad file's error is shown beside the form; no CSP violation, no console error, axe clean."""

from __future__ import annotations

import re

import pytest

import paperchain_models

pytestmark = pytest.mark.slow


def test_import_an_onnx_file_from_the_registry(paperchain_live_server, paperchain_watched, onnx_linear, tmp_path):
    from playwright.sync_api import expect

    good = tmp_path / "scorer.onnx"
    good.write_bytes(onnx_linear([[1, 0], [0, 2], [1, 1]], [0.5, -1]))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx at all")
    server = paperchain_live_server(paperchain_models)
    watched = paperchain_watched(server)
    page = watched.login("eddie", then="/p/models")
    form = page.locator("form[data-import-onnx]")
    form.get_by_label("Name of the imported model").fill("scorer")
    form.get_by_label("ONNX file").set_input_files(str(bad))
    form.get_by_role("button", name="Import").click()
    expect(form.get_by_role("alert")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/p/models$"))
    watched.check_accessibility()
    # the browser logs the refused upload's 400 on its console: expected here, and the only problem
    assert [p for p in watched.problems if "400 (Bad Request)" not in p] == [], watched.problems
    watched.problems.clear()
    form.get_by_label("ONNX file").set_input_files(str(good))
    form.get_by_role("button", name="Import").click()
    expect(page).to_have_url(re.compile(r"/p/models/m/scorer\?version=1$"))
    watched.check_accessibility()
