"""Recommenders on data with structure, evaluated by held-out precision@10; and through the API."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from paperchain_models.recommend.core import (
    ContentIndex,
    Recommenders,
    holdout_split,
    precision_at_k,
)


def clustered_interactions(users=200, items=120, groups=4, per_user=12, seed=0):
    """Users in groups; each group mostly uses its own block of items (85%), sometimes any item."""
    rng = np.random.default_rng(seed)
    block = items // groups
    rows, cols = [], []
    for u in range(users):
        g = u % groups
        own = rng.choice(np.arange(g * block, (g + 1) * block), int(per_user * 0.85), replace=False)
        other = rng.choice(items, per_user - len(own), replace=False)
        chosen = np.unique(np.concatenate([own, other]))
        rows += [u] * len(chosen)
        cols += chosen.tolist()
    weights = rng.choice([1.0, 3.0, 5.0], len(rows)).astype(np.float32)
    return sp.csr_matrix((weights, (rows, cols)), shape=(users, items))


def test_held_out_precision_at_10_beats_popularity():
    R = clustered_interactions()
    train, test = holdout_split(R, fraction=0.25, seed=1)
    assert test.nnz > 0 and (train.multiply(test)).nnz == 0
    model = Recommenders(train, factors=16, iterations=10)
    scores = {m: precision_at_k(model, test, 10, m)[0] for m in ("als", "item", "hybrid", "popular")}
    random_baseline = test.nnz / test.shape[0] / R.shape[1]  # about 0.025 expected hits per slot
    assert scores["popular"] < 0.1
    for method in ("als", "item", "hybrid"):
        assert scores[method] > 2 * scores["popular"] and scores[method] > 3 * random_baseline, scores


def test_recommend_excludes_seen_and_new_users_get_popular_items():
    R = clustered_interactions(users=40, items=40)
    model = Recommenders(R, factors=8, iterations=5)
    seen = set(R.getrow(0).indices)
    top = [i for i, _ in model.recommend(0, 10)]
    assert len(top) == 10 and not seen.intersection(top)
    with_seen = [i for i, _ in model.recommend(0, 40, exclude_seen=False)]
    assert seen <= set(with_seen)
    popular = [i for i, _ in model.recommend(0, 5, method="popular", exclude_seen=False)]
    assert list(model.popularity[popular]) == sorted(model.popularity, reverse=True)[:5]


def test_content_similarity_follows_the_words():
    index = ContentIndex(["Invoice total amount due", "Apple pie recipe with sugar", "Invoice amount and VAT total",
                          None, "Sugar cookie recipe"])
    scores = index.similar_to_rows(np.array([0]))
    assert scores[0] > scores[2] > scores[1] and scores[3] == 0
    assert np.argmax(index.similar_to_rows(np.array([1]))[[2, 3, 4]]) == 2


def test_similar_documents_by_each_method():
    R = clustered_interactions(users=80, items=40, groups=4)
    model = Recommenders(R, texts=[f"group{i // 10} item{i}" for i in range(40)], factors=8, iterations=8)
    for method in ("als", "item", "content", "hybrid"):
        similar = [i for i, _ in model.similar(3, 5, method=method)]
        assert 3 not in similar
        assert sum(i // 10 == 0 for i in similar) >= 3, (method, similar)


def test_recommendations_through_the_api(labeled_kernel, serve_routes):
    async def scenario(client):
        from paperchain_models.service import service_for

        # The workflow ingests the files concurrently, so their stored (created) order varies from run to
        # run; take them in file order so the two user groups below are the same documents every run.
        labeled = await labeled_kernel.kernel.documents.labeled()
        documents = [d.id for d in sorted(labeled, key=lambda d: int(d.name.split("-")[1].split(".")[0]))]
        kinds = ("viewed", "downloaded", "starred")
        for u in range(12):
            # users 0-5 like the first 18 documents, users 6-11 the last 18 (each 8 of them)
            pool = documents[:18] if u < 6 else documents[18:]
            for j in range(8):
                r = await client.post("/api/v1/models/interactions",
                                      json={"document": pool[(u * 3 + j) % 18], "kind": kinds[j % 3]},
                                      headers={"X-Test-User": f"user{u}"})
                assert r.status == 201, await r.text()
        r = await client.post("/api/v1/models/interactions", json={"document": "nope"})
        assert r.status == 404
        r = await client.post("/api/v1/models/interactions", json={"document": documents[0], "kind": "liked"})
        assert r.status == 400 and "weight" in (await r.json())["error"]["hint"]
        r = await client.get("/api/v1/models/recommendations?n=5", headers={"X-Test-User": "user0"})
        body = await r.json()
        assert r.status == 200 and len(body["items"]) == 5
        assert all(item["document"] in documents[:18] for item in body["items"][:3])
        r = await client.get("/api/v1/models/recommendations?n=3", headers={"X-Test-User": "newcomer"})
        assert [i["method"] for i in (await r.json())["items"]] == ["popular"] * 3
        r = await client.get(f"/api/v1/models/similar/{documents[0]}?n=4")
        assert len((await r.json())["items"]) == 4
        r = await client.get("/api/v1/models/recommendations?n=0")
        assert r.status == 400
        r = await client.get("/api/v1/models/recommendations/evaluation?k=10")
        report = await r.json()
        assert r.status == 200 and report["k"] == 10 and report["held_out"] > 0
        assert set(report["methods"]) == {"hybrid", "als", "item", "content", "popular"}
        assert service_for(labeled_kernel.kernel).recommender is not None

    serve_routes(labeled_kernel, scenario)
