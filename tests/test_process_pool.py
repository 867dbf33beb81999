"""CPU-heavy steps in the process pool: a hung one is stopped by its timeout, a dead worker is retried."""

import sqlite3
import time

import pytest
from kernel_support import make_dist, run_cli

PLUGIN = """
import os, time
from paperchain_sdk import ActionSpec, hookimpl
from paperchain_sdk.contracts import Action


class Hang(Action):
    def run(self, ctx, inputs):
        time.sleep(600)


class DieOnce(Action):
    def run(self, ctx, inputs):
        marker = os.path.join(os.environ["PC_MARKER_DIR"], ctx.idempotency_key.replace(":", "_"))
        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(3)  # the worker process dies, as on a segfault or an OOM kill
        return {"pid": os.getpid()}


@hookimpl
def paperchain_actions():
    return [
        ActionSpec(name="pool.hang", impl="pool_plugin:Hang", cpu_bound=True),
        ActionSpec(name="pool.die-once", impl="pool_plugin:DieOnce", cpu_bound=True),
    ]
"""


@pytest.mark.slow
def test_hung_and_dying_workers(tmp_path):
    site = make_dist(tmp_path / "site", dist="pool-plugin", module="pool_plugin", entry="pool", source=PLUGIN)
    (tmp_path / "w.toml").write_text(
        'name = "pool"\n'
        '[[steps]]\nid = "hang"\nuses = "pool.hang"\ntimeout = "1s"\n'
        '[[steps]]\nid = "die"\nuses = "pool.die-once"\nretry = { attempts = 2, backoff = 0.1 }\n'
    )
    started = time.monotonic()
    result = run_cli("run", "w.toml", cwd=tmp_path, pythonpath=[site], env={"PC_MARKER_DIR": str(tmp_path)})
    assert time.monotonic() - started < 60
    out = " ".join(result.stdout.split())
    assert result.returncode == 1
    assert "step 'hang' failed: timed out after 1 s" in out
    with sqlite3.connect(tmp_path / ".paperchain" / "paperchain.db") as db:
        status, attempts = db.execute("SELECT status, attempts FROM steps WHERE step_id = 'die'").fetchone()
        first_error = db.execute("SELECT error FROM attempts WHERE step_id = 'die' AND attempt = 1").fetchone()[0]
    assert (status, attempts) == ("succeeded", 2)
    assert first_error.startswith("the worker process died")
