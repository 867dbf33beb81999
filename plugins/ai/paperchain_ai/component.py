"""``ai.embed``: a workflow step that chunks the run's document and stores its vectors.

An action, not an analyzer: it needs the run's tenant (``ctx.tenant``), which analyzers are not
given, to file the chunks under it. It embeds the text a ``document.text`` or OCR step before it
found, or else the text the kernel has stored for the document.
"""

from __future__ import annotations

from paperchain_sdk import InputError
from paperchain_sdk.contracts import Action, KernelBound

from .index import index_for


class EmbedAction(KernelBound, Action):
    async def run(self, ctx, inputs):
        if ctx.document is None:
            raise InputError("ai.embed needs a document.", hint="start the run with a document (files or documents)")
        index = await index_for(self.kernel)
        if inputs is not None and inputs.model != index.settings.model:
            raise InputError(f"ai.embed's model {inputs.model!r} differs from the deployment's ({index.settings.model!r}).",
                             hint='set the model once in plugins.toml [components."ai.embed"], not in a step')
        document = ctx.document  # with the text an earlier step of this run found (maybe not yet committed)
        if document.text is None:
            document = await self.kernel.documents.get(document.id)  # or what an earlier run stored
        if document.text is None:
            raise InputError(f"{document.name} has no text yet.",
                             hint="put a document.text (or OCR) step before ai.embed, with needs")
        count = await index.embed_document(document.id, ctx.tenant, document.text,
                                           chunk_words=getattr(inputs, "chunk_words", None),
                                           overlap=getattr(inputs, "overlap", None))
        model = await index.embedder()
        return {"chunks": count, "model": model.recorded, "dim": model.dim}  # as stored with the vectors
