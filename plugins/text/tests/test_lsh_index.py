"""The SQLite LSH index: persistence, queries, parameters, concurrent connections."""

from __future__ import annotations

import random
import sqlite3
import threading

import numpy as np
import pytest
from paperchain_sdk import ConfigError
from paperchain_text.lsh_index import MinHashIndex


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
def index(tmp_path):
    idx = MinHashIndex(tmp_path / "index.db")
    yield idx
    idx.close()


def test_finds_near_duplicates_and_not_strangers(index):
    docs = corpus(300)
    index.add_many((doc_id, index.hasher.sign(text)) for doc_id, text in docs.items())
    near = mutate(docs["doc-17"], 0.05)
    matches = index.query(index.hasher.sign(near), threshold=0.5)
    assert [m.document_id for m in matches] == ["doc-17"]
    assert 0.6 < matches[0].jaccard < 1.0
    assert index.query(index.hasher.sign(" ".join(corpus(1, seed=99).values())), threshold=0.3) == []


def test_similar_excludes_the_document_itself_and_orders_by_score(index):
    base = " ".join(corpus(1)["doc-0"].split())
    index.add("a", index.hasher.sign(base))
    index.add("b", index.hasher.sign(mutate(base, 0.02)))
    index.add("c", index.hasher.sign(mutate(base, 0.15, seed=4)))
    result = index.similar("a", threshold=0.3)
    assert [m.document_id for m in result] == ["b", "c"]
    assert result[0].jaccard >= result[1].jaccard
    assert index.similar("missing") is None


def test_persists_and_replaces(tmp_path):
    path = tmp_path / "index.db"
    first = MinHashIndex(path)
    sig = first.hasher.sign("alpha beta gamma delta epsilon")
    first.add("doc", sig)
    first.add("doc", first.hasher.sign("something else entirely here now"))  # replace
    first.close()
    again = MinHashIndex(path)
    assert len(again) == 1 and "doc" in again
    assert again.query(sig, threshold=0.5) == []
    assert again.remove("doc") and not again.remove("doc") and len(again) == 0
    buckets = sqlite3.connect(path).execute("SELECT count(*) FROM text_lsh_buckets").fetchone()[0]
    assert buckets == 0


def test_uses_wal_and_text_prefixed_tables(index):
    db = sqlite3.connect(index.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert tables and all(t.startswith("text_") for t in tables)


def test_other_parameters_on_an_existing_index_are_refused(tmp_path):
    MinHashIndex(tmp_path / "i.db").close()
    with pytest.raises(ConfigError, match="scheme: index has fnv1a-affine32, settings say datasketch-affine32"):
        MinHashIndex(tmp_path / "i.db", scheme="datasketch-affine32")


def test_bad_queries(index):
    with pytest.raises(ValueError, match="threshold"):
        index.query(index.hasher.sign("a b c"), threshold=0)
    with pytest.raises(ValueError, match="uint32 signature of 128"):
        index.query(np.zeros(64, np.uint32))


def test_writers_in_threads_and_a_second_connection(tmp_path):
    path = tmp_path / "shared.db"
    docs = corpus(80, seed=5)
    items = list(docs.items())
    indexes = [MinHashIndex(path), MinHashIndex(path)]  # two connections to one file, as kernel + API

    def write(k):
        idx = indexes[k % 2]
        for doc_id, text in items[k::4]:
            idx.add(doc_id, idx.hasher.sign(text))

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(indexes[0]) == len(indexes[1]) == 80
    assert indexes[1].similar("doc-3", threshold=0.99) == []
    assert [m.document_id for m in indexes[0].query(indexes[0].hasher.sign(docs["doc-3"]), threshold=0.99)] == ["doc-3"]
