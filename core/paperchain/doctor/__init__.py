"""``paperchain doctor``: each configured part of a deployment checked, and what to fix said.

The checks only read, except the blob store's probe (one object written, read back and deleted).
Each answers with ``Finding``s: ``ok``, a ``warning`` (works, but worth a look) or a ``problem``
(something will fail); a deployment with no problem is healthy. Every URL shown goes through
``masked_url``: passwords never reach the output. Every network check has a short timeout, so a
dead server costs seconds, not minutes.

``database.py``: reachable, migrated, the master key; ``services.py``: the broker, the blob store,
system tools; ``members.py``: live API servers and workers, their plugins and queues.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from ..config import Config
from .database import check_database, check_master_key
from .findings import OK, PROBLEM, WARNING, Finding, healthy
from .members import STALE_AFTER, check_members, installed_plugins
from .services import check_blobs, check_broker, check_tools

__all__ = ["OK", "PARTS", "PROBLEM", "STALE_AFTER", "WARNING", "Finding", "check_members", "diagnose", "healthy",
           "installed_plugins"]

PARTS = ("database", "keys", "broker", "blobs", "workers", "serve", "tools")  # what --only can choose


async def diagnose(config: Config, plugins: dict[str, str], *, queues: Iterable[str] = (),
                   parts: Iterable[str] = ()) -> list[Finding]:
    """Every check for ``config`` (only those of ``parts`` when given; "database" includes the
    migrations). ``plugins`` is ``installed_plugins`` of this installation and ``queues`` the
    Celery queues its steps are sent to (each needs a live worker)."""
    wanted = set(parts) or set(PARTS)
    celery = config.executor == "celery"
    findings: list[Finding] = []
    members, now = None, None
    if wanted & {"database", "keys", "workers", "serve"}:
        database = await check_database(config.database_url)
        findings += database.findings
        members, now = database.members, database.now
        if database.masters is not None:  # the database answered and has the kernel's tables
            findings.append(check_master_key(config, database.masters))
    if celery and "broker" in wanted:
        findings.append(await asyncio.to_thread(check_broker, config.broker_url))
    if "blobs" in wanted:
        findings.append(await asyncio.to_thread(check_blobs, config))
        if celery and not config.kernel.blob_url:
            findings.append(Finding("blobs", WARNING, "executor = \"celery\" with blobs on this process's own disk "
                                    f"({config.data_dir / 'blobs'}): workers, each with a data directory of its own, "
                                    "cannot read the documents unless that folder is one shared mount.",
                                    'set blob_url = "s3://BUCKET?endpoint=…" (PAPERCHAIN_BLOB_URL) on every server '
                                    "and worker, or mount one shared folder at every data directory's blobs/"))
    if members is not None and wanted & {"workers", "serve"}:
        findings += check_members(members, plugins, set(queues), celery=celery, now=now)
    if "tools" in wanted:
        findings += check_tools(plugins)
    if wanted & {"database", "keys", "workers", "serve"}:  # members are read from the database: its state is shown too
        wanted |= {"database", "migrations"}
    return [finding for finding in findings if finding.part in wanted]
