"""Paperchain's plugin SDK: hook specs, records, specs and contracts. Import from here."""

from .errors import (
    ConfigError,
    ConflictError,
    InputError,
    MissingDependency,
    NotFoundError,
    PaperchainError,
    PermissionDenied,
    TransientError,
)
from .hookspecs import hookimpl
from .media import claimed_media_type, sniff_media_type
from .records import (
    Artifact,
    Batch,
    BatchItem,
    Delivery,
    Document,
    DocumentUpdate,
    Event,
    Findings,
    Message,
    Prediction,
    Receipt,
    Result,
    RunContext,
    RunRequest,
    sha256_file,
)
from .specs import (
    KINDS,
    ActionSpec,
    AnalyzerSpec,
    CommandSpec,
    ComponentSpec,
    ExporterSpec,
    LedgerSpec,
    ModelSpec,
    NotifierSpec,
    TriggerSpec,
)
from .ui import NavEntry, Page, PageContext, Panel, PluginUI

_STORAGE = ("PluginSchema", "StorageAPI", "Transaction")  # paperchain_sdk.storage, which imports SQLAlchemy

__all__ = [name for name in dir() if not name.startswith("_")] + list(_STORAGE)
__version__ = "0.1.0"


def __getattr__(name: str):
    # Plugin storage loads SQLAlchemy when a plugin asks for it, not with every import of the SDK.
    if name in _STORAGE:
        from . import storage

        return getattr(storage, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
