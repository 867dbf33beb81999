"""The kernel's own components, registered through the same hooks as any plugin.

Kept light: implementations are lazy references.
"""

from paperchain_sdk import ActionSpec, TriggerSpec, hookimpl

from .document_text import DocumentTextSettings


@hookimpl
def paperchain_triggers():
    return [
        TriggerSpec(name="manual", impl="paperchain.builtins.manual:ManualTrigger",
                    summary="Runs started by hand: `paperchain run`, or the API"),
    ]


@hookimpl
def paperchain_actions():
    return [
        ActionSpec(
            name="document.text", impl="paperchain.builtins.document_text:DocumentText",
            settings=DocumentTextSettings, cpu_bound=True,
            summary="Extract the text of a plain-text or born-digital PDF document",
        ),
    ]
