"""`paperchain doctor`: a healthy deployment passes; each broken part is named with its fix.

The deployments are real: a data directory whose database a kernel created and migrated, a
PostgreSQL database and moto's S3 (the SDK's fixtures), a Redis server. Members (workers, API
servers) that are not running here are rows written into the members table as those processes
write them: the doctor reads only the table.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time

import pytest

from paperchain.cli.main import main
from paperchain.config import load_config
from paperchain.doctor import STALE_AFTER, check_members, installed_plugins
from paperchain.kernel import Kernel

PASSWORD = "hunter2-s3cret"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the socket is closed


def deployment(tmp_path, migrate: bool = True, **paperchain) -> str:
    """A plugins.toml with ``paperchain``'s keys; with ``migrate``, its database made as `serve` makes it."""
    lines = ["[paperchain]", 'data_dir = "data"'] + [f"{key} = {json.dumps(value)}" for key, value in paperchain.items()]
    path = tmp_path / "plugins.toml"
    path.write_text("\n".join(lines) + "\n")
    if migrate:
        async def open_once():
            kernel = Kernel(load_config(path, env={}))
            await kernel.open()
            await kernel.close()

        asyncio.run(open_once())
    return str(path)


def doctor(config: str, capsys, *extra: str) -> tuple[int, str]:
    code = main(["--config", config, "doctor", *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


def report(config: str, capsys) -> tuple[int, dict]:
    code, text = doctor(config, capsys, "--json")
    return code, json.loads(text)


def problems(result: dict) -> list[dict]:
    return [check for check in result["checks"] if check["level"] == "problem"]


def one(result: dict, part: str, level: str, contains: str) -> dict:
    found = [c for c in result["checks"] if c["part"] == part and c["level"] == level and contains in c["message"]]
    assert found, f"no {level} of {part} saying {contains!r} in {json.dumps(result['checks'], indent=1)}"
    return found[0]


def add_members(database_url: str, *rows: dict) -> None:
    """Members rows as `paperchain worker` and `paperchain serve` write them (store/tables.py ``members``)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from paperchain.store.tables import members

    async def insert():
        engine = create_async_engine(database_url)
        async with engine.begin() as conn:
            await conn.execute(members.insert(), list(rows))
        await engine.dispose()

    asyncio.run(insert())


def member(id: str, kind: str = "worker", *, age: float = 1.0, queues=("default",), plugins=None, **extra) -> dict:
    now = time.time()
    row = {"id": id, "kind": kind, "host": "box-" + id, "pid": 4242, "address": None,
           "queues": json.dumps(list(queues)), "plugins": json.dumps(plugins if plugins is not None else here()),
           "started": now - 600, "heartbeat": now - age, "stopped": None}
    return row | extra


def here() -> dict[str, str]:
    return installed_plugins(Kernel(load_config(None, env={})).plugins)


def every_queue() -> set[str]:
    """The queues this installation's steps go to with executor = "celery" (what `paperchain worker` takes)."""
    from paperchain.engine.celery.app import queue_for

    return {"default", *(queue_for(entry.spec.name) for entry in Kernel(load_config(None, env={})).registry.entries())}


# -- healthy ----------------------------------------------------------------------------------


def test_a_healthy_sqlite_deployment(tmp_path, capsys):
    config = deployment(tmp_path)
    code, text = doctor(config, capsys)
    assert code == 0, text
    assert "Healthy." in text and "PROBLEM" not in text
    code, result = report(config, capsys)
    assert code == 0 and result["healthy"] is True
    one(result, "database", "ok", "answers")
    one(result, "migrations", "ok", "migrated to head")
    one(result, "blobs", "ok", "stored, returned and deleted a probe")
    one(result, "serve", "warning", "no `paperchain serve` is running")  # local executor: only a warning
    assert not list((tmp_path / "data" / "blobs").glob("*/*/*")), "the probe is deleted"


def test_a_healthy_scaled_out_deployment(tmp_path, capsys, monkeypatch, paperchain_postgres, s3_blob_url, redis_url):
    """PostgreSQL, S3 (moto), Redis, the master key in the environment, a live server and workers."""
    from paperchain.store.keys import ENV, encode_key, new_key

    monkeypatch.setenv(ENV, encode_key(new_key()))
    database_url = paperchain_postgres.create_database()
    config = deployment(tmp_path, database_url=database_url, blob_url=s3_blob_url, executor="celery",
                        broker_url=redis_url)
    add_members(database_url, member("serve-a", "serve", address="http://10.0.0.5:8080"),
                member("worker-ocr", queues=["ocr"]), member("worker-rest", queues=every_queue() - {"ocr"}))
    code, result = report(config, capsys)
    assert code == 0 and result["healthy"], result
    assert not [check for check in result["checks"] if check["level"] != "ok"], result
    one(result, "database", "ok", "postgresql+asyncpg://")
    one(result, "migrations", "ok", "migrated to head")
    one(result, "keys", "ok", f"the master key from {ENV}")
    one(result, "broker", "ok", "answers PING")
    one(result, "blobs", "ok", "s3://paperchain-test-")
    one(result, "serve", "ok", "1 live API server(s): serve-a (http://10.0.0.5:8080)")
    one(result, "workers", "ok", "2 live worker(s): worker-ocr (box-worker-ocr pid 4242), worker-rest")


# -- broken -----------------------------------------------------------------------------------


def test_an_unreachable_database_is_named_with_its_fix_and_no_password(tmp_path, capsys):
    url = f"postgresql+asyncpg://paperchain:{PASSWORD}@127.0.0.1:{closed_port()}/paperchain"
    code, text = doctor(deployment(tmp_path, migrate=False, database_url=url), capsys)
    assert code == 1
    assert "cannot be reached" in text and "paperchain:***@127.0.0.1" in text
    assert "start the PostgreSQL server" in text and "PAPERCHAIN_DATABASE_URL" in text
    assert PASSWORD not in text


def test_a_database_not_created_yet(tmp_path, capsys):
    code, result = report(deployment(tmp_path, migrate=False), capsys)
    assert code == 1
    problem = one(result, "database", "problem", "does not exist yet")
    assert "start `paperchain serve` once" in problem["fix"]


@pytest.mark.parametrize("revision, says, fix", [
    ("0001", "behind this installation's head", "start `paperchain serve` once"),
    ("9999", "which this installation does not know", "install the same Paperchain version"),
])
def test_a_database_at_another_revision(tmp_path, capsys, revision, says, fix):
    import sqlite3

    config = deployment(tmp_path)
    with sqlite3.connect(tmp_path / "data" / "paperchain.db") as db:
        db.execute("UPDATE paperchain_alembic_version SET version_num = ?", (revision,))
    code, result = report(config, capsys)
    assert code == 1
    assert fix in one(result, "migrations", "problem", says)["fix"]


def test_an_unreachable_broker_on_a_closed_port(tmp_path, capsys):
    broker = f"redis://:{PASSWORD}@127.0.0.1:{closed_port()}/0"
    code, text = doctor(deployment(tmp_path, executor="celery", broker_url=broker), capsys)
    assert code == 1
    assert "the broker redis://:***@127.0.0.1" in text and "does not answer" in text
    assert "start Redis there (redis-server)" in text and "PAPERCHAIN_BROKER_URL" in text
    assert PASSWORD not in text


def test_a_blob_folder_that_cannot_be_written(tmp_path, capsys):
    config = deployment(tmp_path)
    blobs = tmp_path / "data" / "blobs"
    (blobs / "tmp").rmdir() if (blobs / "tmp").is_dir() else None
    (blobs / "tmp").write_text("a file where the store stages its writes")  # root ignores modes; this stops root too
    code, result = report(config, capsys)
    assert code == 1
    problem = one(result, "blobs", "problem", f"the blob folder {blobs} is not writable")
    assert "the user that runs paperchain can write to" in problem["fix"] and "PAPERCHAIN_DATA_DIR" in problem["fix"]


def test_an_s3_bucket_that_is_missing_or_unreachable(tmp_path, capsys, s3_blob_url, paperchain_moto):
    missing = f"s3://no-such-bucket?endpoint={paperchain_moto}&region=us-east-1"
    code, result = report(deployment(tmp_path, migrate=False, blob_url=missing), capsys)
    assert code == 1
    problem = one(result, "blobs", "problem", "the bucket 'no-such-bucket' does not exist")
    assert "aws s3 mb s3://no-such-bucket" in problem["fix"]
    closed = f"s3://paperchain?endpoint=http://127.0.0.1:{closed_port()}&region=us-east-1"
    code, result = report(deployment(tmp_path, migrate=False, blob_url=closed), capsys)
    assert "fix endpoint= in blob_url" in one(result, "blobs", "problem", "nothing answers at")["fix"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
def test_a_read_only_blob_folder(tmp_path, capsys):
    config = deployment(tmp_path)
    blobs = tmp_path / "data" / "blobs"
    for folder in (blobs, blobs / "tmp"):
        folder.chmod(0o555)
    try:
        code, result = report(config, capsys)
    finally:
        for folder in (blobs, blobs / "tmp"):
            folder.chmod(0o755)
    assert code == 1
    one(result, "blobs", "problem", "is not writable")


def test_a_master_key_other_than_the_one_that_wrapped_the_keys(tmp_path, capsys, monkeypatch):
    from paperchain.store.keys import ENV, encode_key, new_key

    config = deployment(tmp_path)  # the first start made data/master.key and wrapped the keys with it
    (tmp_path / "data" / "master.key").unlink()
    code, result = report(config, capsys)
    assert code == 1
    assert f"set {ENV} to the deployment's master key" in one(result, "keys", "problem", "has no master key")["fix"]
    monkeypatch.setenv(ENV, encode_key(new_key()))
    code, result = report(config, capsys)
    assert code == 1
    one(result, "keys", "problem", "is not the one that wrapped the database's keys")
    monkeypatch.setenv(ENV, "not base64")
    code, result = report(config, capsys)
    assert "base64 of 32 bytes" in one(result, "keys", "problem", "cannot be read")["message"]


def test_a_configuration_that_does_not_load(tmp_path, capsys):
    path = tmp_path / "plugins.toml"
    path.write_text('[paperchain]\nexecutor = "celery"\n')
    code, result = report(str(path), capsys)
    assert code == 1 and result["healthy"] is False
    problem = one(result, "configuration", "problem", "needs a broker")
    assert "PAPERCHAIN_BROKER_URL" in problem["fix"]


# -- members: rows as workers and servers write them --------------------------------------------


def broker_config(tmp_path, redis_url: str) -> str:
    return deployment(tmp_path, executor="celery", broker_url=redis_url)


def test_a_stale_worker_and_no_live_one(tmp_path, capsys):
    config = deployment(tmp_path, executor="celery", broker_url=f"redis://127.0.0.1:{closed_port()}/0")
    add_members(load_config(config, env={}).database_url,
                member("worker-gone", age=STALE_AFTER * 10), member("serve-a", "serve"))
    code, result = report(config, capsys)
    assert code == 1
    stale = one(result, "workers", "warning", "worker worker-gone (box-worker-gone pid 4242) has sent no heartbeat")
    assert "restart it on box-worker-gone" in stale["fix"]
    assert "start `paperchain worker`" in one(result, "workers", "problem", "no live worker")["fix"]
    assert "blob_url" in one(result, "blobs", "warning", "workers, each with a data directory of its own")["fix"]


def test_a_worker_with_other_plugin_versions_is_named_plugin_by_plugin(tmp_path, capsys):
    config = deployment(tmp_path, executor="celery", broker_url=f"redis://127.0.0.1:{closed_port()}/0")
    mine = here()
    skewed = dict(mine) | {"ocr": "0.0.1", "extra": "2.0"}
    del skewed["text"]
    add_members(load_config(config, env={}).database_url, member("worker-old", plugins=skewed, queues=every_queue()),
                member("serve-a", "serve"))
    code, result = report(config, capsys)
    assert code == 1
    ocr = one(result, "workers", "problem", f"runs plugin 'ocr' (paperchain-ocr) 0.0.1, this installation {mine['ocr']}")
    assert f"pip install paperchain-ocr=={mine['ocr']}" in ocr["fix"] and "worker-old" in ocr["message"]
    text = one(result, "workers", "problem", "does not load plugin 'text' (paperchain-text)")
    assert "pip install paperchain-text==" in text["fix"] and "on that worker" in text["fix"]
    one(result, "workers", "problem", "loads plugin 'extra' 2.0, which this installation does not")
    skew = [c for c in problems(result) if c["part"] == "workers"]
    assert len(skew) == 3, skew  # the plugins that agree are not mentioned


def test_the_queues_of_this_installation_need_a_live_worker_each(tmp_path, capsys):
    config = deployment(tmp_path, executor="celery", broker_url=f"redis://127.0.0.1:{closed_port()}/0")
    add_members(load_config(config, env={}).database_url, member("serve-a", "serve"),
                member("worker-most", queues=every_queue() - {"ocr"}))
    code, result = report(config, capsys)
    assert code == 1
    missing = [c for c in problems(result) if c["part"] == "workers"]
    assert [c["message"] for c in missing] == ["no live worker takes the queue 'ocr': its steps wait forever."]


def test_a_queue_without_a_live_worker_is_named():
    now = time.time()
    plugins = {"paperchain": "1.0"}
    rows = [member("w1", queues=["default"], plugins=plugins, heartbeat=now - 1),
            member("w2", queues=["ocr"], plugins=plugins, heartbeat=now - STALE_AFTER * 3),
            member("s1", "serve", plugins=plugins, heartbeat=now - 1)]
    findings = check_members(rows, plugins, {"default", "ocr"}, celery=True, now=now)
    missing = [f for f in findings if f.level == "problem"]
    assert [f.message for f in missing] == ["no live worker takes the queue 'ocr': its steps wait forever."]
    assert missing[0].fix.startswith("start `paperchain worker --queues ocr`")
    assert any(f.level == "warning" and "w2" in f.message for f in findings)


def test_with_celery_no_live_server_is_a_problem():
    findings = check_members([member("w1", plugins={})], {}, set(), celery=True)
    assert [f.part for f in findings if f.level == "problem"] == ["serve"]


def test_only_the_parts_asked_for(tmp_path, capsys):
    config = deployment(tmp_path, migrate=False)  # no database yet: only a problem if it is asked about
    code = main(["--config", config, "doctor", "--json", "--only", "blobs", "--only", "tools"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and {c["part"] for c in result["checks"]} == {"blobs", "tools"}
    code = main(["--config", config, "doctor", "--json", "--only", "serve"])
    result = json.loads(capsys.readouterr().out)
    assert code == 1 and [c["part"] for c in result["checks"]] == ["database"]  # serve is read from it


def test_several_queues_without_a_worker_are_one_problem():
    plugins = {"builtins": "1.0"}
    rows = [member("w1", queues=["default"], plugins=plugins), member("s1", "serve", plugins=plugins)]
    findings = [f for f in check_members(rows, plugins, {"default", "ocr", "export"}, celery=True) if f.level == "problem"]
    assert [f.message for f in findings] == ["no live worker takes the queues 'export', 'ocr': their steps wait forever."]
    assert "paperchain worker --queues export,ocr" in findings[0].fix


# -- real processes -------------------------------------------------------------------------------


@pytest.mark.slow
def test_real_servers_and_workers(tmp_path, capsys, monkeypatch, paperchain_postgres, s3_blob_url, redis_url):
    """`paperchain serve` and `paperchain worker` as processes (a data directory each): doctor sees
    them live with matching plugins and queues; a worker that stops is missed."""
    import signal
    import subprocess
    import sys

    from paperchain.store.keys import ENV, encode_key, new_key

    shared = {"PAPERCHAIN_DATABASE_URL": paperchain_postgres.create_database(), "PAPERCHAIN_EXECUTOR": "celery",
              "PAPERCHAIN_BROKER_URL": redis_url, "PAPERCHAIN_BLOB_URL": s3_blob_url, ENV: encode_key(new_key())}
    for name, value in shared.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PAPERCHAIN_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no plugins.toml: the defaults and the variables above

    def start(name: str, *command: str) -> subprocess.Popen:
        env = {**os.environ, "PAPERCHAIN_DATA_DIR": str(tmp_path / name)}
        return subprocess.Popen([sys.executable, "-m", "paperchain", *command], env=env, start_new_session=True,
                                stdout=open(tmp_path / f"{name}.log", "w"), stderr=subprocess.STDOUT)

    processes = [start("serve", "serve", "--port", "0", "--no-triggers")]
    try:
        wait_for(lambda r: any(c["part"] == "serve" and c["level"] == "ok" for c in r["checks"]), capsys)
        processes.append(start("worker", "worker", "--concurrency", "1"))
        result = wait_for(lambda r: r["healthy"], capsys)
        assert result["healthy"], result
        one(result, "workers", "ok", "1 live worker(s): worker:")
        one(result, "serve", "ok", "1 live API server(s)")
        processes[1].send_signal(signal.SIGTERM)
        processes[1].wait(timeout=60)
        code, result = full_report(capsys)
        assert code == 1
        one(result, "workers", "problem", "no live worker")
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def wait_for(condition, capsys, timeout: float = 120) -> dict:
    """The full report, once the servers' and workers' checks meet ``condition`` (processes take seconds to join)."""
    deadline = time.monotonic() + timeout
    while True:
        main(["doctor", "--json", "--only", "serve", "--only", "workers"])
        narrow = json.loads(capsys.readouterr().out)
        if condition(narrow):
            break
        assert time.monotonic() < deadline, narrow
        time.sleep(1)
    return full_report(capsys)[1]


def full_report(capsys) -> tuple[int, dict]:
    code = main(["doctor", "--json"])
    return code, json.loads(capsys.readouterr().out)
