"""The deployment's configuration: plugins.toml, overridden by ``PAPERCHAIN_*`` variables.

plugins.toml::

    [paperchain]
    data_dir = ".paperchain"      # relative to this file
    concurrency = 64              # steps running at once, all workflows together
    run_concurrency = 64          # runs of one workflow at once (a workflow may set less)
    workers = 0                   # process-pool size for CPU-heavy steps (0: one per core)
    durability = "process"        # "process": survives kill -9; "power": fsync every commit
    expose_env = []               # process variables workflows may read as env.NAME
    database_url = ""             # every table, the kernel's and plugins'; empty: the data directory's SQLite file
    blob_url = ""                 # "s3://bucket?endpoint=…&region=…" (store/blobs_s3.py); empty: the data directory's blobs/
    executor = "local"            # "local": steps run in this process and its pool; "celery": on `paperchain worker`s
    broker_url = ""               # executor = "celery": the Redis broker, "redis://host:6379/0" (rediss:// for TLS)
    workflows_dir = "examples/workflows"

    [plugins]
    load = []                     # only these plugins (empty: every installed one)
    disable = []                  # never these

    [plugins.export]              # one table per plugin
    enabled = true

    [components."export.pdf"]     # defaults for a component's settings (checked against its class)
    page_size = "Letter"

    [security]                    # logins, addresses, passwords, second factors (docs/security.md)
    max_failures = 10             # failed logins per account within window_minutes before a lockout
    deny = ["203.0.113.0/24"]     # addresses (CIDR, IPv4 or IPv6) always refused
    mfa_roles = ["admin"]         # roles that must use a second factor (TOTP)

Variables: PAPERCHAIN_CONFIG (the file), PAPERCHAIN_DATA_DIR, PAPERCHAIN_DATABASE_URL, PAPERCHAIN_BLOB_URL,
PAPERCHAIN_EXECUTOR, PAPERCHAIN_BROKER_URL, PAPERCHAIN_CONCURRENCY,
PAPERCHAIN_WORKERS, PAPERCHAIN_LOAD_PLUGINS and PAPERCHAIN_DISABLE_PLUGINS (comma-separated),
PAPERCHAIN_STRICT_PLUGINS=1, and PAPERCHAIN_SECURITY_<KEY> for any key of [security] (lists
comma-separated), e.g. PAPERCHAIN_SECURITY_MFA_ROLES=admin,editor.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs

from paperchain_sdk import ConfigError
from paperchain_sdk.settings import structure_settings

from .tomlfile import load_toml


@attrs.define
class KernelSettings:
    data_dir: str = ".paperchain"
    concurrency: int = 64
    run_concurrency: int = 64
    workers: int = 0
    durability: str = attrs.field(default="process", validator=attrs.validators.in_(("process", "power")))
    expose_env: list[str] = attrs.Factory(list)
    workflows_dir: str = ""
    ledger: str = ""
    database_url: str = ""  # empty: sqlite+aiosqlite:///<data_dir>/paperchain.db (store/database.py)
    blob_url: str = ""  # empty: <data_dir>/blobs on local disk (store/blobs.py); s3://… (store/blobs_s3.py)
    executor: str = "local"  # "local" (this process and its pool) or "celery" (`paperchain worker`s); see check_executor
    broker_url: str = ""  # the Celery broker: redis://[:password@]host:port/db or rediss://…; only with executor = "celery"


def _networks(instance, attribute, value) -> None:
    import ipaddress

    for entry in value:
        try:
            ipaddress.ip_network(entry, strict=False)
        except (TypeError, ValueError):
            raise ValueError(f"{attribute.name}: {entry!r} is not an address or CIDR network "
                             "(write e.g. '192.0.2.7', '10.0.0.0/8' or '2001:db8::/32')") from None


@attrs.define
class ApiSettings:
    """The [api] table: how `paperchain serve` listens and protects itself."""

    host: str = "127.0.0.1"
    port: int = 8080
    max_body: int = 1024 * 1024  # JSON bodies, bytes
    max_upload: int = 2 * 1024**3  # document uploads, bytes
    upload_types: list[str] = attrs.Factory(list)  # media types accepted on upload; empty: any recognised type
    rate: float = 50.0  # requests per second per API key or user (token bucket refill)
    burst: int = 200  # bucket size per key or user
    ip_rate: float = 100.0  # requests per second per client address
    ip_burst: int = 400
    cors_origins: list[str] = attrs.Factory(list)  # empty: CORS off
    token_minutes: int = 15  # access token (JWT) lifetime
    refresh_days: int = 30
    heartbeat: float = 15.0  # seconds between WebSocket/SSE heartbeats
    subscriber_queue: int = 1000  # events held for a slow live client before it is dropped
    body_timeout: float = 30.0  # seconds a request body may go without a byte before a 408
    refused_interval: float = 60.0  # seconds per audit entry counting refused requests of one caller and route
    # Reverse proxies (addresses or CIDR networks) that terminate TLS in front of this server and
    # whose X-Forwarded-Proto / Forwarded "proto" is believed, so the web session cookie is Secure
    # behind them. Empty: none; from any other address those headers are ignored.
    trusted_proxies: list[str] = attrs.field(factory=list, validator=_networks)


def _roles(instance, attribute, value) -> None:
    from paperchain_sdk.web import ROLES

    bad = [role for role in value if role not in ROLES]
    if bad:
        raise ValueError(f"{attribute.name}: {bad} are not roles (roles: {', '.join(ROLES)})")


@attrs.define
class SecuritySettings:
    """The [security] table: login throttling and lockout, address lists and blocks, the password
    policy and second factors. docs/security.md explains each key."""

    max_failures: int = attrs.field(default=10, validator=attrs.validators.ge(1))  # per account, then a lockout
    window_minutes: float = attrs.field(default=15.0, validator=attrs.validators.gt(0))  # failures counted over this
    lockout_minutes: float = attrs.field(default=15.0, validator=attrs.validators.gt(0))
    delay_after: int = attrs.field(default=3, validator=attrs.validators.ge(0))  # free failures before delays start
    delay_seconds: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))  # first delay; doubles after
    max_delay_seconds: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))
    ip_delay_after: int = attrs.field(default=10, validator=attrs.validators.ge(0))  # per address, failed logins
    ip_max_failures: int = attrs.field(default=30, validator=attrs.validators.ge(1))  # then the address is blocked
    ip_max_unauthorized: int = attrs.field(default=100, validator=attrs.validators.ge(1))  # 401s, then blocked
    block_minutes: float = attrs.field(default=15.0, validator=attrs.validators.gt(0))  # automatic blocks last this
    allow: list[str] = attrs.field(factory=list, validator=_networks)  # non-empty: only these addresses
    deny: list[str] = attrs.field(factory=list, validator=_networks)  # always refused
    # Never throttled per address nor blocked (the lists above still apply): loopback, so that the
    # local admin and the tests cannot lock themselves out. Accounts still lock.
    exempt: list[str] = attrs.field(factory=lambda: ["127.0.0.0/8", "::1/128"], validator=_networks)
    password_min_length: int = attrs.field(default=12, validator=attrs.validators.ge(8))
    password_max_length: int = attrs.field(default=256, validator=attrs.validators.ge(64))
    mfa_roles: list[str] = attrs.field(factory=list, validator=_roles)  # roles that must use TOTP
    mfa_issuer: str = "Paperchain"  # the name authenticator apps show


def _security_from_env(table: dict, env) -> dict:
    """[security] with PAPERCHAIN_SECURITY_<KEY> variables laid over it."""
    table = dict(table)
    for field in attrs.fields(attrs.resolve_types(SecuritySettings)):
        name = f"PAPERCHAIN_SECURITY_{field.name.upper()}"
        value = env.get(name)
        if value is None:
            continue
        if field.type == list[str]:
            table[field.name] = [part.strip() for part in value.split(",") if part.strip()]
        elif field.type in (int, float):
            try:
                table[field.name] = field.type(value)
            except ValueError:
                raise ConfigError(f"{name}={value!r} is not a {'whole ' if field.type is int else ''}number.",
                                  hint=f"set {name} to e.g. {field.default}") from None
        else:
            table[field.name] = value
    return table


@attrs.define
class PluginSelection:
    load: list[str] = attrs.Factory(list)
    disable: list[str] = attrs.Factory(list)


@attrs.frozen
class Config:
    source: str
    data_dir: Path
    kernel: KernelSettings
    load: tuple[str, ...] = ()
    disable: tuple[str, ...] = ()
    strict: bool = False
    components: dict[str, dict[str, Any]] = attrs.Factory(dict)
    workflows_dir: Path | None = None
    api: ApiSettings = attrs.Factory(ApiSettings)
    security: SecuritySettings = attrs.Factory(SecuritySettings)

    @property
    def database_url(self) -> str:
        """Where every table lives, the kernel's and plugins': ``database_url`` or the data directory's SQLite file."""
        from .store.database import default_url

        return self.kernel.database_url or default_url(self.data_dir)

    @property
    def executor(self) -> str:
        """``"local"`` or ``"celery"`` (checked by ``check_executor``)."""
        return self.kernel.executor

    @property
    def broker_url(self) -> str:
        """The Redis broker for ``executor = "celery"`` ("" otherwise); show it only through ``masked_url``."""
        return self.kernel.broker_url

    @property
    def workers(self) -> int:
        return self.kernel.workers or os.cpu_count() or 1

    def wants(self, plugin: str) -> bool:
        """Whether the selection lets a plugin load."""
        if plugin in self.disable:
            return False
        return not self.load or plugin in self.load


