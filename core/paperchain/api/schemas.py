"""The API's request and response bodies as attrs classes: handlers build them, and the OpenAPI
document is generated from them (there is no second, hand-written copy)."""

from __future__ import annotations

from typing import Any

import attrs

# -- shared ------------------------------------------------------------------------------------


@attrs.define
class ErrorDetail:
    code: str
    message: str
    details: dict[str, Any] = attrs.Factory(dict)


@attrs.define
class Error:
    error: ErrorDetail


@attrs.define
class Page:
    limit: int = attrs.field(default=50, validator=[attrs.validators.ge(1), attrs.validators.le(500)])
    cursor: str | None = None


# -- documents ---------------------------------------------------------------------------------


@attrs.define
class DocumentOut:
    id: str
    name: str
    media_type: str
    size: int
    created: str
    metadata: dict[str, Any]
    tags: list[str]
    created_by: str | None = None
    has_text: bool = False


@attrs.define
class DocumentQuery:
    limit: int = attrs.field(default=50, validator=[attrs.validators.ge(1), attrs.validators.le(500)])
    cursor: str | None = None
    media_type: str | None = None
    tag: str | None = None
    name: str | None = None  # a substring of the name
    created_after: str | None = None
    created_before: str | None = None


@attrs.define
class SearchQuery:
    q: str
    limit: int = attrs.field(default=20, validator=[attrs.validators.ge(1), attrs.validators.le(200)])
    cursor: str | None = None


@attrs.define
class SearchHit:
    id: str
    name: str
    media_type: str
    snippet: str
    rank: float


@attrs.define
class DocumentPatch:
    name: str | None = None
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None


@attrs.define
class UploadQuery:
    name: str | None = None  # the document's name for a raw-body upload


# -- workflows ---------------------------------------------------------------------------------


@attrs.define
class WorkflowVersion:
    hash: str
    created: str
    created_by: str


@attrs.define
class Validation:
    valid: bool
    name: str
    steps: list[str]
    batch_steps: list[str]
    triggers: list[str]


# -- runs --------------------------------------------------------------------------------------


@attrs.define
class RunStart:
    workflow: str
    documents: list[str] = attrs.Factory(list)
    inputs: dict[str, Any] = attrs.Factory(dict)
    idempotency_key: str = ""


@attrs.define
class BatchStarted:
    batch: str
    workflow: str
    runs: list[str]


@attrs.define
class RunQuery:
    limit: int = attrs.field(default=50, validator=[attrs.validators.ge(1), attrs.validators.le(500)])
    cursor: str | None = None
    workflow: str | None = None
    status: str | None = None
    batch: str | None = None
    document: str | None = None


@attrs.define
class AttemptOut:
    attempt: int
    status: str
    started: str | None
    finished: str | None
    error: str | None
    seconds: float | None


@attrs.define
class StepOut:
    id: str
    uses: str
    status: str
    attempts: list[AttemptOut]
    started: str | None
    finished: str | None
    error: str | None
    outputs: dict[str, Any] = attrs.Factory(dict)
    cached: bool = False  # reused from the step-result cache (an earlier run's result), not run


@attrs.define
class RunOut:
    id: str
    batch: str
    workflow: str
    kind: str
    status: str
    document: str | None
    source: str | None
    created: str | None
    started: str | None
    finished: str | None
    error: str | None
    steps: list[StepOut] = attrs.Factory(list)


@attrs.define
class LogLine:
    step: str
    attempt: int
    seq: int
    time: str
    level: str
    message: str


@attrs.define
class ArtifactOut:
    step: str
    name: str
    media_type: str
    sha256: str
    size: int
    document: str | None


# -- accounts ----------------------------------------------------------------------------------


@attrs.define
class Login:
    username: str
    password: str


@attrs.define
class Refresh:
    refresh_token: str


@attrs.define
class Tokens:
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str


@attrs.define
class UserIn:
    name: str
    password: str
    role: str = "viewer"
    tenant: str = ""


@attrs.define
class UserPatch:
    role: str | None = None
    disabled: bool | None = None
    password: str | None = None


@attrs.define
class UserOut:
    name: str
    role: str
    tenant: str
    created: str
    disabled: bool


@attrs.define
class KeyIn:
    name: str = ""
    role: str | None = None
    scopes: list[str] = attrs.Factory(lambda: ["*"])
    expires_days: int | None = None


@attrs.define
class KeyOut:
    id: str
    name: str
    owner: str
    role: str
    scopes: list[str]
    created: str
    expires: str | None
    revoked: str | None
    last_used: str | None


@attrs.define
class KeyCreated:
    key: str  # shown once: store it now
    id: str
    name: str
    role: str
    scopes: list[str]
    expires: str | None


@attrs.define
class Me:
    name: str
    role: str
    kind: str
    scopes: list[str]
    tenant: str


@attrs.define
class AuditQuery:
    limit: int = attrs.field(default=100, validator=[attrs.validators.ge(1), attrs.validators.le(1000)])
    after: int = 0
    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: str | None = None


@attrs.define
class AuditOut:
    id: int
    time: str
    actor: str
    tenant: str  # the actor's tenant ('' for the deployment's own, and for refusal counts)
    action: str
    target: str
    ip: str
    outcome: str
    status: int
    details: dict[str, Any]


# -- plugins -----------------------------------------------------------------------------------


@attrs.define
class PluginOut:
    name: str
    distribution: str | None
    version: str | None
    status: str
    error: str | None
    fix: str | None
    components: list[str]


@attrs.define
class ComponentQuery:
    kind: str | None = None  # only components of this kind: trigger, action, exporter, analyzer, model, ledger, notifier


@attrs.define
class ComponentOut:
    name: str
    kind: str
    plugin: str
    distribution: str | None
    version: str | None
    summary: str
    cpu_bound: bool
    side_effects: bool
    settings_schema: dict[str, Any]


# -- system ------------------------------------------------------------------------------------


@attrs.define
class Health:
    status: str


@attrs.define
class Ready:
    status: str
    database: bool
    plugins_loaded: int
    plugins_failed: int


@attrs.define
class EventsQuery:
    topics: str = "runs"  # comma-separated
    since: int | None = None
