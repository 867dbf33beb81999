"""``run``, ``resume`` and ``runs list/show``."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from .common import console, kernel_for, styled, table, warn_failed_plugins, with_open_kernel
from .main import cli


def _parse_inputs(pairs) -> dict:
    import json

    inputs = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--input")
        try:
            inputs[key] = json.loads(value)  # numbers, true/false, lists …
        except ValueError:
            inputs[key] = value
    return inputs


@cli.command()
@click.argument("workflow", type=click.Path(dir_okay=False))
@click.argument("paths", nargs=-1, type=click.Path(readable=False))  # bad files fail their own runs
@click.option("-i", "--input", "inputs", multiple=True, metavar="KEY=VALUE", help="A workflow input (repeatable).")
@click.option("--out", default="paperchain-output", type=click.Path(file_okay=False), show_default=True,
              help="Where to place the results (linked from the blob store).")
@click.pass_context
def run(ctx, workflow, paths, inputs, out):
    """Run WORKFLOW (a .toml or .json file) over files and folders, or once with --input values."""
    from ..documents import expand_paths

    kernel = kernel_for(ctx)
    warn_failed_plugins(kernel)
    wf = kernel.load_workflow(Path(workflow))
    files = expand_paths(paths)
    if paths and not files:
        raise click.UsageError(f"no files found in {', '.join(paths)}")

    async def body(kernel):
        with _progress(len(files) or 1) as advance:
            kernel.engine.listeners.append(lambda run: advance())
            batch_id = await kernel.engine.submit(wf, files, _parse_inputs(inputs))
            await kernel.engine.run_batch(batch_id)
        return await _report(kernel, batch_id, Path(out))

    return with_open_kernel(ctx, body, changes=True)


@cli.command()
@click.option("--out", default="paperchain-output", type=click.Path(file_okay=False), show_default=True)
@click.pass_context
def resume(ctx, out):
    """Finish every run a crash or stop left unfinished (finished steps are not run again)."""

    async def body(kernel):
        batches = await kernel.engine.resume()
        if not batches:
            click.echo("Nothing to resume: every batch has finished.")
            return 0
        codes = [await _report(kernel, batch_id, Path(out)) for batch_id in batches]
        return max(codes)

    return with_open_kernel(ctx, body, changes=True)


class _progress:
    """A progress bar on a terminal; nothing when output is piped."""

    def __init__(self, total: int):
        self.total = total

    def __enter__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            transient=True, disable=not sys.stderr.isatty(), console=Console(stderr=True))
        self.bar.__enter__()
        task = self.bar.add_task("runs", total=self.total)
        return lambda: self.bar.advance(task)

    def __exit__(self, *exc):
        self.bar.__exit__(*exc)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "document"


async def _report(kernel, batch_id: str, out: Path) -> int:
    from ..outcomes import load_batch

    outcome = await load_batch(kernel, batch_id, outputs=False)  # a summary needs no outputs
    folder = out / batch_id
    for index, run in enumerate(outcome.runs):
        sub = folder / f"{index + 1:04d}-{_safe(Path(run.document_name or 'run').stem)}"
        for artifact in run.artifacts:
            kernel.blobs.export(artifact.sha256, sub / _safe(artifact.name))
    if outcome.batch_run:
        for artifact in outcome.batch_run.artifacts:
            kernel.blobs.export(artifact.sha256, folder / _safe(artifact.name))

    out_console = console()
    t = table("#", "document", "status", "steps", "artifacts", title=f"{outcome.workflow}: batch {batch_id}")
    rows = [(str(i + 1), outcome.label(i), run) for i, run in enumerate(outcome.runs)]
    if outcome.batch_run:
        rows.append(("batch", "(all documents)", outcome.batch_run))
    for label, name, run in rows:
        done = sum(1 for s in run.steps.values() if s.status == "succeeded")
        t.add_row(label, name, styled(run.status), f"{done}/{len(run.steps)}", str(len(run.artifacts)))
    out_console.print(t)
    for label, name, run in rows:  # whole lines, so long errors stay readable and greppable
        if run.error:
            out_console.print(f"[red]#{label} {name}:[/red] {run.error}", soft_wrap=True, highlight=False)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(outcome.counts().items()))
    out_console.print(f"Batch [bold]{outcome.status}[/bold]: {counts}.")
    if any(r.artifacts for r in outcome.runs) or (outcome.batch_run and outcome.batch_run.artifacts):
        out_console.print(f"Results: [bold]{folder.resolve()}[/bold]")
    out_console.print(f"Details: paperchain runs list --batch {batch_id}")
    return 0 if outcome.succeeded else 1


@cli.group()
def runs():
    """Past and current runs."""


@runs.command("list")
@click.option("--status", type=click.Choice(["queued", "running", "succeeded", "failed"]))
@click.option("--batch", "batch_id", help="Only runs of this batch.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1))
@click.pass_context
def runs_list(ctx, status, batch_id, limit):
    """The most recent runs."""

    async def body(kernel):
        import sqlalchemy as sa

        from ..store.tables import documents, runs

        query = (sa.select(runs.c.id, runs.c.workflow, documents.c.name, runs.c.status, runs.c.created, runs.c.error)
                 .select_from(runs.outerjoin(documents, documents.c.id == runs.c.document_id))
                 .order_by(runs.c.created.desc(), runs.c.id.desc()).limit(limit))
        if status:
            query = query.where(runs.c.status == status)
        if batch_id:
            query = query.where(runs.c.batch_id == batch_id)
        rows = await kernel.sql.read(query)
        t = table("run", "workflow", "document", "status", "created", "error")
        for row in rows:
            t.add_row(row.id, row.workflow, row.name or "-", styled(row.status), row.created[:19], row.error or "")
        console().print(t)

    with_open_kernel(ctx, body)


@runs.command("show")
@click.argument("run_id")
@click.pass_context
def runs_show(ctx, run_id):
    """One run: each step's status, attempts, time, outputs and error, and the artifacts."""
    import json

    from ..outcomes import load_run

    async def body(kernel):
        outcome = await load_run(kernel, run_id)
        out = console()
        out.print(f"Run [bold]{outcome.id}[/bold] ({outcome.kind}) on {outcome.document_name or '-'}: {styled(outcome.status)}")
        if outcome.error:
            out.print(f"[red]{outcome.error}[/red]")
        t = table("step", "uses", "status", "attempts", "outputs", "error")
        for step in outcome.steps.values():
            text = json.dumps(step.outputs, ensure_ascii=False)
            t.add_row(step.id, step.uses, styled(step.status), str(step.attempts),
                      text if len(text) < 160 else text[:157] + "…", step.error or "")
        out.print(t)
        for artifact in outcome.artifacts:
            out.print(f"artifact {artifact.name} ({artifact.media_type}, {artifact.size} bytes, sha256 {artifact.sha256}): "
                      f"{artifact.download}")

    with_open_kernel(ctx, body)
