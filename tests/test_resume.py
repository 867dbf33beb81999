"""kill -9 in the middle of a batch, then `paperchain resume`: nothing lost, nothing done twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from kernel_support import make_dist, run_cli

from paperchain.store.tables import runs, steps

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


class Counts:
    """Counts of the kernel's tables, read while (and after) another process writes them."""

    def __init__(self, url: str):
        from sqlalchemy.ext.asyncio import create_async_engine

        self._runner = asyncio.Runner()
        self._engine = create_async_engine(url)

    def __call__(self, *where) -> int:
        return self._runner.run(self._count(sa.select(sa.func.count()).select_from(runs).where(*where)))

    def succeeded_steps(self) -> set[tuple[str, str]]:
        statement = sa.select(steps.c.run_id, steps.c.step_id).where(steps.c.status == "succeeded")
        return {(r.run_id, r.step_id) for r in self._runner.run(self._rows(statement))}

    async def _count(self, statement) -> int:
        async with self._engine.connect() as conn:
            return (await conn.execute(statement)).scalar()

    async def _rows(self, statement):
        async with self._engine.connect() as conn:
            return (await conn.execute(statement)).all()

    def close(self) -> None:
        self._runner.run(self._engine.dispose())
        self._runner.close()


@pytest.mark.slow
def test_kill_minus_nine_then_resume_finishes_everything_once(tmp_path, database_url):
    site = make_dist(tmp_path / "site", dist="slow-plugin", module="slow_plugin", entry="slow", source=PLUGIN)
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(60):
        (docs / f"doc{i:03d}.txt").write_text(f"document {i}\n")
    (tmp_path / "durable.toml").write_text(WORKFLOW)
    (tmp_path / "plugins.toml").write_text("[paperchain]\nrun_concurrency = 4\n")
    log = tmp_path / "effects.jsonl"
    database = {"PAPERCHAIN_DATABASE_URL": database_url}  # the kernel's tables on SQLite or PostgreSQL
    env = {**os.environ, **database, "PYTHONPATH": str(site), "PC_TEST_LOG": str(log)}
    env.pop("PAPERCHAIN_CONFIG", None)
    count = Counts(database_url)
    try:
        _kill_then_resume(tmp_path, site, env, log, database, count)
    finally:
        count.close()


def _kill_then_resume(tmp_path, site, env, log, database, count) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "paperchain", "run", "durable.toml", "docs"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if count(runs.c.status == "succeeded") >= 10:
                break
        except sa.exc.DBAPIError:  # the tables are not created yet
            pass
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    finished_before = count(runs.c.status == "succeeded")
    unfinished = count(runs.c.status.in_(("queued", "running")))
    assert finished_before >= 10 and unfinished > 0, "the kill should land in the middle of the batch"
    done_steps = count.succeeded_steps()

    resumed = run_cli("resume", cwd=tmp_path, pythonpath=[site], env={**database, "PC_TEST_LOG": str(log)})
    assert resumed.returncode == 0, resumed.stderr
    assert "Batch succeeded: 60 succeeded" in resumed.stdout
    assert count(runs.c.status != "succeeded") == 0
    assert count() == 60  # no run lost, none created twice

    entries = [json.loads(line) for line in log.read_text().splitlines()]
    work = [(e["run"], e["step"]) for e in entries if e["kind"] == "work"]
    for run_step in done_steps & set(work):
        assert work.count(run_step) == 1, f"{run_step} had finished before the kill but ran again"
    deliveries = [e["key"] for e in entries if e["kind"] == "deliver"]
    assert len(deliveries) == len(set(deliveries)) == 60  # every document delivered exactly once

    again = run_cli("resume", cwd=tmp_path, pythonpath=[site], env={**database, "PC_TEST_LOG": str(log)})
    assert "Nothing to resume" in again.stdout
