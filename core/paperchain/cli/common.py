"""Shared by the commands: building the kernel from the CLI's options, printing tables."""

from __future__ import annotations

import click


def kernel_for(ctx: click.Context):
    """The kernel for this invocation (plugins loaded, store not opened), built once."""
    root = ctx.find_root()
    if "kernel" not in root.meta:
        from ..config import load_config
        from ..kernel import Kernel

        root.meta["kernel"] = Kernel(load_config((root.obj or {}).get("config_path")))
    return root.meta["kernel"]


def warn_failed_plugins(kernel) -> None:
    for plugin in kernel.plugins:
        if plugin.status == "failed":
            click.secho(f"Warning: plugin {plugin.name!r} ({plugin.label}) failed to load: {plugin.error}", fg="yellow", err=True)
            click.echo(f"  fix: {plugin.fix}", err=True)


def with_open_kernel(ctx: click.Context, body, *, changes: bool = False):
    """Open the store, run ``await body(kernel)``, close; return its result.

    A command that ``changes`` anything first becomes the data directory's one writing process
    (``store/owner.py``): refused, with a clear message, while ``paperchain serve`` runs on it."""
    import asyncio
    import contextlib

    kernel = kernel_for(ctx)

    async def main():
        await kernel.open()
        try:
            return await body(kernel)
        finally:
            await kernel.close()

    with owning(kernel) if changes else contextlib.nullcontext():
        return asyncio.run(main())


def owning(kernel):
    """The data directory's writer lock for this process (a context manager)."""
    from ..store.owner import DataDirOwner

    return DataDirOwner(kernel.data_dir)


def console():
    from rich.console import Console

    return Console()


def table(*columns: str, title: str | None = None):
    from rich.table import Table

    t = Table(title=title, header_style="bold")
    for column in columns:
        t.add_column(column, overflow="fold")
    return t


STATUS_STYLE = {"succeeded": "green", "failed": "red", "running": "yellow", "queued": "cyan", "skipped": "dim",
                "active": "green", "disabled": "dim"}


def styled(status: str) -> str:
    style = STATUS_STYLE.get(status)
    return f"[{style}]{status}[/{style}]" if style else status
