"""The folder trigger on a real folder: slow copies, glob filters, done/ and failed/."""

from __future__ import annotations

import asyncio

import pytest
from triggers_support import Recorder, settle, workflow

from paperchain.trigger_host import TriggerHost
from paperchain_sdk import ConfigError


async def _copy_slowly(path, chunks=5, pause=0.3):
    with open(path, "wb") as fh:  # noqa: ASYNC230 - small writes, the point is the pauses
        for i in range(chunks):
            fh.write(f"part {i}\n".encode() * 100)
            fh.flush()
            await asyncio.sleep(pause)


async def _wait_for_file(path, timeout=15.0):
    for _ in range(int(timeout / 0.05)):
        if path.exists():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} did not appear")


@pytest.mark.parametrize("polling", [False, True])
def test_slow_copy_runs_once_and_lands_in_done(kernel, tmp_path, polling):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "already.txt").write_text("there before the start\n")
    harness = kernel()
    k = harness.kernel

    async def scenario():
        seen = Recorder(k)
        on = {"folder": {"path": str(inbox), "glob": ["*.txt"], "stable": 0.6, "force_polling": polling,
                         "poll_interval": 0.1}}
        await k.workflows.save(workflow("intake", on))
        host = TriggerHost(k)
        await host.start()
        assert host.failures == {}
        await _copy_slowly(inbox / "slow.txt")
        (inbox / "ignored.pdf").write_bytes(b"%PDF-1.4 not wanted here")
        await _wait_for_file(inbox / "done" / "slow.txt")
        await _wait_for_file(inbox / "done" / "already.txt")
        await settle(k)
        await host.stop()
        created = seen.of("batch.created")
        assert len(created) == 2 and {e.data["source"] for e in created} == {"trigger:folder"}
        # Taken once, after the copy finished: the stored document holds all five parts.
        ingested = {e.data["name"]: e.data["size"] for e in seen.of("document.ingested")}
        assert ingested["slow.txt"] == 5 * 700
        assert (inbox / "ignored.pdf").exists() and not (inbox / "slow.txt").exists()

    harness.call(scenario())


def test_failed_run_moves_file_to_failed(kernel, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    harness = kernel()
    k = harness.kernel

    async def scenario():
        await k.workflows.save(workflow("intake", {"folder": {"path": str(inbox), "stable": 0.2}}, fail=True))
        host = TriggerHost(k)
        await host.start()
        (inbox / "bad.txt").write_text("this run fails\n")
        await _wait_for_file(inbox / "failed" / "bad.txt")
        await settle(k)
        await host.stop()

    harness.call(scenario())


def test_missing_folder_is_a_clear_error(kernel, tmp_path):
    harness = kernel()
    k = harness.kernel

    async def scenario():
        await k.workflows.save(workflow("intake", {"folder": {"path": str(tmp_path / "nope")}}))
        await k.workflows.save(workflow("nopath", {"folder": {}}))
        host = TriggerHost(k)
        await host.start()
        assert "does not exist" in host.failures[("intake", "folder")]
        assert "'path' is required" in host.failures[("nopath", "folder")]
        await host.stop()

    harness.call(scenario())


def test_bad_setting_type_names_the_key(kernel, tmp_path):
    harness = kernel()
    k = harness.kernel

    async def scenario():  # refused when saved, as a step's bad setting is
        with pytest.raises(ConfigError, match=r"table \[on.folder\]: glob: expected a list"):
            await k.workflows.save(workflow("intake", {"folder": {"path": str(tmp_path), "glob": 5}}))

    harness.call(scenario())
