"""Starting and stopping the outbox with the kernel; it lives in the kernel's plugin_state."""

from __future__ import annotations


def running_outbox(kernel):
    """The kernel's running outbox; ConfigError when it is not running (it starts with the kernel)."""
    from paperchain_sdk import ConfigError

    found = kernel.plugin_state("notify").get("outbox")
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
    kernel.plugin_state("notify")["outbox"] = outbox


async def shutdown(kernel) -> None:
    outbox = kernel.plugin_state("notify").pop("outbox", None)
    if outbox is not None:
        await outbox.stop()
