"""Starting and stopping the outbox with the kernel."""

from __future__ import annotations

OUTBOXES: dict[str, object] = {}  # database path -> running outbox


async def startup(kernel, names) -> None:
    from .outbox import Outbox

    channels = {name: kernel.component(name) for name in names}
    outbox = Outbox(kernel, channels)
    for channel in channels.values():
        channel.bind(kernel, outbox)
    await outbox.start()
    OUTBOXES[str(kernel.db_path)] = outbox


async def shutdown(kernel) -> None:
    outbox = OUTBOXES.pop(str(kernel.db_path), None)
    if outbox is not None:
        await outbox.stop()
