"""``POST /api/v1/ai/ask``: a question over the caller's tenant's documents, answered from the
sentences that answer it, each cited with its document, page and the sentence quoted (``mode``:
the model's supported answer, ``generated``, or the best sentence itself, ``quoted``), or
``found: false`` (``mode: none``) when they do not say.

Any logged-in caller may ask, as any may search (viewers included): it reads only the caller's
tenant's documents and changes nothing, so it is not audited. The provider and retrieval settings
are the deployment's ``[components."ai.answer"]``; a caller may ask for fewer or more documents.
"""

from __future__ import annotations

import attrs
from aiohttp import web

from paperchain_sdk import TransientError
from paperchain_sdk.settings import between
from paperchain_sdk.web import endpoint, kernel_of, principal, read_json, to_json

from .ask import Answer, answer_question
from .search import MAX_QUERY


@attrs.frozen(kw_only=True)
class AskRequest:
    question: str = attrs.field(validator=attrs.validators.max_len(MAX_QUERY))
    documents: int | None = attrs.field(default=None, validator=attrs.validators.optional(between(1, 20)))


routes = web.RouteTableDef()


@routes.post("/api/v1/ai/ask")
@endpoint(summary="Answer a question from your documents (hybrid retrieval), quoting and citing the sentences used",
          role="viewer", request=AskRequest, response=Answer, tags=("ai",), audit=False)
async def ask(request):
    body = await read_json(request, AskRequest)
    kernel = kernel_of(request)
    settings = kernel.component("ai.answer").settings
    if body.documents is not None:
        settings = attrs.evolve(settings, documents=body.documents)
    from .providers import provider_for

    try:
        answer = await answer_question(kernel, provider_for(kernel, settings.provider), body.question,
                                       principal(request).tenant, settings)
    except TransientError as exc:  # retrieval's storage was busy (a failing model is answered by a quote)
        raise web.HTTPServiceUnavailable(reason=str(exc).replace("\n", " ")[:300], headers={"Retry-After": "5"}) from None
    return web.json_response(to_json(answer))
