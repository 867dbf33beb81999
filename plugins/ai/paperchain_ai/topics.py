"""Topics over a tenant's documents: their embeddings clustered, each cluster named by its words.

BERTopic's approach without its dependencies: a document's vector is the mean of its chunks'
vectors (unit length; multilingual, so an English and a Spanish invoice land together); k-means
(scikit-learn) groups them, ``k`` given or chosen by the silhouette (cosine) over 2..12 on a
sample of the documents; each cluster is then labelled by class-based TF-IDF over the words of its
most typical documents, which scores a term by how often the cluster uses it against how often
every cluster does:

    c-TF-IDF(t, c) = tf(t, c) * log(1 + A / f(t))

with ``tf(t, c)`` the term's share of the cluster's words, ``f(t)`` its count over all clusters and
``A`` the average number of words per cluster. English and Spanish function words are left out.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import attrs
import numpy as np
import sqlalchemy as sa

from paperchain_sdk import InputError
from paperchain_sdk.settings import between

from .index import index_for
from .search import STOP_WORDS
from .storage import chunks

AUTO_K = range(2, 13)  # k tried when it is "auto"
MAX_K = 50
TEXT_CHUNKS = 3  # a document's words for labels: its first chunks (about 500 words), enough to name it
SEED = 0  # k-means starts from fixed seeds: the same corpus gives the same topics
SAMPLE = 1_000  # documents k is chosen on, and the silhouette measured on (it compares every pair)
LABEL_DOCUMENTS = 200  # a topic's most typical documents whose words name it
_TERM = r"(?u)\b[^\W\d_]{3,}\b"  # words of three letters or more, no digits
SPANISH_STOP_WORDS = frozenset("""
ante antes aquel aquella aquellas aquellos aqui aquí bajo bien cada casi cierto contra cosas cual cuales
debe deben debido dentro despues después dias días dice dicho donde durante ellas entonces esas eses esos
estaba estaban estado estamos estan están estar estas estos etc fin fue fueron gran había habia han hace
hacen hacer hacia hasta incluso luego mayor mediante menos mientras mismo mismos misma mismas mucho muchos
nada ninguna ninguno nosotros nuestra nuestras nuestro nuestros nunca otra otras otro otros parte pasa
poco pocos podemos poder puede pueden pues quien quienes sea sean según segun sera será ser sido siempre
siendo sino sobre sola solo sólo son soy suya suyo tal tambien tanto tenemos tener tengo tenía tiene tienen
toda todas todo todos tras usted ustedes vez vosotros vuestra vuestro están haber habrá hemos sus les
""".split())


@functools.cache
def stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return STOP_WORDS | SPANISH_STOP_WORDS | ENGLISH_STOP_WORDS


@attrs.frozen(kw_only=True)
class TopicTerm:
    term: str
    score: float  # c-TF-IDF: higher is more distinctive of the topic


@attrs.frozen(kw_only=True)
class TopicDocument:
    document_id: str
    name: str
    similarity: float  # cosine to the topic's centre: the first are the most typical


@attrs.frozen(kw_only=True)
class Topic:
    id: int  # 0 is the largest topic
    size: int  # documents
    label: str  # its three most distinctive terms
    terms: tuple[TopicTerm, ...]
    documents: tuple[TopicDocument, ...]  # the most typical first, at most ``documents`` of them


@attrs.frozen(kw_only=True)
class Topics:
    model: str
    documents: int  # embedded documents clustered
    k: int
    chosen: str  # "given", or "silhouette" when k was "auto"
    silhouette: float | None  # mean silhouette (cosine) of the clustering; None under 3 documents
    topics: tuple[Topic, ...]


def _k(instance, attribute, value) -> None:
    parse_k(value)


@attrs.frozen(kw_only=True)
class TopicsQuery:
    """``GET /api/v1/ai/topics``'s parameters: k (topics, or 'auto'), terms and documents per topic."""

    k: str = attrs.field(default="auto", validator=_k)
    terms: int = attrs.field(default=8, validator=between(1, 30))
    documents: int = attrs.field(default=5, validator=between(0, 100))


def parse_k(value: str) -> int | None:
    """``"auto"`` -> None, else a whole number of topics from 2 to MAX_K (ValueError otherwise)."""
    if value.strip().lower() == "auto":
        return None
    try:
        k = int(value)
    except ValueError:
        k = 0
    if not 2 <= k <= MAX_K:
        raise ValueError(f"k must be 'auto' or a whole number of topics from 2 to {MAX_K}, got {value!r}")
    return k


