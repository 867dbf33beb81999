"""Paperchain triggers: folder watch, schedule, signed webhook, kernel events, thresholds, data changes.

This module is what the ``paperchain`` entry point loads, so it stays light: implementations are
named by import string; watchfiles, croniter and aiohttp load only when a trigger starts.
"""

from __future__ import annotations

from paperchain_sdk import TriggerSpec, hookimpl

from .settings import (
    DataChangeSettings,
    EventSettings,
    FolderSettings,
    ScheduleSettings,
    ThresholdSettings,
    WebhookSettings,
)

__version__ = "0.1.0"


@hookimpl
def paperchain_triggers():
    return [
        TriggerSpec(name="folder", impl="paperchain_triggers.folder:FolderTrigger", settings=FolderSettings,
                    summary="New or changed files in a folder (glob filters); files go to done/ or failed/ afterwards"),
        TriggerSpec(name="schedule", impl="paperchain_triggers.schedule:ScheduleTrigger", settings=ScheduleSettings,
                    summary="Cron expressions with time zones, or fixed intervals; missed firings run once or skipped"),
        TriggerSpec(name="webhook", impl="paperchain_triggers.webhook:WebhookTrigger", settings=WebhookSettings,
                    summary="POST /hooks/<workflow> signed with HMAC-SHA256; the JSON body becomes the run's inputs"),
        TriggerSpec(name="event", impl="paperchain_triggers.event:EventTrigger", settings=EventSettings,
                    summary="Kernel events (run.failed, document.ingested, ...) with filters; loops are refused"),
        TriggerSpec(name="threshold", impl="paperchain_triggers.threshold:ThresholdTrigger", settings=ThresholdSettings,
                    summary="A metric or query crossing a limit, evaluated on an interval; fires once per crossing"),
        TriggerSpec(name="data-change", impl="paperchain_triggers.datachange:DataChangeTrigger", settings=DataChangeSettings,
                    summary="A document's metadata or tags changed (the document.updated event)"),
    ]


@hookimpl
def paperchain_routes(kernel):
    # module-level handlers; they find the kernel with kernel_of(request)
    from .routes import routes

    return list(routes)


@hookimpl
def paperchain_shutdown(kernel):
    from .state import close_store

    return close_store(kernel)


@hookimpl
def paperchain_ui(kernel):
    from .ui import plugin_ui

    return plugin_ui()
