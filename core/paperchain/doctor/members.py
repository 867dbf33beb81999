"""The deployment's members (table ``members``): live API servers and workers, their plugins and queues."""

from __future__ import annotations

import functools
import json
import time
from typing import Any

from .findings import OK, PROBLEM, WARNING, Finding

STALE_AFTER = 30.0  # seconds without a heartbeat before a member counts as gone (as engine/celery/members.py)
FORGET_AFTER = 24 * 3600.0  # members silent for longer are history, not news


def installed_plugins(plugins) -> dict[str, str]:
    """{plugin: version} of the plugins this installation loads (the kernel's ``plugins``), keyed as
    every member records its own in ``members.plugins`` (cluster/members.py ``plugin_versions``)."""
    return {p.name: p.version for p in plugins if p.status == "active"}


@functools.cache
def _distributions() -> dict[str, str]:
    """Plugin (entry point) name -> its distribution's name, for `pip install` advice."""
    import importlib.metadata

    found = {}
    for ep in importlib.metadata.entry_points(group="paperchain"):
        if ep.dist is not None:
            found[ep.name] = ep.dist.metadata["Name"]
    return found


def _plugin(name: str) -> tuple[str, str]:
    """How to name a plugin in a message, and its distribution for pip."""
    dist = _distributions().get(name, name)
    return (f"plugin {name!r} ({dist})" if dist != name else f"plugin {name!r}"), dist


def check_members(rows: list[dict], plugins: dict[str, str], queues: set[str], *, celery: bool,
                  now: float | None = None) -> list[Finding]:
    """Live workers with this installation's plugins, a worker for every queue, a live ``serve``."""
    now = time.time() if now is None else now
    recent = [row for row in rows if (row["heartbeat"] or 0) >= now - FORGET_AFTER]
    live = [row for row in recent if row["heartbeat"] >= now - STALE_AFTER]
    findings = [_stale(row, now) for row in recent if row not in live and row["kind"] in ("worker", "serve")]
    servers = [row for row in live if row["kind"] == "serve"]
    if servers:
        findings.append(Finding("serve", OK, f"{len(servers)} live API server(s): {', '.join(map(_name, servers))}."))
    else:
        findings.append(Finding("serve", PROBLEM if celery else WARNING, "no `paperchain serve` is running "
                                f"(no API server's heartbeat in the last {STALE_AFTER:.0f} s).",
                                "start `paperchain serve`" + (": it hands the workers their steps and re-queues "
                                                               "those of dead workers" if celery else "")))
    if celery:
        findings += _check_workers([row for row in live if row["kind"] == "worker"], plugins, queues)
    return findings


def _check_workers(workers: list[dict], plugins: dict[str, str], queues: set[str]) -> list[Finding]:
    if not workers:
        return [Finding("workers", PROBLEM, f"no live worker (no heartbeat in the last {STALE_AFTER:.0f} s): "
                                            "with executor = \"celery\" no step runs.",
                        "start `paperchain worker` (on each worker machine, with the same plugins.toml)")]
    findings = [Finding("workers", OK, f"{len(workers)} live worker(s): {', '.join(map(_name, workers))}.")]
    for worker in workers:
        findings += _skew(worker, plugins)
    served = {queue for worker in workers for queue in _json(worker["queues"], [])}
    missing = sorted(queues - served)
    if missing:
        names, listed = ", ".join(map(repr, missing)), ",".join(missing)
        which = f"the queue {names}: its steps" if len(missing) == 1 else f"the queues {names}: their steps"
        findings.append(Finding("workers", PROBLEM, f"no live worker takes {which} wait forever.",
                                f"start `paperchain worker --queues {listed}` (or add {listed} to a worker's --queues)"))
    return findings


def _skew(worker: dict, plugins: dict[str, str]) -> list[Finding]:
    """One problem per plugin whose version differs, or that only one side loads."""
    theirs: dict[str, str] = _json(worker["plugins"], {})
    findings = []
    for name in sorted(set(theirs) | set(plugins)):
        mine, remote = plugins.get(name), theirs.get(name)
        if mine == remote:
            continue
        plugin, dist = _plugin(name)
        if mine is None:
            message = f"worker {_name(worker)} loads {plugin} {remote}, which this installation does not."
            fix = f"pip install {dist}=={remote} here (or enable it in plugins.toml), or remove it from that worker"
        elif remote is None:
            message = f"worker {_name(worker)} does not load {plugin} (here: {mine}): its steps cannot run there."
            fix = f"pip install {dist}=={mine} on that worker (and enable it in its plugins.toml), then restart it"
        else:
            message = f"worker {_name(worker)} runs {plugin} {remote}, this installation {mine}."
            fix = f"install the same version on both (pip install {dist}=={mine} on the worker), then restart it"
        findings.append(Finding("workers", PROBLEM, message, fix))
    return findings


def _stale(row: dict, now: float) -> Finding:
    what = "worker" if row["kind"] == "worker" else "API server"
    return Finding("workers" if row["kind"] == "worker" else "serve", WARNING,
                   f"{what} {_name(row)} has sent no heartbeat for {now - row['heartbeat']:.0f} s and did not say it stopped "
                   "(killed, or its machine is down or cut off).",
                   f"restart it on {row['host'] or 'its machine'}; if it was removed on purpose, nothing to do: "
                   "its unfinished steps are re-queued when their leases expire")


def _name(row: dict) -> str:
    where = row.get("address") or f"{row.get('host') or '?'} pid {row.get('pid') or '?'}"
    return f"{row['id']} ({where})"


def _json(text: Any, default):
    if not text:
        return default
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return default
    return value if isinstance(value, type(default)) else default
