"""HTTP to a model server: the API key, the SSRF guard, timeouts, retries and what each failure
means (InputError: the caller must fix it; ConfigError: the deployment must; TransientError: a
retry may help).

The key is read when a request is made and goes only into its Authorization header: it is never
logged, and every text the server sent back is cleaned of it before it reaches an error message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from paperchain_sdk import ConfigError, InputError, TransientError
from paperchain_sdk.outbound import Refused, check_url, guarded_session, refusal_in
from paperchain_sdk.retry import RetryPolicy

log = logging.getLogger(__name__)
T = TypeVar("T")
SNIPPET = 300  # characters of a server's error text quoted in a message


class ServerBusy(TransientError):
    """A 429 or 5xx; ``retry_after`` is the wait the server asked for, in seconds (None: not said)."""

    def __init__(self, message: str, hint: str | None = None, retry_after: float | None = None, body: str = ""):
        super().__init__(message, hint)
        self.retry_after, self.body = retry_after, body


class ServerRefused(InputError):
    """A 4xx (not 401/403/429): the request itself is wrong. ``body`` is the server's (cleaned) text."""

    def __init__(self, message: str, hint: str | None = None, status: int = 0, body: str = ""):
        super().__init__(message, hint)
        self.status, self.body = status, body


def retry_after(value: str | None) -> float | None:
    """Seconds in a Retry-After header given as a number (an HTTP date is rare from model APIs: ignored)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class ApiClient:
    """One model server's address, key and patience. ``component`` names the component in messages."""

    def __init__(self, settings: Any, component: str):
        self.settings = settings
        self.component = component
        base = (settings.base_url or "").rstrip("/")
        if not base:
            raise ConfigError(f"{component} has no base_url.",
                              hint=f'set base_url in plugins.toml [components."{component}"], e.g. "http://127.0.0.1:8000/v1"')
        self.base = base
        self.host = urlsplit(base).netloc or base
        self.policy = RetryPolicy(attempts=settings.retries + 1, backoff=settings.backoff,
                                  max_delay=settings.max_delay).check(component)

    # -- the key ------------------------------------------------------------------------------------

    def key(self) -> str:
        s = self.settings
        if s.api_key_env:
            key = os.environ.get(s.api_key_env, "").strip()
            if not key:
                raise ConfigError(f"the environment variable {s.api_key_env} (api_key_env of {self.component}) is unset or empty.",
                                  hint=f"export {s.api_key_env} in the service's environment, or use api_key_file")
            return key
        if s.api_key_file:
            try:
                lines = Path(s.api_key_file).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read the API key file {s.api_key_file} ({type(exc).__name__}).",
                                  hint="check the path in api_key_file and that the service may read it") from None
            key = lines[0].strip() if lines else ""
            if not key:
                raise ConfigError(f"the API key file {s.api_key_file} is empty.", hint="put the key on its first line")
            return key
        return ""  # a local server needs none

    # -- requests -----------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return check_url(self.base + path, self.settings.allow_hosts)

    def timeout(self):
        import aiohttp

        return aiohttp.ClientTimeout(sock_connect=self.settings.connect_timeout, sock_read=self.settings.read_timeout)

    def session(self):
        return guarded_session(self.settings.allow_hosts, timeout=self.timeout())

    def headers(self, key: str) -> dict[str, str]:
        headers = {"Accept": "application/json, text/event-stream"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def open(self, session, path: str, body: Any, key: str):
        """The response to ``body`` (POST) or GET when None, already checked to be a 2xx; the caller releases it."""
        url = self.url(path)
        method = "GET" if body is None else "POST"
        response = await session.request(method, url, json=body, headers=self.headers(key), allow_redirects=False)
        if response.status < 300:
            return response
        try:
            text = clean(await response.text(errors="replace"), key)
        finally:
            response.release()
        raise self.status_error(response.status, text, response.headers.get("Retry-After"), f"{method} {path}")

    def status_error(self, status: int, text: str, after: str | None, what: str) -> Exception:
        where = f"the model server {self.host} ({what})"
        quoted = text[:SNIPPET]
        if status == 429 or status >= 500:
            return ServerBusy(f"{where} answered HTTP {status}: {quoted}", hint="it is busy or failing; try again later",
                              retry_after=retry_after(after), body=text)
        if status in (401, 403):
            return ConfigError(f"{where} refused the API key (HTTP {status}).",
                               hint=f"check api_key_env / api_key_file of {self.component}")
        hint = "check base_url (the API root, ending in /v1)" if status == 404 else "check model and the request's options"
        return ServerRefused(f"{where} answered HTTP {status}: {quoted}", hint=hint, status=status, body=text)

    async def json(self, path: str, body: Any = None, final: Callable[[Exception], bool] | None = None) -> Any:
        """POST ``body`` (GET when None) and the JSON answer, with retries (none for a failure
        ``final`` says retrying cannot help)."""
        key = self.key()

        async def once(session):
            response = await self.open(session, path, body, key)
            try:
                text = await response.text(errors="replace")
            finally:
                response.release()
            try:
                return json.loads(text)
            except ValueError:
                raise TransientError(f"the model server {self.host} answered {path} with text that is not JSON: "
                                     f"{clean(text, key)[:SNIPPET]!r}",
                                     hint="check that base_url points at an OpenAI-compatible API") from None

        async with self.session() as session:
            return await self.retrying(lambda: self.guard(once(session)), final)

    async def retrying(self, attempt: Callable[[], Awaitable[T]], final: Callable[[Exception], bool] | None = None) -> T:
        """``attempt()`` until it succeeds, fails for good, or the retries are spent: exponential
        backoff with jitter, or the server's Retry-After when it gave one (up to max_delay)."""
        number = 1
        while True:
            try:
                return await attempt()
            except TransientError as exc:
                if not self.policy.should_retry(number, exc) or (final is not None and final(exc)):
                    raise
                wait = self.policy.delay(number)
                asked = getattr(exc, "retry_after", None)
                if asked is not None:
                    if asked > self.settings.max_delay:
                        raise TransientError(f"{exc.message} It asks to wait {asked:g} s, more than max_delay "
                                             f"({self.settings.max_delay:g} s).", hint="the run's retry will try later") from None
                    wait = asked
                log.info("%s: %s; attempt %d of %d in %.2f s", self.component, exc.message[:120], number + 1,
                         self.policy.attempts, wait)
                number += 1
                await asyncio.sleep(wait)

    async def guard(self, awaitable: Awaitable[T]) -> T:
        """``awaitable``, with aiohttp's failures told as Paperchain errors."""
        import aiohttp

        try:
            return await awaitable
        except Refused:
            raise
        except TimeoutError:
            raise TransientError(f"the model server {self.host} did not answer within {self.settings.read_timeout:g} s "
                                 f"(or connect within {self.settings.connect_timeout:g} s).",
                                 hint="raise read_timeout for slow models, or check the server") from None
        except aiohttp.ClientConnectorError as exc:
            if (refused := refusal_in(exc)) is not None:
                raise refused from None
            raise TransientError(f"could not connect to the model server {self.host}: {exc.os_error or exc}.",
                                 hint="check that it runs and base_url is right") from None
        except aiohttp.ClientError as exc:
            raise TransientError(f"the connection to the model server {self.host} failed: {type(exc).__name__}.",
                                 hint="it may have restarted; try again") from None


def clean(text: str, key: str) -> str:
    """``text`` without ``key`` (servers quote a wrong key back)."""
    return text.replace(key, "[redacted]") if key else text
