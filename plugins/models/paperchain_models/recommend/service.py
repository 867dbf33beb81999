"""Recommendations backed by the ``models_interactions`` table and the kernel's documents."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import scipy.sparse as sp
from paperchain_sdk import InputError, NotFoundError

from ..registry import now
from .core import METHODS, Recommenders, holdout_split, precision_at_k

KIND_WEIGHTS = {"viewed": 1.0, "downloaded": 3.0, "starred": 5.0}
MAX_DOCUMENTS = 100_000


class Recommender:
    def __init__(self, conn, lock: threading.RLock, kernel, *, factors: int = 32, iterations: int = 15):
        self.conn, self.lock, self.kernel = conn, lock, kernel
        self.factors, self.iterations = factors, iterations
        self._cache: tuple | None = None  # (data version, users, documents, Recommenders)
        self._fit_lock = threading.Lock()

    def record(self, user: str, document, kind: str = "viewed", weight=None) -> dict:
        if not isinstance(document, str) or not document:
            raise InputError("document must be a document id.", hint='send {"document": "<sha256>", "kind": "viewed"}')
        if kind not in KIND_WEIGHTS and weight is None:
            raise InputError(f"kind {kind!r} is not one of {sorted(KIND_WEIGHTS)}.",
                             hint="use one of those, or give an explicit weight")
        if weight is None:
            weight = KIND_WEIGHTS[kind]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight <= 100:
            raise InputError(f"weight must be a number in (0, 100], got {weight!r}.", hint="e.g. 1 for a view")
        with self.lock:
            exists = self.conn.execute("SELECT 1 FROM documents WHERE id = ? AND deleted IS NULL", (document,)).fetchone()
            if exists is None:
                raise NotFoundError(f"There is no document {document}.", hint="record interactions with stored documents")
            cursor = self.conn.execute("INSERT INTO models_interactions (user, document, kind, weight, created) "
                                       "VALUES (?, ?, ?, ?, ?)", (user, document, kind, float(weight), now()))
        return {"id": cursor.lastrowid, "user": user, "document": document, "kind": kind, "weight": float(weight)}

    def interacted(self, user: str, document: str, kind: str) -> bool:
        """Whether ``user`` has recorded a ``kind`` interaction with ``document``."""
        with self.lock:
            return self.conn.execute("SELECT 1 FROM models_interactions WHERE user = ? AND document = ? AND kind = ? "
                                     "LIMIT 1", (user, document, kind)).fetchone() is not None

    # -- the fitted models ----------------------------------------------------------------------------

    def _data_version(self):
        with self.lock:
            return self.conn.execute("SELECT count(*), coalesce(max(id), 0) FROM models_interactions").fetchone()

    def _fitted(self):
        with self._fit_lock:
            if self._cache is None or self._cache[0] != self._data_version():
                version, users, documents, R, texts = self._matrix()
                model = Recommenders(R, texts=texts, factors=self.factors, iterations=self.iterations)
                self._cache = (version, users, documents, model, R, texts)
            return self._cache

    def _matrix(self):
        # The version is read with the rows, so the cache is labelled with the data it was built from.
        with self.lock:
            version = self.conn.execute("SELECT count(*), coalesce(max(id), 0) FROM models_interactions").fetchone()
            rows = self.conn.execute("SELECT user, document, sum(weight) FROM models_interactions "
                                     "GROUP BY user, document ORDER BY user, document").fetchall()
            docs = self.conn.execute("SELECT id, text FROM documents WHERE deleted IS NULL ORDER BY created, id "
                                     "LIMIT ?", (MAX_DOCUMENTS,)).fetchall()
        # Columns in id order, not ingest order: documents ingested together finish in any order, and the
        # column order seeds ALS (row i of the random start), so the model must not depend on it.
        docs.sort()
        documents = {doc_id: i for i, (doc_id, _) in enumerate(docs)}
        texts = [text for _, text in docs]
        users: dict[str, int] = {}
        r, c, w = [], [], []
        for user, document, weight in rows:
            if document not in documents:
                continue  # deleted since
            r.append(users.setdefault(user, len(users)))
            c.append(documents[document])
            w.append(weight)
        R = sp.csr_matrix((np.asarray(w, dtype=np.float32), (r, c)), shape=(max(1, len(users)), max(1, len(documents))))
        return version, users, list(documents), R, texts or [None]

    # -- answers --------------------------------------------------------------------------------------

    def recommend(self, user: str, n: int = 10, exclude_seen: bool = True, method: str = "hybrid") -> list[dict]:
        if method not in METHODS:
            raise InputError(f"method {method!r} is not one of {METHODS}.", hint="use hybrid (the default)")
        _, users, documents, model, _, _ = self._fitted()
        if not documents:
            return []
        index = users.get(user)
        if index is None:  # a new user: the most interacted-with documents
            scores = model.popularity.astype(np.float64)
            from .core import top_n

            return [{"document": documents[i], "score": s, "method": "popular"} for i, s in top_n(scores, n) if s > 0]
        used = method if model.R.getrow(index).nnz else "popular"
        return [{"document": documents[i], "score": s, "method": used}
                for i, s in model.recommend(index, n, method=method, exclude_seen=exclude_seen)]

    async def similar_async(self, document: str, n: int = 10, method: str = "hybrid") -> list[dict]:
        return await asyncio.to_thread(self.similar, document, n, method)

    def similar(self, document: str, n: int = 10, method: str = "hybrid") -> list[dict]:
        if method not in METHODS or method == "popular":
            raise InputError(f"method {method!r} is not one of hybrid, als, item, content.", hint="use hybrid")
        _, _, documents, model, _, _ = self._fitted()
        try:
            index = documents.index(document)
        except ValueError:
            raise NotFoundError(f"There is no document {document}.", hint="give a stored document's id") from None
        return [{"document": documents[i], "score": s} for i, s in model.similar(index, n, method=method)]

    def evaluate(self, k: int = 10, fraction: float = 0.2, seed: int = 0, *, tenant: str = "") -> dict:
        """Precision@k of every method on a held-out split (20% of each active user's documents).

        A tenant's caller is evaluated on the interactions with its tenant's documents alone, so the
        figures (held-out count, users) tell it nothing of other tenants ('': the operator, all)."""
        _, _, documents, _, R, texts = self._fitted()
        if tenant:
            with self.lock:
                own = {r[0] for r in self.conn.execute("SELECT id FROM documents WHERE tenant = ?", (tenant,))}
            columns = [i for i, doc in enumerate(documents) if doc in own]
            R = sp.csr_matrix(R[:, columns]) if columns else sp.csr_matrix((1, 1), dtype=np.float32)
            R = R[np.flatnonzero(R.getnnz(axis=1))] if R.nnz else R  # only its users who used its documents
            texts = [texts[i] for i in columns] or [None]
        train, test = holdout_split(R, fraction=fraction, seed=seed)
        if test.nnz == 0:
            raise InputError("too few interactions to hold any out (users need 5 or more documents).",
                             hint="record more interactions")
        model = Recommenders(train, texts=texts, factors=self.factors, iterations=self.iterations, seed=seed)
        report = {"k": k, "held_out": int(test.nnz), "methods": {}}
        for method in METHODS:
            precision, users = precision_at_k(model, test, k, method)
            report["methods"][method] = precision
            report["users"] = users
        return report
