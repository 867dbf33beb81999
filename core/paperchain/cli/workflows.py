"""``workflows validate``, and sharing saved workflows between tenants (``share``, ``unshare``,
``shares``): the operator's commands, audited like the API's share routes."""

from __future__ import annotations

from pathlib import Path

import click

from .common import kernel_for, with_open_kernel
from .main import cli


@cli.group()
def workflows():
    """Workflow files."""


@workflows.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.pass_context
def workflows_validate(ctx, files):
    """Check workflow files against the installed components, without running anything."""
    from paperchain_sdk import PaperchainError

    kernel = kernel_for(ctx)
    failures = 0
    for file in files:
        try:
            wf = kernel.load_workflow(Path(file))
        except PaperchainError as exc:
            failures += 1
            click.secho(f"{file}: invalid", fg="red")
            click.echo(f"  {exc.message}" + (f"\n  How to fix: {exc.hint}" if exc.hint else ""))
        else:
            click.secho(f"{file}: valid", fg="green", nl=False)
            click.echo(f" (workflow {wf.name!r}, {len(wf.steps)} steps, {len(wf.batch_steps)} batch steps)")
    return 1 if failures else 0


async def _audited(kernel, action: str, ref: str, **details) -> None:
    """An audit entry for a change made from the command line (the actor is the local account)."""
    import getpass

    from ..api.audit import Audit

    audit = Audit(kernel)
    await audit.load()
    await audit.record(actor=f"cli:{getpass.getuser()}", action=f"workflows {action}", target=f"workflow:{ref}",
                       ip="", outcome="success", status=0, details=details)
    await kernel.journal.flush()


def _print_shares(ref: str, tenants: list[str]) -> None:
    shown = ", ".join("every tenant" if t == "*" else t for t in tenants) or "no other tenant"
    click.echo(f"{ref}: shared with {shown}")


@workflows.command("share")
@click.argument("workflow")
@click.argument("tenant")
@click.pass_context
def workflows_share(ctx, workflow, tenant):
    """Let TENANT ('*': every tenant) read and run a saved WORKFLOW (its name, or <tenant>:<name>
    for a tenant's own), without changing it."""

    async def body(kernel):
        tenants = await kernel.workflows.share(workflow, tenant, by="cli")
        await _audited(kernel, "share", workflow, shared_with=tenant)
        return tenants

    _print_shares(workflow, with_open_kernel(ctx, body, changes=True))


@workflows.command("unshare")
@click.argument("workflow")
@click.argument("tenant")
@click.pass_context
def workflows_unshare(ctx, workflow, tenant):
    """Stop sharing a saved WORKFLOW with TENANT ('*' withdraws the share with every tenant)."""

    async def body(kernel):
        tenants = await kernel.workflows.unshare(workflow, tenant)
        await _audited(kernel, "unshare", workflow, unshared_with=tenant)
        return tenants

    _print_shares(workflow, with_open_kernel(ctx, body, changes=True))


@workflows.command("shares")
@click.argument("workflow")
@click.pass_context
def workflows_shares(ctx, workflow):
    """The tenants a saved WORKFLOW is shared with."""

    async def body(kernel):
        return await kernel.workflows.shares(workflow)

    _print_shares(workflow, with_open_kernel(ctx, body))
