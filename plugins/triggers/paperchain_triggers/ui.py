"""The triggers plugin's page: each started trigger of the reader's tenant's workflows (the operator
sees every tenant's) with its settings, its state, its last firing and, for a schedule, its next
firing (cron read in its time zone, computed here on the server). Read-only: triggers change with
their workflow's ``on`` table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from paperchain_sdk.ui import NavEntry, Page, PluginUI

from .base import running_triggers

HERE = Path(__file__).parent


def plugin_ui() -> PluginUI:
    return PluginUI(pages=[Page(path="/", handler=triggers_page)], nav=[NavEntry(label="Triggers", path="/")],
                    templates=HERE / "templates", catalogs=HERE / "catalogs")


async def describe(trigger, ui) -> dict:
    """What the page shows of one started trigger: settings, state, last and next firing (UTC)."""
    s, gettext = trigger.settings, ui.gettext
    shown = {"workflow": trigger.workflow, "kind": trigger.name, "tenant": trigger.tenant, "details": [],
             "state": gettext("listening"), "last": trigger.last_fired, "next": None, "batch": trigger.last_batch}
    add = shown["details"].append
    if trigger.name == "schedule":
        add((gettext("Cron") if s.cron else gettext("Interval"), s.cron or str(s.interval)))
        add((gettext("Time zone"), s.timezone))
        saved = await trigger.store.get(trigger._key)  # its durable last firing, or when it started counting
        if saved:
            last = dt.datetime.fromisoformat(saved)
            shown["next"] = trigger.next_after(last)
            # A firing is a cron tick; a first start is not (an interval's ticks count from the start).
            on_tick = bool(s.cron) and trigger.next_after(last - dt.timedelta(microseconds=1)) == last
            if trigger.fired or on_tick:
                shown["last"] = max(filter(None, (shown["last"], last)))
            else:
                add((gettext("Counting from"), ui.fmt.when(last.isoformat())))
        shown["state"] = gettext("waiting for its next firing") if trigger.ready.is_set() else \
            gettext("catching up on firings missed while the server was down")
    elif trigger.name == "threshold":
        add((gettext("Measures"), f"{s.metric} / {s.window}" if s.metric else s.query))
        add((gettext("Condition"), s.condition))
        add((gettext("Checked every"), str(s.interval)))
        armed = getattr(trigger, "fired_armed", None) or {"active": False, "count": 0}
        shown["state"] = gettext("fired; quiet until the condition is false again") if armed["active"] else \
            gettext("armed: fires when the condition becomes true")
        add((gettext("Firings"), str(armed["count"])))
    elif trigger.name == "webhook":
        add((gettext("URL"), f"/hooks/{trigger.workflow}"))
        add((gettext("Signed requests valid for"), f"{trigger.max_age:g} s"))
    elif trigger.name == "folder":
        add((gettext("Folder"), str(trigger.root)))
        add((gettext("Files"), ", ".join(s.glob) + (" " + gettext("(and subfolders)") if s.recursive else "")))
        shown["state"] = gettext("watching")
    elif trigger.name == "event":
        add((gettext("Events"), ", ".join(s.types)))
        if s.workflows:
            add((gettext("Of workflows"), ", ".join(s.workflows)))
        add((gettext("Runs refused (loops)"), str(len(getattr(trigger, "refused", ())))))
    elif trigger.name == "data-change":
        add((gettext("Fields"), ", ".join(s.fields) or gettext("any")))
        if s.tags:
            add((gettext("Tags"), ", ".join(s.tags)))
    return shown


async def triggers_page(request, ui):
    shown = [await describe(t, ui) for t in running_triggers(ui.kernel) if not ui.tenant or t.tenant == ui.tenant]
    for t in shown:
        t["last"] = ui.fmt.when(t["last"].isoformat()) if t["last"] else ""
        t["next"] = ui.fmt.when(t["next"].isoformat()) if t["next"] else ""
    template = "triggers/list.html" if request.headers.get("HX-Request") else "triggers/page.html"
    return ui.render(template, triggers=shown)
