"""Recommendations backed by the ``models_interactions`` table (the host's plugin storage) and the
kernel's documents (through the kernel interface's read methods). Async: the reads run on the
kernel's loop, the fitting and scoring in worker threads."""

from __future__ import annotations

import asyncio

import numpy as np
import scipy.sparse as sp
import sqlalchemy as sa

from paperchain_sdk import InputError, NotFoundError

from ..registry import now
from ..storage import interactions
from .core import METHODS, Recommenders, holdout_split, precision_at_k

KIND_WEIGHTS = {"viewed": 1.0, "downloaded": 3.0, "starred": 5.0}
MAX_DOCUMENTS = 100_000


class Recommender:
    def __init__(self, store, kernel, *, factors: int = 32, iterations: int = 15):
        self.store, self.kernel = store, kernel
        self.factors, self.iterations = factors, iterations
        self._cache: tuple | None = None  # (data version, users, documents, Recommenders)
        self._fit_lock = asyncio.Lock()

    async def record(self, user: str, document, kind: str = "viewed", weight=None) -> dict:
        if not isinstance(document, str) or not document:
            raise InputError("document must be a document id.", hint='send {"document": "<sha256>", "kind": "viewed"}')
        if kind not in KIND_WEIGHTS and weight is None:
            raise InputError(f"kind {kind!r} is not one of {sorted(KIND_WEIGHTS)}.",
                             hint="use one of those, or give an explicit weight")
        if weight is None:
            weight = KIND_WEIGHTS[kind]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight <= 100:
            raise InputError(f"weight must be a number in (0, 100], got {weight!r}.", hint="e.g. 1 for a view")
        if not await self.kernel.documents.visible([document], tenant=""):  # '': any tenant's live document
            raise NotFoundError(f"There is no document {document}.", hint="record interactions with stored documents")
        result = await self.store.write(sa.insert(interactions).returning(interactions.c.id).values(
            user=user, document=document, kind=kind, weight=float(weight), created=now()))
        return {"id": result.scalar(), "user": user, "document": document, "kind": kind, "weight": float(weight)}

    async def interacted(self, user: str, document: str, kind: str) -> bool:
        """Whether ``user`` has recorded a ``kind`` interaction with ``document``."""
        c = interactions.c
        return await self.store.scalar(sa.select(c.id).where(c.user == user, c.document == document, c.kind == kind)
                                       .limit(1)) is not None

    # -- the fitted models ----------------------------------------------------------------------------

    _VERSION = sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(interactions.c.id), 0))
    _WEIGHTS = (sa.select(interactions.c.user, interactions.c.document, sa.func.sum(interactions.c.weight))
                .group_by(interactions.c.user, interactions.c.document)
                .order_by(interactions.c.user, interactions.c.document))

    async def _fitted(self):
        async with self._fit_lock:
            # The version is read before the rows: a row added in between makes the next call refit,
            # never a cache labelled newer than the data it was built from.
            version = tuple((await self.store.read(self._VERSION))[0])
            if self._cache is None or self._cache[0] != version:
                rows = [tuple(r) for r in await self.store.read(self._WEIGHTS)]
                docs = await self.kernel.document_texts(limit=MAX_DOCUMENTS)
                self._cache = await asyncio.to_thread(self._fit, version, rows, docs)
            return self._cache

    def _fit(self, version, rows, docs):
        users, documents, R, texts = self._matrix(rows, docs)
        model = Recommenders(R, texts=texts, factors=self.factors, iterations=self.iterations)
        return version, users, documents, model, R, texts

    @staticmethod
    def _matrix(rows, docs):
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
        return users, list(documents), R, texts or [None]

    # -- answers --------------------------------------------------------------------------------------

    async def recommend(self, user: str, n: int = 10, exclude_seen: bool = True, method: str = "hybrid") -> list[dict]:
        if method not in METHODS:
            raise InputError(f"method {method!r} is not one of {METHODS}.", hint="use hybrid (the default)")
        fitted = await self._fitted()
        return await asyncio.to_thread(self._recommend, fitted, user, n, exclude_seen, method)

    @staticmethod
    def _recommend(fitted, user: str, n: int, exclude_seen: bool, method: str) -> list[dict]:
        _, users, documents, model, _, _ = fitted
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

    async def similar(self, document: str, n: int = 10, method: str = "hybrid") -> list[dict]:
        if method not in METHODS or method == "popular":
            raise InputError(f"method {method!r} is not one of hybrid, als, item, content.", hint="use hybrid")
        fitted = await self._fitted()
        return await asyncio.to_thread(self._similar, fitted, document, n, method)

    @staticmethod
    def _similar(fitted, document: str, n: int, method: str) -> list[dict]:
        _, _, documents, model, _, _ = fitted
        try:
            index = documents.index(document)
        except ValueError:
            raise NotFoundError(f"There is no document {document}.", hint="give a stored document's id") from None
        return [{"document": documents[i], "score": s} for i, s in model.similar(index, n, method=method)]

    async def evaluate(self, k: int = 10, fraction: float = 0.2, seed: int = 0, *, tenant: str = "") -> dict:
        """Precision@k of every method on a held-out split (20% of each active user's documents).

        A tenant's caller is evaluated on the interactions with its tenant's documents alone, so the
        figures (held-out count, users) tell it nothing of other tenants ('': the operator, all)."""
        _, _, documents, _, R, texts = await self._fitted()
        own = await self.kernel.documents.visible(documents, tenant=tenant) if tenant else None
        return await asyncio.to_thread(self._evaluate, R, texts, documents, own, k, fraction, seed)

    def _evaluate(self, R, texts, documents, own, k, fraction, seed) -> dict:
        if own is not None:
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
