"""The step-result cache: a deterministic step is not run again on the same input, per tenant."""

from __future__ import annotations

from collections import Counter

import attrs
import pytest
import sqlalchemy as sa

from paperchain.store.tables import documents, findings, runs, step_cache, steps
from paperchain_sdk import (
    ActionSpec,
    AnalyzerSpec,
    Artifact,
    ConfigError,
    DocumentUpdate,
    ExporterSpec,
    Findings,
    Result,
    hookimpl,
)
from paperchain_sdk.contracts import Action, Analyzer, Exporter

CALLS: Counter = Counter()


@attrs.define
class CountSettings:
    scale: int = 1


class Words(Analyzer):
    def analyze(self, doc, options):
        CALLS["words"] += 1
        return Findings(data={"words": len((doc.text or "").split()) * options.scale}, summary="counted")


class Upper(Action):
    def run(self, ctx, inputs):
        CALLS["upper"] += 1
        with ctx.document.open() as fh:
            text = fh.read().decode().upper()
        return Result(outputs={"length": len(text)}, document=DocumentUpdate(text=text, tags=("shouted",)),
                      artifacts=[Artifact(name="upper.txt", media_type="text/plain", data=text.encode())])


class Report(Exporter):
    def export(self, doc, options):
        CALLS["report"] += 1
        return Artifact(name="report.txt", media_type="text/plain",
                        data=f"{doc.text}|{sorted(doc.findings)}".encode())


class Stamp(Action):
    """Not deterministic: a new answer each time."""

    def run(self, ctx, inputs):
        CALLS["stamp"] += 1
        return {"n": CALLS["stamp"]}


class CachePlugin:
    @hookimpl
    def paperchain_actions(self):
        return [ActionSpec(name="test.upper", impl=Upper, deterministic=True),
                ActionSpec(name="test.stamp", impl=Stamp)]

    @hookimpl
    def paperchain_analyzers(self):
        return [AnalyzerSpec(name="test.words", impl=Words, settings=CountSettings, deterministic=True)]

    @hookimpl
    def paperchain_exporters(self):
        return [ExporterSpec(name="test.report", impl=Report, format="text", media_type="text/plain",
                             extension="txt", deterministic=True)]


CHAIN = {"name": "chain", "steps": [
    {"id": "upper", "uses": "test.upper"},
    {"id": "words", "uses": "test.words", "needs": ["upper"]},
    {"id": "report", "uses": "test.report", "needs": ["words"]},
]}


@pytest.fixture(autouse=True)
def _calls():
    CALLS.clear()


@pytest.fixture
def kernel(paperchain_kernel):
    return paperchain_kernel(CachePlugin())


@pytest.fixture
def letter(paperchain_document):
    return paperchain_document("letter.txt", "dear friend how are you")


def step_rows(kernel, run_id):
    rows = kernel.call(kernel.kernel.sql.read(sa.select(steps).where(steps.c.run_id == run_id)))
    return {r.step_id: dict(r._mapping) for r in rows}


def change(kernel, *statements) -> None:
    """Write the kernel's tables behind the engine's back (one transaction), as someone else might."""
    async def write():
        async with kernel.kernel.sql.transaction() as tx:
            for statement in statements:
                await tx.execute(statement)

    kernel.call(write())


def read(kernel, statement):
    return kernel.call(kernel.kernel.sql.read(statement))


def test_a_second_run_on_the_same_bytes_reuses_every_deterministic_step(kernel, letter):
    first = kernel.run(CHAIN, files=[letter.path]).runs[0]
    second = kernel.run(CHAIN, files=[letter.path]).runs[0]
    assert CALLS == {"upper": 1, "words": 1, "report": 1}
    assert second.status == "succeeded"
    assert not any(s.cached for s in first.steps.values())
    assert all(s.cached for s in second.steps.values())
    assert second.steps["words"].outputs == first.steps["words"].outputs == {"words": 5}
    assert second.steps["upper"].outputs["length"] == first.steps["upper"].outputs["length"]


