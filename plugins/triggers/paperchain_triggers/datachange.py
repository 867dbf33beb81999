"""``data-change``: start a run when a document's metadata or tags change.

Listens for the kernel event ``document.updated`` (subject: the document id; data:
``{"fields": ["tags", "metadata.vendor", ...], "tags": [...]}``), emitted by the API's document
update route. ``fields`` filters by changed field (``"metadata"`` matches any ``metadata.*``).
"""

from __future__ import annotations

from paperchain_sdk import RunRequest

from .base import HostedTrigger

EVENT = "document.updated"


def _covers(wanted: str, changed: str) -> bool:
    return changed == wanted or changed.startswith(wanted + ".") or wanted.startswith(changed + ".")


class DataChangeTrigger(HostedTrigger):
    name = "data-change"

    async def begin(self) -> None:
        self.listen(self._on_event)

    def matches(self, event) -> bool:
        if event.type != EVENT or not event.subject:
            return False
        changed = [str(f) for f in event.data.get("fields", [])]
        if self.settings.fields and not any(_covers(w, c) for w in self.settings.fields for c in changed):
            return False
        return not self.settings.tags or bool(set(self.settings.tags) & set(event.data.get("tags", [])))

    def _on_event(self, event) -> None:
        if self.matches(event):
            inputs = {**self.settings.inputs, "changed": list(event.data.get("fields", []))}
            self.spawn(self.fire(RunRequest(workflow=self.workflow, documents=(event.subject,), inputs=inputs,
                                            source="trigger:data-change",
                                            idempotency_key=f"data-change:{self.workflow}:{event.subject}:{event.seq}")))
