"""Account security from the command line: unlock users, reset passwords and second factors, list
and lift address blocks. These work on the database directly, so they also work while the API
is down or has locked everyone out; a running server sees the change within seconds
(docs/security.md). Each change is written to the audit log with the actor ``cli:<login>``."""

from __future__ import annotations

import click

from .common import console, table, with_open_kernel
from .main import cli
from .serve import users


def _actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


async def _open_accounts(kernel):
    from ..api.accounts import Accounts
    from ..api.audit import Audit

    accounts, audit = Accounts(kernel), Audit(kernel)
    await accounts.load()
    await audit.load()
    return accounts, audit


async def _audited(kernel, audit, action: str, target: str, **details) -> None:
    await audit.record(actor=_actor(), action=action, target=target, ip="", outcome="success", status=0,
                       details=details)
    await kernel.journal.flush()


@users.command("unlock")
@click.argument("name")
@click.pass_context
def unlock_user(ctx, name):
    """Lift NAME's login lockout and forget their failed logins."""

    async def body(kernel):
        accounts, audit = await _open_accounts(kernel)
        accounts.user(name)
        found = await accounts.security.throttle.unlock(f"user:{name}")
        await _audited(kernel, audit, "cli users unlock", f"user:{name}", had_failures=found)
        return found

    found = with_open_kernel(ctx, body, changes=True)
    click.echo(f"Unlocked {name!r}." if found else f"{name!r} had no failed logins to forget.")


@users.command("password")
@click.argument("name")
@click.option("--password", prompt="New password", hide_input=True, confirmation_prompt=True,
              envvar="PAPERCHAIN_NEW_PASSWORD", help="Asked for when not given (or set PAPERCHAIN_NEW_PASSWORD).")
@click.pass_context
def reset_password(ctx, name, password):
    """Set NAME's password (it must follow the policy: docs/security.md) and lift any lockout."""

    async def body(kernel):
        accounts, audit = await _open_accounts(kernel)
        await accounts.update_user(name, password=password)
        await accounts.security.throttle.unlock(f"user:{name}")
        await _audited(kernel, audit, "cli users password", f"user:{name}")

    with_open_kernel(ctx, body, changes=True)
    click.echo(f"Set a new password for {name!r}.")


@users.group("mfa")
def mfa():
    """Users' second factors (TOTP)."""


@mfa.command("status")
@click.argument("name", required=False)
@click.pass_context
def mfa_status(ctx, name):
    """Who has a second factor, who must have one (one user, or all)."""

    async def body(kernel):
        accounts, _ = await _open_accounts(kernel)
        names = [accounts.user(name)["name"]] if name else sorted(accounts.users)
        return [(n, accounts.users[n]["role"], accounts.security.mfa.status(accounts.users[n])) for n in names]

    t = table("user", "role", "second factor", "required", "recovery codes left")
    for user, role, status in with_open_kernel(ctx, body):
        state = "on" if status["enrolled"] else "being set up" if status["pending"] else "off"
        t.add_row(user, role, state, "yes" if status["required"] else "no", str(status["recovery_codes_left"]))
    console().print(t)


@mfa.command("reset")
@click.argument("name")
@click.pass_context
def mfa_reset(ctx, name):
    """Remove NAME's second factor (a lost device); they set it up again at their next login."""

    async def body(kernel):
        accounts, audit = await _open_accounts(kernel)
        accounts.user(name)
        found = await accounts.security.mfa.reset(name)
        await _audited(kernel, audit, "cli users mfa reset", f"user:{name}", had_second_factor=found)
        return found

    found = with_open_kernel(ctx, body, changes=True)
    click.echo(f"Removed {name!r}'s second factor." if found else f"{name!r} had no second factor.")


@cli.group()
def security():
    """Address blocks and login lockouts."""


@security.command("blocks")
@click.pass_context
def list_blocks(ctx):
    """List blocked addresses and networks."""

    async def body(kernel):
        accounts, _ = await _open_accounts(kernel)
        return accounts.security.addresses.listing(accounts.security.clock())

    t = table("network", "until", "by", "reason")
    for block in with_open_kernel(ctx, body):
        t.add_row(block["network"], block["expires"] or "lifted by hand", block["created_by"], block["reason"])
    console().print(t)


@security.command("block")
@click.argument("network")
@click.option("--minutes", type=float, default=None, help="How long (default: until lifted).")
@click.option("--reason", default="blocked from the command line", show_default=True)
@click.pass_context
def add_block(ctx, network, minutes, reason):
    """Block an address or CIDR network (IPv4 or IPv6)."""

    async def body(kernel):
        accounts, audit = await _open_accounts(kernel)
        security = accounts.security
        block = security.addresses.add(network, minutes=minutes, reason=reason, by=_actor(), now=security.clock())
        await _audited(kernel, audit, "cli security block", f"address:{block.network}", minutes=minutes, reason=reason)
        return block

    block = with_open_kernel(ctx, body, changes=True)
    click.echo(f"Blocked {block.network}" + (f" for {minutes:g} minutes." if minutes else " until lifted."))


@security.command("unblock")
@click.argument("network")
@click.pass_context
def remove_block(ctx, network):
    """Lift the block on an address or network, and forget that address's failed logins."""

    async def body(kernel):
        accounts, audit = await _open_accounts(kernel)
        security = accounts.security
        block = await security.addresses.remove(network)
        if block is not None and block.network.endswith(("/32", "/128")):
            await security.throttle.unlock(f"ip:{block.network.split('/')[0]}")
        await _audited(kernel, audit, "cli security unblock", f"address:{network}", was_blocked=block is not None)
        return block

    block = with_open_kernel(ctx, body, changes=True)
    click.echo(f"Lifted the block on {block.network}." if block else f"{network} was not blocked.")


@security.command("lockouts")
@click.pass_context
def lockouts(ctx):
    """List accounts and addresses locked out, or waiting, after failed logins."""

    async def body(kernel):
        accounts, _ = await _open_accounts(kernel)
        return accounts.security.throttle.locked(accounts.security.clock())

    t = table("kind", "name", "state", "seconds left")
    for row in with_open_kernel(ctx, body):
        t.add_row(row["kind"], row["name"], row["reason"], f"{row['retry_after']:.0f}")
    console().print(t)
