"""Helpers for plugins' command-line commands (``paperchain_commands``).

A plugin's click command runs inside ``paperchain``; it reaches the deployment's kernel through
:func:`with_kernel` instead of importing the kernel. click is imported by the caller, not here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

OPENER_KEY = "paperchain.with_open_kernel"


def with_kernel(body: Callable[[Any], Awaitable[Any]], *, changes: bool = False) -> Any:
    """Open the kernel of the current ``paperchain`` invocation (its --config), run
    ``await body(kernel)``, close it, and return the result. Call it from a click command.

    Say ``changes=True`` when the command writes anything (a database row, a blob, a ledger
    entry): it then takes the data directory's writer lock, and is refused with a clear message
    while another process (``paperchain serve``) writes there."""
    import click

    ctx = click.get_current_context()
    opener = ctx.find_root().meta.get(OPENER_KEY)
    if opener is None:
        raise RuntimeError("with_kernel() works only inside a command run by the `paperchain` CLI")
    return opener(ctx, body, changes=changes)
