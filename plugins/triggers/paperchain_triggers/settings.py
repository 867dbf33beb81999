"""Settings of each trigger: the workflow's ``[on.<trigger>]`` table (plugins.toml gives defaults).

Durations are seconds (a number) or text such as "30s", "5m", "1h", "1d" (the SDK's one grammar,
checked as the settings are read).
"""

from __future__ import annotations

from typing import Any

import attrs

from paperchain_sdk.settings import duration


@attrs.define(kw_only=True)
class FolderSettings:
    path: str = ""  # the folder to watch (required)
    glob: list[str] = attrs.Factory(lambda: ["*"])  # file name patterns to take, e.g. ["*.pdf"]
    recursive: bool = False
    stable: Any = attrs.field(default=1.0, validator=duration)  # a file is taken once its size and mtime stayed unchanged this long
    force_polling: bool = False  # poll instead of OS notifications (network shares, containers)
    poll_interval: Any = attrs.field(default=1.0, validator=duration)
    move: bool = True  # move processed files into done/ or failed/
    done_dir: str = "done"
    failed_dir: str = "failed"
    existing: bool = True  # take files already in the folder at start
    inputs: dict[str, Any] = attrs.Factory(dict)


def _valid_cron(instance, attribute, value: str) -> None:
    """Checked when the workflow is validated, not only when the trigger starts."""
    if value:
        from croniter import croniter  # only when a schedule is configured

        if not croniter.is_valid(value):
            raise ValueError(f"cron: {value!r} is not a cron expression; write five fields, minute hour "
                             'day month weekday, e.g. "*/5 * * * *" or "0 7 * * mon-fri"')


@attrs.define(kw_only=True)
class ScheduleSettings:
    cron: str = attrs.field(default="", validator=_valid_cron)  # e.g. "0 7 * * mon-fri"
    interval: Any = attrs.field(default=None, validator=attrs.validators.optional(duration))  # or a fixed interval, e.g. "15m"
    timezone: str = "UTC"
    missed: str = attrs.field(default="once", validator=attrs.validators.in_(("once", "skip")))
    inputs: dict[str, Any] = attrs.Factory(dict)


@attrs.define(kw_only=True)
class WebhookSettings:
    secret: str = ""
    secret_env: str = ""  # name of an environment variable holding the secret
    max_age: Any = attrs.field(default=300.0, validator=duration)  # seconds a signed request stays valid
    max_body: int = 1 << 20


@attrs.define(kw_only=True)
class EventSettings:
    types: list[str] = attrs.Factory(lambda: ["run.failed"])  # event types; shell patterns allowed ("run.*")
    workflows: list[str] = attrs.Factory(list)  # only events of these workflows (data.workflow); empty: any
    where: dict[str, Any] = attrs.Factory(dict)  # data fields that must be equal, e.g. {status = "failed"}
    max_depth: int = 3  # longest chain of event-triggered runs
    inputs: dict[str, Any] = attrs.Factory(dict)


@attrs.define(kw_only=True)
class ThresholdSettings:
    metric: str = ""  # an event type counted over `window`, e.g. "run.failed"
    window: Any = attrs.field(default="10m", validator=duration)
    query: str = ""  # or a read-only SQL SELECT returning one number (:since, :now are bound)
    condition: str = "> 0"  # comparison with a number: > >= < <= == !=
    interval: Any = attrs.field(default="30s", validator=duration)
    inputs: dict[str, Any] = attrs.Factory(dict)


@attrs.define(kw_only=True)
class DataChangeSettings:
    fields: list[str] = attrs.Factory(list)  # changed fields that count ("tags", "metadata", "metadata.vendor"); empty: any
    tags: list[str] = attrs.Factory(list)  # only documents carrying one of these tags (when the event says them)
    inputs: dict[str, Any] = attrs.Factory(dict)
