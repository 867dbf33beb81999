"""The ledger's pages in the web UI (``paperchain_ui``), under ``/p/ledger``.

- ``/p/ledger``: verify a file or a hash (drop a file on the page or choose it: its SHA-256 is
  computed in the browser with SubtleCrypto by ``static/verify.js``, so only the hash is posted,
  never the file), the receipt shown and downloadable as JSON, and the latest signed checkpoint.
- ``/p/ledger/accounts``: accounts and balances; editors create accounts and transfer units from a
  custodial account (signed with its sealed key and passphrase); admins mint.
- the document page's side panel: the document's receipt, when the ledger notarized it, with a
  Verify button (the receipt checked against the latest checkpoint and the log's key).

Everything goes through the book the ledger's routes use (``runtime.book_for_kernel``), in a
worker thread (SQLite), always with the user's tenant: a tenant sees its own entries and accounts.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

from aiohttp import web

from paperchain_sdk import InputError, PaperchainError
from paperchain_sdk.ui import NavEntry, Page, Panel, PluginUI
from paperchain_sdk.web import parse_int

from . import runtime
from .book import SHA256_HEX
from .verifier import VerificationError, verify_receipt

HERE = Path(__file__).parent


def describe() -> PluginUI:
    return PluginUI(
        pages=[Page(path="/", handler=overview),
               Page(path="/verify", method="POST", handler=verify, role="viewer", audit=False),
               Page(path="/receipts/{index}", handler=receipt_file),
               Page(path="/accounts", handler=accounts_page),
               Page(path="/accounts", method="POST", handler=create_account, role="editor"),
               Page(path="/transfers", method="POST", handler=transfer, role="editor"),
               Page(path="/mint", method="POST", handler=mint, role="admin"),
               Page(path="/documents/{id}/verify", method="POST", handler=verify_document, role="viewer",
                    audit=False)],
        nav=[NavEntry(label="Ledger", path="/")],
        panels=[Panel(slot="document.side", handler=document_panel)],
        templates=HERE / "templates", catalogs=HERE / "catalogs", static=HERE / "static")


async def _with_book(ui, work):
    """``work(book)`` in a worker thread: the log's reads and writes are SQLite calls."""
    book = runtime.book_for_kernel(ui.kernel)
    return await asyncio.get_running_loop().run_in_executor(None, work, book)


def _checkpoint(book) -> dict:
    size, root, note = book.log.latest()
    return {"origin": book.log.origin, "tree_size": size, "root": base64.b64encode(root).decode(), "note": note,
            "key": str(book.log.signer.verifier)}


def _lookup(book, digest: str, tenant: str) -> dict:
    """The tenant's entries notarizing ``digest``, the first one's receipt and whether it verifies."""
    indexes = book.find_document(digest, tenant=tenant)
    if not indexes:
        return {"found": False, "sha256": digest}
    receipt = book.receipt(indexes[0], tenant=tenant)
    entry = json.loads(base64.b64decode(receipt["entry"]))
    try:
        summary, problem = verify_receipt(receipt, str(book.log.signer.verifier)), ""
    except VerificationError as exc:
        summary, problem = None, str(exc)
    return {"found": True, "sha256": digest, "entries": indexes, "receipt": receipt, "summary": summary,
            "problem": problem, "notarized": entry.get("time", ""), "metadata": entry.get("metadata", {}),
            "receipt_text": json.dumps(receipt, indent=2)}


async def overview(request, ui):
    return ui.render("ledger/verify.html", checkpoint=await _with_book(ui, _checkpoint), result=None, sha256="",
                     error="")


async def verify(request, ui):
    """Look a SHA-256 up (the page's script hashed the dropped file); htmx gets the result alone."""
    form = await request.post()
    digest = str(form.get("sha256", "")).strip().lower()
    result, error, status = None, "", 200
    if SHA256_HEX.match(digest):
        result = await _with_book(ui, lambda book: _lookup(book, digest, ui.tenant))
    else:
        error, status = ui.gettext("A SHA-256 is 64 hexadecimal digits (0-9, a-f); drop the file instead, or "
                                   "paste its hash as sha256sum prints it."), 400
    if request.headers.get("HX-Request"):
        return ui.render("ledger/_result.html", status=status, result=result, error=error)
    return ui.render("ledger/verify.html", status=status, checkpoint=await _with_book(ui, _checkpoint),
                     result=result, sha256=digest, error=error)


