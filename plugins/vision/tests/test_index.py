"""The similar-image index: the host's plugin storage (SQLite and PostgreSQL), filled by the event hook,
served by the route."""

from __future__ import annotations

import types

import pytest

import paperchain_vision
from paperchain_sdk import InputError, NotFoundError
from paperchain_sdk.web import KERNEL_KEY, parse_query
from paperchain_vision.index import HashIndex
from paperchain_vision.web import SimilarQuery


def findings(*phashes):
    return {"hash_size": 8, "pages": [{"page": i + 1, "ahash": h, "dhash": h, "phash": h} for i, h in enumerate(phashes)]}


class StorageOnly:
    """The one thing the index asks of a kernel: its storage handle (the real one, on ``database_url``)."""

    def __init__(self, storage):
        self.storage = storage


async def test_index_search_by_hamming_distance(paperchain_storage):
    index = HashIndex(StorageOnly(paperchain_storage))
    await index.add("a", findings("ffffffff00000000"))
    await index.add("b", findings("ffffffff00000001", "0000000000000000"))  # one bit from a
    await index.add("c", findings("00000000ffffffff"))  # 64 bits from a
    assert await index.similar("a", max_distance=4) == [{"document_id": "b", "distance": 1, "page": 1, "matched_page": 1}]
    assert [m["document_id"] for m in await index.similar("a", max_distance=64)] == ["b", "c"]
    assert await index.add("b", findings("0000000000000000")) == 3  # re-indexing replaces
    assert await index.hashes_of("b", "phash") == [(1, 64, "0000000000000000")]
    assert await index.similar("a", max_distance=4) == []
    assert await index.similar("nobody") == []


def test_an_existing_sqlite_hash_table_is_taken_over_with_its_rows(paperchain_kernel, tmp_path):
    import sqlite3

    data_dir = tmp_path / "kernel-0"
    data_dir.mkdir()
    with sqlite3.connect(data_dir / "paperchain.db") as conn:  # as the plugin made it before plugin storage
        conn.executescript("""
            CREATE TABLE vision_hashes (document_id TEXT NOT NULL, page INTEGER NOT NULL, algorithm TEXT NOT NULL,
                bits INTEGER NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (document_id, page, algorithm));
            CREATE INDEX vision_hashes_by_algorithm ON vision_hashes (algorithm, bits);
            INSERT INTO vision_hashes VALUES ('old', 1, 'phash', 64, 'ffffffff00000000');
        """)
    kernel = paperchain_kernel(paperchain_vision)
    assert kernel.call(HashIndex(kernel.kernel).hashes_of("old", "phash")) == [(1, 64, "ffffffff00000000")]


def test_query_parsing():
    assert parse_query(SimilarQuery, {"max_distance": "3"}).max_distance == 3
    for bad in ({"max_distance": "x"}, {"max_distance": "999"}, {"algorithm": "md5"}, {"size": "1"}):
        with pytest.raises(InputError):
            parse_query(SimilarQuery, bad)


@pytest.mark.slow
def test_workflow_indexes_hashes_and_route_answers(paperchain_kernel, testdata, tmp_path):
    import shutil

    from aiohttp.test_utils import TestClient, TestServer

    copy = tmp_path / "baiona-copy.png"
    shutil.copy(testdata / "crom.png", copy)
    with open(copy, "ab") as fh:  # same pixels, different bytes: another document
        fh.write(b"\0")
    kernel = paperchain_kernel(paperchain_vision)
    outcome = kernel.run({"name": "hash", "steps": [{"id": "h", "uses": "vision.hashes"}]},
                         files=[testdata / "crom.png", copy, testdata / "typewriter.png"])
    assert outcome.succeeded
    k = kernel.kernel
    original = index_docs(kernel)
    assert len(original) == 3

    from paperchain_sdk.testing.routes import routes_app
    from paperchain_sdk.web import Principal

    operator = Principal(name="root", role="admin")  # the server's guard sets the caller; here, the operator

    async def call():
        app = routes_app(k, paperchain_vision.paperchain_routes(kernel=k), user="root")
        async with TestClient(TestServer(app)) as client:
            doc_id = original[0]
            answers = {}
            for d in original:
                resp = await client.get(f"/api/v1/vision/similar/{d}?max_distance=0")
                assert resp.status == 200
                answers[d] = await resp.json()
            return doc_id, answers

    _, answers = kernel.call(call())
    twins = [d for d, a in answers.items() if a["matches"]]
    assert len(twins) == 2  # crom.png and its copy find each other at distance 0
    assert all(answers[d]["matches"][0]["distance"] == 0 for d in twins)

    handler = [r for r in paperchain_vision.paperchain_routes(kernel=k)][0].handler

    class FakeRequest:  # the route's own error for a document never hashed
        match_info = {"document_id": "nope"}
        rel_url = types.SimpleNamespace(query={})
        app = {KERNEL_KEY: k}

        def __getitem__(self, key):
            return operator

    with pytest.raises(NotFoundError):
        kernel.call(handler(FakeRequest()))


def index_docs(harness):
    import sqlalchemy as sa

    from paperchain_vision.index import SCHEMA, hashes

    async def read():
        store = await harness.kernel.storage(SCHEMA)
        return [row[0] for row in await store.read(sa.select(hashes.c.document_id).distinct())]

    return harness.call(read())
