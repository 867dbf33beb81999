"""The models plugin's tables in the host's plugin storage, on SQLite and PostgreSQL (the
``database_url`` fixture), and the take-over of the tables it made itself before."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

import paperchain_models
from paperchain_models import service
from paperchain_sdk import ConflictError, NotFoundError, PermissionDenied


def _add(registry, name, tenant="", data=b"model bytes"):
    return registry.add(name, data, kind="onnx", task="", inputs=[], outputs=[], labels=["a"], metrics={"m": 1},
                        tenant=tenant, created_by="ada")


def test_registry_jobs_and_interactions(paperchain_kernel, database_url, tmp_path):
    harness = paperchain_kernel(paperchain_models, config={"paperchain": {"database_url": database_url}})
    kernel = harness.kernel
    document = tmp_path / "letter.txt"
    document.write_text("flour sugar oven")

    async def scenario():
        svc = service.service_for(kernel)
        registry = svc.registry
        # Two writers at once get consecutive numbers (PostgreSQL: one retries on the key it lost).
        added = await asyncio.gather(*(_add(registry, "doctype") for _ in range(4)))
        assert sorted(v.version for v in added) == [1, 2, 3, 4]
        assert (await registry.get("doctype", 2)).labels == ["a"]
        await registry.promote("doctype", 1, "production", by="ada")
        await registry.promote("doctype", 3, "production", by="ada")
        assert [v.stage for v in await registry.versions("doctype")] == ["archived", "", "production", ""]
        assert (await registry.rollback("doctype", by="ada")).version == 1
        with pytest.raises(ConflictError):
            await registry.rollback("doctype")  # the rollback itself is not undone by another
        assert (await registry.resolve("doctype")).version == 1
        await _add(registry, "doctype", tenant="acme")
        assert [m["ref"] for m in await registry.names()] == ["doctype", "acme:doctype"]
        assert [m["tenant"] for m in await registry.names("acme")] == ["acme"]  # its own hides the shared one
        assert (await registry.versions("doctype", tenant="globex"))[0].tenant == ""  # shared, read-only
        with pytest.raises(PermissionDenied):
            await registry.delete("doctype", 2, tenant="globex")
        with pytest.raises(ConflictError):
            await registry.delete("doctype", 1)  # in production
        assert await registry.delete("doctype", 2) == [2]
        with pytest.raises(NotFoundError):
            await registry.get("doctype", 2)

        job = await svc.start_training("doctype", {"task": "text", "texts": [], "labels": []}, by="ada",
                                       tenant="acme")
        await asyncio.gather(*svc.tasks, return_exceptions=True)
        failed = await svc.job(job, tenant="acme")
        assert failed["status"] == "failed" and failed["finished"] and failed["created_by"] == "ada"
        with pytest.raises(NotFoundError):
            await svc.job(job, tenant="globex")  # another tenant's job does not exist for it

        stored = await kernel.documents.ingest(document)
        await kernel.journal.flush()  # committed, so the kernel reads it back
        recommender = svc.recommender
        row = await recommender.record("ada", stored.id, "starred")
        assert row["id"] >= 1 and await recommender.interacted("ada", stored.id, "starred")
        assert not await recommender.interacted("ada", stored.id, "viewed")
        with pytest.raises(NotFoundError):
            await recommender.record("ada", "no-such-document")
        assert [i["document"] for i in await recommender.recommend("eve", 5)] == [stored.id]  # popular, new user

    harness.call(scenario())
    local = kernel.data_dir / "paperchain.db"
    if database_url.startswith("postgresql") and local.exists():  # the plugin's tables went there, none here
        with sqlite3.connect(local) as conn:
            assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE 'models_%'").fetchone()[0] == 0


OLD_TABLES = """
    CREATE TABLE models_versions (name TEXT NOT NULL, version INTEGER NOT NULL, kind TEXT NOT NULL,
        task TEXT NOT NULL DEFAULT '', sha256 TEXT NOT NULL, size INTEGER NOT NULL, inputs TEXT NOT NULL,
        outputs TEXT NOT NULL, labels TEXT NOT NULL DEFAULT '[]', metrics TEXT NOT NULL DEFAULT '{}',
        training TEXT NOT NULL DEFAULT '{}', created TEXT NOT NULL, created_by TEXT NOT NULL DEFAULT '',
        stage TEXT NOT NULL DEFAULT '', PRIMARY KEY (name, version));
    CREATE TABLE models_jobs (id TEXT PRIMARY KEY, model TEXT NOT NULL, task TEXT NOT NULL, status TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '', version INTEGER, error TEXT,
        created TEXT NOT NULL, finished TEXT, created_by TEXT NOT NULL DEFAULT '');
    CREATE TABLE models_interactions (id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL,
        document TEXT NOT NULL, kind TEXT NOT NULL, weight REAL NOT NULL, created TEXT NOT NULL);
    INSERT INTO models_versions VALUES ('doctype', 1, 'text', 'classification', 'ab', 2, '[]', '[]', '["a"]', '{}',
        '{}', '2026-01-01', 'cli', 'production');
    INSERT INTO models_jobs (id, model, task, status, created) VALUES ('j1', 'doctype', 'text', 'succeeded', 'x');
    INSERT INTO models_interactions (user, document, kind, weight, created) VALUES ('ada', 'd1', 'viewed', 1, 'x');
"""


def test_tables_made_before_plugin_storage_and_tenants_are_taken_over(paperchain_kernel, tmp_path):
    data_dir = tmp_path / "kernel-0"
    data_dir.mkdir()
    with sqlite3.connect(data_dir / "paperchain.db") as conn:  # as the plugin made them itself, before tenants
        conn.executescript(OLD_TABLES)
    harness = paperchain_kernel(paperchain_models)

    async def scenario():
        svc = service.service_for(harness.kernel)
        (version,) = await svc.registry.versions("doctype")
        assert (version.tenant, version.version, version.stage, version.labels) == ("", 1, "production", ["a"])
        assert await svc.registry.versions("doctype", tenant="acme") == [version]  # shared, read-only
        assert (await svc.job("j1"))["tenant"] == ""
        assert await svc.recommender.interacted("ada", "d1", "viewed")

    harness.call(scenario())
    harness.close()
    with sqlite3.connect(data_dir / "paperchain.db") as conn:
        assert conn.execute("SELECT version_num FROM models_alembic_version").fetchone() == ("0001",)
        assert conn.execute("SELECT count(*) FROM models_interactions").fetchone() == (1,)
    from paperchain.harness import KernelHarness

    again = KernelHarness((paperchain_models,), data_dir=data_dir)  # a second start finds nothing to migrate
    try:
        assert len(again.call(service.service_for(again.kernel).registry.versions("doctype"))) == 1
    finally:
        again.close()


def test_each_kernels_components_use_that_kernels_registry(paperchain_kernel):
    """No module-level "current" service: two kernels in one process, each component bound to its own."""
    first, second = paperchain_kernel(paperchain_models), paperchain_kernel(paperchain_models)
    first.call(_add(service.service_for(first.kernel).registry, "doctype"))
    for harness in (first, second):
        for name in ("models.predict", "models.classify", "models.train"):
            assert harness.kernel.component(name).kernel is harness.kernel
    assert service.service_for(first.kernel) is not service.service_for(second.kernel)
    with pytest.raises(NotFoundError, match="doctype"):  # first's model, unknown to second
        second.call(second.kernel.component("models.predict").predict({"model": "doctype", "text": "x"}))

