"""``paperchain ai …``: the embedding backfill and a search from the shell (as the operator)."""

from __future__ import annotations

import json

import click

from paperchain_sdk.cli import with_kernel


@click.group()
def ai():
    """Embeddings and semantic search."""


@ai.command()
@click.option("--backfill", is_flag=True, help="Embed every document not yet embedded with the current model.")
@click.option("--batch", default=64, show_default=True, type=click.IntRange(1, 10_000),
              help="Documents read from the kernel at a time.")
@click.option("--limit", default=None, type=click.IntRange(1), help="Stop after embedding this many documents.")
def embed(backfill: bool, batch: int, limit: int | None):
    """Embed documents' text (chunks and vectors in the AI plugin's tables)."""
    if not backfill:
        raise click.UsageError("say what to embed: --backfill embeds every document not embedded yet")

    async def body(kernel):
        from .backfill import backfill as run

        def progress(report):
            click.echo(f"{report.seen} documents seen, {report.embedded} embedded", err=True)

        return await run(kernel, batch=batch, limit=limit, progress=progress)

    report = with_kernel(body, changes=True)
    click.echo(json.dumps({"model": report.model, "seen": report.seen, "embedded": report.embedded,
                           "chunks": report.chunks, "without_text": report.without_text}))


@ai.command()
@click.argument("query")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100))
def search(query: str, limit: int):
    """Hybrid search (full text and meaning) over every tenant's documents."""
    async def body(kernel):
        from paperchain_sdk.web import to_json

        from .search import hybrid_search

        return [to_json(hit) for hit in await hybrid_search(kernel, query, "", limit=limit)]

    click.echo(json.dumps(with_kernel(body), indent=2, ensure_ascii=False))
