"""The compliance report: every audit entry of a period (who, what, when, from where), each
entry's ledger anchoring proof when the ledger plugin is installed, and a verification summary,
as a PDF drawn by the export plugin.

Both plugins are optional and reached through their public functions: the export plugin's
``render_tables`` draws the PDF; the ledger's runtime gives its log (``book_for_kernel``), whose
``audit_anchor`` answers the receipt of the log entry that anchors an audit entry, and its
``verifier`` checks each receipt offline against the log's public key. An entry counts as verified
when its receipt proves the anchoring entry is in the signed tree *and* the copy of the audit
entry anchored there equals the row in the database (a row changed afterwards shows up here).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import tempfile
from datetime import UTC, date, datetime, timedelta

import attrs

from paperchain_sdk import NotFoundError

from ...api.guard import STATE

EXPORTER = "export.pdf"
LEDGER = "ledger.merkle"
MAX_ENTRIES = 5000  # one PDF stays readable and is drawn in seconds; a longer period is split
_COMPARED = ("time", "actor", "tenant", "action", "target", "ip", "outcome", "status")


class TooManyEntries(Exception):
    """The period holds more entries than one report lists."""


def _kernel(request):
    return request.app[STATE].kernel


def exporter_installed(request) -> bool:
    return EXPORTER in _kernel(request).registry


def ledger_installed(request) -> bool:
    return LEDGER in _kernel(request).registry


@attrs.frozen
class Proof:
    """One audit entry's anchoring: ``index`` of the log entry, its inclusion proof, and whether it holds."""

    anchored: bool
    index: int | None = None
    hashes: tuple[str, ...] = ()
    verified: bool = False
    problem: str = ""


@attrs.frozen
class Summary:
    tree_size: int
    origin: str
    root: str
    checkpoint: str
    key: str
    anchored: int
    verified: int
    total: int

    @property
    def ok(self) -> bool:
        return self.total == self.anchored == self.verified


def _anchored_copy(receipt: dict, audit_id: int) -> dict | None:
    body = json.loads(base64.b64decode(receipt["entry"]))
    for item in body.get("entries", ()) if body.get("kind") == "audit" else ():
        if str(item.get("id")) == str(audit_id):
            return item
    return None


def anchor_proofs(book, entries: list[dict], tenant: str) -> tuple[dict[int, Proof], Summary]:
    """Each entry's proof and the summary (runs in a worker thread: the ledger's reads block)."""
    from paperchain_ledger.verifier import VerificationError, verify_receipt

    key = str(book.log.signer.verifier)
    size, root, note = book.log.latest()
    proofs: dict[int, Proof] = {}
    for entry in entries:
        try:
            receipt = book.audit_anchor(str(entry["id"]), tenant=tenant)
        except NotFoundError:
            proofs[entry["id"]] = Proof(anchored=False)
            continue
        hashes, problem = tuple(receipt.get("inclusion_proof") or ()), ""
        try:
            verify_receipt(receipt, key)
            copy = _anchored_copy(receipt, entry["id"])
            if copy is None or any(str(copy.get(f, "")) != str(entry[f]) for f in _COMPARED if f in copy):
                problem = "the anchored copy differs from the entry in the database"
        except VerificationError as exc:
            problem = str(exc)
        proofs[entry["id"]] = Proof(anchored=True, index=receipt["index"], hashes=hashes, verified=not problem,
                                    problem=problem)
    values = list(proofs.values())
    summary = Summary(tree_size=size, origin=book.log.origin, root=base64.b64encode(root).decode(), checkpoint=note,
                      key=key, anchored=sum(p.anchored for p in values), verified=sum(p.verified for p in values),
                      total=len(entries))
    return proofs, summary


def _details(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False) if value else "—"


