"""``plugins list``, ``components list`` and ``plugin new``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import console, kernel_for, styled, table
from .main import cli

KIND_CHOICE = click.Choice(["trigger", "action", "exporter", "analyzer", "model", "ledger", "notifier"])


@cli.group()
def plugins():
    """What plugins are installed, and their status."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def plugins_list(ctx, as_json):
    """Every installed plugin: distribution, version, status, error, components by kind."""
    kernel = kernel_for(ctx)
    rows = [
        {"name": p.name, "distribution": p.distribution, "version": p.version, "status": p.status,
         "error": p.error or None, "fix": p.fix or None, "components": p.components}
        for p in kernel.plugins
    ]
    if as_json:
        click.echo(json.dumps({"plugins": rows, "conflicts": kernel.registry.conflicts}, indent=2))
        return
    t = table("plugin", "distribution", "version", "status", "components")
    for row in rows:
        components = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in sorted(row["components"].items()))
        if row["error"]:
            components = f"[red]{row['error']}[/red]\nfix: {row['fix']}"
        t.add_row(row["name"], row["distribution"], row["version"], styled(row["status"]), components)
    out = console()
    out.print(t)
    for conflict in kernel.registry.conflicts:
        out.print(f"[red]conflict:[/red] {conflict}")


@cli.group()
def components():
    """The components plugins offer (what a step's `uses` can name)."""


@components.command("list")
@click.option("--kind", type=KIND_CHOICE, help="Only components of this kind.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def components_list(ctx, kind, as_json):
    """Components by kind, with their plugin and settings."""
    from paperchain_sdk.settings import settings_fields

    entries = kernel_for(ctx).registry.entries(kind)
    rows = [
        {"name": e.spec.name, "kind": e.kind, "plugin": e.plugin.name, "summary": e.spec.summary,
         "settings": settings_fields(e.spec.settings), "cpu_bound": e.spec.cpu_bound, "side_effects": e.spec.side_effects}
        for e in entries
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    t = table("name", "kind", "plugin", "summary", "settings")
    for row in rows:
        t.add_row(row["name"], row["kind"], row["plugin"], row["summary"],
                  ", ".join(f"{k}: {v}" for k, v in row["settings"].items()))
    console().print(t)


@cli.group()
def plugin():
    """Write your own plugin."""


@plugin.command("new")
@click.argument("name")
@click.option("--kind", required=True, type=KIND_CHOICE, help="The kind of component the plugin offers.")
@click.option("--dir", "directory", default=".", type=click.Path(file_okay=False), help="Where to create it.")
def plugin_new(name, kind, directory):
    """Create a plugin package NAME whose tests pass as generated."""
    from ..scaffold import create_plugin

    path = create_plugin(name, kind, Path(directory))
    click.echo(f"Created {path}")
    click.echo(f"Next: pip install -e {path} && pytest {path}/tests && paperchain plugins list")
