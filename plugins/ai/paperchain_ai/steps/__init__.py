"""The AI workflow steps: ``ai.generate``, ``ai.classify``, ``ai.extract``, ``ai.summarize`` and
``ai.answer``. Each asks the chat provider its settings name (``provider``) and outputs only what
was validated, so later steps and ``if`` conditions can rely on it."""
