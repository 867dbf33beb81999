"""Topics over the corpus: documents clustered by meaning across languages, named by c-TF-IDF
terms, per tenant, through the served API and the command line; bad parameters are a clear 400."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import paperchain_ai
from paperchain_ai.topics import class_tfidf, cluster


@pytest.fixture
def paperchain_database_url(database_url):
    """The served-API tests here on SQLite and on PostgreSQL."""
    return "" if database_url.startswith("sqlite") else database_url


OCTET = {"Content-Type": "application/octet-stream"}
WORKFLOW = {"name": "embed", "steps": [
    {"id": "text", "uses": "document.text"},
    {"id": "embed", "uses": "ai.embed", "needs": ["text"]},
]}
CORPUS = {
    "invoice": [
        "Invoice 2026-114 from Northwind Supplies. The total amount due is 1,250 euros for office chairs and desks "
        "delivered in March. Please pay the invoice by bank transfer within thirty days.",
        "Factura 2026-088 de Suministros del Norte. El importe total de la factura es de 3.150 euros por impresoras "
        "y papel. Le rogamos que pague la factura por transferencia bancaria antes de treinta días.",
        "Invoice INV-5521 from Contoso Ltd for consulting services in April: 40 hours at 95 dollars. Total invoice "
        "amount 3,800 dollars plus tax, payment due within fifteen days of the invoice date.",
    ],
    "lease": [
        "This lease agreement is made between the landlord and the tenant for the apartment on Elm Street. The "
        "monthly rent is due on the first day of each month and the lease term is twelve months.",
        "Contrato de arrendamiento entre el arrendador y el inquilino de la vivienda situada en la calle Mayor. "
        "La renta mensual se paga el primer día de cada mes y el arrendamiento dura un año.",
        "Residential lease: the tenant rents the flat from the landlord for twenty-four months. The rent is paid "
        "monthly, the deposit equals two months of rent and the tenant must give notice before leaving.",
    ],
    "cat": [
        "Our old cat spends the whole afternoon asleep on the sunny windowsill, purring quietly, and only wakes up "
        "when someone opens a tin of food in the kitchen.",
        "Nuestro gato viejo pasa toda la tarde dormido en el alféizar soleado, ronroneando, y solo se despierta "
        "cuando alguien abre una lata de comida en la cocina.",
        "The kitten chased a ball of wool across the living room, climbed the curtains and then fell asleep, "
        "purring, on the cat's favourite cushion by the fire.",
    ],
}


async def _corpus(api, token, documents: dict[str, list[str]]) -> dict[str, str]:
    """Upload and embed the documents; their ids by topic and position (``invoice1`` …)."""
    assert (await api.request("POST", "/api/v1/workflows", json=WORKFLOW, token=token)).status == 201
    ids = {}
    for topic, texts in documents.items():
        for n, text in enumerate(texts):
            reply = await api.request("POST", f"/api/v1/documents?name={topic}{n}.txt", data=text.encode(),
                                      headers=OCTET, token=token)
            assert reply.status == 201, reply
            ids[f"{topic}{n}"] = reply.json["id"]
    started = await api.request("POST", "/api/v1/runs", json={"workflow": "embed", "documents": list(ids.values())},
                                token=token)
    assert started.status in (200, 201, 202), started
    for run_id in started.json["runs"]:
        assert (await api.wait_run(run_id))["status"] == "succeeded"
    return ids


def _groups(answer) -> list[set[str]]:
    return [{d["document_id"] for d in topic["documents"]} for topic in answer["topics"]]


async def test_topics_separate_by_meaning_across_languages_per_tenant(paperchain_api):
    api = await paperchain_api(paperchain_ai)
    acme = await api.user("alice", "viewer", tenant="acme")
    acme_editor = await api.user("carol", "editor", tenant="acme")
    globex = await api.user("bob", "editor", tenant="globex")
    ids = await _corpus(api, acme_editor, CORPUS)
    secret = await _corpus(api, globex, {"invoice": CORPUS["invoice"][:1]})

    reply = await api.request("GET", "/api/v1/ai/topics?k=3&documents=10", token=acme)  # a viewer may read
    assert reply.status == 200, reply
    answer = reply.json
    assert (answer["documents"], answer["k"], answer["chosen"]) == (9, 3, "given")
    expected = [{ids[f"{topic}{n}"] for n in range(3)} for topic in CORPUS]
    assert sorted(_groups(answer), key=sorted) == sorted(expected, key=sorted)  # English and Spanish together
    by_kind = {next(k for k in CORPUS if ids[f"{k}0"] in group): topic
               for group, topic in zip(_groups(answer), answer["topics"], strict=True)}
    terms = {kind: [t["term"] for t in topic["terms"]] for kind, topic in by_kind.items()}
    assert {"invoice", "factura"} & set(terms["invoice"][:3]), terms
    assert {"lease", "rent", "tenant", "landlord", "arrendamiento"} & set(terms["lease"][:3]), terms
    assert {"cat", "purring", "asleep", "gato"} & set(terms["cat"][:3]), terms
    for topic in answer["topics"]:
        assert topic["label"] == ", ".join(t["term"] for t in topic["terms"][:3]) and len(topic["terms"]) == 8
        assert not {"the", "and", "de", "la", "el", "por"} & {t["term"] for t in topic["terms"]}  # stop words
        scores = [t["score"] for t in topic["terms"]]
        assert scores == sorted(scores, reverse=True) and scores[0] > 0
        similarities = [d["similarity"] for d in topic["documents"]]
        assert similarities == sorted(similarities, reverse=True) and topic["documents"][0]["name"].endswith(".txt")
    assert secret["invoice0"] not in set().union(*_groups(answer))

    auto = (await api.request("GET", "/api/v1/ai/topics", token=acme)).json
    assert auto["chosen"] == "silhouette" and auto["k"] == 3 and auto["silhouette"] > 0
    assert sorted(_groups(auto), key=sorted) == sorted(expected, key=sorted)  # 3 per topic: all listed
    theirs = (await api.request("GET", "/api/v1/ai/topics", token=globex)).json
    assert theirs["documents"] == 1 and _groups(theirs) == [{secret["invoice0"]}]
    everyone = (await api.request("GET", "/api/v1/ai/topics?k=3", token=True)).json  # the operator
    assert everyone["documents"] == 10

    # A deleted document is no longer in any topic.
    assert (await api.request("DELETE", f"/api/v1/documents/{ids['cat2']}", token=acme_editor)).status in (200, 204)
    after = (await api.request("GET", "/api/v1/ai/topics?k=3&documents=10", token=acme)).json
    assert after["documents"] == 8 and ids["cat2"] not in set().union(*_groups(after))


async def test_bad_parameters_are_a_clear_400(paperchain_api):
    api = await paperchain_api(paperchain_ai)
    for query, words in (("k=1", "from 2 to 50"), ("k=51", "from 2 to 50"), ("k=three", "'auto' or a whole number"),
                         ("terms=0", "terms"), ("documents=101", "documents"), ("color=red", "unknown")):
        reply = await api.request("GET", f"/api/v1/ai/topics?{query}")
        assert reply.status == 400 and words in reply.json["error"]["message"], (query, reply.json)
    empty = await api.request("GET", "/api/v1/ai/topics")
    assert empty.status == 200 and empty.json["documents"] == 0 and empty.json["topics"] == []
    too_many = await api.request("GET", "/api/v1/ai/topics?k=4")
    assert too_many.status == 400 and "0 embedded documents" in too_many.json["error"]["message"]
    assert "embed" in too_many.json["error"]["details"]["hint"]
    assert (await api.request("GET", "/api/v1/ai/topics", token=None)).status == 401


def test_class_tfidf_follows_bertopics_formula():
    texts = ["apple apple banana", "apple cherry", "dog dog cat", "dog fish"]
    scored = class_tfidf(texts, np.array([0, 0, 1, 1]))
    # cluster 0: apple 3, banana 1, cherry 1 (5 words); cluster 1: dog 3, cat 1, fish 1; A = 5 words
    apple = 3 / 5 * np.log(1 + 5 / 3)
    banana = 1 / 5 * np.log(1 + 5 / 1)
    assert [t.term for t in scored[0]] == ["apple", "banana", "cherry"]
    assert scored[0][0].score == pytest.approx(apple, abs=1e-5) and scored[0][1].score == pytest.approx(banana, abs=1e-5)
    assert [t.term for t in scored[1]][0] == "dog" and {t.term for t in scored[1]} == {"dog", "cat", "fish"}
    # function words of either language never become terms
    words = class_tfidf(["the cat and the hat", "el gato y la casa"], np.array([0, 1]))
    assert {t.term for t in words[0]} == {"cat", "hat"} and {t.term for t in words[1]} == {"gato", "casa"}


def test_auto_k_finds_well_separated_groups():
    rng = np.random.default_rng(3)
    centres = np.eye(8, dtype=np.float32)[:4]
    vectors = np.concatenate([c + rng.normal(0, 0.05, (6, 8)).astype(np.float32) for c in centres])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels, silhouette = cluster(vectors, None)
    assert len(set(labels.tolist())) == 4 and silhouette > 0.5
    assert [len(set(labels[i * 6:(i + 1) * 6].tolist())) for i in range(4)] == [1, 1, 1, 1]
    assert cluster(vectors[:2], None)[0].tolist() == [0, 0]  # too few to split


def test_auto_k_on_a_corpus_larger_than_the_sample():
    from paperchain_ai.topics import SAMPLE

    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(5), (SAMPLE * 3) // 10)  # 5 topics, 1.5 x SAMPLE documents
    vectors = np.eye(16, dtype=np.float32)[groups] + rng.normal(0, 0.1, (len(groups), 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels, silhouette = cluster(vectors, None)
    assert len(groups) > SAMPLE and silhouette > 0.3
    per_group = [set(labels[groups == g].tolist()) for g in range(5)]
    assert all(len(found) == 1 for found in per_group) and len(set().union(*per_group)) == 5  # a topic each


@pytest.mark.slow
def test_topics_from_the_shell(tmp_path):
    config = tmp_path / "plugins.toml"
    config.write_text('[paperchain]\ndata_dir = "data"\n[plugins]\nload = ["builtins", "ai"]\n')

    def paperchain(*args):
        return subprocess.run([sys.executable, "-m", "paperchain", "--config", str(config), "ai", "topics", *args],
                              capture_output=True, text=True, timeout=300, cwd=tmp_path)

    bad = paperchain("--k", "one")
    assert bad.returncode != 0 and "'auto' or a whole number" in bad.stderr
    empty = paperchain()
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout)["documents"] == 0
    too_many = paperchain("--k", "3")
    assert too_many.returncode != 0 and "0 embedded documents" in too_many.stderr
