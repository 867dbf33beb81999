"""Starting and stopping the outbox with the kernel."""

from __future__ import annotations

OUTBOXES: dict[str, object] = {}  # database path -> running outbox


def running_outbox(kernel):
    """The kernel's running outbox; ConfigError when it is not running (it starts with the kernel)."""
    from paperchain_sdk import ConfigError

    found = OUTBOXES.get(str(kernel.db_path))
    if found is None:
        raise ConfigError("the notify outbox is not running.", hint="it starts with the kernel (paperchain serve)")
    return found


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
