"""The quantum page in a real browser (Debian's chromium): a circuit submitted from the form, its counts
shown once the job ran; no CSP violation, no console error, no serious accessibility violation (axe)."""

from __future__ import annotations

import re

import pytest
from quantum_ui_support import BELL, quantum_plugin

pytestmark = pytest.mark.slow


def test_submit_a_circuit_and_read_its_counts(paperchain_live_server, paperchain_watched):
    from playwright.sync_api import expect

    server = paperchain_live_server(quantum_plugin())
    watched = paperchain_watched(server)
    page = watched.login("eddie", then="/p/quantum")
    expect(page.get_by_role("link", name="Quantum")).to_be_visible()  # the plugin's entry in the navigation
    watched.check_accessibility()
    page.get_by_label("Circuit (OpenQASM 2.0)").fill("OPENQASM 2.0;\nqreg q[1];\nfoo q[0];")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#error-circuit")).to_contain_text("OpenQASM error")
    watched.check_accessibility()
    page.get_by_label("Circuit (OpenQASM 2.0)").fill(BELL)
    page.get_by_label("Shots").fill("200")
    page.get_by_role("button", name="Submit").click()
    expect(page).to_have_url(re.compile(r"/p/quantum/jobs/qj_"))
    expect(page.locator("#quantum-job")).to_have_attribute("data-status", "succeeded")  # htmx polls until done
    expect(page.locator("table.quantum-counts tbody tr").first).to_be_visible()
    expect(page.locator("[data-counts-chart] canvas")).to_have_count(1)  # the bars, drawn by uPlot
    watched.check_accessibility()

    viewer = paperchain_watched(server, color_scheme="dark", viewport={"width": 390, "height": 844})
    page = viewer.login("vera", then="/p/quantum")
    expect(page.locator("tr[data-job]")).to_have_count(1)
    expect(page.get_by_role("button", name="Submit")).to_have_count(0)
    viewer.check_accessibility()