def test_reused_artifacts_are_the_same_blobs_under_the_new_run(kernel, letter):
    first = kernel.run(CHAIN, files=[letter.path]).runs[0]
    second = kernel.run(CHAIN, files=[letter.path]).runs[0]
    before = {(a.step, a.name): a.sha256 for a in first.artifacts}
    after = {(a.step, a.name): a.sha256 for a in second.artifacts}
    assert after == before and len(after) == 2
    link = second.steps["report"].outputs["download"]
    assert link == f"/api/v1/runs/{second.id}/artifacts/report/report.txt"
    upper = second.steps["upper"].outputs["artifacts"][0]
    assert upper["download"] == f"/api/v1/runs/{second.id}/artifacts/upper/upper.txt"
    data = kernel.kernel.blobs.read_bytes(after[("report", "report.txt")])
    assert data == b"DEAR FRIEND HOW ARE YOU|['test.words']"


def test_a_reused_step_leaves_the_document_and_findings_as_running_it_would(kernel, letter):
    kernel.run(CHAIN, files=[letter.path])
    change(kernel, sa.update(documents).values(text="changed", tags="[]"),  # as if someone had edited it since
           sa.delete(findings))
    second = kernel.run(CHAIN, files=[letter.path]).runs[0]
    assert all(s.cached for s in second.steps.values())
    (document,) = read(kernel, sa.select(documents.c.text, documents.c.tags))
    assert document.text == "DEAR FRIEND HOW ARE YOU" and "shouted" in document.tags
    found = read(kernel, sa.select(findings.c.run_id, findings.c.data).where(findings.c.analyzer == "test.words"))
    assert [(f.run_id, f.data) for f in found] == [(second.id, '{"words": 5}')]


def test_other_settings_other_bytes_or_a_changed_upstream_run_again(kernel, letter, paperchain_document):
    kernel.run(CHAIN, files=[letter.path])
    scaled = {**CHAIN, "steps": [CHAIN["steps"][0], {**CHAIN["steps"][1], "with": {"scale": 2}}, CHAIN["steps"][2]]}
    run = kernel.run(scaled, files=[letter.path]).runs[0]
    assert run.steps["upper"].cached and not run.steps["words"].cached and not run.steps["report"].cached
    assert run.steps["words"].outputs == {"words": 10}
    other = paperchain_document("other.txt", "dear friend how are you!")
    run = kernel.run(CHAIN, files=[other.path]).runs[0]
    assert not any(s.cached for s in run.steps.values())
    stamped = {"name": "stamped", "steps": [{"id": "stamp", "uses": "test.stamp"},
                                           {"id": "words", "uses": "test.words", "needs": ["stamp"]}]}
    kernel.run(stamped, files=[letter.path])
    run = kernel.run(stamped, files=[letter.path]).runs[0]
    assert not run.steps["stamp"].cached  # not deterministic: never cached
    assert not run.steps["words"].cached  # what it needs answered differently
    assert CALLS["stamp"] == 2


def test_cache_false_turns_it_off_for_the_step(kernel, letter):
    off = {**CHAIN, "steps": [{**CHAIN["steps"][0], "cache": False}, *CHAIN["steps"][1:]]}
    kernel.run(off, files=[letter.path])
    run = kernel.run(off, files=[letter.path]).runs[0]
    assert CALLS["upper"] == 2 and not run.steps["upper"].cached
    assert run.steps["words"].cached  # its input is the same: the upstream answered the same


def test_cache_ttl_bounds_the_age_of_a_reused_result(kernel, letter):
    bounded = {**CHAIN, "steps": [{**CHAIN["steps"][0], "cache-ttl": "7d"}, *CHAIN["steps"][1:]]}
    kernel.run(bounded, files=[letter.path])
    assert kernel.run(bounded, files=[letter.path]).runs[0].steps["upper"].cached
    change(kernel, sa.update(step_cache).values(created=step_cache.c.created - 8 * 86400))  # eight days pass
    run = kernel.run(bounded, files=[letter.path]).runs[0]
    assert not run.steps["upper"].cached and CALLS["upper"] == 2


