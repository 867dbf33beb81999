"""HTTP route: GET /api/v1/text/similar/{document_id}?threshold=0.5&limit=20.

Answers from the kernel's near-duplicate index (default parameters, or those of plugins.toml's
``[components."text.near_duplicates"]``). A document not indexed yet but with text is signed on
the fly (not inserted). The index holds every tenant's documents: the route answers only for a
document the caller's tenant may see, and lists only such documents.
"""

from __future__ import annotations

import attrs
from aiohttp import web

from paperchain_sdk import NotFoundError
from paperchain_sdk.settings import between
from paperchain_sdk.web import endpoint, kernel_of, principal, read_query, to_json

from . import runtime
from .near_duplicates import index_parameters, sign
from .settings import NearDuplicatesSettings


def _threshold(instance, attribute, value) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {value} (e.g. ?threshold=0.7)")


@attrs.frozen(kw_only=True)
class SimilarQuery:
    threshold: float = attrs.field(default=0.5, validator=_threshold)
    limit: int = attrs.field(default=20, validator=between(1, 1000))


@attrs.frozen(kw_only=True)
class SimilarDocument:
    document_id: str
    jaccard: float


@attrs.frozen(kw_only=True)
class SimilarAnswer:
    document_id: str
    threshold: float
    indexed: bool
    similar: tuple[SimilarDocument, ...]


async def similar_documents(kernel, document_id: str, tenant: str, *, threshold: float = 0.5,
                            limit: int = 20) -> tuple[bool, list]:
    """(indexed, matches): the near-duplicates of a document a caller of ``tenant`` may see, most
    similar first, listing only documents that caller may see. Raises NotFoundError for a document
    it may not see, or one neither indexed nor with text. The API route and the web page use it."""
    if not await kernel.documents.visible([document_id], tenant=tenant):
        raise NotFoundError(f"there is no document {document_id}.", hint="GET /api/v1/documents lists them")
    # The deployment's settings of the analyzer (plugins.toml), so both use the same index.
    options = kernel.component("text.near_duplicates").settings or NearDuplicatesSettings()
    index = await runtime.open_index(kernel, **index_parameters(options))
    signature = await index.signature(document_id)
    indexed = signature is not None
    if not indexed:
        doc = await kernel.documents.get(document_id)  # NotFoundError (404) if there is none
        if doc.text is None:
            raise NotFoundError(f"document {document_id} has no text and is not in the near-duplicate index.",
                                hint="run a workflow with document.text (or OCR) and text.near_duplicates on it")
        signature = await sign(doc.text, options)
    # Every match above the threshold, then only the caller's tenant's, then the limit.
    matches = await index.query(signature, threshold=threshold, limit=2**31, exclude=document_id)
    allowed = await kernel.documents.visible([m.document_id for m in matches], tenant=tenant)
    return indexed, [m for m in matches if m.document_id in allowed][:limit]


routes = web.RouteTableDef()


@routes.get("/api/v1/text/similar/{document_id}")
@endpoint(summary="Documents whose text is a near-duplicate of this one (MinHash LSH)", query=SimilarQuery,
          response=SimilarAnswer, tags=("text",))
async def similar(request):
    document_id = request.match_info["document_id"]
    query = read_query(request, SimilarQuery)
    indexed, matches = await similar_documents(kernel_of(request), document_id, principal(request).tenant,
                                               threshold=query.threshold, limit=query.limit)
    answer = SimilarAnswer(document_id=document_id, threshold=query.threshold, indexed=indexed,
                           similar=tuple(SimilarDocument(document_id=m.document_id, jaccard=m.jaccard) for m in matches))
    return web.json_response(to_json(answer))
