"""`paperchain worker`: its refusals (no broker, an unknown queue, a plugin version skew with a live
server) and a real start on entry-point plugins: registered in members, stopped cleanly by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from celery_support import MASTER_KEY
from kernel_support import run_cli

from paperchain.engine.celery.members import skew
from paperchain.engine.celery.process import _join
from paperchain.store.tables import members
from paperchain_sdk import ConfigError


def test_a_worker_without_a_broker_says_what_to_set(tmp_path):
    done = run_cli("worker", cwd=tmp_path)
    assert done.returncode != 0
    assert "broker_url is empty" in done.stderr and "PAPERCHAIN_BROKER_URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_help_lists_the_queues_of_this_installation(tmp_path):
    done = run_cli("worker", "--help", cwd=tmp_path)
    assert done.returncode == 0
    queues = done.stdout.split("Queues here:")[1].replace("\n", " ")
    assert "default" in queues and "document" in queues  # the builtins' document.text


def test_an_unknown_queue_is_refused_with_the_queues_there_are(tmp_path):
    env = {"PAPERCHAIN_EXECUTOR": "celery", "PAPERCHAIN_BROKER_URL": "redis://127.0.0.1:9/0"}
    done = run_cli("worker", "--queues", "ocr,nope", cwd=tmp_path, env=env)
    assert done.returncode != 0
    assert "nope" in done.stderr and "default" in done.stderr and "Traceback" not in done.stderr


def test_skew_names_each_plugin_and_both_versions():
    found = skew({"ocr": "1.0", "notify": "2.0"}, [("serve:a", {"ocr": "1.1", "notify": "2.0", "ledger": "3.0"})])
    assert found == ["plugin ledger is 3.0 on serve serve:a but is not installed on this worker",
                     "plugin ocr is 1.1 on serve serve:a but 1.0 on this worker"]


def test_a_worker_is_refused_when_a_live_server_has_other_plugin_versions(paperchain_kernel):
    harness = paperchain_kernel()
    kernel = harness.kernel
    plugin = next(p for p in kernel.plugins if p.status == "active")

    async def serve_member(plugins, heartbeat):
        await kernel.sql.write(sa.delete(members))
        await kernel.sql.write(sa.insert(members).values(id="serve:a", kind="serve", plugins=json.dumps(plugins),
                                                         started=heartbeat, heartbeat=heartbeat))

    harness.call(serve_member({plugin.name: "9.9.9"}, time.time()))
    with pytest.raises(ConfigError) as refused:
        harness.call(_join(kernel, ["default"]))
    assert f"plugin {plugin.name} is 9.9.9 on serve serve:a but {plugin.version} on this worker" in str(refused.value)
    assert "pip install" in refused.value.hint
    assert harness.call(kernel.sql.scalar(sa.select(sa.func.count()).select_from(members))) == 1  # not joined

    harness.call(serve_member({plugin.name: "9.9.9"}, time.time() - 3600))  # a server long gone: not compared
    member = harness.call(_join(kernel, ["default"]))
    harness.call(serve_member({plugin.name: plugin.version}, time.time()))  # the same versions: welcome
    assert harness.call(_join(kernel, ["default"])).id != member.id


def test_paperchain_worker_registers_and_stops_cleanly(tmp_path, redis_url):
    env = {**os.environ, "PAPERCHAIN_EXECUTOR": "celery", "PAPERCHAIN_BROKER_URL": redis_url,
           "PAPERCHAIN_DATA_DIR": str(tmp_path / "worker"), "PAPERCHAIN_MASTER_KEY": MASTER_KEY,
           "PAPERCHAIN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"}
    env.pop("PAPERCHAIN_CONFIG", None)
    log = tmp_path / "worker.log"
    process = subprocess.Popen([sys.executable, "-m", "paperchain", "worker", "--queues", "document,default",
                                "--concurrency", "2"], cwd=tmp_path, env=env, stdout=open(log, "w"),
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "ready" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        row = _member(tmp_path / "shared.db")
        assert (row.kind, row.pid, json.loads(row.queues), row.stopped) == ("worker", process.pid,
                                                                             ["document", "default"], None)
        assert "builtins" in json.loads(row.plugins)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert _member(tmp_path / "shared.db").stopped is not None
    assert "Worker stopped." in log.read_text()


def _member(path):
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(members).where(members.c.kind == "worker")).one()
    finally:
        engine.dispose()
