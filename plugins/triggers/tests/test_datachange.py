"""The data-change trigger reacts to document.updated (emitted by the API's document update route)."""

from __future__ import annotations

from triggers_support import Recorder, batches, settle, workflow

from paperchain.trigger_host import TriggerHost


def test_metadata_change_starts_a_run_for_that_document(kernel, tmp_path):
    source = tmp_path / "note.txt"
    source.write_text("a document\n")
    harness = kernel()
    k = harness.kernel

    async def scenario():
        seen = Recorder(k)
        document = await k.documents.ingest(str(source))
        await k.workflows.save(workflow("retag", {"data-change": {"fields": ["metadata.vendor", "tags"]}}))
        host = TriggerHost(k)
        await host.start()
        await k.emit("document.updated", document.id, {"fields": ["metadata.pages"]})  # not watched
        await k.emit("document.updated", document.id, {"fields": ["metadata.vendor"]})
        runs = await seen.wait(lambda e: e.type == "run.succeeded")
        await settle(k)
        await host.stop()
        assert len(seen.of("batch.created")) == 1 and runs[0].data["document"] == document.id
        (batch,) = await batches(k)
        assert batch["source"] == "trigger:data-change" and batch["inputs"]["changed"] == ["metadata.vendor"]

    harness.call(scenario())
