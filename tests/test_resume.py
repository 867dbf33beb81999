"""kill -9 in the middle of a batch, then `paperchain resume`: nothing lost, nothing done twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from kernel_support import make_dist, run_cli

PLUGIN = """
import asyncio, json, os
from pathlib import Path

import attrs
from paperchain_sdk import ActionSpec, hookimpl
from paperchain_sdk.contracts import Action

LOG = Path(os.environ["PC_TEST_LOG"])


@attrs.define
class Settings:
    delay: float = 0.0


class Work(Action):
    # Logs every execution, so a test can see a finished step run twice.
    async def run(self, ctx, inputs):
        await asyncio.sleep(inputs.delay)
        with LOG.open("a") as fh:
            fh.write(json.dumps({"kind": "work", "run": ctx.run_id, "step": ctx.step_id}) + "\\n")
        return {"done": True}


class Deliver(Action):
    # A side effect that honours its idempotency key, as a mail server or payment API would.
    async def run(self, ctx, inputs):
        seen = LOG.read_text().splitlines() if LOG.exists() else []
        if any(json.loads(line).get("key") == ctx.idempotency_key for line in seen):
            return {"delivered": "already"}
        await asyncio.sleep(inputs.delay)
        with LOG.open("a") as fh:
            fh.write(json.dumps({"kind": "deliver", "key": ctx.idempotency_key}) + "\\n")
        return {"delivered": "now"}


@hookimpl
def paperchain_actions():
    return [
        ActionSpec(name="slow.work", impl=Work, settings=Settings),
        ActionSpec(name="slow.deliver", impl=Deliver, settings=Settings, side_effects=True),
    ]
"""

WORKFLOW = """
name = "durable"
[[steps]]
id = "first"
uses = "slow.work"
with = { delay = 0.02 }
[[steps]]
id = "second"
uses = "slow.work"
needs = ["first"]
with = { delay = 0.05 }
[[steps]]
id = "deliver"
uses = "slow.deliver"
needs = ["second"]
with = { delay = 0.05 }
"""


def count(db, sql):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchone()[0]


@pytest.mark.slow
def test_kill_minus_nine_then_resume_finishes_everything_once(tmp_path):
    site = make_dist(tmp_path / "site", dist="slow-plugin", module="slow_plugin", entry="slow", source=PLUGIN)
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(60):
        (docs / f"doc{i:03d}.txt").write_text(f"document {i}\n")
    (tmp_path / "durable.toml").write_text(WORKFLOW)
    (tmp_path / "plugins.toml").write_text("[paperchain]\nrun_concurrency = 4\n")
    log = tmp_path / "effects.jsonl"
    env = {**os.environ, "PYTHONPATH": str(site), "PC_TEST_LOG": str(log)}
    env.pop("PAPERCHAIN_CONFIG", None)
    db = tmp_path / ".paperchain" / "paperchain.db"

    proc = subprocess.Popen([sys.executable, "-m", "paperchain", "run", "durable.toml", "docs"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if count(db, "SELECT count(*) FROM runs WHERE status = 'succeeded'") >= 10:
                break
        except sqlite3.OperationalError:  # not created yet
            pass
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    finished_before = count(db, "SELECT count(*) FROM runs WHERE status = 'succeeded'")
    unfinished = count(db, "SELECT count(*) FROM runs WHERE status IN ('queued', 'running')")
    assert finished_before >= 10 and unfinished > 0, "the kill should land in the middle of the batch"
    with sqlite3.connect(db) as conn:
        done_steps = set(conn.execute("SELECT run_id, step_id FROM steps WHERE status = 'succeeded'").fetchall())

    resumed = run_cli("resume", cwd=tmp_path, pythonpath=[site], env={"PC_TEST_LOG": str(log)})
    assert resumed.returncode == 0, resumed.stderr
    assert "Batch succeeded: 60 succeeded" in resumed.stdout
    assert count(db, "SELECT count(*) FROM runs WHERE status != 'succeeded'") == 0
    assert count(db, "SELECT count(*) FROM runs") == 60  # no run lost, none created twice

    entries = [json.loads(line) for line in log.read_text().splitlines()]
    work = [(e["run"], e["step"]) for e in entries if e["kind"] == "work"]
    for run_step in done_steps & set(work):
        assert work.count(run_step) == 1, f"{run_step} had finished before the kill but ran again"
    deliveries = [e["key"] for e in entries if e["kind"] == "deliver"]
    assert len(deliveries) == len(set(deliveries)) == 60  # every document delivered exactly once

    again = run_cli("resume", cwd=tmp_path, pythonpath=[site], env={"PC_TEST_LOG": str(log)})
    assert "Nothing to resume" in again.stdout
