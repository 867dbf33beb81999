"""``paperchain doctor``: each configured part of a deployment checked, and what to fix said.

The checks only read, except the blob store's probe (one object written, read back and deleted).
Each answers with ``Finding``s: ``ok``, a ``warning`` (works, but worth a look) or a ``problem``
(something will fail); a deployment with no problem is healthy. Every URL shown goes through
``masked_url``: passwords never reach the output. Every network check has a short timeout, so a
dead server costs seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from .config import Config, masked_url

OK, WARNING, PROBLEM = "ok", "warning", "problem"
CONNECT_TIMEOUT = 5.0  # seconds for the database and the object store to answer
BROKER_TIMEOUT = 2.0  # seconds for Redis to answer PING
STALE_AFTER = 30.0  # seconds without a heartbeat before a member counts as gone (as engine/celery/members.py)
FORGET_AFTER = 24 * 3600.0  # members silent for longer are history, not news
START_TO_MIGRATE = "start `paperchain serve` once with this installation: at start it creates the tables and migrates them to head"


@attrs.frozen
class Finding:
    part: str  # configuration, database, migrations, keys, broker, blobs, serve, workers, tools, plugins
    level: str  # OK, WARNING or PROBLEM
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return attrs.asdict(self)


def healthy(findings: Iterable[Finding]) -> bool:
    return all(finding.level != PROBLEM for finding in findings)


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


# -- the database -------------------------------------------------------------------------------


@attrs.define
class DatabaseReport:
    findings: list[Finding]
    members: list[dict] | None = None  # the members table's rows; None when it could not be read
    now: float | None = None  # the database's clock, which members' heartbeats are written by
    masters: set[str] | None = None  # fingerprints of the master keys that wrapped its keys; None: not read


async def check_database(url: str) -> DatabaseReport:
    """Reachable, migrated to head, and the members table's rows for the checks after it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    shown = masked_url(url)
    parsed = make_url(url)
    sqlite = parsed.drivername.startswith("sqlite")
    if sqlite and not Path(parsed.database or "").exists():
        return DatabaseReport([Finding("database", PROBLEM, f"the database {shown} does not exist yet.",
                                       f"{START_TO_MIGRATE}; or point data_dir or "
                                       "database_url (PAPERCHAIN_DATABASE_URL) at the existing one")])
    engine = create_async_engine(parsed, connect_args={} if sqlite else {"timeout": CONNECT_TIMEOUT})
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT * 2):
            async with engine.connect() as conn:
                revision = await _revision(conn)
                members = await _members(conn) if revision is not None else None
                masters = await _masters(conn) if revision is not None else None
                now = await _now(conn)
    except Exception as exc:  # noqa: BLE001 - every driver error means "not reachable" here
        return DatabaseReport([Finding("database", PROBLEM, f"the database {shown} cannot be reached: {_reason(exc, url)}",
                                       "start the PostgreSQL server, create the database and user it names "
                                       "(createuser, createdb), check host, port and password in database_url "
                                       "(PAPERCHAIN_DATABASE_URL)" if not sqlite
                                       else "check that the file is readable and not damaged (sqlite3 FILE 'PRAGMA integrity_check')")])
    finally:
        await engine.dispose()
    return DatabaseReport([Finding("database", OK, f"the database {shown} answers."), _migration_finding(revision)],
                          members, now, masters)


async def _revision(conn) -> str | None:
    """The kernel's Alembic revision, or None when its version table is missing or empty."""
    import sqlalchemy as sa

    from .store.migrations import VERSION_TABLE

    if not await conn.run_sync(lambda sync: sa.inspect(sync).has_table(VERSION_TABLE)):
        return None
    return (await conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}"))).scalar()


async def _members(conn) -> list[dict] | None:
    import sqlalchemy as sa

    if not await conn.run_sync(lambda sync: sa.inspect(sync).has_table("members")):
        return None
    rows = await conn.execute(sa.text("SELECT id, kind, host, pid, address, queues, plugins, heartbeat, stopped "
                                      "FROM members WHERE stopped IS NULL"))
    return [dict(row._mapping) for row in rows]


async def _masters(conn) -> set[str]:
    import sqlalchemy as sa

    return set((await conn.execute(sa.text("SELECT DISTINCT master FROM blob_keys"))).scalars())


async def _now(conn) -> float:
    import sqlalchemy as sa

    if conn.dialect.name != "postgresql":
        return time.time()  # SQLite: every member runs on this machine's clock
    return (await conn.execute(sa.text("SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8"))).scalar()


