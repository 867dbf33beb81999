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

__all__ = [name for name in dir() if not name.startswith("_")]
__version__ = "0.1.0"
