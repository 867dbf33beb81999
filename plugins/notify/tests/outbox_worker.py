"""A kernel with the notify outbox in a process of its own, for the crash tests (it gets killed).

    python outbox_worker.py DATA_DIR DATABASE_URL send URL...   queue one webhook per URL, then print
                                        the number of rows recorded as sent each time it changes
    python outbox_worker.py DATA_DIR DATABASE_URL finish        work the outbox until no row is left
                                        to send, print {status: count} as JSON and exit
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import paperchain_notify
from paperchain.harness import KernelHarness
from paperchain_notify import outbox
from paperchain_sdk import Message

CONFIG = {"components": {"notify.webhook": {"allow_hosts": ["127.0.0.1"], "backoff": 0.05}}}


async def send(harness: KernelHarness, urls: list[str]) -> None:
    hook = harness.kernel.component("notify.webhook")
    await hook.send(Message(to=tuple(urls), subject="crash", body="once", idempotency_key="crash"))
    reported = -1
    while True:  # until killed
        sent = (await hook.outbox.counts()).get("sent", 0)
        if sent != reported:
            print(sent, flush=True)
            reported = sent
        await asyncio.sleep(0.02)


async def finish(harness: KernelHarness) -> None:
    outbox = harness.kernel.component("notify.webhook").outbox
    while True:
        state = await outbox.counts()  # 'queued' counts those being sent too
        if not state.get("queued"):
            print(json.dumps(state), flush=True)
            return
        await asyncio.sleep(0.02)


def main() -> None:
    data_dir, database_url, mode, urls = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
    # Short claims: the killed worker's message in flight goes again a second after, not a minute.
    outbox.LEASE, outbox.RENEW_EVERY = 1.0, 0.25
    config = {**CONFIG, "paperchain": {"database_url": database_url}}
    harness = KernelHarness([paperchain_notify], data_dir=data_dir, config=config)
    try:
        harness.call(send(harness, urls) if mode == "send" else finish(harness))
    finally:
        harness.close()


if __name__ == "__main__":
    main()
