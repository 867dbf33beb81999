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


def with_open_kernel(ctx: click.Context, body):
    """Open the store, run ``await body(kernel)``, close; return its result."""
    import asyncio

    kernel = kernel_for(ctx)

    async def main():
        await kernel.open()
        try:
            return await body(kernel)
        finally:
            await kernel.close()

    return asyncio.run(main())


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
