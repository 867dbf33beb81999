"""The notify plugin's pages: the outbox with each message's delivery status, and the dead letters
with Resend (editor and up, as the API's message status; CSRF-checked and audited by the core's
guard). A caller sees their tenant's messages only (the operator, every tenant's)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from paperchain_sdk import InputError, NotFoundError
from paperchain_sdk.ui import NavEntry, Page, PluginUI

from .lifecycle import running_outbox

HERE = Path(__file__).parent
STATUSES = ("queued", "sent", "failed")  # as the API shows them ('sending' is still queued)
LIMIT = 200


def plugin_ui() -> PluginUI:
    return PluginUI(
        pages=[Page(path="/", handler=outbox_page, role="editor"),
               Page(path="/messages/{id}", handler=message_page, role="editor"),
               Page(path="/messages/{id}/resend", method="POST", handler=resend, role="editor")],
        nav=[NavEntry(label="Outbox", path="/", role="editor")],
        templates=HERE / "templates", catalogs=HERE / "catalogs")


def shown(row: dict, fmt) -> dict:
    """A message as the pages show it: the API's status, its times in the reader's language."""
    status = "queued" if row["status"] == "sending" else row["status"]
    return {"id": row["id"], "channel": row["channel"], "recipient": row["recipient"], "subject": row["subject"],
            "status": status, "reason": row["reason"], "attempts": row["attempts"],
            "max_attempts": row["max_attempts"], "priority": row["priority"], "tenant": row["tenant"] or "",
            "created": fmt.when(_iso(row["created"])), "sent": fmt.when(_iso(row["sent"])) if row["sent"] else ""}


async def messages(kernel, tenant: str, fmt, status: str = "") -> tuple[list[dict], dict[str, int]]:
    """The newest messages of ``tenant`` (of one status, or all) and how many there are in each status."""
    outbox = running_outbox(kernel)
    rows = await outbox.recent(LIMIT, tenant=tenant, status=status or None)
    counts = await outbox.counts(tenant=tenant)
    return [shown(r, fmt) for r in rows], {s: counts.get(s, 0) for s in STATUSES}


async def outbox_page(request, ui):
    status = request.query.get("status", "")
    if status and status not in STATUSES:
        raise InputError(ui.gettext("There is no status %(status)s: choose one of the chips above the list.")
                         % {"status": status[:40]})
    found, counts = await messages(ui.kernel, ui.tenant, ui.fmt, status)
    return ui.render("notify/outbox.html", messages=found, counts=counts, statuses=STATUSES, chosen=status,
                     limit=LIMIT)


async def message_page(request, ui):
    row = await running_outbox(ui.kernel).get(request.match_info["id"], tenant=ui.tenant)
    if row is None:
        raise NotFoundError(ui.gettext("There is no such message. The outbox lists yours."))
    return ui.render("notify/message.html", message=shown(row, ui.fmt))


async def resend(request, ui):
    from aiohttp import web

    message_id = request.match_info["id"]
    row = await running_outbox(ui.kernel).resend(message_id, tenant=ui.tenant)
    if row is None:
        raise NotFoundError(ui.gettext("There is no such dead letter: only failed messages can be sent again, "
                                       "and the outbox lists them."))
    raise web.HTTPSeeOther(f"{ui.root}/messages/{message_id}")


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()
