"""Real-browser tests of web pages: Debian's chromium driven by Playwright (never ``playwright install``).

``LiveServer(plugins, data_dir)`` serves the real app (users ada, eddie, vera) from a thread with its
own event loop, so Playwright's synchronous API can drive it from the test. ``Watched`` is a browser
context whose pages report Content-Security-Policy violations and console errors; its
``check_accessibility()`` runs axe and fails on a serious or critical violation. The pytest
fixtures ``paperchain_chromium`` and ``paperchain_watched`` (see :mod:`paperchain_sdk.testing.plugin`)
wrap them; without Playwright or chromium the tests that use them are skipped with the advice.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import threading

from .web import PASSWORD, USERS

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
_WATCH = """document.addEventListener("securitypolicyviolation",
  (e) => window.reportViolation(e.violatedDirective + " " + e.blockedURI));"""


def chromium_path() -> str | None:
    return shutil.which("chromium")


class LiveServer:
    """The app (``paperchain serve``'s) on a free loopback port, served from a thread of its own."""

    def __init__(self, plugins, data_dir, **options):
        from paperchain.harness import ApiHarness

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="paperchain-live-server", daemon=True)
        self.thread.start()
        self.api = ApiHarness(list(plugins), data_dir=data_dir, **options)
        try:
            self.call(self.api.start())
            for name, role in USERS:
                self.call(self.api.state.accounts.create_user(name, PASSWORD, role))
        except BaseException:
            self.close()
            raise
        self.url = self.api.url

    def call(self, coro, timeout: float = 60):
        """Run a coroutine on the server's loop (e.g. ``server.call(server.api.request(...))``)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        try:
            if self.api.url:
                self.call(self.api.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


class Watched:
    """A browser context whose pages report CSP violations, console errors and page errors."""

    def __init__(self, chromium, server, **options):
        self.server, self.problems = server, []
        self.context = chromium.new_context(base_url=server.url, **options)
        self.context.expose_function("reportViolation", lambda text: self.problems.append(f"CSP: {text}"))
        self.context.add_init_script(_WATCH)
        self.page = self.context.new_page()
        self.error_pages: set[str] = set()  # statuses of error pages the test opened on purpose
        self.page.on("response", self._response)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))

    def _response(self, response):
        if response.request.resource_type == "document" and response.status >= 400:
            self.error_pages.add(str(response.status))

    def _console(self, message):
        loaded = re.match(r"Failed to load resource: the server responded with a status of (\d+)", message.text)
        if message.type == "error" and not (loaded and loaded.group(1) in self.error_pages):
            self.problems.append(f"console: {message.text}")

    def login(self, name: str, password: str = PASSWORD, then: str = "/"):
        """Log in through the form (English labels) and land on ``then``."""
        page = self.page
        page.goto(then)
        page.get_by_label("User name").fill(name)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        return page

    def check_accessibility(self) -> None:
        from axe_playwright_python.sync_playwright import Axe

        results = Axe().run(self.page)
        serious = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                   for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
        assert serious == [], serious

    def close(self) -> None:
        self.context.close()