def _migration_finding(current: str | None) -> Finding:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from .store.migrations import FOLDER

    alembic = AlembicConfig()
    alembic.set_main_option("script_location", str(FOLDER))
    script = ScriptDirectory.from_config(alembic)
    head = script.get_current_head()
    if current is None:
        return Finding("migrations", PROBLEM, f"the database has no Paperchain tables (Alembic: none; head: {head}).",
                       START_TO_MIGRATE)
    if current == head:
        return Finding("migrations", OK, f"the database is migrated to head ({head}).")
    known = {revision.revision for revision in script.walk_revisions()}
    if current in known:
        return Finding("migrations", PROBLEM, f"the database is at revision {current}, behind this installation's "
                                              f"head {head}.", START_TO_MIGRATE)
    return Finding("migrations", PROBLEM, f"the database is at revision {current}, which this installation does not "
                                          f"know (its head is {head}): a newer Paperchain migrated it.",
                   "install the same Paperchain version here as on the servers that migrated it")


def _reason(exc: BaseException, *urls: str) -> str:
    """The error in one line, with any of ``urls`` (or their passwords) masked out of it."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, TimeoutError):
        text = "no answer in time (TimeoutError)"
    for url in urls:
        text = text.replace(url, masked_url(url))
        password = _password(url)
        if password:
            text = text.replace(password, "***")
    return text


def _password(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    try:
        return unquote(urlsplit(url).password or "")
    except ValueError:
        return ""


# -- the master key -----------------------------------------------------------------------------


def check_master_key(config: Config, masters: set[str]) -> Finding:
    """This machine's master key (PAPERCHAIN_MASTER_KEY, else the data directory's master.key)
    unwraps the keys in the database: every server and worker needs the same one."""
    import os

    from paperchain_sdk import PaperchainError

    from .store.keys import ENV, KEY_FILE, decode_key, fingerprint, read_key_file

    key_file = config.data_dir / KEY_FILE
    shared = not config.database_url.startswith("sqlite")
    share = f"set {ENV} to the deployment's master key, the same on every server and worker"
    try:
        if os.environ.get(ENV):
            origin, key = ENV, decode_key(os.environ[ENV], f"the environment variable {ENV}")
        elif key_file.exists():
            origin, key = str(key_file), read_key_file(key_file)
        else:
            origin, key = "", b""
    except (PaperchainError, OSError) as exc:
        fix = getattr(exc, "hint", "") or f"make {key_file} readable by the user that runs paperchain"
        return Finding("keys", PROBLEM, f"the master key cannot be read: {_reason(exc)}", fix)
    if not key:
        if masters:
            return Finding("keys", PROBLEM, f"this machine has no master key ({ENV} is unset and {key_file} does not "
                                            f"exist), and the database's keys are wrapped by {', '.join(sorted(masters))}.",
                           share)
        return Finding("keys", OK, f"no master key yet: the first start makes {key_file}"
                                   + (f" (with more than one process, {share} instead)." if shared else "."))
    mine = fingerprint(key)
    if masters and mine not in masters:
        return Finding("keys", PROBLEM, f"the master key from {origin} ({mine}) is not the one that wrapped the "
                                        f"database's keys ({', '.join(sorted(masters))}): nothing encrypted can be read.",
                       share + " (or restore the data directory's master.key)")
    if shared and origin != ENV:
        return Finding("keys", WARNING, f"the master key comes from {origin}, a file of this machine's data directory.",
                       f"{share}: another machine's data directory would make a master key of its own")
    return Finding("keys", OK, f"the master key from {origin} ({mine}) unwraps the database's keys.")


# -- the broker ---------------------------------------------------------------------------------


def check_broker(url: str) -> Finding:
    """Redis answers PING within ``BROKER_TIMEOUT`` seconds."""
    shown = masked_url(url)
    try:
        import redis
    except ImportError:
        return Finding("broker", PROBLEM, f"the broker {shown} cannot be checked: the redis client library is missing.",
                       "pip install 'celery[redis]' into paperchain's environment (the Celery executor needs it too)")
    client = redis.Redis.from_url(url, socket_connect_timeout=BROKER_TIMEOUT, socket_timeout=BROKER_TIMEOUT)
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        return Finding("broker", PROBLEM, f"the broker {shown} refused our credentials: {_reason(exc, url)}",
                       "set the password Redis expects (requirepass) in broker_url: redis://:PASSWORD@HOST:PORT/DB")
    except Exception as exc:  # noqa: BLE001 - refused, timed out, name not found: the same advice
        return Finding("broker", PROBLEM, f"the broker {shown} does not answer: {_reason(exc, url)}",
                       "start Redis there (redis-server), or fix broker_url (PAPERCHAIN_BROKER_URL)")
    finally:
        client.close()
    return Finding("broker", OK, f"the broker {shown} answers PING.")


# -- the blob store -----------------------------------------------------------------------------


def check_blobs(config: Config) -> Finding:
    """A probe object written, read back and deleted through the deployment's blob store."""
    url = config.kernel.blob_url
    if not url:
        return _check_disk_blobs(config.data_dir / "blobs")
    from .store.blobs_s3 import S3BlobStore, parse_blob_url

    where = str(parse_blob_url(url))
    with tempfile.TemporaryDirectory(prefix="paperchain-doctor-") as scratch:
        try:
            store = S3BlobStore(url, Path(scratch) / "scratch", plain_dir=Path(scratch) / "plain")
        except Exception as exc:  # noqa: BLE001 - what creating the client said
            return Finding("blobs", PROBLEM, f"the blob store {where} cannot be used: {_reason(exc)}", _blob_fix(exc))
        try:
            _probe(store)
        except Exception as exc:  # noqa: BLE001 - reported with its fix
            return Finding("blobs", PROBLEM, f"the blob store {where} did not take a probe object: {_reason(exc)}",
                           _blob_fix(exc))
        finally:
            store.close()
    return Finding("blobs", OK, f"the blob store {where} stored, returned and deleted a probe object.")