async def receipt_file(request, ui):
    """A receipt as a JSON file, checked offline with ``paperchain ledger verify-receipt``."""
    index = parse_int(request.match_info["index"], "index")
    receipt = await _with_book(ui, lambda book: book.receipt(index, tenant=ui.tenant))
    return web.Response(text=json.dumps(receipt, indent=2), content_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="ledger-receipt-{index}.json"'})


async def accounts_page(request, ui, *, message: str = "", error: str = "", status: int = 200):
    found = await _with_book(ui, lambda book: book.accounts(tenant=ui.tenant))
    return ui.render("ledger/accounts.html", status=status, accounts=found, message=message, error=error)


class _FormError(InputError):
    """A form field the person must correct (said as is, without "the ledger refused it")."""


async def _write(request, ui, work, done: str):
    """Run a write on the book and show the accounts with what happened, or why it was refused."""
    try:
        result = await _with_book(ui, work)
    except _FormError as exc:
        return await accounts_page(request, ui, error=str(exc), status=400)
    except PaperchainError as exc:
        reason = f"{exc} {exc.hint}".strip() if getattr(exc, "hint", "") else str(exc)
        return await accounts_page(request, ui, error=ui.gettext("The ledger refused it: %(reason)s")
                                   % {"reason": reason}, status=400)
    return await accounts_page(request, ui, message=done % {"index": result.get("index", "")})


def _amount(ui, value) -> int:
    try:
        return parse_int(str(value or ""), "amount", minimum=1)
    except InputError:
        raise _FormError(ui.gettext("The amount is a whole number of units, 1 or more.")) from None


async def create_account(request, ui):
    form = await request.post()
    name, passphrase = str(form.get("name", "")).strip(), str(form.get("passphrase", ""))

    def create(book):
        if len(passphrase) < 12:
            raise _FormError(ui.gettext("Choose a passphrase of at least 12 characters: it seals the account's "
                                        "signing key."))
        return book.create_account(name, passphrase, tenant=ui.tenant)

    return await _write(request, ui, create, ui.gettext("Account created (log entry %(index)s)."))


async def transfer(request, ui):
    form = await request.post()
    account, passphrase = str(form.get("account", "")), str(form.get("passphrase", ""))
    memo = str(form.get("memo", "")).strip()

    def sign_and_submit(book):
        body = {"to": str(form.get("to", "")), "amount": _amount(ui, form.get("amount"))}
        if memo:
            body["memo"] = memo
        record, signature = book.sign(account, passphrase, "transfer", body, tenant=ui.tenant)
        return book.submit(record, signature, tenant=ui.tenant)

    return await _write(request, ui, sign_and_submit, ui.gettext("Transfer recorded (log entry %(index)s)."))


async def mint(request, ui):
    form = await request.post()
    account, memo = str(form.get("account", "")), str(form.get("memo", "")).strip()
    return await _write(request, ui, lambda book: book.mint(account, _amount(ui, form.get("amount")), memo,
                                                            tenant=ui.tenant),
                        ui.gettext("Units minted (log entry %(index)s)."))


async def document_panel(request, ui, document):
    """The document's receipt when the ledger notarized it (nothing otherwise)."""
    result = await _with_book(ui, lambda book: _lookup(book, document["sha256"], ui.tenant))
    if not result["found"]:
        return None
    return ui.fragment("ledger/_panel.html", document=document, result=result, verdict=None)


async def verify_document(request, ui):
    """The panel's Verify button: the document's receipt against the latest signed checkpoint."""
    document = await ui.document(request.match_info["id"])
    result = await _with_book(ui, lambda book: _lookup(book, document["sha256"], ui.tenant))
    return ui.render("ledger/_verdict.html", result=result)
