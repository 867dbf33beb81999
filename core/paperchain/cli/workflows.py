"""``workflows validate``."""

from __future__ import annotations

from pathlib import Path

import click

from .common import kernel_for
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
