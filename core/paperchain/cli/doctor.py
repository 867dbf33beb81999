"""``paperchain doctor``: is this deployment healthy, and if not, what to fix (checks in ``paperchain.doctor``)."""

from __future__ import annotations

import json

import click

from ..doctor import PARTS
from .main import cli

MARKS = {"ok": ("ok", "green"), "warning": ("warning", "yellow"), "problem": ("PROBLEM", "red")}


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--only", "parts", multiple=True, type=click.Choice(PARTS),
              help="Only this check (repeatable), e.g. a worker's healthcheck: --only database --only broker.")
@click.pass_context
def doctor(ctx, as_json, parts):
    """Check the database (reachable, migrated), the broker, the blob store, workers and API servers.

    Exit code 0: healthy (warnings allowed); 1: at least one problem, each with how to fix it."""
    import asyncio

    from paperchain_sdk import ConfigError

    from ..doctor import PROBLEM, Finding, diagnose, healthy, installed_plugins
    from .common import kernel_for

    try:
        kernel = kernel_for(ctx)
    except ConfigError as exc:  # a configuration that does not load is the first thing to fix
        findings = [Finding("configuration", PROBLEM, exc.message, exc.hint or "")]
    else:
        findings = asyncio.run(diagnose(kernel.config, installed_plugins(kernel.plugins), queues=_queues(kernel), parts=parts))
        findings += [Finding("plugins", PROBLEM, f"plugin {p.name!r} ({p.label}) failed to load: {p.error}", p.fix)
                     for p in kernel.plugins if p.status == "failed"]
    if as_json:
        click.echo(json.dumps({"healthy": healthy(findings), "checks": [f.as_dict() for f in findings]}, indent=2))
    else:
        for finding in findings:
            mark, colour = MARKS[finding.level]
            click.echo(f"{click.style(f'{mark:>7}', fg=colour)}  {finding.part:<13} {finding.message}")
            if finding.fix and finding.level != "ok":
                click.echo(f"{'':>7}  {'':<13} fix: {finding.fix}")
        problems = sum(f.level == PROBLEM for f in findings)
        click.secho("Healthy." if not problems else f"{problems} problem(s): see the fixes above.",
                    fg="green" if not problems else "red", bold=True)
    ctx.exit(0 if healthy(findings) else 1)


def _queues(kernel) -> set[str]:
    """With the Celery executor, the queues this installation's steps are sent to, each of which needs a
    live worker: a component's capability (engine/celery/app.py ``queue_for``), and "default"."""
    if kernel.config.executor != "celery":
        return set()
    from ..engine.celery.app import queue_for

    return {"default", *(queue_for(entry.spec.name) for entry in kernel.registry.entries())}
