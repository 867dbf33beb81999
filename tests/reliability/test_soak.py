"""kill -9 soak: hundreds of documents through a side-effect step, several kills, then resume.

A receiver (a tiny action appending to a file with O_APPEND and fsync, so each line survives the
kill) records every step execution. It applies a delivery's effect once per idempotency key, as a
mail server or payment API would. Asserted at the end: no run lost, no effect applied twice, no
step re-run that the database had recorded as finished when the process was killed, and no
delivery repeated after a step that needs it had started. Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pytest
from kernel_support import make_dist

DOCUMENTS = 400
KILLS = 8

RECEIVER = """
import asyncio, json, os
from pathlib import Path

import attrs
from paperchain_sdk import ActionSpec, hookimpl
from paperchain_sdk.contracts import Action

LOG = Path(os.environ["PC_SOAK_LOG"])


def record(entry):
    line = (json.dumps(entry) + "\\n").encode()
    fd = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


@attrs.define
class Settings:
    delay: float = 0.0


class Work(Action):
    async def run(self, ctx, inputs):
        await asyncio.sleep(inputs.delay)
        record({"kind": "work", "run": ctx.run_id, "step": ctx.step_id})
        return {"done": True}


class Deliver(Action):
    # The receiver: every delivery is logged; its effect is applied once per idempotency key.
    async def run(self, ctx, inputs):
        await asyncio.sleep(inputs.delay)
        applied = LOG.exists() and any(
            json.loads(line).get("applied") == ctx.idempotency_key for line in LOG.read_text().splitlines()
        )
        record({"kind": "deliver", "run": ctx.run_id, "step": ctx.step_id, "key": ctx.idempotency_key,
                "applied": None if applied else ctx.idempotency_key})
        return {"delivered": not applied}


@hookimpl
def paperchain_actions():
    return [
        ActionSpec(name="soak.work", impl=Work, settings=Settings),
        ActionSpec(name="soak.deliver", impl=Deliver, settings=Settings, side_effects=True),
    ]
"""

WORKFLOW = """
name = "soak"
[[steps]]
id = "prepare"
uses = "soak.work"
with = { delay = 0.02 }
[[steps]]
id = "deliver"
uses = "soak.deliver"
needs = ["prepare"]
with = { delay = 0.03 }
[[steps]]
id = "after"
uses = "soak.work"
needs = ["deliver"]
"""


def query(db, sql, params=()):
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute(sql, params).fetchall()


def succeeded_runs(db) -> int:
    try:
        return query(db, "SELECT count(*) FROM runs WHERE status = 'succeeded'")[0][0]
    except sqlite3.OperationalError:  # not created yet, or busy
        return -1


def read_log(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow
def test_kill_minus_nine_soak_loses_nothing_and_repeats_no_finished_step(tmp_path):
    site = make_dist(tmp_path / "site", dist="soak-receiver", module="soak_receiver", entry="soak", source=RECEIVER)
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(DOCUMENTS):
        (docs / f"doc{i:04d}.txt").write_text(f"soak document {i}\n")
    (tmp_path / "soak.toml").write_text(WORKFLOW)
    (tmp_path / "plugins.toml").write_text("[paperchain]\nrun_concurrency = 8\n")
    log = tmp_path / "receiver.jsonl"
    env = {**os.environ, "PC_SOAK_LOG": str(log),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    env.pop("PAPERCHAIN_CONFIG", None)
    db = tmp_path / ".paperchain" / "paperchain.db"
    rng = random.Random(os.environ.get("PC_SOAK_SEED"))

    kills, finished_at_kill, started = 0, [], time.monotonic()
    command = ["run", "soak.toml", "docs"]
    while kills < KILLS:
        proc = subprocess.Popen([sys.executable, "-m", "paperchain", *command], cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        command = ["resume"]
        before = max(succeeded_runs(db), 0)
        target = before + rng.randint(8, 30)
        deadline = time.monotonic() + 60
        while proc.poll() is None and succeeded_runs(db) < target and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.2))  # land anywhere in a step, not only just after a run finished
        if proc.poll() is not None:
            break  # the batch finished before this kill: the rest is checked as it is
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        # What the database holds as done at the moment of the kill, and how far the log had got.
        done = set(query(db, "SELECT run_id, step_id FROM steps WHERE status = 'succeeded'"))
        finished_at_kill.append((len(read_log(log)), done))

    final = subprocess.run([sys.executable, "-m", "paperchain", "resume"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=180)
    elapsed = time.monotonic() - started
    assert final.returncode == 0, final.stderr[-2000:]

    entries = read_log(log)
    deliveries = [e for e in entries if e["kind"] == "deliver"]
    per_key = Counter(e["key"] for e in deliveries)
    applied = Counter(e["applied"] for e in deliveries if e["applied"])
    lost = DOCUMENTS - query(db, "SELECT count(*) FROM runs WHERE status = 'succeeded' AND kind = 'document'")[0][0]
    rerun_finished = [
        (e["run"], e["step"]) for offset, done in finished_at_kill for e in entries[offset:] if (e["run"], e["step"]) in done
    ]
    after_started, delivered_after_dependent = set(), []
    for e in entries:
        if e["kind"] == "work" and e["step"] == "after":
            after_started.add(e["run"])
        elif e["kind"] == "deliver" and e["run"] in after_started:
            delivered_after_dependent.append(e["run"])
    attempts = dict(query(db, "SELECT step_id, sum(attempts) FROM steps GROUP BY step_id"))

    print(f"\nsoak: {DOCUMENTS} documents, {kills} kill -9s, {elapsed:.1f} s; {len(deliveries)} deliveries of "
          f"{len(per_key)} keys ({sum(n - 1 for n in per_key.values())} repeated by at-least-once resumes), "
          f"{sum(applied.values())} effects applied, {sum(n - 1 for n in applied.values())} twice; runs lost: {lost}; "
          f"recorded-finished steps re-run: {len(rerun_finished)}; deliveries after a dependent started: "
          f"{len(delivered_after_dependent)}; step attempts: {attempts}")

    assert kills >= 3, "the batch finished before the kills could land: give it more documents"
    assert query(db, "SELECT count(*) FROM runs")[0][0] == DOCUMENTS  # none lost, none created twice
    assert lost == 0
    assert len(per_key) == DOCUMENTS and sorted(applied) == sorted(per_key)  # every document's effect, once
    assert max(applied.values()) == 1
    assert rerun_finished == []
    assert delivered_after_dependent == []
