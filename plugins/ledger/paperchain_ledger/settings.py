"""Settings of the ledger's components (light: imported by the hook module)."""

from __future__ import annotations

from typing import Any

import attrs

from paperchain_sdk.settings import positive


@attrs.define
class LedgerSettings:
    """``[components."ledger.merkle"]`` in plugins.toml.

    path:                the log's directory ("": ``<data_dir>/ledger``).
    origin:              the log's name in checkpoints, fixed when the log is created
                         ("": ``paperchain.ledger/<random>``).
    max_batch:           most entries one group commit takes.
    tile_cache:          complete tiles (16 KiB each) kept in memory for proofs.
    max_entry_bytes:     the largest entry accepted.
    audit_anchor:        append the kernel's ``audit.recorded`` events in batches.
    audit_flush_seconds: how long audit entries wait before their batch is appended.
    scrypt_n:            scrypt cost for sealing account keys (a power of two).
    """

    path: str = ""
    origin: str = ""
    max_batch: int = attrs.field(default=8192, validator=positive)
    tile_cache: int = attrs.field(default=4096, validator=positive)
    max_entry_bytes: int = attrs.field(default=1 << 20, validator=positive)
    audit_anchor: bool = True
    audit_flush_seconds: float = attrs.field(default=2.0, validator=positive)
    scrypt_n: int = attrs.field(default=1 << 15, validator=positive)


@attrs.define
class NotarizeSettings:
    """``ledger.notarize``: ``metadata`` is recorded with the document's digest and details."""

    metadata: dict[str, Any] = attrs.Factory(dict)


@attrs.define
class VerifySettings:
    """``ledger.verify``: check ``sha256`` (or the run's document when empty) against the log."""

    sha256: str = ""
    fail_if_missing: bool = False