EXECUTORS = ("local", "celery")
BROKER_SCHEMES = ("redis", "rediss")


def masked_url(url: str) -> str:
    """``url`` with the secret of its user part replaced by ``***``, for every message and log:
    ``redis://:pw@h`` and ``redis://user:pw@h`` keep the user name, ``redis://token@h`` keeps nothing."""
    import re

    def mask(match: re.Match) -> str:
        user, colon, _secret = match["userinfo"].partition(":")
        return f"{match['scheme']}{user}:***@" if colon else f"{match['scheme']}***@"

    # The user part ends at the last "@" before the path: passwords may hold "@" themselves.
    return re.sub(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#]*)@", mask, url, count=1)


def check_executor(kernel: KernelSettings, source: str) -> None:
    """``executor`` and ``broker_url`` make sense together; a ConfigError says what to set if not."""
    where = f"{source}, table [paperchain]"
    if kernel.executor not in EXECUTORS:
        raise ConfigError(f"{where}, executor (or PAPERCHAIN_EXECUTOR): {kernel.executor!r} is not an executor.",
                          hint='set executor = "local" (steps run in this process) or "celery" (steps run on '
                               "`paperchain worker` processes; needs broker_url)")
    if kernel.executor == "celery" and not kernel.broker_url:
        raise ConfigError(f'{where}: executor = "celery" needs a broker, and broker_url is empty.',
                          hint='set broker_url = "redis://127.0.0.1:6379/0" in [paperchain] (or '
                               'PAPERCHAIN_BROKER_URL) to your Redis server, or set executor = "local"')
    if kernel.broker_url:
        from urllib.parse import urlsplit

        shown = masked_url(kernel.broker_url)
        try:
            parts = urlsplit(kernel.broker_url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ConfigError(f"{where}, broker_url (or PAPERCHAIN_BROKER_URL): {shown!r} is not a URL.",
                              hint="write it as redis://[:PASSWORD@]HOST:PORT/DB, e.g. redis://127.0.0.1:6379/0") from None
        if parts.scheme not in BROKER_SCHEMES or not parts.hostname:
            raise ConfigError(f"{where}, broker_url (or PAPERCHAIN_BROKER_URL): {shown!r} is not a Redis URL "
                              "(the broker is Redis).",
                              hint="write it as redis://[:PASSWORD@]HOST:PORT/DB, e.g. redis://127.0.0.1:6379/0 "
                                   "(rediss:// for TLS)")


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _database_url(url: str, base: Path, source: str) -> str:
    """The checked URL, a relative SQLite file made relative to the configuration file."""
    from .store.database import check_url

    parsed = check_url(url, where=f"{source}, table [paperchain], database_url (or PAPERCHAIN_DATABASE_URL)")
    if parsed.drivername.startswith("sqlite") and not Path(parsed.database).is_absolute():
        parsed = parsed.set(database=str(base / parsed.database))
    return parsed.render_as_string(hide_password=False)


def find_config_file(explicit: str | os.PathLike | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    if os.environ.get("PAPERCHAIN_CONFIG"):
        return Path(os.environ["PAPERCHAIN_CONFIG"])
    candidate = Path.cwd() / "plugins.toml"
    return candidate if candidate.exists() else None


def load_config(path: str | os.PathLike | None = None, *, overrides: dict | None = None, env=os.environ) -> Config:
    """Read plugins.toml (if any) and the environment into a Config; errors name file, table and key."""
    file = find_config_file(path)
    raw: dict[str, Any] = load_toml(file, "configuration file") if file else {}
    source = str(file) if file else "the defaults (no plugins.toml)"
    base = file.parent if file else Path.cwd()
    unknown = set(raw) - {"paperchain", "plugins", "components", "api", "security"}
    if unknown:
        raise ConfigError(
            f"{source} has unknown table(s) {', '.join(sorted(unknown))}.",
            hint="the tables are [paperchain], [api], [security], [plugins], [plugins.<name>] and [components.<name>]",
        )
    api = structure_settings(ApiSettings, raw.get("api", {}), where=f"{source}, table [api]")
    security = structure_settings(SecuritySettings, _security_from_env(raw.get("security", {}), env),
                                  where=f"{source}, table [security] (or a PAPERCHAIN_SECURITY_* variable)")
    kernel_table = dict(raw.get("paperchain", {}))
    kernel_table.update(overrides or {})
    for key, var in (("data_dir", "PAPERCHAIN_DATA_DIR"), ("concurrency", "PAPERCHAIN_CONCURRENCY"), ("workers", "PAPERCHAIN_WORKERS")):
        if env.get(var):
            value = env[var]
            if key != "data_dir":
                if not value.isdigit():
                    raise ConfigError(f"{var}={value!r} is not a whole number.", hint=f"set {var} to e.g. 8")
                value = int(value)
            kernel_table[key] = value
    if env.get("PAPERCHAIN_DATABASE_URL"):
        kernel_table["database_url"] = env["PAPERCHAIN_DATABASE_URL"]
    for key in ("blob_url", "executor", "broker_url"):
        if env.get(f"PAPERCHAIN_{key.upper()}"):
            kernel_table[key] = env[f"PAPERCHAIN_{key.upper()}"]
    kernel = structure_settings(KernelSettings, kernel_table, where=f"{source}, table [paperchain]")
    check_executor(kernel, source)
    if kernel.database_url:
        kernel.database_url = _database_url(kernel.database_url, base, source)
    if kernel.blob_url:
        from .store.blobs_s3 import parse_blob_url

        parse_blob_url(kernel.blob_url, where=f"{source}, table [paperchain], blob_url (or PAPERCHAIN_BLOB_URL)")

    plugins_raw = dict(raw.get("plugins", {}))
    per_plugin = {k: v for k, v in plugins_raw.items() if isinstance(v, dict)}
    selection = structure_settings(
        PluginSelection, {k: v for k, v in plugins_raw.items() if k not in per_plugin}, where=f"{source}, table [plugins]"
    )
    disabled = list(selection.disable)
    for name, table in per_plugin.items():
        extra = set(table) - {"enabled"}
        if extra:
            raise ConfigError(
                f"{source}, table [plugins.{name}] has unknown key(s) {', '.join(sorted(extra))}.",
                hint="a plugin's table takes only 'enabled'; component settings go in [components.<component name>]",
            )
        enabled = table.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{source}, table [plugins.{name}], key enabled: expected true or false, got {enabled!r}.")
        if not enabled:
            disabled.append(name)
    load = _split(env.get("PAPERCHAIN_LOAD_PLUGINS")) or tuple(selection.load)
    disabled.extend(_split(env.get("PAPERCHAIN_DISABLE_PLUGINS")))
    components = raw.get("components", {})
    if not isinstance(components, dict) or not all(isinstance(v, dict) for v in components.values()):
        raise ConfigError(f"{source}: [components] must hold one table per component, e.g. [components.\"export.pdf\"].")
    data_dir = Path(kernel.data_dir)
    workflows_dir = Path(kernel.workflows_dir) if kernel.workflows_dir else None
    return Config(
        source=source,
        data_dir=data_dir if data_dir.is_absolute() else base / data_dir,
        kernel=kernel,
        load=load,
        disable=tuple(disabled),
        strict=env.get("PAPERCHAIN_STRICT_PLUGINS", "") not in ("", "0", "false"),
        components=components,
        workflows_dir=(workflows_dir if workflows_dir is None or workflows_dir.is_absolute() else base / workflows_dir),
        api=api,
        security=security,
    )
