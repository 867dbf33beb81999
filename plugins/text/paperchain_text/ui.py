"""The text plugin in the web UI: a panel of the document page listing its near-duplicates (MinHash
LSH), as links, only among documents the reader's tenant may see."""

from __future__ import annotations

from pathlib import Path

from paperchain_sdk import NotFoundError
from paperchain_sdk.ui import Panel, PluginUI

HERE = Path(__file__).parent
SHOWN = 10
THRESHOLD = 0.5


def plugin_ui() -> PluginUI:
    return PluginUI(panels=[Panel(slot="document.side", handler=similar_panel)],
                    templates=HERE / "templates", catalogs=HERE / "catalogs")


async def named(kernel, matches) -> list[dict]:
    """Each match with its document's name (the matches are already the reader's tenant's)."""
    shown = []
    for match in matches:
        try:
            doc = await kernel.documents.get(match.document_id, text=False)
        except NotFoundError:  # deleted since it was indexed
            continue
        shown.append({"id": match.document_id, "name": doc.name, "jaccard": match.jaccard})
    return shown


async def similar_panel(request, ui, document):
    from .routes import similar_documents

    try:
        indexed, matches = await similar_documents(ui.kernel, document["id"], ui.tenant, threshold=THRESHOLD,
                                                   limit=SHOWN)
    except NotFoundError:  # no text yet: nothing to compare
        return None
    return ui.fragment("text/similar.html", similar=await named(ui.kernel, matches), indexed=indexed,
                       threshold=THRESHOLD)