async def corpus_topics(kernel: Any, tenant: str, *, k: int | None = None, terms: int = 8,
                        documents: int = 5) -> Topics:
    """The topics of the documents a caller of ``tenant`` may see (``''``: every tenant's).

    >>> topics = await corpus_topics(kernel, "acme", k=3)  # doctest: +SKIP
    >>> topics.topics[0].label  # doctest: +SKIP
    'invoice, total, factura'
    """
    index = await index_for(kernel)
    ids, vectors = await index.document_vectors(tenant)
    live = await kernel.documents.visible(ids, tenant=tenant)
    keep = [i for i, d in enumerate(ids) if d in live]
    ids, vectors = [ids[i] for i in keep], vectors[keep]
    if k is not None and k > len(ids):
        raise InputError(f"k={k} topics asked for, but there are {len(ids)} embedded documents to cluster.",
                         hint=f"ask for at most {len(ids)} topics, or k=auto" if len(ids) >= 2 else
                         "embed more documents first (a workflow with ai.embed, or `paperchain ai embed --backfill`)")
    if not ids:
        return Topics(model=index.model, documents=0, k=0, chosen="given" if k else "silhouette",
                      silhouette=None, topics=())
    labels, silhouette = await asyncio.to_thread(cluster, vectors, k)
    members, centres = [], []  # per cluster: its documents, most typical first; its unit centre
    for cluster_id in range(int(labels.max()) + 1):
        rows = np.flatnonzero(labels == cluster_id)
        centre = vectors[rows].mean(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        members.append(rows[np.argsort(-(vectors[rows] @ centre), kind="stable")])
        centres.append(centre)
    # Labels come from each cluster's most typical documents: bounded work on a large corpus.
    sample = [i for rows in members for i in rows[:LABEL_DOCUMENTS]]
    words = await _document_words(index, [ids[i] for i in sample])
    scored = await asyncio.to_thread(class_tfidf, words, labels[sample])
    names = await kernel.documents.named([ids[i] for rows in members for i in rows[:documents]])
    topics = []
    for cluster_id, (rows, centre) in enumerate(zip(members, centres, strict=True)):
        if not len(rows):
            continue
        best = scored.get(cluster_id, [])[:terms]
        topics.append(Topic(
            id=0, size=len(rows), label=", ".join(t.term for t in best[:3]), terms=tuple(best),
            documents=tuple(TopicDocument(document_id=ids[i], name=names.get(ids[i], ("", ""))[0],
                                          similarity=round(float(vectors[i] @ centre), 4))
                            for i in rows[:documents])))
    topics.sort(key=lambda t: (-t.size, t.label))
    return Topics(model=index.model, documents=len(ids), k=len(topics), chosen="given" if k else "silhouette",
                  silhouette=None if silhouette is None else round(silhouette, 4),
                  topics=tuple(attrs.evolve(t, id=n) for n, t in enumerate(topics)))


async def _document_words(index: Any, ids: list[str]) -> list[str]:
    """Each document's text for labelling (its first TEXT_CHUNKS chunks), in ``ids``' order."""
    text: dict[str, list[str]] = {}
    for at in range(0, len(ids), 500):
        # Found by ai_chunks_document (the model is checked after: in the WHERE clause it would
        # make SQLite walk the (model, tenant) index over every chunk instead).
        rows = await index.store.read(
            sa.select(chunks.c.document_id, chunks.c.text, chunks.c.model).where(
                chunks.c.document_id.in_(ids[at:at + 500]), chunks.c.ordinal < TEXT_CHUNKS
            ).order_by(chunks.c.document_id, chunks.c.ordinal))
        for row in rows:
            if row.model == index.model:
                text.setdefault(row.document_id, []).append(row.text)
    return [" ".join(text.get(d, [])) for d in ids]


def cluster(vectors: np.ndarray, k: int | None) -> tuple[np.ndarray, float | None]:
    """Cluster labels 0..k-1 of unit ``vectors`` by k-means, and the mean silhouette (cosine);
    ``k=None``: the k of AUTO_K with the best silhouette on a sample of at most SAMPLE documents
    (one cluster under 3 documents)."""
    from sklearn.cluster import KMeans

    count = len(vectors)
    if k is None and count < 3:
        return np.zeros(count, dtype=np.int64), None
    sample = vectors
    if count > SAMPLE:
        sample = vectors[np.sort(np.random.default_rng(SEED).choice(count, SAMPLE, replace=False))]
    if k is None:
        fits = {c: KMeans(n_clusters=c, n_init=4, random_state=SEED).fit_predict(sample)
                for c in AUTO_K if c < len(sample)}
        tried = {c: _silhouette(sample, labels) for c, labels in fits.items()}
        k = max(tried, key=lambda c: (tried[c] if tried[c] is not None else -2.0, -c))
        if count <= SAMPLE:
            return fits[k], tried[k]
    model = KMeans(n_clusters=k, n_init=4, random_state=SEED).fit(vectors)
    labels = model.labels_
    return labels, _silhouette(sample, model.predict(sample) if count > SAMPLE else labels)


def _silhouette(vectors: np.ndarray, labels: np.ndarray) -> float | None:
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(vectors, labels, metric="cosine")) if 1 < len(set(labels.tolist())) < len(vectors) \
        else None


def class_tfidf(texts: list[str], labels: np.ndarray) -> dict[int, list[TopicTerm]]:
    """Each cluster's terms by c-TF-IDF, best first (see the module's docstring)."""
    from sklearn.feature_extraction.text import CountVectorizer

    clusters = int(labels.max()) + 1
    merged = [" ".join(t for t, label in zip(texts, labels, strict=True) if label == c) for c in range(clusters)]
    vectorizer = CountVectorizer(token_pattern=_TERM, lowercase=True, stop_words=sorted(stop_words()))
    try:
        counts = vectorizer.fit_transform(merged).toarray().astype(np.float64)  # clusters x terms
    except ValueError:  # no words at all (documents of digits or symbols only)
        return {c: [] for c in range(clusters)}
    vocabulary = vectorizer.get_feature_names_out()
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    average_words = counts.sum() / clusters
    idf = np.log(1 + average_words / np.maximum(counts.sum(axis=0), 1))
    scores = tf * idf
    ranked = {}
    for c in range(clusters):
        order = np.argsort(-scores[c], kind="stable")
        ranked[c] = [TopicTerm(term=str(vocabulary[i]), score=round(float(scores[c, i]), 5))
                     for i in order[:30] if counts[c, i] > 0]
    return ranked

