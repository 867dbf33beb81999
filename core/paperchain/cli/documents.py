"""``documents list/show/search``."""

from __future__ import annotations

import click

from .common import console, styled, table, with_open_kernel
from .main import cli


@cli.group()
def documents():
    """Documents in the store."""


@documents.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1))
@click.pass_context
def documents_list(ctx, limit):
    """The most recently ingested documents."""

    import sqlalchemy as sa

    from ..store.tables import documents as d

    async def body(kernel):
        rows = await kernel.sql.read(
            sa.select(d.c.id, d.c.name, d.c.media_type, d.c.size, d.c.created, sa.func.length(d.c.text).label("chars"))
            .where(d.c.deleted.is_(None)).order_by(d.c.created.desc(), d.c.id.desc()).limit(limit))
        t = table("id", "name", "type", "bytes", "text", "ingested")
        for row in rows:
            t.add_row(row.id[:16], row.name, row.media_type, str(row.size), f"{row.chars or 0} chars", row.created[:19])
        console().print(t)

    with_open_kernel(ctx, body)


@documents.command("show")
@click.argument("document_id")
@click.pass_context
def documents_show(ctx, document_id):
    """One document (an id prefix is enough): metadata, findings, text excerpt, runs."""
    import json

    import sqlalchemy as sa

    from paperchain_sdk import InputError

    from ..store.tables import documents as d
    from ..store.tables import runs

    async def body(kernel):
        ids = [r.id for r in await kernel.sql.read(
            sa.select(d.c.id).where(d.c.id.istartswith(document_id, autoescape=True)).limit(2))]
        if len(ids) != 1:
            raise InputError(f"{'No' if not ids else 'More than one'} document has an id starting with {document_id!r}.",
                             hint="`paperchain documents list` shows the ids")
        doc = await kernel.documents.get(ids[0])
        out = console()
        out.print(f"[bold]{doc.name}[/bold]  {doc.media_type}, {doc.size} bytes\nid     {doc.id}\nsha256 {doc.sha256}")
        if doc.metadata:
            out.print(f"metadata {json.dumps(doc.metadata, ensure_ascii=False)}")
        for analyzer, data in doc.findings.items():
            out.print(f"findings of {analyzer}: {json.dumps(data, ensure_ascii=False)[:300]}")
        text = (doc.text or "").strip()
        out.print(f"text ({len(text)} chars): {text[:400]!r}" if text else "no text extracted yet")
        for run in await kernel.sql.read(sa.select(runs.c.id, runs.c.workflow, runs.c.status).where(
                runs.c.document_id == doc.id).order_by(runs.c.created.desc(), runs.c.id.desc()).limit(10)):
            out.print(f"run {run.id} {run.workflow} {styled(run.status)}")

    with_open_kernel(ctx, body)


@documents.command("search")
@click.argument("query")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.pass_context
def documents_search(ctx, query, limit):
    """Full-text search over names and text of every tenant's documents: words, "phrases", OR,
    -word or NOT word, prefix*; best match first."""
    from ..store.search import ALL_TENANTS, marked

    async def body(kernel):
        hits, _next = await kernel.documents.search.query(query, ALL_TENANTS, limit)
        names = await kernel.documents.named([h.id for h in hits])
        rows = [(h.id, names[h.id][0], marked(h.snippet, "[", "]")) for h in hits if h.id in names]
        if not rows:
            click.echo("No document matches.")
            return
        t = table("id", "name", "match")
        for row in rows:
            t.add_row(row[0][:16], row[1], row[2] or "")
        console().print(t)

    with_open_kernel(ctx, body)
