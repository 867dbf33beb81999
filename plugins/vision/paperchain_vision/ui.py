"""The vision plugin in the web UI: a panel of the document page listing documents whose pages look
like this one's (perceptual hashes), as links, only among documents the reader's tenant may see."""

from __future__ import annotations

from pathlib import Path

from paperchain_sdk import NotFoundError
from paperchain_sdk.ui import Panel, PluginUI

HERE = Path(__file__).parent
SHOWN = 10
MAX_DISTANCE = 10  # bits of 64: the API route's default


def plugin_ui() -> PluginUI:
    return PluginUI(panels=[Panel(slot="document.side", handler=similar_panel)],
                    templates=HERE / "templates", catalogs=HERE / "catalogs")


async def similar_panel(request, ui, document):
    from .web import similar_images

    matches = await similar_images(ui.kernel, document["id"], ui.tenant, max_distance=MAX_DISTANCE, limit=SHOWN)
    if matches is None:  # no hashes: the document's images were never analysed
        return None
    shown = []
    for match in matches:
        try:
            doc = await ui.kernel.documents.get(match["document_id"], text=False)
        except NotFoundError:  # deleted since it was indexed
            continue
        shown.append({**match, "name": doc.name})
    return ui.fragment("vision/similar.html", similar=shown, max_distance=MAX_DISTANCE)
