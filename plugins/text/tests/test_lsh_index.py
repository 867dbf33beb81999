"""The LSH index in the host's plugin storage, on SQLite and on PostgreSQL (``database_url`` runs
each test on both): queries, replacing, removing, parameters, concurrent writers, and taking over
the SQLite tables the plugin made itself before plugin storage."""

from __future__ import annotations

import asyncio
import random
import sqlite3

import numpy as np
import pytest
import sqlalchemy as sa

from paperchain_sdk import ConfigError
from paperchain_text.lsh_index import MinHashIndex
from paperchain_text.storage import SCHEMA, buckets


def corpus(count: int, seed: int = 3, words: int = 120) -> dict[str, str]:
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(5000)]
    return {f"doc-{i}": " ".join(rng.choices(vocabulary, k=words)) for i in range(count)}


def mutate(text: str, fraction: float, seed: int = 9) -> str:
    rng = random.Random(seed)
    words = text.split()
    for i in rng.sample(range(len(words)), int(len(words) * fraction)):
        words[i] = f"x{rng.randrange(10**6)}"
    return " ".join(words)


@pytest.fixture
async def store(paperchain_storage):
    return await paperchain_storage(SCHEMA)


@pytest.fixture
async def index(store):
    return await MinHashIndex.open(store)


async def test_finds_near_duplicates_and_not_strangers(index):
    docs = corpus(300)
    await index.add_many((doc_id, index.hasher.sign(text)) for doc_id, text in docs.items())
    assert await index.count() == 300
    near = mutate(docs["doc-17"], 0.05)
    matches = await index.query(index.hasher.sign(near), threshold=0.5)
    assert [m.document_id for m in matches] == ["doc-17"]
    assert 0.6 < matches[0].jaccard < 1.0
    assert await index.query(index.hasher.sign(" ".join(corpus(1, seed=99).values())), threshold=0.3) == []


async def test_similar_excludes_the_document_itself_and_orders_by_score(index):
    base = corpus(1)["doc-0"]
    await index.add("a", index.hasher.sign(base))
    await index.add("b", index.hasher.sign(mutate(base, 0.02)))
    await index.add("c", index.hasher.sign(mutate(base, 0.15, seed=4)))
    result = await index.similar("a", threshold=0.3)
    assert [m.document_id for m in result] == ["b", "c"]
    assert result[0].jaccard >= result[1].jaccard
    assert [m.document_id for m in await index.similar("a", threshold=0.3, limit=1)] == ["b"]
    assert await index.similar("missing") is None


async def test_persists_replaces_and_removes(store, index):
    sig = index.hasher.sign("alpha beta gamma delta epsilon")
    await index.add("doc", sig)
    other = index.hasher.sign("something else entirely here now")
    await index.add_many([("doc", other), ("doc", other)])  # replace; a document given twice is one row
    again = await MinHashIndex.open(store)  # a second opener (another process) sees the same index
    assert await again.count() == 1 and await again.contains("doc")
    assert np.array_equal(await again.signature("doc"), other)
    assert await again.query(sig, threshold=0.5) == []
    assert await store.scalar(sa.select(sa.func.count()).select_from(buckets)) == len(set(index._keys(other)))
    assert await again.remove("doc") and not await again.remove("doc") and await again.count() == 0
    assert await store.scalar(sa.select(sa.func.count()).select_from(buckets)) == 0


async def test_other_parameters_on_an_existing_index_are_refused(store, index):
    with pytest.raises(ConfigError, match="scheme: index has fnv1a-affine32, settings say datasketch-affine32"):
        await MinHashIndex.open(store, scheme="datasketch-affine32")


async def test_bad_queries(index):
    with pytest.raises(ValueError, match="threshold"):
        await index.query(index.hasher.sign("a b c"), threshold=0)
    with pytest.raises(ValueError, match="uint32 signature of 128"):
        await index.query(np.zeros(64, np.uint32))
    assert await index.query(index.hasher.sign("")) == []  # no words: matches nothing


async def test_concurrent_writers_and_a_second_handle(store, index):
    docs = corpus(80, seed=5)
    items = list(docs.items())
    second = await MinHashIndex.open(store)  # as the kernel's analyzer and an API route at once

    async def write(k):
        idx = (index, second)[k % 2]
        for doc_id, text in items[k::4]:
            await idx.add(doc_id, idx.hasher.sign(text))

    await asyncio.gather(*(write(k) for k in range(4)))
    assert await index.count() == await second.count() == 80
    assert await second.similar("doc-3", threshold=0.99) == []
    assert [m.document_id for m in await index.query(index.hasher.sign(docs["doc-3"]), threshold=0.99)] == ["doc-3"]


def test_the_sqlite_tables_of_before_are_taken_over_with_their_rows(paperchain_kernel, tmp_path):
    import paperchain_text
    from paperchain_text import runtime

    data_dir = tmp_path / "kernel-0"
    data_dir.mkdir()
    sig = np.arange(128, dtype=np.uint32)
    with sqlite3.connect(data_dir / "paperchain.db") as conn:  # as lsh_index.py made them before plugin storage
        conn.executescript("""
            CREATE TABLE text_minhash_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE text_minhash (id INTEGER PRIMARY KEY, document_id TEXT NOT NULL UNIQUE, signature BLOB NOT NULL);
            CREATE TABLE text_lsh_buckets (bucket INTEGER NOT NULL, doc INTEGER NOT NULL,
                PRIMARY KEY (bucket, doc)) WITHOUT ROWID;
            CREATE INDEX text_lsh_buckets_doc ON text_lsh_buckets (doc);
            INSERT INTO text_minhash_meta VALUES ('num_perm', '128'), ('bands', '42'), ('seed', '1'),
                ('scheme', 'fnv1a-affine32'), ('shingle_size', '3');
        """)
        conn.execute("INSERT INTO text_minhash VALUES (7, 'old', ?)", (sig.tobytes(),))
        from paperchain_text.minhash_kernel import band_keys
        conn.executemany("INSERT OR IGNORE INTO text_lsh_buckets VALUES (?, 7)",
                         [(k,) for k in band_keys(sig, 42, 3).tolist()])
    harness = paperchain_kernel(paperchain_text)

    async def read():
        index = await runtime.open_index(harness.kernel, num_perm=128, bands=42, seed=1, scheme="fnv1a-affine32",
                                         shingle_size=3)
        return await index.count(), await index.query(sig, threshold=0.9)

    count, matches = harness.call(read())
    assert count == 1 and [(m.document_id, m.jaccard) for m in matches] == [("old", 1.0)]
