"""``worker``: run the steps a Celery executor sends (``executor = "celery"``), one process per machine or more.

It loads the same plugins as ``serve`` (entry points), opens the database and blob store with a
kernel that serves no API and hosts no triggers, registers itself in ``members`` and takes attempts
from the queues of its capabilities. Each worker process needs its own data directory: nothing is
shared but the database, the broker and the blob store.
"""

from __future__ import annotations

import click

from .common import kernel_for, owning, warn_failed_plugins
from .main import cli


class _WorkerCommand(click.Command):
    """Its help ends with the queues this installation's components send steps to."""

    def format_epilog(self, ctx, formatter):
        try:
            queues = ", ".join(_possible_queues(kernel_for(ctx)))
        except Exception as exc:  # noqa: BLE001 - help must show even when the configuration is broken
            queues = f"(unknown: {exc})"
        with formatter.section("Queues here"):
            formatter.write_text(queues)


@cli.command(cls=_WorkerCommand)
@click.option("--queues", default=None, metavar="ocr,default",
              help="Queues to take steps from, comma-separated: a component's queue is its capability, the part of "
                   "its name before the dot (ocr.tesseract: ocr), else default. Default: every one this worker can run.")
@click.option("--concurrency", default=None, type=click.IntRange(1, 256),
              help="Steps at once (default: workers in [paperchain], one per core).")
@click.option("--lease", default=15.0, show_default=True, type=click.FloatRange(1, 3600),
              help="Seconds a claimed step is held without renewal; the servers re-send a dead worker's steps after it.")
@click.pass_context
def worker(ctx, queues, concurrency, lease):
    """Run workflow steps sent by the servers through Celery (executor = "celery", broker_url)."""
    import logging

    from paperchain_sdk import ConfigError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    kernel = kernel_for(ctx)
    warn_failed_plugins(kernel)
    broker_url = kernel.config.broker_url
    if not broker_url:
        raise ConfigError("paperchain worker needs the Celery broker, and broker_url is empty.",
                          hint='set executor = "celery" and broker_url = "redis://HOST:6379/0" in [paperchain] '
                               "(or PAPERCHAIN_EXECUTOR and PAPERCHAIN_BROKER_URL), as on the servers")
    queues_chosen = _queues(kernel, queues)
    with owning(kernel):  # one process per data directory: a second worker on it is refused
        from ..engine.celery.process import run_worker

        code = run_worker(kernel, broker_url=broker_url, queues=queues_chosen,
                          concurrency=concurrency or kernel.config.workers, lease=lease,
                          announce=lambda line: click.echo(line, err=True))
    click.echo("Worker stopped.", err=True)
    ctx.exit(code)


def _possible_queues(kernel) -> list[str]:
    from ..engine.celery.app import queue_for

    return sorted({"default", *(queue_for(e.spec.name) for e in kernel.registry.entries())})


def _queues(kernel, given: str | None) -> list[str]:
    possible = _possible_queues(kernel)
    if given is None:
        return possible
    chosen = [q.strip() for q in given.split(",") if q.strip()]
    if not chosen:
        raise click.BadParameter("name at least one queue, e.g. --queues ocr,default", param_hint="--queues")
    unknown = [q for q in chosen if q not in possible]
    if unknown:
        raise click.BadParameter(f"no installed component sends steps to {', '.join(unknown)}; the queues here are "
                                 f"{', '.join(possible)}", param_hint="--queues")
    return chosen
