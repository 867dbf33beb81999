"""Errors with a message a person can act on.

Every error the kernel shows a user is a :class:`PaperchainError`: a one-paragraph ``message``
saying what was wrong and a ``hint`` saying how to fix it. Components raise the subclasses below
so the engine knows whether retrying can help.
"""

from __future__ import annotations


class PaperchainError(Exception):
    """Base of every error meant for a user: what was wrong, and how to fix it."""

    retryable = True

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def __reduce__(self):  # keep message and hint across the process pool
        return (self.__class__, (self.message, self.hint))


class InputError(PaperchainError):
    """The document or data given to a component is unusable (wrong type, truncated, encrypted …).

    Not retried: the same input would fail the same way.
    """

    retryable = False


class ConfigError(PaperchainError):
    """A workflow, plugins.toml or settings value is wrong. Not retried."""

    retryable = False


class MissingDependency(PaperchainError):
    """A system tool or library the component needs is not installed. Not retried.

    ``hint`` names exactly what to install.
    """

    retryable = False


class TransientError(PaperchainError):
    """Something outside failed for now (a server down, a lock held); retrying may succeed."""

    retryable = True


class NotFoundError(PaperchainError):
    """What was asked for does not exist (a document, run, entry …). The API answers 404."""

    retryable = False


class ConflictError(PaperchainError):
    """The request clashes with the current state (a name taken, a nonce reused …). The API answers 409."""

    retryable = False


class PermissionDenied(PaperchainError):
    """The caller is known but not allowed to do this. The API answers 403."""

    retryable = False