def _tables(ctx, entries: list[dict], proofs: dict[int, Proof] | None, summary: Summary | None):
    from paperchain_export.report import Table

    _ = ctx.gettext
    yes, no = _("yes"), _("no")
    if summary is None:
        check = Table(_("Verification summary"), ((_("Ledger"), _("The ledger plugin is not installed: the entries "
                                                                  "carry no anchoring proof.")),))
    else:
        verdict = yes if summary.ok else no + " — " + _(
            "%(anchored)s of %(total)s entries anchored, %(verified)s verified") % {
            "anchored": summary.anchored, "total": summary.total, "verified": summary.verified}
        check = Table(_("Verification summary"), (
            (_("Verified"), verdict), (_("Tree size"), str(summary.tree_size)), (_("Log"), summary.origin),
            (_("Root hash"), summary.root), (_("Checkpoint"), summary.checkpoint.strip()),
            (_("Log's public key"), summary.key)))
    tables = [check]
    for e in entries:
        rows = [(_("When"), ctx.fmt.when(e["time"])), (_("Who"), e["actor"]), (_("What"), e["action"]),
                (_("Target"), e["target"] or "—"), (_("From (address)"), e["ip"] or "—"),
                (_("Outcome"), f"{e['outcome']} ({e['status']})"), (_("Tenant"), e["tenant"] or "—"),
                (_("Details"), _details(e["details"]))]
        proof = proofs.get(e["id"]) if proofs is not None else None
        if proof is not None and proof.anchored:
            rows += [(_("Ledger entry"), str(proof.index)),
                     (_("Inclusion proof"), " ".join(proof.hashes) or _("(none: the tree has one entry)")),
                     (_("Proof verified"), yes if proof.verified else f"{no}: {proof.problem}")]
        elif proof is not None:
            rows.append((_("Ledger entry"), _("not anchored")))
        tables.append(Table(_("Entry %(id)s") % {"id": e["id"]}, tuple(rows)))
    return tables


def _draw(title: str, paragraphs: list[str], tables, header: tuple[str, str], settings) -> bytes:
    from paperchain_export.pdf import render_tables

    fd, path = tempfile.mkstemp(prefix="paperchain-compliance-", suffix=".pdf")
    os.close(fd)
    try:
        render_tables(title, paragraphs, tables, path, settings, header=header)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)


def _pdf_settings(kernel):
    try:
        return kernel.component(EXPORTER).settings  # the deployment's page size, font, …
    except Exception:  # noqa: BLE001 - the defaults draw a report as well
        return None


async def report(request, ctx, since: date, until: date, tenant: str | None) -> bytes:
    """The PDF for entries from ``since`` to ``until`` (both days included, UTC)."""
    state = request.app[STATE]
    kernel, loop = state.kernel, asyncio.get_running_loop()
    proofs = summary = None
    if ledger_installed(request):
        from paperchain_ledger import runtime

        await runtime.flush_audit(kernel)  # what is recorded so far is anchored before it is listed
    entries = await state.audit.query(since=since.isoformat(), until=(until + timedelta(days=1)).isoformat(),
                                      tenant=tenant, limit=MAX_ENTRIES + 1)
    if len(entries) > MAX_ENTRIES:
        raise TooManyEntries
    if ledger_installed(request):
        book = runtime.book_for_kernel(kernel)
        proofs, summary = await loop.run_in_executor(None, anchor_proofs, book, entries, tenant or "")
    _ = ctx.gettext
    made = datetime.now(UTC).isoformat(timespec="seconds")
    paragraphs = [
        _("Period: %(since)s to %(until)s (UTC), both days included.") % {"since": since.isoformat(),
                                                                           "until": until.isoformat()},
        _("Tenant: %(tenant)s.") % {"tenant": tenant} if tenant else _("Tenants: all (the deployment's report)."),
        _("Made %(when)s by %(who)s; %(n)s entries.") % {"when": ctx.fmt.when(made), "who": ctx.who.name,
                                                          "n": len(entries)},
    ]
    tables = _tables(ctx, entries, proofs, summary)
    return await loop.run_in_executor(None, _draw, _("Compliance report"), paragraphs, tables,
                                      (_("Field"), _("Value")), _pdf_settings(kernel))
