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
                           "chunks": report.chunks, "extracted": report.extracted, "needs_ocr": report.needs_ocr,
                           "without_text": report.without_text,
                           "failed": [{"name": name, "error": why} for name, why in report.failed]}))
    if report.needs_ocr:
        click.echo(f"{report.needs_ocr} scanned documents need OCR before they can be embedded: run an OCR workflow "
                   "on them (e.g. `paperchain run examples/workflows/scan.toml <files>`), then this backfill again.",
                   err=True)
    for name, why in report.failed:
        click.echo(f"not embedded: {name}: {why}", err=True)


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


@ai.command()
@click.option("--k", "k", default="auto", show_default=True,
              help="Number of topics (2 to 50), or 'auto' to choose it by the silhouette.")
@click.option("--terms", default=8, show_default=True, type=click.IntRange(1, 30), help="Terms listed per topic.")
@click.option("--documents", default=5, show_default=True, type=click.IntRange(0, 100),
              help="Most typical documents listed per topic.")
@click.option("--tenant", default="", help="Only this tenant's documents (default: every tenant's).")
def topics(k: str, terms: int, documents: int, tenant: str):
    """Topics of the embedded documents: clusters of their vectors, named by distinctive terms."""
    from .topics import parse_k

    try:
        count = parse_k(k)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--k") from None

    async def body(kernel):
        from paperchain_sdk.web import to_json

        from .topics import corpus_topics

        return to_json(await corpus_topics(kernel, tenant, k=count, terms=terms, documents=documents))

    click.echo(json.dumps(with_kernel(body), indent=2, ensure_ascii=False))


@ai.command()
@click.argument("question")
@click.option("--tenant", default="", help="Answer from this tenant's documents only (default: every tenant's, as the operator).")
@click.option("--documents", default=None, type=click.IntRange(1, 20), help="Documents to retrieve (default: ai.answer's setting).")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON (answer, found, mode, citations, model).")
def ask(question: str, tenant: str, documents: int | None, as_json: bool):
    """Answer QUESTION from the documents, quoting the sentences it rests on and their sources."""
    async def body(kernel):
        import attrs

        from paperchain_sdk.web import to_json

        from .ask import answer_question
        from .providers import provider_for

        settings = kernel.component("ai.answer").settings
        if documents is not None:
            settings = attrs.evolve(settings, documents=documents)
        return to_json(await answer_question(kernel, provider_for(kernel, settings.provider), question, tenant, settings))

    answer = with_kernel(body)
    if as_json:
        click.echo(json.dumps(answer, indent=2, ensure_ascii=False))
        return
    click.echo(answer["answer"])
    how = {"generated": f"Answered by {answer['model'] or 'the model'} from the sentences below.",
           "quoted": "Quoted from the documents (the model's answer was not supported by them, or it gave none)."}
    if answer["mode"] in how:
        click.echo(f"\n{how[answer['mode']]}")
    for number, citation in enumerate(answer["citations"], start=1):
        page = f", page {citation['page']}" if citation["page"] else ""
        click.echo(f"[{number}] {citation['name']}{page} (document {citation['document']})")
        click.echo(f"    “{citation['quote']}”")


@ai.command()
@click.argument("prompt", required=False)
@click.option("--provider", default=None, help="The chat provider (default: ai.generate's setting, e.g. ai.local).")
@click.option("--max-tokens", default=256, show_default=True, type=click.IntRange(1, 8192))
@click.option("--temperature", default=0.7, show_default=True, type=click.FloatRange(0, 2))
def chat(prompt: str | None, provider: str | None, max_tokens: int, temperature: float):
    """Talk to the configured language model, its answer streamed as it is written.

    With PROMPT: one answer. Without: a conversation, one line per turn, until end of input (Ctrl-D)."""
    import asyncio
    import sys

    async def body(kernel):
        from .providers import ChatRequest, provider_for

        model = provider_for(kernel, provider or kernel.component("ai.generate").settings.provider)
        messages: list[dict] = []

        async def turn(text: str) -> None:
            messages.append({"role": "user", "content": text})
            pieces = []
            async for piece in model.stream(ChatRequest(messages=messages, max_tokens=max_tokens, temperature=temperature)):
                pieces.append(piece)
                click.echo(piece, nl=False)
            click.echo()
            messages.append({"role": "assistant", "content": "".join(pieces)})

        if prompt is not None:
            await turn(prompt)
            return
        while True:
            if sys.stdin.isatty():
                click.echo("> ", nl=False, err=True)
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                return
            if line.strip():
                await turn(line.strip())

    if prompt is not None and not prompt.strip():
        raise click.UsageError("the prompt is empty: give words to send, or none for a conversation")
    with_kernel(body)
