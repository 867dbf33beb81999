"""Screenshots of the real pages for the README, taken from a running UI so they stay true.

    .venv/bin/python tests/web/screenshots.py docs/screenshots [--dark]

Starts a server with the OCR, export, ledger, models and notify plugins and the example `scan`
workflow, uploads the example scan through the upload page and lets it run, then photographs home,
upload, runs, the run, documents and the document, the analytics, the scan workflow and its
editor; as the admin, the users and the audit log; and pages plugins add: the ledger's verify page
(a notarized file's hash verified), the models registry (a classifier trained through the API)
and the notify outbox (an in-app message a workflow sent). In the light theme in English (and
with --dark the dark theme in Spanish too), at desktop width, saved as 256-colour PNGs, with
Debian's chromium as the browser tests use it.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from test_browser import ARGS, EXAMPLES, PASSWORD, LiveServer, expect, playwright_api  # noqa: E402

# The light pictures are in English, the dark ones in Spanish (the language switch's cookie).
LANGUAGE = {"light": "en", "dark": "es"}
SUCCEEDED = {"en": "succeeded", "es": "completada"}


def session(browser, url: str, scheme: str, user: str):
    """A desktop-sized page logged in as ``user`` in ``scheme``'s theme and language."""
    page = browser.new_context(base_url=url, color_scheme=scheme, viewport={"width": 1280, "height": 800}).new_page()
    page.goto("/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.context.add_cookies([{"name": "pc_lang", "value": LANGUAGE[scheme], "url": url}])
    return page


def main(out: Path, schemes: tuple[str, ...]) -> None:
    import paperchain_export
    import paperchain_ledger
    import paperchain_models
    import paperchain_notify
    import paperchain_ocr
    from paperchain_ledger import runtime

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pc-shots-") as work:
        server = LiveServer(Path(work) / "data", plugins=[paperchain_ocr, paperchain_export, paperchain_ledger,
                                                                paperchain_models, paperchain_notify])
        try:
            folder = Path(work) / "workflows"
            folder.mkdir()
            shutil.copy(EXAMPLES / "workflows" / "scan.toml", folder)
            server.call(server.api.kernel.workflows.load_dir(folder))
            server.workflow("notice", [{"id": "tell", "uses": "notify.inapp", "with": {
                "to": ["eddie"], "subject": "Survey scan ready", "body": "The OCR run finished."}}])
            server.finished(server.start("notice"))
            train_a_model(server)
            minutes = hashlib.sha256(b"minutes of the board meeting").hexdigest()
            runtime.book_for_kernel(server.api.kernel).notarize(minutes, {"name": "minutes.txt"})
            with playwright_api.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
                for scheme in schemes:
                    page = session(browser, server.url, scheme, "eddie")
                    page.goto("/upload")
                    page.locator("#upload-files").set_input_files(str(EXAMPLES / "documents" / "survey-scan.pdf"))
                    item = page.locator("#uploads li", has_text="survey-scan.pdf")
                    expect(item).to_have_attribute("data-state", "succeeded", timeout=240_000)
                    save(page, out / f"upload-{scheme}.png")
                    item.locator("a[href^='/runs/']").click()  # the run the upload started
                    expect(page.locator("#run-live h1 .chip")).to_have_text(SUCCEEDED[LANGUAGE[scheme]])
                    save(page, out / f"run-{scheme}.png", full_page=True)
                    document = page.locator("dl.facts code").first.inner_text()
                    for name, path in (("home", "/"), ("runs", "/runs"), ("documents", "/documents?view=cards"),
                                       ("document", f"/documents/{document}"), ("analytics", "/analytics"),
                                       ("workflow", "/workflows/scan"), ("workflow-edit", "/workflows/scan/edit"),
                                       ("models", "/p/models"), ("outbox", "/p/notify")):
                        shoot(page, path, out / f"{name}-{scheme}.png")
                    page.goto("/p/ledger")  # the notarized file's hash verified against the checkpoint
                    page.locator("#ledger-sha256").fill(minutes)
                    page.locator("#ledger-verify button").click()
                    expect(page.locator("#ledger-found")).to_be_visible()
                    save(page, out / f"ledger-{scheme}.png", full_page=True)
                    page.context.close()
                    page = session(browser, server.url, scheme, "ada")
                    for name, path in (("users", "/admin/users"), ("audit", "/admin/audit")):
                        shoot(page, path, out / f"{name}-{scheme}.png")
                    page.context.close()
                browser.close()
        finally:
            server.close()
    print(f"screenshots in {out}")


# Sentences of three kinds of document, so the registry page has a trained model to show.
KINDS = {"invoice": "Invoice total amount due VAT payment within thirty days bank transfer",
         "contract": "Agreement between the parties term termination clause signed obligations",
         "recipe": "Bake flour sugar butter eggs in the oven stir minutes until golden"}


def train_a_model(server) -> None:
    """A text classifier trained through the API on generated sentences, then put in production."""
    import random

    rng, texts, labels = random.Random(1), [], []
    for label, words in KINDS.items():
        for _ in range(12):
            texts.append(" ".join(rng.choices(words.split(), k=20)))
            labels.append(label)
    api = server.api
    reply = server.call(api.request("POST", "/api/v1/models/registry/doctype/train",
                                    json={"task": "text", "texts": texts, "labels": labels}))
    assert reply.status == 202, reply
    for _ in range(600):
        job = server.call(api.request("GET", f"/api/v1/models/jobs/{reply.json['job']}")).json
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.1)
    assert job["status"] == "succeeded", job
    promoted = server.call(api.request("POST", "/api/v1/models/registry/doctype/versions/1/promote",
                                       json={"stage": "production"}))
    assert promoted.status == 200, promoted


def shoot(page, path: str, file: Path) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    save(page, file)


def save(page, file: Path, full_page: bool = False) -> None:
    """The screenshot as a 256-colour PNG: a quarter of the bytes, no visible loss on a UI page."""
    from PIL import Image

    page.screenshot(path=file, full_page=full_page)
    with Image.open(file) as shot:
        quantized = shot.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    quantized.save(file, optimize=True)


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--dark"]
    main(Path(arguments[0] if arguments else "docs/screenshots"),
         ("light", "dark") if "--dark" in sys.argv else ("light",))
