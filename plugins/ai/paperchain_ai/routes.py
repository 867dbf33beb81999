"""HTTP routes: ``GET /api/v1/ai/search?q=…`` (hybrid), ``GET /api/v1/ai/similar/{document_id}``
and ``GET /api/v1/ai/topics`` (the corpus's topics).

Authentication and roles are the server's (any logged-in caller may read); every answer holds
only documents the caller's tenant may see, and a document it may not see is a 404, as one that
does not exist.
"""

from __future__ import annotations

import attrs
from aiohttp import web

from paperchain_sdk.settings import between
from paperchain_sdk.web import endpoint, kernel_of, principal, read_query, to_json

from .search import SearchHit, SimilarDocument, hybrid_search, similar_documents
from .topics import Topics, TopicsQuery, corpus_topics, parse_k


@attrs.frozen(kw_only=True)
class SearchQuery:
    q: str = ""
    limit: int = attrs.field(default=10, validator=between(1, 100))


@attrs.frozen(kw_only=True)
class SimilarQuery:
    limit: int = attrs.field(default=10, validator=between(1, 100))


@attrs.frozen(kw_only=True)
class SearchAnswer:
    query: str
    hits: tuple[SearchHit, ...]


@attrs.frozen(kw_only=True)
class SimilarAnswer:
    document_id: str
    similar: tuple[SimilarDocument, ...]


routes = web.RouteTableDef()


@routes.get("/api/v1/ai/search")
@endpoint(summary="Hybrid search: full text and meaning (multilingual embeddings), fused by reciprocal rank",
          query=SearchQuery, response=SearchAnswer, tags=("ai",))
async def search(request):
    query = read_query(request, SearchQuery)
    hits = await hybrid_search(kernel_of(request), query.q, principal(request).tenant, limit=query.limit)
    return web.json_response(to_json(SearchAnswer(query=query.q, hits=tuple(hits))))


@routes.get("/api/v1/ai/similar/{document_id}")
@endpoint(summary="Documents like this one by meaning", query=SimilarQuery, response=SimilarAnswer, tags=("ai",))
async def similar(request):
    document_id = request.match_info["document_id"]
    query = read_query(request, SimilarQuery)
    found = await similar_documents(kernel_of(request), document_id, principal(request).tenant, limit=query.limit)
    return web.json_response(to_json(SimilarAnswer(document_id=document_id, similar=tuple(found))))


@routes.get("/api/v1/ai/topics")
@endpoint(summary="Topics of the caller's documents: embeddings clustered (k-means), each named by its c-TF-IDF terms",
          query=TopicsQuery, response=Topics, tags=("ai",))
async def topics(request):
    query = read_query(request, TopicsQuery)
    found = await corpus_topics(kernel_of(request), principal(request).tenant, k=parse_k(query.k),
                                terms=query.terms, documents=query.documents)
    return web.json_response(to_json(found))
