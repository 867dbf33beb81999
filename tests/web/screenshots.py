"""Screenshots of the real pages for the README, taken from a running UI so they stay true.

    .venv/bin/python tests/web/screenshots.py docs/screenshots [--dark]

Starts a server with the OCR and export plugins and the example `scan` workflow, uploads the
example scan through the upload page and lets it run, then photographs home, upload, runs, the
run, documents and the document, the analytics, the scan workflow and its editor, in the light
theme (and the dark one with --dark), with Debian's chromium as the browser tests use it.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from test_browser import ARGS, EXAMPLES, PASSWORD, LiveServer, expect, playwright_api  # noqa: E402


def main(out: Path, schemes: tuple[str, ...]) -> None:
    import paperchain_export
    import paperchain_ocr

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pc-shots-") as work:
        server = LiveServer(Path(work) / "data", plugins=[paperchain_ocr, paperchain_export])
        try:
            folder = Path(work) / "workflows"
            folder.mkdir()
            shutil.copy(EXAMPLES / "workflows" / "scan.toml", folder)
            server.call(server.api.kernel.workflows.load_dir(folder))
            with playwright_api.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
                for scheme in schemes:
                    page = browser.new_context(base_url=server.url, color_scheme=scheme,
                                               viewport={"width": 1280, "height": 800}).new_page()
                    page.goto("/upload")
                    page.get_by_label("User name").fill("eddie")
                    page.get_by_label("Password").fill(PASSWORD)
                    page.get_by_role("button", name="Log in").click()
                    page.get_by_label("Files to upload").set_input_files(str(EXAMPLES / "documents" / "survey-scan.pdf"))
                    item = page.locator("#uploads li", has_text="survey-scan.pdf")
                    expect(item).to_have_attribute("data-state", "succeeded", timeout=240_000)
                    page.screenshot(path=out / f"upload-{scheme}.png")
                    item.get_by_role("link", name="Open the run").click()
                    expect(page.locator("#run-live h1 .chip")).to_have_text("succeeded")
                    page.screenshot(path=out / f"run-{scheme}.png", full_page=True)
                    document = page.locator("dl.facts code").first.inner_text()
                    for name, path in (("home", "/"), ("runs", "/runs"), ("documents", "/documents?view=cards"),
                                       ("document", f"/documents/{document}"), ("analytics", "/analytics"),
                                       ("workflow", "/workflows/scan"), ("workflow-edit", "/workflows/scan/edit")):
                        page.goto(path)
                        page.wait_for_load_state("networkidle")
                        page.screenshot(path=out / f"{name}-{scheme}.png")
                browser.close()
        finally:
            server.close()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--dark"]
    main(Path(arguments[0] if arguments else "docs/screenshots"),
         ("light", "dark") if "--dark" in sys.argv else ("light",))
