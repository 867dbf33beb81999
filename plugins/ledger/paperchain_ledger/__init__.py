"""Paperchain ledger plugin: the light hook module (imports only the SDK and settings).

Components: the ``ledger.merkle`` ledger (an RFC 9162 Merkle log with signed checkpoints), the
``ledger.notarize`` and ``ledger.verify`` steps; the ``paperchain ledger`` commands; routes under
``/api/v1/ledger/``; and anchoring of the kernel's audit events.
"""

from __future__ import annotations

from paperchain_sdk import ActionSpec, CommandSpec, LedgerSpec, hookimpl

from .settings import LedgerSettings, NotarizeSettings, VerifySettings  # noqa: F401 - re-exported

LEDGER = "ledger.merkle"
AUDIT_EVENT = "audit.recorded"


@hookimpl
def paperchain_ledgers():
    return [LedgerSpec(name=LEDGER, impl="paperchain_ledger.component:MerkleLedger", settings=LedgerSettings,
                       summary="RFC 9162 Merkle log in its own database with Ed25519-signed checkpoints and receipts",
                       side_effects=True)]


@hookimpl
def paperchain_actions():
    return [
        ActionSpec(name="ledger.notarize", impl="paperchain_ledger.component:Notarize", settings=NotarizeSettings,
                   summary="Record the document's SHA-256 and metadata in the ledger; output its receipt",
                   side_effects=True),
        ActionSpec(name="ledger.verify", impl="paperchain_ledger.component:Verify", settings=VerifySettings,
                   summary="Check a document (its bytes or a given SHA-256) against the ledger"),
    ]


@hookimpl
def paperchain_commands():
    return [CommandSpec(name="ledger", impl="paperchain_ledger.cli:ledger",
                        summary="Verify the ledger, receipts and checkpoints; show the log's key.")]


@hookimpl
def paperchain_startup(kernel):
    from . import runtime

    return runtime.attach(kernel)


@hookimpl
def paperchain_shutdown(kernel):
    from . import runtime

    return runtime.detach(kernel)


@hookimpl
def paperchain_event(event, kernel):
    if event.type == AUDIT_EVENT:
        from . import runtime

        runtime.record_audit(kernel, event.data)


@hookimpl
def paperchain_routes(kernel):
    # module-level handlers; they find the kernel with kernel_of(request)
    from .routes import routes

    return list(routes)


@hookimpl
def paperchain_ui():
    from .ui import describe  # the web UI's pages: imports aiohttp, so only when the UI is mounted

    return describe()