def test_entries_are_never_reused_across_tenants(kernel, letter):
    engine = kernel.kernel.engine
    workflow = kernel.kernel.load_workflow(CHAIN)

    def run_as(tenant):
        batch, _ = kernel.call(engine.create_batch(workflow, [letter.path], tenant=tenant))
        kernel.call(engine.run_batch(batch))
        (run,) = read(kernel, sa.select(runs.c.id).where(runs.c.batch_id == batch))
        return step_rows(kernel, run.id)

    assert not any(s["cached"] for s in run_as("acme").values())
    assert not any(s["cached"] for s in run_as("globex").values())
    assert all(s["cached"] for s in run_as("acme").values())
    assert CALLS["upper"] == 2
    assert {r.tenant for r in read(kernel, sa.select(step_cache.c.tenant))} == {"acme", "globex"}


def test_a_missing_blob_means_the_step_runs_again(kernel, letter):
    first = kernel.run(CHAIN, files=[letter.path]).runs[0]
    report = next(a for a in first.artifacts if a.step == "report")
    assert kernel.kernel.blobs.delete(report.sha256)
    run = kernel.run(CHAIN, files=[letter.path]).runs[0]
    assert run.steps["words"].cached and not run.steps["report"].cached
    assert kernel.kernel.blobs.exists(report.sha256)


@pytest.mark.parametrize("step, said", [
    ({"cache": "no"}, "'cache' must be a bool"),
    ({"cache-ttl": "soon"}, "'soon' is not a duration"),
    ({"cache-ttl": 0}, "a duration must be positive"),
    ({"cache-ttl": "1d", "cache_ttl": "2d"}, "write the cache's lifetime once"),
])
def test_bad_cache_settings_are_refused_with_the_reason(kernel, step, said):
    with pytest.raises(ConfigError, match=said):
        kernel.kernel.load_workflow({"name": "bad", "steps": [{"id": "a", "uses": "test.upper", **step}]})


def test_a_component_cannot_be_deterministic_and_have_side_effects():
    with pytest.raises(ValueError, match="cannot be deterministic and have side effects"):
        ActionSpec(name="test.both", impl=Upper, deterministic=True, side_effects=True)


def test_the_disk_store_is_a_blob_store_and_puts_each_content_once(kernel, tmp_path):
    import io

    from paperchain.store.blobstore import BlobStore

    blobs = kernel.kernel.blobs
    assert isinstance(blobs, BlobStore)
    digest, size = blobs.put(io.BytesIO(b"same bytes"))
    assert (digest, size) == blobs.put(io.BytesIO(b"same bytes"))
    assert blobs.read_bytes(digest) == b"same bytes" and blobs.exists(digest)
    assert blobs.delete(digest) and not blobs.exists(digest) and not blobs.delete(digest)


async def run_chain(site, document_id: str) -> dict:
    reply = await site.request("POST", "/api/v1/runs", json={"workflow": "chain", "documents": [document_id]})
    assert reply.status == 202, reply
    await site.wait_run(reply.json["runs"][0])
    return (await site.request("GET", f"/api/v1/runs/{reply.json['runs'][0]}")).json


async def test_the_api_and_the_run_page_say_a_step_was_cached(paperchain_site, tmp_path):
    site = await paperchain_site(CachePlugin())
    assert (await site.request("POST", "/api/v1/workflows", json=CHAIN)).status == 201
    letter = tmp_path / "letter.txt"
    letter.write_text("dear friend how are you")
    document = await site.kernel.documents.ingest(letter)
    await site.kernel.journal.flush()  # ingest queues the document's row; the API reads committed rows
    first, second = await run_chain(site, document.id), await run_chain(site, document.id)
    assert [s["cached"] for s in first["steps"]] == [False, False, False]
    assert [s["cached"] for s in second["steps"]] == [True, True, True]
    assert {s["id"]: s["outputs"] for s in second["steps"]}["words"] == {"words": 5}
    for language, chip in (("en", ">cached</span>"), ("es", ">en caché</span>")):
        client = await site.client(language).login("vera")
        _, _, page = await client.get(f"/runs/{second['id']}")
        assert page.count(chip) == 3
        _, _, page = await client.get(f"/runs/{first['id']}")
        assert chip not in page
