"""``serve`` (the HTTP API) and ``users`` (accounts, for the first admin)."""

from __future__ import annotations

import click

from .common import kernel_for, owning, warn_failed_plugins, with_open_kernel
from .main import cli


@cli.command()
@click.option("--host", default=None, help="Address to listen on (default: [api] host, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default: [api] port, 8080; 0 picks a free one).")
@click.option("--no-triggers", is_flag=True, help="Serve the API without starting workflow triggers.")
@click.pass_context
def serve(ctx, host, port, no_triggers):
    """Serve the HTTP API (docs at /docs), resume unfinished runs and start workflow triggers.

    The first admin comes from `paperchain users create NAME --role admin`, or from
    PAPERCHAIN_ADMIN_PASSWORD (and PAPERCHAIN_ADMIN_USER, default "admin") on the first start.
    """
    import asyncio
    import logging

    from aiohttp import web

    from ..api.app import create_app
    from ..api.guard import STATE

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    kernel = kernel_for(ctx)
    warn_failed_plugins(kernel)
    settings = kernel.config.api
    host = host or settings.host
    port = settings.port if port is None else port

    async def main():
        await kernel.open()
        runner = None
        try:
            app = create_app(kernel, triggers=not no_triggers)
            runner = web.AppRunner(app, access_log=None, handle_signals=True)
            await runner.setup()
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound = runner.addresses[0][1] if runner.addresses else port
            click.echo(f"Paperchain API on http://{host}:{bound}  (docs: http://{host}:{bound}/docs)", err=True)
            if kernel.cluster is not None:  # the members row says where this server really listens
                await kernel.cluster.members.locate(_address(runner.addresses[0]) if runner.addresses else
                                                    f"{host}:{bound}")
            if not app[STATE].accounts.users:
                click.secho("No users yet: create the first admin with `paperchain users create NAME --role admin`, "
                            "or restart with PAPERCHAIN_ADMIN_PASSWORD set.", fg="yellow", err=True)
            await asyncio.Event().wait()
        finally:
            if runner is not None:
                await runner.cleanup()
            await kernel.close()

    from aiohttp.web_runner import GracefulExit

    try:
        with owning(kernel):  # one writing process per data directory: a second serve is refused
            asyncio.run(main())
    except (KeyboardInterrupt, GracefulExit):  # Ctrl-C or SIGTERM: a clean stop
        click.echo("Stopped. Unfinished runs resume at the next start.", err=True)


def _address(sockname) -> str:
    """``host:port`` of a bound socket (``[host]:port`` for IPv6)."""
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@cli.group()
def users():
    """Manage API users."""


@users.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "editor", "admin"]), default="viewer", show_default=True)
@click.option("--tenant", default="", help="Keep this user's documents and runs apart from other tenants'.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, envvar="PAPERCHAIN_NEW_PASSWORD",
              help="Asked for when not given (or set PAPERCHAIN_NEW_PASSWORD).")
@click.pass_context
def create_user(ctx, name, role, tenant, password):
    """Create a user who can log in to the API."""
    from ..api.accounts import Accounts

    async def body(kernel):
        accounts = Accounts(kernel)
        await accounts.load()
        user = await accounts.create_user(name, password, role, tenant)
        await kernel.journal.flush()
        return user

    user = with_open_kernel(ctx, body, changes=True)
    click.echo(f"Created {user['role']} {user['name']!r}.")


@users.command("list")
@click.pass_context
def list_users(ctx):
    """List API users."""
    from ..api.accounts import Accounts

    async def body(kernel):
        accounts = Accounts(kernel)
        await accounts.load()
        return [accounts.public(u) for u in accounts.users.values()]

    for user in sorted(with_open_kernel(ctx, body), key=lambda u: u["name"]):
        flag = " (disabled)" if user["disabled"] else ""
        click.echo(f"{user['name']}\t{user['role']}\t{user['tenant'] or '-'}{flag}")
