"""``GET /api/v1/vision/similar/{document_id}``: documents whose images look like this one's.

The hash index holds every tenant's documents: the route answers only for a document the caller's
tenant may see, and lists only such documents."""

from __future__ import annotations

import attrs
from aiohttp import web

from paperchain_sdk import NotFoundError
from paperchain_sdk.settings import between
from paperchain_sdk.web import endpoint, kernel_of, principal, read_query, to_json

from .index import HashIndex
from .settings import HASH_ALGORITHMS


def _check_algorithm(instance, attribute, value):
    if value not in HASH_ALGORITHMS:
        raise ValueError(f"algorithm must be one of {', '.join(HASH_ALGORITHMS)}, got {value!r}")


@attrs.frozen(kw_only=True)
class SimilarQuery:
    max_distance: int = attrs.field(default=10, validator=between(0, 256))
    algorithm: str = attrs.field(default="phash", validator=_check_algorithm)
    limit: int = 50


@attrs.frozen(kw_only=True)
class Match:
    document_id: str
    distance: int
    page: int
    matched_page: int


@attrs.frozen(kw_only=True)
class SimilarAnswer:
    document_id: str
    algorithm: str
    max_distance: int
    matches: list[Match]


async def similar_images(kernel, document_id: str, tenant: str, *, algorithm: str = "phash", max_distance: int = 10,
                         limit: int = 50) -> list[dict] | None:
    """Documents a caller of ``tenant`` may see whose pages are within ``max_distance`` bits of this
    document's, nearest first; None when the document has no hashes in the index. Raises
    NotFoundError for a document the caller may not see. The API route and the web page use it."""
    if not await kernel.documents.visible([document_id], tenant=tenant):
        raise NotFoundError(f"there is no document {document_id}.", hint="GET /api/v1/documents lists them")
    index = HashIndex(kernel)
    if not await index.hashes_of(document_id, algorithm):
        return None
    # Every match within the distance, then only the caller's tenant's, then the limit.
    matches = await index.similar(document_id, algorithm=algorithm, max_distance=max_distance, limit=2**31)
    allowed = await kernel.documents.visible([m["document_id"] for m in matches], tenant=tenant)
    return [m for m in matches if m["document_id"] in allowed][:limit]


routes = web.RouteTableDef()


@routes.get("/api/v1/vision/similar/{document_id}")
@endpoint(summary="Documents whose images are within max_distance bits of this document's perceptual hashes",
          query=SimilarQuery, response=SimilarAnswer, tags=("vision",))
async def similar(request):
    document_id = request.match_info["document_id"]
    query = read_query(request, SimilarQuery)
    matches = await similar_images(kernel_of(request), document_id, principal(request).tenant,
                                   algorithm=query.algorithm, max_distance=query.max_distance, limit=query.limit)
    if matches is None:
        raise NotFoundError(f"Document {document_id} has no perceptual hashes in the index.",
                            hint="run a workflow with the vision.hashes step over it first")
    answer = SimilarAnswer(document_id=document_id, algorithm=query.algorithm, max_distance=query.max_distance,
                           matches=[Match(**m) for m in matches])
    return web.json_response(to_json(answer))
