"""The models pages in a real browser (Debian's chromium): train a classifier from labeled documents
with the form, watch its progress arrive live, read its confusion matrix, see "Recommended for
you" on the home page; no CSP violation, console error or serious accessibility violation (axe)."""

from __future__ import annotations

import random
import re

import pytest

import paperchain_models

pytestmark = pytest.mark.slow
EXTRACT = {"name": "extract", "steps": [{"id": "text", "uses": "document.text"}]}


def test_train_and_inspect_a_model(paperchain_live_server, paperchain_watched, text_maker):
    from playwright.sync_api import expect

    server = paperchain_live_server(paperchain_models)
    api = server.api
    assert server.call(api.request("POST", "/api/v1/workflows", json=EXTRACT)).status == 201
    rng, ids = random.Random(1), []
    for n, label in enumerate(label for label in ("invoice", "contract", "recipe") for _ in range(8)):
        reply = server.call(api.request("POST", f"/api/v1/documents?name={label}-{n}.txt",
                                        data=text_maker(label, rng).encode(),
                                        headers={"Content-Type": "application/octet-stream"}))
        ids.append(reply.json["id"])
        assert server.call(api.request("PATCH", f"/api/v1/documents/{ids[-1]}", json={"tags": [label]})).status == 200
    runs = server.call(api.request("POST", "/api/v1/runs", json={"workflow": "extract", "documents": ids}))
    for run_id in runs.json["runs"]:
        assert server.call(api.wait_run(run_id))["status"] == "succeeded"
    starred = server.call(api.request("POST", "/api/v1/models/interactions", json={"document": ids[0],
                                                                                  "kind": "starred"}))
    assert starred.status == 201

    watched = paperchain_watched(server)
    page = watched.login("eddie")
    expect(page.locator("#slot-home-widgets").get_by_role("heading", name="Recommended for you")).to_be_visible()
    expect(page.locator("#slot-home-widgets").get_by_role("link", name="invoice-0.txt")).to_be_visible()
    page.get_by_role("link", name="Models").click()
    watched.check_accessibility()
    page.get_by_label("Model name").fill("doctype")
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page).to_have_url(re.compile(r"/p/models/jobs/[0-9a-f]+$"))
    job = page.locator("#training-job")
    # The page is not reloaded: the training events refresh it over the live connection.
    expect(job).to_have_attribute("data-status", "succeeded", timeout=60_000)
    expect(page.get_by_role("progressbar")).to_have_attribute("value", "1.0")
    watched.check_accessibility()
    job.get_by_role("link", name="See version 1 and its evaluation").click()
    matrix = page.locator("table.confusion")
    expect(matrix.locator("thead th")).to_have_text(["True \\ predicted", "contract", "invoice", "recipe"])
    expect(matrix.locator("td.diagonal")).to_have_count(3)
    watched.check_accessibility()
    page.get_by_role("button", name="To production (Version 1)").click()
    expect(page.locator('tr[data-version="1"] .chip')).to_have_text("production")
    watched.check_accessibility()

    # Starring a document from its page (the models plugin's panel there).
    page.goto(f"/documents/{ids[1]}")
    page.get_by_role("button", name="Star this document").click()
    expect(page.locator("section.plugin-star")).to_contain_text("You starred this document")
    watched.check_accessibility()

    # The heat colours keep their contrast in the dark theme, at a phone's width too.
    dark = paperchain_watched(server, color_scheme="dark", viewport={"width": 390, "height": 844})
    page = dark.login("vera", then="/p/models/m/doctype")
    expect(page.locator("table.confusion td.diagonal")).to_have_count(3)
    expect(page.locator("form")).to_have_count(4)  # the header's language, theme and logout forms: no write control
    dark.check_accessibility()