def _check_disk_blobs(root: Path) -> Finding:
    from .store.blobs import DiskBlobStore

    if not root.exists():
        parent = next(p for p in root.parents if p.exists())
        if parent.is_dir() and _writable(parent):
            return Finding("blobs", OK, f"the blob folder {root} does not exist yet; {parent} is writable, "
                                        "so the first start creates it.")
        return Finding("blobs", PROBLEM, f"the blob folder {root} does not exist and {parent} is not a writable folder.",
                       f"create {root} and let the user that runs paperchain write to it, or set data_dir")
    with tempfile.TemporaryDirectory(prefix="paperchain-doctor-") as plain:
        try:
            store = DiskBlobStore(root, plain_dir=Path(plain))
            try:
                _probe(store)
            finally:
                store.close()
        except OSError as exc:
            return Finding("blobs", PROBLEM, f"the blob folder {root} is not writable: {_reason(exc)}",
                           f"make {root} a folder the user that runs paperchain can write to "
                           "(chown -R that user, or fix the mount), or set data_dir (PAPERCHAIN_DATA_DIR) elsewhere")
    return Finding("blobs", OK, f"the blob folder {root} stored, returned and deleted a probe file.")


def _writable(folder: Path) -> bool:
    import os

    return os.access(folder, os.W_OK | os.X_OK)


def _probe(store) -> None:
    """Content unique to this probe, so deleting it can never remove a real blob."""
    data = f"paperchain doctor probe {uuid.uuid4()} {time.time()}".encode()
    name, _, _ = store.put_bytes(data)
    try:
        if store.read_bytes(name) != data:
            raise OSError("the probe read back differs from what was written")
    finally:
        store.delete(name)


def _blob_fix(exc: BaseException) -> str:
    from paperchain_sdk import PaperchainError

    if isinstance(exc, PaperchainError) and exc.hint:
        return exc.hint
    return ("check that the object store is up, that the bucket exists, and that AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY allow PutObject, GetObject and DeleteObject on it; or fix blob_url (PAPERCHAIN_BLOB_URL)")


# -- members: workers and API servers -------------------------------------------------------------


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


# -- system tools ---------------------------------------------------------------------------------

TOOLS = {  # program: (who needs it, Debian packages)
    "tesseract": ("the OCR plugin (paperchain-ocr)", "tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa"),
    "chromium": ("the web UI's browser tests (make test), not serving", "chromium"),
}


def check_tools(plugins: dict[str, str]) -> list[Finding]:
    findings = []
    for program, (user, packages) in TOOLS.items():
        if program == "tesseract" and "ocr" not in plugins:
            continue
        found = shutil.which(program)
        if found:
            findings.append(Finding("tools", OK, f"{program} is installed ({found})."))
        else:
            findings.append(Finding("tools", WARNING, f"{program} is not on PATH on this machine; {user} needs it.",
                                    f"apt-get install {packages}"))
    return findings
